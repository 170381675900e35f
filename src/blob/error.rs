//! What the core answers when it refuses or cannot do something. The web layer gives each
//! its status and body (`error.rs`); the core itself knows no HTTP.

use crate::repo::RepoError;
use crate::store::StoreError;

/// Why an upload, a download or a check of references did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The request names or holds something invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The caller may not have it (e.g. content not yet scanned clean).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// Over a tenant quota.
    #[error("{0}")]
    PaymentRequired(String),
    /// Over the server's largest blob.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A byte range outside a blob of this many bytes.
    #[error("range not satisfiable: the blob has {0} bytes")]
    RangeNotSatisfiable(u64),
    /// The log or a store cannot answer now; trying again may work.
    #[error("{0}")]
    Unavailable(String),
    /// Storage is full: nothing was stored.
    #[error("{0}")]
    InsufficientStorage(String),
    /// Stored content or its record fails its check: refused, never served.
    #[error("{0}")]
    DataLoss(String),
    /// The request body failed as it was read (its reader's own error, handed back).
    #[error("{0}")]
    Body(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The result of the core's fallible work.
pub type BlobResult<T> = Result<T, BlobError>;

impl BlobError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

impl From<crate::ids::IdError> for BlobError {
    fn from(err: crate::ids::IdError) -> Self {
        Self::BadRequest(err.to_string())
    }
}

impl From<StoreError> for BlobError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::internal(anyhow::anyhow!("stored content is missing")),
            StoreError::Full(why) => {
                tracing::error!(why, "content store is full");
                Self::InsufficientStorage("storage is full: nothing was stored".into())
            }
            StoreError::Unavailable(why) => {
                tracing::warn!(why, "content store unavailable");
                Self::Unavailable("the content store cannot be reached: try again shortly".into())
            }
            StoreError::Repo(err) => err.into(),
        }
    }
}
