//! Content stores: where blob bytes live, apart from the metadata `Repo` (which keeps the
//! blob rows, the upload ledger and the chunk MACs). One is chosen by URL:
//! `database` (chunks in the metadata database, the default), `file:///DIR`, or
//! `s3://BUCKET[/PREFIX]`. Nothing outside this module knows which one is in use.
//!
//! Every store follows one life cycle: `stage` → `write`… → `finish` (durable under its final
//! name) → the blob row commits. Until that commit the content is invisible (reads go through
//! blob rows), and a failed upload is `discard`ed; whatever a crash leaves, the sweeper finds
//! through the upload ledger (`blob_uploads`) or as an orphan no blob owns.

mod database;
mod fallback;
mod file;
pub mod migrate;
pub mod reserve;
pub mod s3;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;

use crate::ids::{BlobId, TenantId};
use crate::repo::DynRepo;

pub use s3::S3Settings;

pub type DynStore = Arc<dyn ContentStore>;

/// One blob's content in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentId {
    pub tenant: TenantId,
    pub blob: BlobId,
}

/// The chunks `first..first + count` of content `size` bytes long, cut every `chunk_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkSpan {
    pub size: u64,
    pub chunk_bytes: u64,
    pub first: u64,
    pub count: u64,
}

/// The chunk sizes attachd writes; a recorded one outside them was not written by attachd.
pub const CHUNK_BYTES: std::ops::RangeInclusive<usize> = 4096..=(16 << 20);

impl ChunkSpan {
    /// Every chunk of a blob as its row records it; `None` when the size or chunk size is one
    /// attachd never writes (a row edited by hand).
    pub fn recorded(size: i64, chunk_bytes: i64) -> Option<Self> {
        let chunk_bytes = usize::try_from(chunk_bytes).ok().filter(|c| CHUNK_BYTES.contains(c))?;
        Some(Self::whole(u64::try_from(size).ok()?, chunk_bytes as u64))
    }

    /// Every chunk of the content.
    pub fn whole(size: u64, chunk_bytes: u64) -> Self {
        Self {
            size,
            chunk_bytes,
            first: 0,
            count: size.div_ceil(chunk_bytes.max(1)),
        }
    }

    /// The byte offsets `start..end` the span covers.
    pub fn bytes(&self) -> std::ops::Range<u64> {
        let start = (self.first * self.chunk_bytes).min(self.size);
        let end = ((self.first + self.count) * self.chunk_bytes).min(self.size);
        start..end
    }
}

/// Chunks in order, one item per chunk; a stream that ends early lost content.
pub type ChunkStream = BoxStream<'static, StoreResult<Bytes>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The content is not there: deleted, or never written.
    #[error("content not found")]
    NotFound,
    /// Out of space (or the store's quota).
    #[error("the content store is full: {0}")]
    Full(String),
    /// Cannot be reached, or answered with a server error.
    #[error("the content store is unavailable: {0}")]
    Unavailable(String),
    /// The store's metadata database failed (the `database` store).
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<std::io::Error> for StoreError {
    fn from(err: std::io::Error) -> Self {
        // ENOSPC, EDQUOT
        if err.kind() == std::io::ErrorKind::StorageFull || err.raw_os_error() == Some(122) {
            return Self::Full(err.to_string());
        }
        match err.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound,
            _ => Self::Unavailable(err.to_string()),
        }
    }
}

/// Where blob content is kept.
#[async_trait]
pub trait ContentStore: Send + Sync {
    /// `database`, `file` or `s3`, for logs and metrics.
    fn kind(&self) -> &'static str;
    /// Begins writing the content of a new blob.
    async fn stage(&self, id: ContentId) -> StoreResult<Box<dyn StagedContent>>;
    /// Streams the chunks of `span`; `NotFound` when the content is gone.
    async fn read(&self, id: ContentId, span: ChunkSpan) -> StoreResult<ChunkStream>;
    /// Removes whatever an upload left: its content, and the staged leftovers `cleanup`
    /// names (`StagedContent::cleanup_id`). Removing what is not there succeeds.
    async fn discard(&self, id: ContentId, cleanup: Option<&str>) -> StoreResult<()>;
    /// Removes content that no blob and no upload owns, last written before `older_than`.
    async fn sweep_orphans(&self, older_than: DateTime<Utc>) -> StoreResult<u64>;
}

/// One blob's content being written.
#[async_trait]
pub trait StagedContent: Send {
    /// Appends `chunks` (each `chunk_bytes` long but the very last).
    async fn write(&mut self, chunks: &[Bytes]) -> StoreResult<()>;
    /// What `ContentStore::discard` needs to clean up after a crash, once there is such a
    /// thing (an S3 multipart upload's id); the upload ledger records it.
    fn cleanup_id(&self) -> Option<String>;
    /// Makes the content durable under its final name. It stays invisible until its blob
    /// row commits, and is still removed by `discard`.
    async fn finish(&mut self) -> StoreResult<()>;
}

