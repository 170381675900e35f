//! Streamed upload: body stream → size limit → SHA-256 and byte count → content store,
//! listed in the upload ledger until its blob row commits, so a failed upload leaves nothing
//! visible and whatever it stored is removed (at once, or by the sweeper after a crash).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::chunk_mac::{chunk_digest, ChunkContext};
use super::mime::{choose_mime, SNIFF_BYTES};
use super::BlobError;
use super::Content;
use crate::ids::{BlobId, TenantId};
use crate::repo::{Blob, BlobWriter, CommitLimits, DynRepo, NewBlob, NewRecord, RepoError, TenantUsage};
use crate::store::{ContentId, DynStore, StagedContent};

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
    /// The size the request declared (its `Content-Length`), claimed from the storage
    /// reserve before anything is written.
    pub expected_bytes: Option<u64>,
}

/// A blob whose content is stored but not yet committed: invisible until `commit`.
pub struct PendingBlob {
    staging: Staging,
    blob: NewBlob,
    quota: CommitLimits,
}

impl PendingBlob {
    pub fn id(&self) -> BlobId {
        self.staging.id.blob
    }

    /// The SHA-256 of the content, hex.
    pub fn hash(&self) -> &str {
        &self.blob.hash_sha256
    }

    /// Makes the blob durable and visible, within the tenant's quota.
    pub async fn commit(self) -> Result<Blob, BlobError> {
        self.commit_with(None).await
    }

    /// Commits the blob together with a record naming it: both or neither.
    pub async fn commit_with(mut self, record: Option<&NewRecord>) -> Result<Blob, BlobError> {
        let writer = self
            .staging
            .writer
            .take()
            .ok_or_else(|| BlobError::internal(anyhow::anyhow!("committed twice")))?;
        match writer.commit(self.blob, self.quota, record).await {
            Ok(stored) => {
                self.staging.content = None;
                metrics::counter!(crate::metrics::UPLOADED_BYTES).increment(u64::try_from(stored.size).unwrap_or(0));
                Ok(stored)
            }
            // Refused and rolled back (the ledger entry is ended): the content goes now.
            Err(err @ (RepoError::QuotaExceeded(_) | RepoError::Conflict(_))) => {
                self.staging.discard().await;
                Err(err.into())
            }
            Err(err) => {
                // The commit may have happened after all (a connection lost during it): the
                // content stays, and the sweeper removes it if its ledger entry outlives it.
                self.staging.content = None;
                Err(err.into())
            }
        }
    }

    pub async fn abort(mut self) {
        self.staging.discard().await;
    }
}

/// An upload's two halves: its ledger entry and its stored content. Dropped unfinished
/// (the request went away), both are removed in the background.
struct Staging {
    store: DynStore,
    id: ContentId,
    writer: Option<Box<dyn BlobWriter>>,
    content: Option<Box<dyn StagedContent>>,
    /// Recorded in the ledger, for the sweeper.
    cleanup_id: Option<String>,
}

impl Staging {
    /// Removes the content, then the ledger entry. If the content cannot be removed, the
    /// entry stays for the sweeper to retry.
    async fn discard(&mut self) {
        let (content, writer) = (self.content.take(), self.writer.take());
        discard(self.store.clone(), self.id, content, writer).await;
    }

    /// Records a cleanup id the store has made since the last call.
    async fn record_cleanup(&mut self) -> Result<(), BlobError> {
        let made = self.content.as_ref().and_then(|content| content.cleanup_id());
        if made.is_some() && made != self.cleanup_id {
            if let (Some(writer), Some(id)) = (self.writer.as_mut(), made.as_deref()) {
                writer.record_cleanup(id).await?;
            }
            self.cleanup_id = made;
        }
        Ok(())
    }
}

