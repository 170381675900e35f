//! Streamed upload: body stream → size limit → SHA-256 and byte count → chunk writer,
//! all inside one transaction, so a failed upload leaves nothing behind.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::mime::{choose_mime, SNIFF_BYTES};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::ids::BlobId;
use crate::repo::{Blob, BlobWriter, CommitLimits, NewBlob, NewRecord, Repo, TenantUsage};

/// Limits applied to every upload.
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    /// The server's largest blob (413 above it).
    pub max_blob_bytes: u64,
    /// Tenant quotas where a tenant has no override of its own.
    pub default_max_blobs: i64,
    pub default_max_bytes: i64,
    /// How long the client may send nothing before the upload is abandoned; also how
    /// long a staged upload may go untouched before the sweeper removes it.
    pub body_idle: Duration,
    pub chunk_bytes: usize,
}

/// What the client said about the file.
#[derive(Clone, Debug, Default)]
pub struct UploadSource {
    pub content_type: Option<String>,
    pub file_name: Option<String>,
}

/// A blob whose content is written but not yet committed: invisible until `commit`.
pub struct PendingBlob {
    id: BlobId,
    writer: Box<dyn BlobWriter>,
    blob: NewBlob,
    quota: CommitLimits,
}

impl PendingBlob {
    pub fn id(&self) -> BlobId {
        self.id
    }

    /// The SHA-256 of the content, hex.
    pub fn hash(&self) -> &str {
        &self.blob.hash_sha256
    }

    /// Makes the blob durable and visible, within the tenant's quota.
    pub async fn commit(self) -> Result<Blob, ApiError> {
        self.commit_with(None).await
    }

    /// Commits the blob together with a record naming it: both or neither.
    pub async fn commit_with(self, record: Option<&NewRecord>) -> Result<Blob, ApiError> {
        let stored = self.writer.commit(self.blob, self.quota, record).await?;
        metrics::counter!(crate::metrics::UPLOADED_BYTES).increment(u64::try_from(stored.size).unwrap_or(0));
        Ok(stored)
    }

    pub async fn abort(self) {
        self.writer.abort().await;
    }
}

/// Writes `body` as a new blob of the principal's tenant, to be committed by the caller.
pub async fn store_upload<S>(
    repo: &dyn Repo,
    principal: &Principal,
    source: UploadSource,
    body: S,
    limits: UploadLimits,
) -> Result<PendingBlob, ApiError>
where
    S: Stream<Item = Result<Bytes, ApiError>> + Unpin,
{
    let usage = repo.tenant_usage(principal.tenant).await?.unwrap_or_default();
    let quota = CommitLimits {
        max_blobs: usage.max_blobs.unwrap_or(limits.default_max_blobs),
        max_bytes: usage.max_bytes.unwrap_or(limits.default_max_bytes),
    };
    if usage.blob_count >= quota.max_blobs {
        return Err(ApiError::PaymentRequired(format!(
            "blob count quota exceeded: the tenant may store {} blobs",
            quota.max_blobs
        )));
    }
    let cap = SizeCap::smallest(limits.max_blob_bytes, &usage, quota);
    let id = BlobId::new();
    let writer = repo.begin_blob(principal.tenant, id).await?;
    let (chunks, to_store) = mpsc::channel::<Staged>(STORE_QUEUE);
    // Storage runs as its own task so inserts proceed while this one hashes.
    let storing = tokio::spawn(store_chunks(writer, to_store));
    let read = read_body(body, limits, cap, chunks).await;
    let (writer, stored) = storing.await.map_err(ApiError::internal)?;
    // A storage error explains why reading stopped, so it comes first.
    let written = match stored.and(read) {
        Ok(written) => written,
        Err(err) => {
            writer.abort().await;
            return Err(err);
        }
    };
    let mime_type = choose_mime(
        source.content_type.as_deref(),
        source.file_name.as_deref(),
        &written.head,
    );
    let blob = NewBlob {
        hash_sha256: written.hash,
        size: written.size,
        chunk_bytes: i64::try_from(limits.chunk_bytes).map_err(ApiError::internal)?,
        mime_type,
        issuer: principal.issuer.clone(),
        subject: principal.subject.clone(),
        timestamp_accepted: chrono::Utc::now(),
    };
    Ok(PendingBlob {
        id,
        writer,
        blob,
        quota,
    })
}

/// The answer to a blob over the server's size limit.
pub fn too_large(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!("blob exceeds the maximum size of {max} bytes"))
}

/// The most an upload may hold, and which limit that is.
#[derive(Clone, Copy, Debug)]
struct SizeCap {
    bytes: u64,
    kind: CapKind,
}

#[derive(Clone, Copy, Debug)]
enum CapKind {
    Server,
    TenantBlobSize,
    TenantStorage { used: i64, max: i64 },
}

