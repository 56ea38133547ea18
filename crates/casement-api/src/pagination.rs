//! Opaque `NextToken`s. A token carries the last key served, so the next page is a seek
//! on the primary key: the millionth row costs what the first does.

use base64::Engine as _;
use casement_protocol::ApiError;

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const PREFIX: &str = "casement:v1:";

pub fn encode(last_key: &str) -> String {
    ENGINE.encode(format!("{PREFIX}{last_key}"))
}

pub fn decode(token: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(None) };
    let invalid = || ApiError::Validation("The specified NextToken is not valid.".into());
    let bytes = ENGINE.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(PREFIX).map(|k| Some(k.to_owned())).ok_or_else(invalid)
}

/// [`decode`] for the operations that answer a bad token with `InvalidNextToken`
/// (Run Command, activations, nodes) rather than a `ValidationException`.
pub fn decode_next_token(token: Option<&str>) -> Result<Option<String>, ApiError> {
    decode(token).map_err(|_| invalid_next_token())
}

pub fn invalid_next_token() -> ApiError {
    ApiError::InvalidNextToken("The specified NextToken is not valid.".into())
}

/// The page size: `MaxResults` if given, else `default`. Ranges were checked against the
/// model already; `cap` bounds the unbounded ones.
pub fn page_size(max_results: Option<i32>, default: usize, cap: usize) -> usize {
    max_results.map(|m| (m.max(1) as usize).min(cap)).unwrap_or(default)
}

/// Serve one page from an ordered, already-filtered list: the items after `after`, at
/// most `size`, and the token for the next page if more remain.
pub fn page<T>(items: Vec<T>, key: impl Fn(&T) -> &str, after: Option<&str>, size: usize) -> (Vec<T>, Option<String>) {
    let mut rest: Vec<T> = match after {
        Some(a) => items.into_iter().filter(|i| key(i) > a).collect(),
        None => items,
    };
    if rest.len() > size {
        rest.truncate(size);
        let next = rest.last().map(|i| encode(key(i)));
        (rest, next)
    } else {
        (rest, None)
    }
}

/// Rows a [`scan`] asks the store for at a time.
pub const SCAN_BATCH: usize = 100;

/// A boxed, sendable step of a [`scan`] (the server runs handlers on a work-stealing
/// runtime, so their futures must be `Send`; boxed closures state that where async
/// closures cannot yet).
pub type Step<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// One page of a listing whose filters the store cannot apply: `fetch` reads rows in key
/// order, [`SCAN_BATCH`] at a time after a key; `keep` turns a row into an item of the
/// page or drops it; the scan stops when the page is full. Returns the page and, when a
/// further item exists, the key to continue after (the last row examined before it).
pub async fn scan<'a, K: Clone, R, T>(
    size: usize,
    mut after: Option<K>,
    fetch: impl Fn(Option<K>, usize) -> Step<'a, Vec<R>>,
    key: impl Fn(&R) -> K,
    keep: impl Fn(R) -> Step<'a, Option<T>>,
) -> Result<(Vec<T>, Option<K>), ApiError> {
    let mut out = Vec::new();
    loop {
        let batch = fetch(after.clone(), SCAN_BATCH).await?;
        let done = batch.len() < SCAN_BATCH;
        for row in batch {
            let k = key(&row);
            if let Some(item) = keep(row).await? {
                if out.len() == size {
                    return Ok((out, after));
                }
                out.push(item);
            }
            after = Some(k);
        }
        if done {
            return Ok((out, None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode(Some(&encode("mw-1"))).unwrap().as_deref(), Some("mw-1"));
        assert_eq!(decode(None).unwrap(), None);
        assert_eq!(decode(Some("!!")).unwrap_err().code(), "ValidationException");
        assert_eq!(decode(Some(&ENGINE.encode("other"))).unwrap_err().code(), "ValidationException");
    }

    /// Filtered pages over several store batches: every kept row once, in order, and a
    /// token exactly when a further kept row exists.
    #[tokio::test]
    async fn scans_cover_every_kept_row_once() {
        let rows: Vec<u32> = (0..350).collect();
        let rows = &rows;
        let kept: Vec<u32> = rows.iter().copied().filter(|r| r % 3 == 0).collect();
        for size in [1, 7, 50, 117, 200] {
            let mut after: Option<u32> = None;
            let mut seen = Vec::new();
            loop {
                let (page, next) = scan(
                    size,
                    after,
                    |after: Option<u32>, n| {
                        let from = after.map_or(0, |a| a as usize + 1);
                        Box::pin(std::future::ready(Ok(rows[from.min(rows.len())..].iter().copied().take(n).collect())))
                    },
                    |r| *r,
                    |r| Box::pin(std::future::ready(Ok((r % 3 == 0).then_some(r)))),
                )
                .await
                .unwrap();
                assert!(page.len() <= size);
                seen.extend(page);
                match next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
            assert_eq!(seen, kept, "page size {size}");
        }
    }

    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<String> = (0..25).map(|i| format!("{i:03}")).collect();
        let mut after = None;
        let mut seen = Vec::new();
        loop {
            let (p, next) = page(items.clone(), |s| s.as_str(), after.as_deref(), 10);
            seen.extend(p);
            match next {
                Some(t) => after = decode(Some(&t)).unwrap(),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }
}