async fn discard(
    store: DynStore,
    id: ContentId,
    content: Option<Box<dyn StagedContent>>,
    writer: Option<Box<dyn BlobWriter>>,
) {
    let cleanup = content.as_ref().and_then(|content| content.cleanup_id());
    drop(content);
    if let Err(err) = store.discard(id, cleanup.as_deref()).await {
        tracing::warn!(error = %err, blob = %id.blob, "could not remove an abandoned upload's content; the sweeper will retry");
        return;
    }
    if let Some(writer) = writer {
        writer.abort().await;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.content.is_none() && self.writer.is_none() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, id, content, writer) = (self.store.clone(), self.id, self.content.take(), self.writer.take());
            runtime.spawn(discard(store, id, content, writer));
        }
    }
}

/// Who uploads: the blob's tenant, and the issuer and subject recorded with it.
#[derive(Clone, Copy, Debug)]
pub struct Uploader<'a> {
    pub tenant: TenantId,
    pub issuer: &'a str,
    pub subject: &'a str,
}

/// Writes `body` as a new blob of the uploader's tenant, to be committed by the caller. An
/// error of the body itself comes back as `BlobError::Body`.
pub async fn store_upload<S, E>(
    repo: &DynRepo,
    content: &Content,
    principal: Uploader<'_>,
    source: UploadSource,
    body: S,
    limits: UploadLimits,
) -> Result<PendingBlob, BlobError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let usage = repo.tenant_usage(principal.tenant).await?.unwrap_or_default();
    let quota = CommitLimits {
        max_blobs: usage.max_blobs.unwrap_or(limits.default_max_blobs),
        max_bytes: usage.max_bytes.unwrap_or(limits.default_max_bytes),
    };
    if usage.blob_count >= quota.max_blobs {
        return Err(BlobError::PaymentRequired(format!(
            "blob count quota exceeded: the tenant may store {} blobs",
            quota.max_blobs
        )));
    }
    let cap = SizeCap::smallest(limits.max_blob_bytes, &usage, quota);
    let expected = source.expected_bytes.unwrap_or(0).min(limits.max_blob_bytes);
    let claim = match content.reserve.claim(expected) {
        Ok(claim) => claim,
        Err(err) => {
            reclaim_space(repo);
            return Err(err.into());
        }
    };
    let id = ContentId {
        tenant: principal.tenant,
        blob: BlobId::new(),
    };
    let writer = repo.begin_blob(id.tenant, id.blob).await?;
    let mut staging = Staging {
        store: content.store.clone(),
        id,
        writer: Some(writer),
        content: None,
        cleanup_id: None,
    };
    staging.content = Some(content.store.stage(id).await?);
    let (chunks, to_store) = mpsc::channel::<Staged>(STORE_QUEUE);
    // Storage runs as its own task so the store writes while this one hashes.
    let storing = tokio::spawn(store_chunks(staging, to_store, claim));
    let read = read_body(body, limits, cap, chunks).await;
    let (mut staging, stored) = storing.await.map_err(BlobError::internal)?;
    // A storage error explains why reading stopped, so it comes first.
    let (written, digests) = match stored.and_then(|digests| read.map(|written| (written, digests))) {
        Ok(done) => done,
        Err(err) => {
            staging.discard().await;
            if matches!(err, BlobError::InsufficientStorage(_)) {
                reclaim_space(repo);
            }
            return Err(err);
        }
    };
    if let Some(staged) = staging.content.as_mut() {
        if let Err(err) = staged.finish().await {
            staging.discard().await;
            return Err(err.into());
        }
    }
    let mime_type = choose_mime(
        source.content_type.as_deref(),
        source.file_name.as_deref(),
        &written.head,
    );
    let size = u64::try_from(written.size).map_err(BlobError::internal)?;
    let context = ChunkContext {
        blob: id.blob.0,
        hash: &written.hash,
        size,
    };
    let chunk_macs = content.macs.macs(context, &digests);
    let blob = NewBlob {
        chunk_macs,
        chunk_mac_key: content.macs.id().to_string(),
        hash_sha256: written.hash,
        size: written.size,
        chunk_bytes: i64::try_from(limits.chunk_bytes).map_err(BlobError::internal)?,
        mime_type,
        issuer: principal.issuer.to_string(),
        subject: principal.subject.to_string(),
        timestamp_accepted: chrono::Utc::now(),
    };
    Ok(PendingBlob { staging, blob, quota })
}