/// A store URL: `database`, `file:///DIR`, `s3://BUCKET[/PREFIX]`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Database,
    File(std::path::PathBuf),
    S3 { bucket: String, prefix: String },
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Database => f.write_str("database"),
            Self::File(dir) => write!(f, "file://{}", dir.display()),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "database" {
            return Ok(Self::Database);
        }
        if let Some(path) = s.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(format!("{s:?}: a file store needs an absolute path, file:///DIR"));
            }
            return Ok(Self::File(path.into()));
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("{s:?}: an S3 store needs a bucket, s3://BUCKET[/PREFIX]"));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        Err(format!(
            "{s:?} is not a content store: use database, file:///DIR or s3://BUCKET[/PREFIX]"
        ))
    }
}

/// Opens the store `url` names, reading what it lacks from `previous` (a store being
/// migrated away from) if one is given.
pub async fn open_with_previous(
    url: &StoreUrl,
    previous: Option<&StoreUrl>,
    repo: DynRepo,
    s3: &S3Settings,
) -> anyhow::Result<DynStore> {
    let primary = open(url, repo.clone(), s3).await?;
    Ok(match previous {
        Some(previous) => Arc::new(fallback::FallbackStore {
            primary,
            previous: open(previous, repo, s3).await?,
        }),
        None => primary,
    })
}

/// Opens the store `url` names; `repo` keeps the `database` store's chunks and tells the
/// others which content is owned.
pub async fn open(url: &StoreUrl, repo: DynRepo, s3: &S3Settings) -> anyhow::Result<DynStore> {
    Ok(match url {
        StoreUrl::Database => Arc::new(database::DatabaseStore::new(repo)),
        StoreUrl::File(dir) => Arc::new(file::FileStore::open(dir, repo).await?),
        StoreUrl::S3 { bucket, prefix } => Arc::new(s3::S3Store::open(bucket, prefix, s3, repo).await?),
    })
}

/// The name of a blob's content under a store's root: `<tenant>/<blob>`.
fn object_name(id: ContentId) -> String {
    format!("{}/{}", id.tenant.0, id.blob.0)
}

/// The blob an object name (`<tenant>/<blob>`, perhaps with a suffix) belongs to.
fn blob_of_name(name: &str) -> Option<uuid::Uuid> {
    let (_, blob) = name.rsplit_once('/')?;
    uuid::Uuid::parse_str(blob.get(..36)?).ok()
}

/// Cuts a stream of arbitrary pieces into chunks of `chunk_bytes` (the last may be shorter).
fn rechunk(pieces: BoxStream<'static, StoreResult<Bytes>>, chunk_bytes: usize) -> ChunkStream {
    use bytes::BytesMut;
    use futures::StreamExt;
    let state = (pieces, BytesMut::new(), false);
    Box::pin(futures::stream::unfold(
        state,
        move |(mut pieces, mut pending, mut done)| async move {
            loop {
                if pending.len() >= chunk_bytes {
                    let chunk = pending.split_to(chunk_bytes).freeze();
                    return Some((Ok(chunk), (pieces, pending, done)));
                }
                if done {
                    if pending.is_empty() {
                        return None;
                    }
                    let last = pending.split().freeze();
                    return Some((Ok(last), (pieces, pending, done)));
                }
                match pieces.next().await {
                    Some(Ok(piece)) => {
                        if pending.is_empty() && piece.len() == chunk_bytes {
                            return Some((Ok(piece), (pieces, pending, done)));
                        }
                        // Room for a whole chunk at once, not grown piece by piece.
                        if pending.capacity() - pending.len() < piece.len() {
                            pending.reserve(chunk_bytes.max(piece.len()));
                        }
                        pending.extend_from_slice(&piece);
                    }
                    Some(Err(err)) => return Some((Err(err), (pieces, BytesMut::new(), true))),
                    None => done = true,
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_print_back() {
        for url in [
            "database",
            "file:///var/lib/attachd/content",
            "s3://evidence",
            "s3://evidence/a/b",
        ] {
            let parsed: StoreUrl = url.parse().expect("parses");
            assert_eq!(parsed.to_string(), url);
        }
        assert!("file://relative".parse::<StoreUrl>().is_err());
        assert!("s3:///nobucket".parse::<StoreUrl>().is_err());
        assert!("gs://bucket".parse::<StoreUrl>().is_err());
    }

    #[test]
    fn spans_cover_their_chunks() {
        let whole = ChunkSpan::whole(10, 4);
        assert_eq!((whole.count, whole.bytes()), (3, 0..10));
        let last = ChunkSpan {
            first: 2,
            count: 1,
            ..whole
        };
        assert_eq!(last.bytes(), 8..10);
        assert_eq!(ChunkSpan::whole(0, 4).count, 0);
    }

    #[tokio::test]
    async fn rechunking_cuts_at_chunk_bounds() {
        use futures::StreamExt;
        let pieces: Vec<StoreResult<Bytes>> = vec![
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"defgh")),
            Ok(Bytes::from_static(b"ij")),
        ];
        let chunks: Vec<Bytes> = rechunk(Box::pin(futures::stream::iter(pieces)), 4)
            .map(|c| c.expect("no error"))
            .collect()
            .await;
        assert_eq!(
            chunks,
            vec![
                Bytes::from_static(b"abcd"),
                Bytes::from_static(b"efgh"),
                Bytes::from_static(b"ij")
            ]
        );
    }
}
