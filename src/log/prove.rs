//! Proof that a stored event or blob record is in its tenant's signed log: the leaf
//! recomputed from the row as stored, and its inclusion path to the peaks of the tenant's
//! anchored seal (whose signature was checked when it was read). A request never seals: a
//! leaf no seal covers yet waits for the sealer's next round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::anchor::AnchorRecord;
use super::state::trusted_head;
use super::state::LogState;
use super::trust::TrustError;
use crate::ids::TenantId;
use crate::repo::leaves::{blob_leaf, event_leaf};
use crate::repo::{Blob, Event, Repo, RepoError};
use merklelog::mmr::{self, Hash};

/// An event's inclusion in a sealed log, checked.
pub struct Inclusion {
    pub index: u64,
    pub idtimestamp: u64,
    pub leaf: Hash,
    /// Sibling values from the leaf up to its peak.
    pub path: Vec<Hash>,
    /// The sealed log's size and peaks (highest first).
    pub size: u64,
    pub peaks: Vec<Hash>,
    /// Which peak the path leads to.
    pub peak_index: usize,
    /// The seal (COSE Sign1) that signs those peaks.
    pub seal: Vec<u8>,
    pub massif_index: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The row, the log or the seal fails a check.
    #[error("{0}")]
    Failed(String),
    /// The tenant's log is refused as a whole (its anchor record is missing, went back or
    /// fails its check, or the sealer refuses its log): nothing of it is proven while that
    /// lasts. A verdict about the tenant, re-checked each sealing round, not about this leaf.
    #[error("{0}")]
    Refused(String),
    /// No seal covers the leaf yet, or the anchor cannot be read: try again.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<TrustError> for ProofError {
    fn from(err: TrustError) -> Self {
        match err {
            TrustError::Untrusted(why) => Self::Refused(why),
            TrustError::Unavailable(_) => Self::Unavailable(err.to_string()),
        }
    }
}

/// How fresh a trusted state must be for a leaf it covers.
const FRESH: Duration = Duration::from_millis(250);

/// A leaf to prove: what it is (for messages), where, and its recomputed hash.
struct Leaf {
    tenant: TenantId,
    what: String,
    index: u64,
    idtimestamp: u64,
    hash: Hash,
}

fn event_leaf_of(event: &Event) -> Result<Leaf, ProofError> {
    let what = format!("event {}", event.id);
    let (Some(index), Some(id)) = (event.log_index, event.idtimestamp) else {
        return Err(ProofError::Failed(format!("{what}: it has no place in the log")));
    };
    let hash = event_leaf(event, id as u64).map_err(|e| ProofError::Failed(format!("{what}: {e}")))?;
    Ok(Leaf {
        tenant: TenantId(event.tenant_id),
        what,
        index: index as u64,
        idtimestamp: id as u64,
        hash,
    })
}

fn blob_leaf_of(blob: &Blob) -> Result<Leaf, ProofError> {
    let what = format!("the record of blob {}", blob.id);
    let (Some(index), Some(id)) = (blob.log_index, blob.idtimestamp) else {
        return Err(ProofError::Failed(format!("{what}: it has no place in the log")));
    };
    Ok(Leaf {
        tenant: TenantId(blob.tenant_id),
        what,
        index: index as u64,
        idtimestamp: id as u64,
        hash: blob_leaf(blob, id as u64),
    })
}

/// Checks `event` is in its tenant's log under the anchored seal.
pub async fn check_event(repo: &dyn Repo, log: &LogState, event: &Event) -> Result<(), ProofError> {
    check(repo, log, event_leaf_of(event)?).await
}

/// Checks the blob's record (tenant, id, size, SHA-256, chunking, MAC key, time) is in its
/// tenant's log under the anchored seal.
pub async fn check_blob(repo: &dyn Repo, log: &LogState, blob: &Blob) -> Result<(), ProofError> {
    check(repo, log, blob_leaf_of(blob)?).await
}

/// A leaf proven at its index under the same seal needs no second walk of its path.
async fn check(repo: &dyn Repo, log: &LogState, leaf: Leaf) -> Result<(), ProofError> {
    let head = covering_head(log, &leaf).await?;
    if log.was_proven(&head.seal, leaf.index, leaf.hash) {
        return Ok(());
    }
    prove_under(repo, log, &head, &leaf).await.map(|_| ())
}

/// Proves `event` is in its tenant's log under the anchored seal.
pub async fn prove_event(repo: &dyn Repo, log: &LogState, event: &Event) -> Result<Inclusion, ProofError> {
    let leaf = event_leaf_of(event)?;
    let head = covering_head(log, &leaf).await?;
    prove_under(repo, log, &head, &leaf).await
}

/// The tenant's anchored state once it covers the leaf: at once if it does, else after
/// the sealer's next rounds (asked for at once, so usually within milliseconds; at most a
/// seal interval and five seconds, for a sealer slowed by a busy machine or store).
async fn covering_head(log: &LogState, leaf: &Leaf) -> Result<Arc<AnchorRecord>, ProofError> {
    let covers = |head: &Option<Arc<AnchorRecord>>| head.as_ref().filter(|h| h.size > leaf.index).cloned();
    if let Some(head) = covers(&trusted_head(log, leaf.tenant, FRESH).await?) {
        return Ok(head);
    }
    let deadline = Instant::now() + log.seal_interval + Duration::from_secs(5);
    loop {
        if let Some(why) = log.trust.refusal(leaf.tenant) {
            return Err(ProofError::Refused(format!(
                "{}: the tenant's log is refused ({why})",
                leaf.what
            )));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProofError::Unavailable(format!(
                "{} is not sealed yet; try again in a moment",
                leaf.what
            )));
        }
        log.trust.next_round(left).await;
        if let Some(head) = covers(&trusted_head(log, leaf.tenant, Duration::ZERO).await?) {
            return Ok(head);
        }
    }
}

async fn prove_under(
    repo: &dyn Repo,
    log: &LogState,
    head: &AnchorRecord,
    leaf: &Leaf,
) -> Result<Inclusion, ProofError> {
    let failed = |why: &str| ProofError::Failed(format!("{}: {why}", leaf.what));
    let (size, index) = (head.size, leaf.index);
    let mut indices = mmr::inclusion_path(size, index);
    indices.push(index);
    let nodes = repo.log_nodes_at(leaf.tenant, &indices).await?;
    // The stored leaf too: a proof from the recomputed leaf would not read it.
    if nodes.get(&index) != Some(&leaf.hash) {
        return Err(failed("the log's leaf for it is not what is stored"));
    }
    indices.pop();
    let path = indices
        .iter()
        .map(|i| nodes.get(i).copied())
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| failed("a node of its inclusion path is missing"))?;
    if !mmr::verify_inclusion(size, &head.peaks, index, &leaf.hash, &path) {
        return Err(failed(
            "it is not in the signed log as stored (it or the log was changed)",
        ));
    }
    log.remember_proven(&head.seal, index, leaf.hash);
    Ok(Inclusion {
        index,
        idtimestamp: leaf.idtimestamp,
        leaf: leaf.hash,
        peak_index: mmr::peak_index(size, 0, path.len()),
        path,
        size,
        peaks: head.peaks.clone(),
        seal: head.seal.clone(),
        massif_index: head.massif_index,
    })
}