/// The answer to a blob over the server's size limit.
pub fn too_large(max: u64) -> BlobError {
    BlobError::PayloadTooLarge(format!("blob exceeds the maximum size of {max} bytes"))
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

    fn exceeded(&self) -> BlobError {
        match self.kind {
            CapKind::Server => too_large(self.bytes),
            CapKind::TenantBlobSize => BlobError::PaymentRequired(format!(
                "blob size quota exceeded: the tenant's blobs may hold {} bytes",
                self.bytes
            )),
            CapKind::TenantStorage { used, max } => {
                BlobError::PaymentRequired(format!("storage quota exceeded: {used} of {max} bytes used"))
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

/// Stores chunks in order until the sender is gone, then hands the upload back with each
/// chunk's SHA-256. If the upload is abandoned, the staging is dropped with this task's
/// output, which removes what it stored.
/// Space the database and the store give back once a burst of uploads has filled the disk:
/// the SQLite log is checkpointed and truncated, in the background.
fn reclaim_space(repo: &DynRepo) {
    let repo = repo.clone();
    tokio::spawn(async move {
        if let Err(err) = repo.reclaim_space().await {
            tracing::warn!(error = %err, "could not give space back after a full disk");
        }
    });
}

async fn store_chunks(
    mut staging: Staging,
    mut chunks: mpsc::Receiver<Staged>,
    mut claim: crate::store::reserve::Claim,
) -> (Staging, Result<Vec<[u8; 32]>, BlobError>) {
    let mut digests = Vec::new();
    let mut stored_bytes = 0u64;
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
        // Each chunk's own digest (for its MAC) is taken on another thread while the
        // store writes, so the two do not queue behind each other.
        let chunks = std::mem::take(&mut batch);
        // Free space is read again before every batch: something else may be filling the disk.
        stored_bytes += chunks.iter().map(|chunk| chunk.len() as u64).sum::<u64>();
        claim = match claim.cover(stored_bytes) {
            Ok(claim) => claim,
            Err(err) => return (staging, Err(err.into())),
        };
        let digesting = tokio::task::spawn_blocking({
            let chunks = chunks.clone();
            move || chunks.iter().map(|chunk| chunk_digest(chunk)).collect::<Vec<_>>()
        });
        let written = store_batch(&mut staging, &chunks, keep_alive).await;
        match digesting.await {
            Ok(batch_digests) => digests.extend(batch_digests),
            Err(err) => return (staging, Err(BlobError::internal(err))),
        }
        if let Err(err) = written {
            return (staging, Err(err));
        }
    }
    (staging, Ok(digests))
}

async fn store_batch(staging: &mut Staging, batch: &[Bytes], keep_alive: bool) -> Result<(), BlobError> {
    if !batch.is_empty() {
        if let Some(content) = staging.content.as_mut() {
            content.write(batch).await?;
        }
        staging.record_cleanup().await?;
    }
    if keep_alive {
        if let Some(writer) = staging.writer.as_mut() {
            writer.keep_alive().await?;
        }
    }
    Ok(())
}

struct Written {
    hash: String,
    size: i64,
    head: Vec<u8>,
}

/// Reads, counts and hashes the body, handing full chunks to storage.
async fn read_body<S, E>(
    mut body: S,
    limits: UploadLimits,
    cap: SizeCap,
    chunks: mpsc::Sender<Staged>,
) -> Result<Written, BlobError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let storage_stopped = || BlobError::internal(anyhow::anyhow!("chunk storage stopped"));
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head = Vec::new();
    let mut pending = BytesMut::with_capacity(limits.chunk_bytes);
    let mut last_touch = tokio::time::Instant::now();
    loop {
        // The body's reader answers 408 when the client goes idle.
        let Some(piece) = body
            .next()
            .await
            .transpose()
            .map_err(|err| BlobError::Body(Box::new(err)))?
        else {
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
        size: i64::try_from(size).map_err(BlobError::internal)?,
        head,
    })
}
