//! The read API's errors, each an HTTP status and a JSON body like the webhooks':
//! `{"error": "…", "field": "…"}` (`field` when one parameter is to blame).

use thiserror::Error;

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ApiError {
    #[error("{field}: {reason}")]
    BadRequest { field: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed: the read API answers GET and HEAD")]
    MethodNotAllowed,
    #[error("function is misconfigured; see its logs")]
    Misconfigured,
    #[error("message table unavailable; retry later")]
    Unavailable(String),
}

impl ApiError {
    pub fn bad(field: &str, reason: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub fn status_code(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::Misconfigured => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// The answer's JSON body.
    pub fn body(&self) -> serde_json::Value {
        match self {
            ApiError::BadRequest { field, reason } => {
                serde_json::json!({"error": reason, "field": field})
            }
            other => serde_json::json!({"error": other.to_string()}),
        }
    }
}
