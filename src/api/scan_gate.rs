//! The scan gate's query parameters (`strict`, `allow_insecure`), read into the core's
//! `ScanGate` for every download route of every dialect.

use crate::blob::ScanGate;
use crate::error::ApiError;

/// The query parameters of the scan gate.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanGateQuery {
    /// Serve only content scanned clean (`SCANNED_OK`); anything else is 400.
    #[param(value_type = Option<bool>)]
    strict: Option<String>,
    /// Serve content even when it was scanned as `SCANNED_BAD` (otherwise 403).
    #[param(value_type = Option<bool>)]
    allow_insecure: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ScanGate {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw: ScanGateQuery = serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
        let flag = |value: Option<String>, name: &str| match value.as_deref() {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "{name} must be true or false, not {other:?}"
            ))),
        };
        Ok(ScanGate {
            strict: flag(raw.strict, "strict")?,
            allow_insecure: flag(raw.allow_insecure, "allow_insecure")?,
        })
    }
}
