//! The one storage seam: a `Repo` trait with a PostgreSQL and a SQLite implementation.
//! Every tenant-owned query takes the `TenantId` first; no SQL lives outside this module.

mod apikeys;
pub mod appender;
mod assets;
mod backend;
mod backfill;
mod blobs;
mod cache;
mod events;
mod filters;
mod heads;
pub mod leaves;
pub mod log;
mod models;
mod postgres;
mod records;
mod scans;
pub mod seallog;
pub mod sharing;
mod sql;
mod sqlite;
mod tenants;
mod term_rows;
pub mod terms;
mod tx;
pub mod uploads;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::{AppId, AssetId, BlobId, TenantId};

pub use apikeys::{ApiKey, ApiKeyRepo, NewApiKey};
pub use assets::AssetRepo;
pub use blobs::BlobRepo;
pub use events::EventRepo;
pub use log::{LogRepo, StoredSeal};
pub use models::{Asset, Event, Filter, FilterField, FilterValue, ListQuery, NewAsset, NewEvent, SharedScope};
pub use postgres::PgRepo;
pub use records::{NewRecord, Record, RecordField, RecordRepo};
pub use scans::ScanRepo;
pub use seallog::SealLogRepo;
pub use sharing::SharingRepo;
pub use sqlite::SqliteRepo;
pub use terms::TermField;
pub use uploads::StaleUpload;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// A tenant quota would be exceeded; says which.
    #[error("{0}")]
    QuotaExceeded(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(anyhow::Error),
}

pub type RepoResult<T> = Result<T, RepoError>;

/// An app registration to store; `secret_hash` is the argon2 PHC string, never the secret.
#[derive(Clone, Debug)]
pub struct NewApp {
    pub id: AppId,
    pub display_name: String,
    pub client_id: String,
    pub secret_hash: String,
    pub admin: bool,
    /// JSON object text.
    pub custom_claims: String,
}

/// A stored app registration (without its secret hash).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct App {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub display_name: String,
    pub client_id: String,
    pub admin: bool,
    pub custom_claims: String,
    pub created_at: DateTime<Utc>,
    pub secret_created_at: Option<DateTime<Utc>>,
}

/// A tenant's quota overrides (`None`: the server default) and what it uses.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct TenantUsage {
    pub max_blobs: Option<i64>,
    pub max_bytes: Option<i64>,
    pub max_blob_bytes: Option<i64>,
    pub blob_count: i64,
    pub bytes_used: i64,
}

/// One tenant's usage, for the metrics.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TenantUsageRow {
    pub id: Uuid,
    #[sqlx(flatten)]
    pub usage: TenantUsage,
}

/// Quota overrides to set; `None` leaves one as it is.
#[derive(Clone, Debug, Default)]
pub struct QuotaOverrides {
    pub max_blobs: Option<i64>,
    pub max_bytes: Option<i64>,
    pub max_blob_bytes: Option<i64>,
}

/// A blob waiting for the malware scanner (of any tenant: the scanner serves them all).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ScanCandidate {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub size: i64,
    pub chunk_bytes: i64,
    pub hash_sha256: String,
}

/// What the scanner concluded about a blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanOutcome {
    Clean,
    Infected(String),
    /// The scanner could not judge it (too large): stays NOT_SCANNED, with this reason.
    Skipped(String),
}

/// A verdict on one blob.
#[derive(Clone, Debug)]
pub struct ScanVerdict {
    pub tenant: TenantId,
    pub blob: BlobId,
    pub outcome: ScanOutcome,
}

/// The limits a commit must stay within.
#[derive(Clone, Copy, Debug)]
pub struct CommitLimits {
    pub max_blobs: i64,
    pub max_bytes: i64,
}

/// What the token endpoint needs to check a client's credentials.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AppCredentials {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub secret_hash: String,
    pub admin: bool,
    pub custom_claims: String,
}

/// A stored blob's metadata.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Blob {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub hash_sha256: String,
    pub size: i64,
    pub chunk_bytes: i64,
    pub mime_type: String,
    pub issuer: String,
    pub subject: String,
    pub timestamp_accepted: DateTime<Utc>,
    pub scanned_status: String,
    pub scanned_bad_reason: String,
    pub scanned_timestamp: Option<DateTime<Utc>>,
    pub tampered_at: Option<DateTime<Utc>>,
    /// Names the key its chunk MACs were made with; empty when it has none.
    pub chunk_mac_key: String,
    /// Its record's place in the tenant's log and the idtimestamp it was committed at;
    /// `None` only for a blob from before blob leaves, until the one-time migration.
    pub log_index: Option<i64>,
    pub idtimestamp: Option<i64>,
}

/// The metadata written when an upload completes.
#[derive(Clone, Debug)]
pub struct NewBlob {
    pub hash_sha256: String,
    pub size: i64,
    pub chunk_bytes: i64,
    pub mime_type: String,
    pub issuer: String,
    pub subject: String,
    pub timestamp_accepted: DateTime<Utc>,
    /// The keyed MAC of each chunk, concatenated; empty for none.
    pub chunk_macs: Vec<u8>,
    /// Names the key the MACs were made with.
    pub chunk_mac_key: String,
}

