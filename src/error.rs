//! The one error type every handler returns, rendered as DataTrails' JSON error body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::repo::RepoError;

/// gRPC status codes, which DataTrails puts in the `code` field of every error body.
pub mod grpc {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const DEADLINE_EXCEEDED: i32 = 4;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
    pub const DATA_LOSS: i32 = 15;
    pub const UNAUTHENTICATED: i32 = 16;
}

/// An error a client can see. Internal causes are logged, never sent.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Over a tenant quota.
    #[error("{0}")]
    PaymentRequired(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Over the rate limit; the client may retry after this many seconds.
    #[error("rate limit exceeded: retry in {0} s")]
    RateLimited(u64),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("range not satisfiable: the blob has {0} bytes")]
    RangeNotSatisfiable(u64),
    /// The database (or another service) cannot be reached; the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// Storage is full.
    #[error("{0}")]
    InsufficientStorage(String),
    /// Stored content no longer matches its recorded hash.
    #[error("{0}")]
    DataLoss(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The body of every error: DataTrails' (gRPC-gateway) `rpcStatus`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The gRPC status code, e.g. 5 for not found, 15 for content that fails its hash check.
    code: i32,
    message: String,
    /// Always empty; kept for DataTrails clients that read it.
    details: Vec<serde_json::Value>,
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::DataLoss(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC code DataTrails clients expect beside the HTTP status.
    pub fn code(&self) -> i32 {
        match self {
            Self::BadRequest(_) => grpc::INVALID_ARGUMENT,
            Self::Unauthenticated(_) => grpc::UNAUTHENTICATED,
            Self::Forbidden(_) => grpc::PERMISSION_DENIED,
            Self::NotFound(_) => grpc::NOT_FOUND,
            Self::Conflict(_) => grpc::ALREADY_EXISTS,
            Self::PaymentRequired(_) | Self::RateLimited(_) => grpc::RESOURCE_EXHAUSTED,
            Self::PayloadTooLarge(_) => grpc::RESOURCE_EXHAUSTED,
            Self::RequestTimeout(_) => grpc::DEADLINE_EXCEEDED,
            Self::MethodNotAllowed(_) => grpc::UNIMPLEMENTED,
            Self::RangeNotSatisfiable(_) => grpc::OUT_OF_RANGE,
            Self::Unavailable(_) => grpc::UNAVAILABLE,
            Self::InsufficientStorage(_) => grpc::RESOURCE_EXHAUSTED,
            Self::DataLoss(_) => grpc::DATA_LOSS,
            Self::Internal(_) => grpc::INTERNAL,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = ?cause, "internal error");
        }
        let message = self.to_string();
        let body = ErrorBody {
            code: self.code(),
            message,
            details: Vec::new(),
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        match &self {
            Self::Unauthenticated(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited(seconds) => {
                response
                    .headers_mut()
                    .insert("archivist-rate-limit-reset", HeaderValue::from(*seconds));
            }
            Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            Self::RangeNotSatisfiable(size) => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// What a 503 tells the client to wait before trying again.
const RETRY_AFTER_SECS: u64 = 2;

impl From<crate::ids::IdError> for ApiError {
    fn from(err: crate::ids::IdError) -> Self {
        Self::BadRequest(err.to_string())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        crate::blob::BlobError::from(err).into()
    }
}

impl From<crate::blob::BlobError> for ApiError {
    fn from(err: crate::blob::BlobError) -> Self {
        use crate::blob::BlobError;
        match err {
            BlobError::BadRequest(why) => Self::BadRequest(why),
            BlobError::Forbidden(why) => Self::Forbidden(why),
            BlobError::NotFound(why) => Self::NotFound(why),
            BlobError::PaymentRequired(why) => Self::PaymentRequired(why),
            BlobError::PayloadTooLarge(why) => Self::PayloadTooLarge(why),
            BlobError::RangeNotSatisfiable(size) => Self::RangeNotSatisfiable(size),
            BlobError::Unavailable(why) => Self::Unavailable(why),
            BlobError::InsufficientStorage(why) => Self::InsufficientStorage(why),
            BlobError::DataLoss(why) => Self::DataLoss(why),
            // The body's reader is the web layer's own: its error comes back as it was.
            BlobError::Body(err) => match err.downcast::<ApiError>() {
                Ok(err) => *err,
                Err(other) => Self::BadRequest(other.to_string()),
            },
            BlobError::Repo(err) => err.into(),
            BlobError::Internal(err) => Self::Internal(err),
        }
    }
}

impl From<RepoError> for ApiError {
    fn from(err: RepoError) -> Self {
        match err {
            RepoError::NotFound => Self::NotFound("not found".into()),
            RepoError::Conflict(what) => Self::Conflict(what),
            RepoError::QuotaExceeded(what) => Self::PaymentRequired(what),
            RepoError::Database(e) => Self::from_database(e),
            RepoError::Other(e) => Self::Internal(e),
        }
    }
}

impl ApiError {
    /// A database failure: 503 when the database cannot be reached, 507 when it is full,
    /// 500 otherwise. The cause is logged, never sent.
    fn from_database(err: sqlx::Error) -> Self {
        match database_failure(&err) {
            Some(DatabaseFailure::Unreachable) => {
                tracing::warn!(error = %err, "database unreachable");
                Self::Unavailable("the database cannot be reached: try again shortly".into())
            }
            Some(DatabaseFailure::Full) => {
                tracing::error!(error = %err, "database storage is full");
                Self::InsufficientStorage("storage is full: nothing was stored".into())
            }
            None => Self::Internal(err.into()),
        }
    }
}

enum DatabaseFailure {
    Unreachable,
    Full,
}

fn database_failure(err: &sqlx::Error) -> Option<DatabaseFailure> {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            Some(DatabaseFailure::Unreachable)
        }
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            match code.as_ref() {
                // PostgreSQL disk_full; SQLite SQLITE_FULL.
                "53100" | "13" => Some(DatabaseFailure::Full),
                // PostgreSQL: connection exceptions, shutting down, too many connections.
                c if c.starts_with("08") || c.starts_with("57P") || c == "53300" => Some(DatabaseFailure::Unreachable),
                _ => None,
            }
        }
        _ => None,
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
