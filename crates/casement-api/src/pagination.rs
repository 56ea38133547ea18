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
