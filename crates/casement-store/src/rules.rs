//! Rules both backends apply inside their transactions.

use casement_model::Activation;

use crate::StoreError;

/// The registration rules both backends apply: code, expiry, limit.
pub fn check_registration(
    act: &Activation,
    stored_code: &str,
    given_code: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    use subtle_eq::ct_eq;
    if !ct_eq(stored_code.as_bytes(), given_code.as_bytes()) {
        return Err(StoreError::Refused("Activation ID or activation code is invalid.".into()));
    }
    if now_ms >= act.expiration_ms {
        return Err(StoreError::Refused("Activation has expired.".into()));
    }
    if act.registrations_count >= act.registration_limit {
        return Err(StoreError::Refused("Activation has reached its registration limit.".into()));
    }
    Ok(())
}

/// Compare two hashes without an early exit on the first differing byte.
mod subtle_eq {
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}
