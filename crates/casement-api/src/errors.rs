//! Store outcomes as the API errors SSM sends, with SSM's messages.

use casement_protocol::ApiError;
use casement_store::StoreError;

/// Failures that are not the caller's: logged, answered as `InternalServerError`.
pub fn internal(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "store failure");
    ApiError::Internal("An internal error occurred.".into())
}

pub fn window_not_found(id: &str) -> ApiError {
    ApiError::DoesNotExist(format!("Maintenance window {id} does not exist"))
}

pub fn target_not_found(id: &str) -> ApiError {
    ApiError::DoesNotExist(format!("Maintenance window target {id} does not exist"))
}

pub fn task_not_found(id: &str) -> ApiError {
    ApiError::DoesNotExist(format!("Maintenance window task {id} does not exist"))
}

/// Map the store errors every create shares; `not_found` says what was missing.
pub fn on_create(e: StoreError, not_found: impl FnOnce() -> ApiError, what: &str) -> ApiError {
    match e {
        StoreError::NotFound => not_found(),
        StoreError::IdempotencyMismatch => {
            ApiError::IdempotentParameterMismatch("The client token was already used with different parameters.".into())
        }
        StoreError::LimitExceeded(n) => {
            ApiError::ResourceLimitExceeded(format!("The maximum number of {what} ({n}) has been reached."))
        }
        other => internal(other),
    }
}
