//! The model's `pattern` constraints, matched against a whole value as the AWS front end
//! does (Java `Pattern.matches`).
//!
//! Most of SSM's patterns are a run of ASCII classes with fixed counts (IDs: UUIDs,
//! `mw-` + 17 hex digits), and they are checked on nearly every request. Those compile to
//! a byte matcher; a general regex engine's search setup cost more than the match itself
//! (BENCHMARKS.md). Everything else (alternation, groups, `\p{..}`, look-around) goes to
//! `fancy_regex`.

use fancy_regex::Regex;

/// A compiled pattern constraint.
#[derive(Debug)]
pub struct Pattern(Matcher);

#[derive(Debug)]
enum Matcher {
    /// A sequence of ASCII classes, each repeated `min..=max` times; every item but the
    /// last has a fixed count, so a greedy left-to-right scan decides the match exactly.
    Classes(Vec<Item>),
    Regex(Regex),
}

/// `set[b]`: byte `b` belongs to the class (only ASCII bytes ever do).
type Set = Box<[bool; 256]>;

#[derive(Debug, Clone)]
struct Item {
    set: Set,
    min: usize,
    max: usize,
}

fn single(c: u8) -> Set {
    let mut set = Box::new([false; 256]);
    set[usize::from(c)] = true;
    set
}

impl Pattern {
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        if let Some(items) = compile_classes(pattern) {
            return Ok(Pattern(Matcher::Classes(items)));
        }
        Regex::new(&format!("^(?:{pattern})$")).map(|re| Pattern(Matcher::Regex(re))).map_err(|e| e.to_string())
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        match &self.0 {
            Matcher::Regex(re) => re.is_match(s).unwrap_or(false),
            Matcher::Classes(items) => {
                let s = s.as_bytes();
                let mut i = 0;
                for item in items {
                    let room = &s[i..];
                    let n = room.iter().take(item.max).take_while(|&&b| item.set[usize::from(b)]).count();
                    if n < item.min {
                        return false;
                    }
                    i += n;
                }
                i == s.len()
            }
        }
    }

    /// Whether the pattern runs on the byte matcher.
    #[cfg(test)]
    fn is_simple(&self) -> bool {
        matches!(self.0, Matcher::Classes(_))
    }
}

/// `^? (literal | [class]) quantifier? … $?`, ASCII only, or `None` for anything else.
fn compile_classes(pattern: &str) -> Option<Vec<Item>> {
    let p = pattern.strip_prefix('^').unwrap_or(pattern);
    let p = match p.strip_suffix('$') {
        Some(rest) if !rest.ends_with('\\') => rest,
        Some(_) => return None,
        None => p,
    };
    if !p.is_ascii() {
        return None;
    }
    let b = p.as_bytes();
    let mut items = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let set = match b[i] {
            b'[' => {
                let (set, end) = class(b, i + 1)?;
                i = end;
                set
            }
            b'\\' => {
                let c = *b.get(i + 1)?;
                i += 2;
                single(escaped(c)?)
            }
            b'(' | b')' | b'|' | b'.' | b'?' | b'+' | b'*' | b'{' | b'}' | b'^' | b'$' | b']' => return None,
            c => {
                i += 1;
                single(c)
            }
        };
        let (min, max) = match b.get(i) {
            Some(b'*') => (0, usize::MAX),
            Some(b'+') => (1, usize::MAX),
            Some(b'?') => (0, 1),
            Some(b'{') => {
                let close = i + b[i..].iter().position(|&c| c == b'}')?;
                let inner = std::str::from_utf8(&b[i + 1..close]).ok()?;
                let (lo, hi) = match inner.split_once(',') {
                    None => (inner.parse().ok()?, inner.parse().ok()?),
                    Some((lo, "")) => (lo.parse().ok()?, usize::MAX),
                    Some((lo, hi)) => (lo.parse().ok()?, hi.parse().ok()?),
                };
                if lo > hi {
                    return None;
                }
                i = close;
                (lo, hi)
            }
            _ => {
                items.push(Item { set, min: 1, max: 1 });
                continue;
            }
        };
        i += 1;
        // Lazy and possessive quantifiers change nothing for a whole match, but keep the
        // grammar small.
        if matches!(b.get(i), Some(b'?' | b'+')) {
            return None;
        }
        items.push(Item { set, min, max });
    }
    // A greedy scan is exact only when no earlier item can give characters back.
    if items.iter().rev().skip(1).any(|it| it.min != it.max) {
        return None;
    }
    Some(items)
}

/// An escaped punctuation character stands for itself; escaped letters and digits are
/// classes (`\d`, `\w`, `\p{..}`) or back-references, left to the regex engine.
fn escaped(c: u8) -> Option<u8> {
    (c.is_ascii_punctuation()).then_some(c)
}

