//! Timestamps on the wire. awsJson encodes `DateTime` members as epoch seconds in a JSON
//! number; plain decimal with at most millisecond precision, since AWS SDK for Java v2
//! rejects exponent notation and over-long fractions.

use serde::Serializer;

/// Serialize epoch milliseconds as epoch seconds (`1549998326.421`).
pub fn epoch_seconds<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(*ms as f64 / 1000.0)
}

/// As [`epoch_seconds`], for optional members (skipped when `None`).
pub fn opt_epoch_seconds<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => epoch_seconds(ms, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize)]
    struct T {
        #[serde(serialize_with = "super::epoch_seconds")]
        t: i64,
    }

    #[test]
    fn plain_decimal_millis() {
        assert_eq!(serde_json::to_string(&T { t: 1549998326421 }).unwrap(), r#"{"t":1549998326.421}"#);
        assert_eq!(serde_json::to_string(&T { t: 1549998326000 }).unwrap(), r#"{"t":1549998326.0}"#);
    }
}