impl SizeCap {
    fn smallest(server_max: u64, usage: &TenantUsage, quota: CommitLimits) -> Self {
        let as_bytes = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut cap = Self {
            bytes: server_max,
            kind: CapKind::Server,
        };
        let mut consider = |bytes: u64, kind: CapKind| {
            if bytes < cap.bytes {
                cap = Self { bytes, kind };
            }
        };
        if let Some(max) = usage.max_blob_bytes {
            consider(as_bytes(max), CapKind::TenantBlobSize);
        }
        consider(
            as_bytes(quota.max_bytes.saturating_sub(usage.bytes_used)),
            CapKind::TenantStorage {
                used: usage.bytes_used,
                max: quota.max_bytes,
            },
        );
        cap
    }

    fn exceeded(&self) -> ApiError {
        match self.kind {
            CapKind::Server => too_large(self.bytes),
            CapKind::TenantBlobSize => ApiError::PaymentRequired(format!(
                "blob size quota exceeded: the tenant's blobs may hold {} bytes",
                self.bytes
            )),
            CapKind::TenantStorage { used, max } => {
                ApiError::PaymentRequired(format!("storage quota exceeded: {used} of {max} bytes used"))
            }
        }
    }
}

/// Chunks read ahead of storage: bounds memory at a few chunks per upload. Storage commits
/// what is queued together (at most this many chunks), so a fast client costs fewer
/// commits while a slow one never holds a write open.
const STORE_QUEUE: usize = 4;

/// What the reader hands to storage.
enum Staged {
    Chunk(Bytes),
    /// The client is still sending: keep the staged upload from looking abandoned to the
    /// sweeper. Sent every half idle timeout rather than with each chunk, since every
    /// extra row written per chunk is a whole page more to commit.
    KeepAlive,
}

/// Writes chunks in order until the sender is gone, then hands the writer back.
/// If the upload is abandoned, the writer is dropped with this task's output, which
/// removes what it staged.
async fn store_chunks(
    mut writer: Box<dyn BlobWriter>,
    mut chunks: mpsc::Receiver<Staged>,
) -> (Box<dyn BlobWriter>, Result<(), ApiError>) {
    let mut seq: i64 = 0;
    let mut batch = Vec::with_capacity(STORE_QUEUE);
    while let Some(staged) = chunks.recv().await {
        let mut keep_alive = false;
        let mut next = Some(staged);
        while let Some(staged) = next.take() {
            match staged {
                Staged::Chunk(chunk) => batch.push(chunk),
                Staged::KeepAlive => keep_alive = true,
            }
            if batch.len() < STORE_QUEUE {
                next = chunks.try_recv().ok();
            }
        }
        let mut written = Ok(());
        if !batch.is_empty() {
            written = writer.write_chunks(seq, &batch).await;
            seq += batch.len() as i64;
            batch.clear();
        }
        if keep_alive && written.is_ok() {
            written = writer.keep_alive().await;
        }
        if let Err(err) = written {
            return (writer, Err(err.into()));
        }
    }
    (writer, Ok(()))
}

struct Written {
    hash: String,
    size: i64,
    head: Vec<u8>,
}

/// Reads, counts and hashes the body, handing full chunks to storage.
async fn read_body<S>(
    mut body: S,
    limits: UploadLimits,
    cap: SizeCap,
    chunks: mpsc::Sender<Staged>,
) -> Result<Written, ApiError>
where
    S: Stream<Item = Result<Bytes, ApiError>> + Unpin,
{
    let storage_stopped = || ApiError::internal(anyhow::anyhow!("chunk storage stopped"));
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head = Vec::new();
    let mut pending = BytesMut::with_capacity(limits.chunk_bytes);
    let mut last_touch = tokio::time::Instant::now();
    loop {
        // The body's reader answers 408 when the client goes idle.
        let Some(piece) = body.next().await.transpose()? else {
            break;
        };
        size += piece.len() as u64;
        if size > cap.bytes {
            return Err(cap.exceeded());
        }
        hasher.update(&piece);
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(piece.len());
            head.extend_from_slice(&piece[..take]);
        }
        pending.extend_from_slice(&piece);
        while pending.len() >= limits.chunk_bytes {
            let chunk = pending.split_to(limits.chunk_bytes).freeze();
            chunks.send(Staged::Chunk(chunk)).await.map_err(|_| storage_stopped())?;
        }
        if last_touch.elapsed() >= limits.body_idle / 2 {
            chunks.send(Staged::KeepAlive).await.map_err(|_| storage_stopped())?;
            last_touch = tokio::time::Instant::now();
        }
    }
    if !pending.is_empty() {
        chunks
            .send(Staged::Chunk(pending.freeze()))
            .await
            .map_err(|_| storage_stopped())?;
    }
    Ok(Written {
        hash: hex::encode(hasher.finalize()),
        size: i64::try_from(size).map_err(ApiError::internal)?,
        head,
    })
}
