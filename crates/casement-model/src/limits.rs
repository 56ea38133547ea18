//! `MaxConcurrency` and `MaxErrors`, as a number or a percentage of the task's resolved
//! targets.

/// Invocations allowed in flight at once: a number, or a percentage of `targets` rounded
/// down but at least one. Targetless tasks (and unparsable values) run one at a time.
pub fn max_concurrency(value: Option<&str>, targets: usize) -> usize {
    match value.map(parse) {
        Some(Some(Limit::Count(n))) => n.max(1),
        Some(Some(Limit::Percent(p))) => (targets * p / 100).max(1),
        _ => 1,
    }
}

/// Failures tolerated: the task starts no new invocation once more than this many have
/// failed. A percentage is of `targets`, rounded down. Unset (targetless tasks): no limit.
pub fn max_errors(value: Option<&str>, targets: usize) -> usize {
    match value.map(parse) {
        Some(Some(Limit::Count(n))) => n,
        Some(Some(Limit::Percent(p))) => targets * p / 100,
        _ => usize::MAX,
    }
}

enum Limit {
    Count(usize),
    Percent(usize),
}

fn parse(v: &str) -> Option<Limit> {
    match v.strip_suffix('%') {
        Some(p) => p.parse().ok().map(Limit::Percent),
        None => v.parse().ok().map(Limit::Count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentages() {
        assert_eq!(max_concurrency(Some("3"), 10), 3);
        assert_eq!(max_concurrency(Some("25%"), 10), 2);
        assert_eq!(max_concurrency(Some("5%"), 10), 1);
        assert_eq!(max_concurrency(None, 10), 1);
        assert_eq!(max_errors(Some("0"), 10), 0);
        assert_eq!(max_errors(Some("30%"), 10), 3);
        assert_eq!(max_errors(Some("9%"), 10), 0);
        assert_eq!(max_errors(None, 1), usize::MAX);
    }
}