/// A bracket class starting after its `[`: the set and the index after its `]`.
fn class(b: &[u8], mut i: usize) -> Option<(Set, usize)> {
    if matches!(b.get(i), Some(b'^' | b']')) {
        return None;
    }
    let mut set = Box::new([false; 256]);
    loop {
        let c = match *b.get(i)? {
            b']' => return Some((set, i + 1)),
            b'[' | b'&' => return None,
            b'\\' => {
                i += 1;
                escaped(*b.get(i)?)?
            }
            c => c,
        };
        i += 1;
        // `a-z` is a range; a `-` before the closing bracket is itself.
        if b.get(i) == Some(&b'-') && b.get(i + 1).is_some_and(|&n| n != b']') {
            let hi = match b[i + 1] {
                b'\\' => {
                    i += 1;
                    escaped(*b.get(i + 1)?)?
                }
                b'[' => return None,
                n => n,
            };
            if hi < c {
                return None;
            }
            set[usize::from(c)..=usize::from(hi)].fill(true);
            i += 2;
        } else {
            set[usize::from(c)] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model's own simple patterns run on the byte matcher; the rest stay regexes.
    #[test]
    fn which_patterns_are_simple() {
        for p in [
            r"^[0-9a-fA-F]{8}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{12}$",
            r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            r"^[a-zA-Z0-9_\-.]{3,128}$",
            r"^[a-zA-Z0-9_\-.:/]{3,128}$",
            r"^mw-[0-9a-f]{17}$",
            r"^[a-zA-Z0-9:_-]*$",
        ] {
            assert!(Pattern::new(p).unwrap().is_simple(), "{p}");
        }
        for p in [
            r"^(?!\s*$).+",
            r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$",
            r"([$]LATEST|[$]DEFAULT|^[1-9][0-9]*$)",
            r"^[0-9]{1,6}(\.[0-9]{1,6}){2,3}$",
            r"^[a-z]{1,3}[a-z]$",
            r"^[^a]$",
            r"^\d+$",
        ] {
            assert!(!Pattern::new(p).unwrap().is_simple(), "{p}");
        }
    }

    /// A tiny deterministic generator: strings near the pattern's alphabet, so that both
    /// matches and near-misses are common.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn string(&mut self, alphabet: &[char], len: usize) -> String {
            (0..len).map(|_| alphabet[self.next() as usize % alphabet.len()]).collect()
        }
    }

    /// The byte matcher answers as the regex engine does, on matches and near-misses.
    #[test]
    fn byte_matcher_agrees_with_the_regex_engine() {
        let patterns = [
            r"^[0-9a-fA-F]{8}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{4}\-[0-9a-fA-F]{12}$",
            r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            r"^[a-zA-Z0-9_\-.]{3,128}$",
            r"^mw-[0-9a-f]{17}$",
            r"^[a-zA-Z0-9:_-]*$",
            r"ab[c-e]{2,}",
            r"^[0-9]{1,6}$",
            r"^x+$",
        ];
        let alphabet: Vec<char> = "0123456789abcdefABCxyz-_.:/mwé \n".chars().collect();
        let mut g = Gen(0x9e3779b97f4a7c15);
        for p in patterns {
            let fast = Pattern::new(p).unwrap();
            assert!(fast.is_simple(), "{p}");
            let re = Regex::new(&format!("^(?:{p})$")).unwrap();
            let mut samples = vec![
                String::new(),
                "mw-0123456789abcdef0".into(),
                "mw-0123456789abcdef".into(),
                "8b2d1c2e-1111-2222-3333-444455556666".into(),
                "8b2d1c2e-1111-2222-3333-44445555666G".into(),
                "8B2D1C2E-1111-2222-3333-444455556666\n".into(),
            ];
            for len in 0..40 {
                for _ in 0..200 {
                    samples.push(g.string(&alphabet, len));
                }
            }
            // Mutations of matching strings: one character changed, dropped or added.
            let hex: Vec<char> = "0123456789abcdef".chars().collect();
            for _ in 0..2000 {
                let mut s = format!(
                    "{}-{}-{}-{}-{}",
                    g.string(&hex, 8),
                    g.string(&hex, 4),
                    g.string(&hex, 4),
                    g.string(&hex, 4),
                    g.string(&hex, 12)
                );
                let at = g.next() as usize % s.len();
                match g.next() % 3 {
                    0 => s.replace_range(at..at + 1, &g.string(&alphabet, 1)),
                    1 => {
                        s.remove(at);
                    }
                    _ => s.insert(at, alphabet[g.next() as usize % alphabet.len()]),
                }
                samples.push(s.clone());
                samples.push(format!("mw-{}", s.replace('-', "").chars().take(17).collect::<String>()));
            }
            for s in &samples {
                assert_eq!(fast.is_match(s), re.is_match(s).unwrap(), "pattern {p} on {s:?}");
            }
        }
    }
}