/// One upload's entry in the upload ledger: listed from before its content is stored
/// until `commit` replaces it with the blob row. A failed commit or `abort` ends it.
#[async_trait]
pub trait BlobWriter: Send {
    /// Records what the content store would leave behind if the upload died (an S3
    /// multipart upload's id), for the sweeper; an error if it was swept.
    async fn record_cleanup(&mut self, cleanup_id: &str) -> RepoResult<()>;
    /// Marks the upload as alive, so the sweeper leaves it; an error if it was swept.
    async fn keep_alive(&mut self) -> RepoResult<()>;
    /// Makes the blob visible, counting it against the tenant's quotas atomically:
    /// `QuotaExceeded` (and nothing stored) if it would pass `limits`. A `record` naming
    /// the blob becomes visible in the same transaction.
    async fn commit(
        self: Box<Self>,
        blob: NewBlob,
        limits: CommitLimits,
        record: Option<&NewRecord>,
    ) -> RepoResult<Blob>;
    /// Takes the upload off the ledger (its content is discarded by the caller).
    async fn abort(self: Box<Self>);
}

#[async_trait]
pub trait Repo:
    AssetRepo
    + EventRepo
    + BlobRepo
    + ScanRepo
    + RecordRepo
    + ApiKeyRepo
    + LogRepo
    + SharingRepo
    + SealLogRepo
    + Send
    + Sync
{
    /// `postgres` or `sqlite`, for logs.
    fn backend(&self) -> &'static str;
    /// Where the embedded database keeps its files; `None` for a server database.
    fn data_dir(&self) -> Option<std::path::PathBuf>;
    async fn ping(&self) -> RepoResult<()>;
    /// Gives space back to the filesystem after a full disk: SQLite checkpoints its log and
    /// truncates it; PostgreSQL manages its own.
    async fn reclaim_space(&self) -> RepoResult<()>;

    /// Creates a tenant together with its first (administrator) app registration.
    async fn create_tenant(&self, tenant: TenantId, name: &str, app: &NewApp) -> RepoResult<()>;
    async fn tenant_count(&self) -> RepoResult<i64>;
    /// Every tenant the database holds.
    async fn tenant_ids(&self) -> RepoResult<Vec<TenantId>>;
    async fn tenant_exists(&self, tenant: TenantId) -> RepoResult<bool>;
    /// A tenant's verified domain (`""` when none); `None` if there is no such tenant.
    async fn verified_domain(&self, tenant: TenantId) -> RepoResult<Option<String>>;
    /// `false` if there is no such tenant.
    async fn set_verified_domain(&self, tenant: TenantId, domain: &str) -> RepoResult<bool>;
    async fn app_by_client_id(&self, client_id: &str) -> RepoResult<Option<AppCredentials>>;
    /// An app registration; `None` once deleted, which stops its tokens working.
    async fn app(&self, tenant: TenantId, app: AppId) -> RepoResult<Option<App>>;
    async fn create_app(&self, tenant: TenantId, app: &NewApp) -> RepoResult<App>;
    /// A page of the tenant's registrations in creation order, optionally by display name.
    async fn list_apps(
        &self,
        tenant: TenantId,
        display_name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> RepoResult<Vec<App>>;
    async fn update_app(
        &self,
        tenant: TenantId,
        app: AppId,
        display_name: Option<&str>,
        custom_claims: Option<&str>,
    ) -> RepoResult<Option<App>>;
    async fn delete_app(&self, tenant: TenantId, app: AppId) -> RepoResult<bool>;
    async fn set_app_secret(&self, tenant: TenantId, app: AppId, secret_hash: &str) -> RepoResult<bool>;

    async fn tenant_usage(&self, tenant: TenantId) -> RepoResult<Option<TenantUsage>>;
    /// Every tenant's usage (for `/metrics`).
    async fn all_tenant_usage(&self) -> RepoResult<Vec<TenantUsageRow>>;

    /// `false` if there is no such tenant.
    async fn set_quota(&self, tenant: TenantId, quota: &QuotaOverrides) -> RepoResult<bool>;

    /// The stored value of a server setting, storing `value` first if there is none.
    async fn setting_or_insert(&self, key: &str, value: &str) -> RepoResult<String>;
    /// The stored value of a server setting, if there is one.
    async fn setting(&self, key: &str) -> RepoResult<Option<String>>;
    async fn delete_setting(&self, key: &str) -> RepoResult<()>;
}

/// Which events a list covers.
#[derive(Clone, Copy, Debug)]
pub enum EventScope {
    Asset(AssetId),
    AllAssets,
}

pub type DynRepo = Arc<dyn Repo>;

/// How long a query waits for a pooled connection by default: past it the database counts
/// as unreachable (503) rather than leaving the client hanging.
pub const DEFAULT_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the backend the URL's scheme names and applies its migrations.
pub async fn connect(url: &str) -> anyhow::Result<DynRepo> {
    connect_with(url, DEFAULT_ACQUIRE_TIMEOUT).await
}

/// `connect`, waiting at most `acquire_timeout` for a connection per query.
pub async fn connect_with(url: &str, acquire_timeout: std::time::Duration) -> anyhow::Result<DynRepo> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgRepo::connect(url, acquire_timeout).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteRepo::connect(url, acquire_timeout).await?))
    } else {
        anyhow::bail!(
            "unsupported database URL {:?}: use sqlite://PATH or postgres://…",
            redact_url(url)
        )
    }
}

/// Hides the password of a database URL for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

impl RepoError {
    fn from_insert(err: sqlx::Error, what: &str) -> Self {
        if is_unique_violation(&err) {
            Self::Conflict(format!("{what} already exists"))
        } else {
            Self::Database(err)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }
}
