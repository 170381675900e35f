//! `attachd store migrate`: copies every blob's content from one store to another, checking
//! each blob's SHA-256 on the way. Blobs already at the target (and verified there) are
//! skipped, so an interrupted run resumes and a later run catches up with new uploads.
//! It only reads the source and writes content the target's sweeper sees as owned (the blob
//! rows exist), so it is safe while servers run.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::{ChunkSpan, ContentId, DynStore, StoreError};
use crate::ids::{BlobId, TenantId};
use crate::repo::{Blob, DynRepo};

/// Blobs listed per page.
const PAGE: i64 = 200;
/// Chunks written to the target at once.
const BATCH: usize = 4;

/// What a migration did.
#[derive(Debug, Default)]
pub struct Migrated {
    pub copied: u64,
    pub already_there: u64,
    pub bytes_copied: u64,
    /// Blobs whose source content no longer matches its hash: not copied.
    pub failed: Vec<(BlobId, String)>,
}

/// Copies every blob from `from` to `to`, reporting progress on standard error.
pub async fn migrate(repo: DynRepo, from: DynStore, to: DynStore) -> anyhow::Result<Migrated> {
    let (count, bytes) = repo.blob_totals().await?;
    let progress = Progress::new(u64::try_from(count)?, u64::try_from(bytes)?);
    let mut migrated = Migrated::default();
    let mut after = None;
    loop {
        let page = repo.blobs_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for blob in &page {
            let id = ContentId {
                tenant: TenantId(blob.tenant_id),
                blob: BlobId(blob.id),
            };
            let Some(span) = ChunkSpan::recorded(blob.size, blob.chunk_bytes) else {
                let why = "its recorded size or chunk size is invalid".to_string();
                tracing::error!(blob = %id.blob, why, "not copied");
                migrated.failed.push((id.blob, why));
                progress.advance(0);
                continue;
            };
            let size = span.size;
            if verified_copy(&to, id, blob, span).await? {
                migrated.already_there += 1;
            } else {
                match copy(&from, &to, id, blob, span).await? {
                    Ok(()) => {
                        migrated.copied += 1;
                        migrated.bytes_copied += size;
                    }
                    Err(why) => {
                        tracing::error!(blob = %id.blob, why, "not copied: the source content is not what was stored");
                        migrated.failed.push((id.blob, why));
                    }
                }
            }
            progress.advance(size);
        }
    }
    progress.finish();
    Ok(migrated)
}

/// Whether `store` holds the blob's content whole and unaltered.
async fn verified_copy(store: &DynStore, id: ContentId, blob: &Blob, span: ChunkSpan) -> anyhow::Result<bool> {
    let mut chunks = match store.read(id, span).await {
        Ok(chunks) => chunks,
        Err(StoreError::NotFound) => return Ok(false),
        Err(err) => return Err(err.into()),
    };
    let mut hasher = Sha256::new();
    let mut read = 0u64;
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(chunk) => {
                read += chunk.len() as u64;
                hasher.update(&chunk);
            }
            Err(StoreError::NotFound) => return Ok(false),
            Err(err) => return Err(err.into()),
        }
    }
    Ok(read == span.size && hex::encode(hasher.finalize()) == blob.hash_sha256)
}

/// Copies one blob; the inner error says why its source content was refused.
async fn copy(
    from: &DynStore,
    to: &DynStore,
    id: ContentId,
    blob: &Blob,
    span: ChunkSpan,
) -> anyhow::Result<Result<(), String>> {
    // A partial copy from an interrupted run goes first.
    to.discard(id, None).await?;
    let mut chunks = match from.read(id, span).await {
        Ok(chunks) => chunks,
        Err(StoreError::NotFound) => return Ok(Err("missing from the source store".into())),
        Err(err) => return Err(err.into()),
    };
    let mut staged = to.stage(id).await?;
    let mut hasher = Sha256::new();
    let mut read = 0u64;
    let mut batch: Vec<Bytes> = Vec::with_capacity(BATCH);
    let outcome = async {
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(StoreError::NotFound) => return Ok(Err("cut short in the source store".to_string())),
                Err(err) => return Err(anyhow::Error::from(err)),
            };
            read += chunk.len() as u64;
            hasher.update(&chunk);
            batch.push(chunk);
            if batch.len() == BATCH {
                staged.write(&batch).await?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            staged.write(&batch).await?;
        }
        if read != span.size || hex::encode(hasher.finalize()) != blob.hash_sha256 {
            return Ok(Err("its SHA-256 differs from the recorded one".to_string()));
        }
        staged.finish().await?;
        Ok(Ok(()))
    }
    .await;
    let cleanup = staged.cleanup_id();
    drop(staged);
    if !matches!(outcome, Ok(Ok(()))) {
        if let Err(err) = to.discard(id, cleanup.as_deref()).await {
            tracing::warn!(error = %err, blob = %id.blob, "could not remove a partial copy");
        }
    }
    outcome
}

/// A progress bar with bytes and ETA on a terminal; a log line every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total_blobs: u64,
    total_bytes: u64,
    state: std::sync::Mutex<(u64, u64, Instant)>,
}

impl Progress {
    fn new(total_blobs: u64, total_bytes: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total_bytes);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            total_blobs,
            total_bytes,
            state: std::sync::Mutex::new((0, 0, Instant::now())),
        }
    }

    fn advance(&self, bytes: u64) {
        let Ok(mut state) = self.state.lock() else { return };
        state.0 += 1;
        state.1 += bytes;
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            bar.set_message(format!("{}/{} blobs", state.0, self.total_blobs));
        } else if state.2.elapsed() >= Duration::from_secs(5) {
            state.2 = Instant::now();
            tracing::info!(
                blobs = state.0,
                of = self.total_blobs,
                bytes = state.1,
                of_bytes = self.total_bytes,
                "migrating content"
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
