//! The malware scanner: a background task (or `attachd scan` alone) that claims
//! NOT_SCANNED blobs in batches, streams each to clamd and records SCANNED_OK or
//! SCANNED_BAD. clamd down or slow: blobs stay NOT_SCANNED and are retried with backoff.
//! Content clamd would not judge (over its limits) is never recorded as clean.

pub mod clamd;

use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::ids::{BlobId, TenantId};
use crate::repo::{DynRepo, ScanCandidate, ScanOutcome, ScanVerdict};
use crate::store::{ChunkSpan, ContentId, DynStore, StoreError};
use clamd::{ClamdAddr, Verdict};

/// Blobs claimed per round.
const BATCH: i64 = 20;
/// A claim older than this is taken to be a crashed scanner's: the blob is scanned again.
const LEASE: Duration = Duration::from_secs(600);
/// The longest wait between attempts while clamd is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct ScannerConfig {
    pub clamd: ClamdAddr,
    /// Where the content to scan is read from.
    pub store: DynStore,
    /// Pause between rounds when the last one went well.
    pub interval: Duration,
    /// Blobs larger than this are not sent: clamd's StreamMaxLength/MaxFileSize/MaxScanSize.
    pub max_bytes: u64,
}

/// Scans until `stop` turns true.
pub async fn run(repo: DynRepo, config: ScannerConfig, mut stop: watch::Receiver<bool>) {
    let name = format!("scanner-{}", uuid::Uuid::new_v4());
    tracing::info!(clamd = ?config.clamd, scanner = %name, "malware scanning on");
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        wait = match round(&repo, &config, &name, &stop).await {
            // A full batch: there may be more waiting, so go on at once.
            Ok(Round { candidates, .. }) if candidates == BATCH as usize => Duration::ZERO,
            Ok(Round { scanned, .. }) => {
                if scanned > 0 {
                    tracing::debug!(scanned, "scan round done");
                }
                config.interval
            }
            Err(err) => {
                let next = (wait * 2).max(config.interval).min(MAX_BACKOFF.max(config.interval));
                tracing::warn!(error = %err, retry_in_s = next.as_secs(), "scanning paused: clamd, the content store or the database is unavailable");
                next
            }
        };
    }
}

/// What one round found and did.
struct Round {
    candidates: usize,
    scanned: usize,
}

/// One batch, claimed and recorded in one transaction each (two commits per batch, not per
/// blob); `Err` when clamd (or the database) failed, which pauses scanning.
async fn round(
    repo: &DynRepo,
    config: &ScannerConfig,
    name: &str,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Round> {
    let lease_start = chrono::Utc::now() - chrono::Duration::from_std(LEASE)?;
    let candidates = repo.scan_candidates(BATCH, lease_start).await?;
    if candidates.is_empty() {
        return Ok(Round {
            candidates: 0,
            scanned: 0,
        });
    }
    clamd::ping(&config.clamd).await?;
    let ids: Vec<BlobId> = candidates.iter().map(|c| BlobId(c.id)).collect();
    let claimed = repo.claim_scans(&ids, name, lease_start).await?;
    let mut verdicts = Vec::new();
    let mut failure = None;
    for candidate in candidates.iter().filter(|c| claimed.contains(&BlobId(c.id))) {
        if *stop.borrow() {
            break;
        }
        match scan_one(repo, config, candidate).await {
            Ok(outcome) => {
                tracing::info!(blob = %BlobId(candidate.id), outcome = ?outcome, "scanned");
                let label = match &outcome {
                    ScanOutcome::Clean => "SCANNED_OK",
                    ScanOutcome::Infected(_) => "SCANNED_BAD",
                    ScanOutcome::Skipped(_) => "NOT_SCANNED",
                };
                metrics::counter!(crate::metrics::SCAN_OUTCOMES, "outcome" => label).increment(1);
                verdicts.push(ScanVerdict {
                    tenant: TenantId(candidate.tenant_id),
                    blob: BlobId(candidate.id),
                    outcome,
                });
            }
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    // Verdicts reached before a failure are kept; the claims left over are released.
    let scanned = repo.record_scans(&verdicts, name).await?;
    for blob in claimed.iter().filter(|b| !verdicts.iter().any(|v| v.blob == **b)) {
        repo.release_scan(*blob, name).await?;
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(Round {
            candidates: candidates.len(),
            scanned,
        }),
    }
}

async fn scan_one(repo: &DynRepo, config: &ScannerConfig, blob: &ScanCandidate) -> anyhow::Result<ScanOutcome> {
    let (tenant, id) = (TenantId(blob.tenant_id), BlobId(blob.id));
    // A row edited by hand or content gone from the store: marked tampered and passed over,
    // so one such blob cannot stop every scan after it.
    let mark_tampered = |why: &'static str| async move {
        tracing::error!(tenant = %tenant, blob = %id, route = "scanner", why, "integrity failure");
        repo.mark_tampered(tenant, id).await
    };
    let tampered = |why: &'static str| async move {
        mark_tampered(why).await?;
        anyhow::Ok(ScanOutcome::Skipped(format!("not scanned: {why}")))
    };
    let Some(span) = ChunkSpan::recorded(blob.size, blob.chunk_bytes) else {
        return tampered("its recorded size is invalid").await;
    };
    if span.size > config.max_bytes {
        return Ok(ScanOutcome::Skipped(format!(
            "not scanned: {} bytes is over the scanner's limit of {} bytes",
            span.size, config.max_bytes
        )));
    }
    let mut chunks = match config.store.read(ContentId { tenant, blob: id }, span).await {
        Err(StoreError::NotFound) => return tampered("its stored content is missing").await,
        other => other?,
    };
    let mut scan = clamd::Scan::start(&config.clamd).await?;
    // The content is read anyway: check its hash too.
    let mut hasher = Sha256::new();
    let mut read = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Err(StoreError::NotFound) => return tampered("its stored content is missing").await,
            other => other?,
        };
        read += chunk.len() as u64;
        hasher.update(&chunk);
        scan.send(&chunk).await?;
    }
    if read != span.size || hex::encode(hasher.finalize()) != blob.hash_sha256 {
        mark_tampered("its content does not match its recorded hash").await?;
    }
    Ok(match scan.finish().await? {
        Verdict::Clean => ScanOutcome::Clean,
        Verdict::Infected(signature) => ScanOutcome::Infected(signature),
        Verdict::NotJudged(why) => ScanOutcome::Skipped(format!("not scanned: {why}")),
    })
}
