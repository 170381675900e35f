//! Proof that a stored event is in its tenant's signed log: the leaf recomputed from the
//! event as stored, its inclusion path under the latest seal, and that seal's signature.

use super::entry::event_leaf;
use super::mmr::{self, Hash};
use super::sealer::{seal_tenant, verify_seal, SealError};
use super::state::LogState;
use crate::ids::TenantId;
use crate::repo::{Event, Repo, RepoError};

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
    /// The event, the log or the seal fails a check.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<SealError> for ProofError {
    fn from(err: SealError) -> Self {
        match err {
            SealError::Untrusted { .. } => Self::Failed(err.to_string()),
            SealError::Repo(err) => Self::Repo(err),
            SealError::Other(err) => Self::Other(err),
        }
    }
}

/// Checks `event` is in its tenant's log under the latest seal, as `prove_event` does; a
/// leaf already proven at its index under that seal (the same seal bytes, the same
/// recomputed leaf) needs no second walk of its path.
pub async fn check_event(repo: &dyn Repo, log: &LogState, event: &Event) -> Result<(), ProofError> {
    if let (Some(index), Some(id)) = (event.log_index, event.idtimestamp) {
        let tenant = TenantId(event.tenant_id);
        if let (Ok(leaf), Some(stored)) = (event_leaf(event, id as u64), repo.latest_seal(tenant).await?) {
            if log.was_proven(&stored.seal, index as u64, leaf) {
                return Ok(());
            }
        }
    }
    prove_event(repo, log, event).await.map(|_| ())
}

/// Proves `event` is in its tenant's log under the latest seal, sealing first when no
/// seal covers it yet (an event stored in the last second).
pub async fn prove_event(repo: &dyn Repo, log: &LogState, event: &Event) -> Result<Inclusion, ProofError> {
    let tenant = TenantId(event.tenant_id);
    let failed = |why: &str| ProofError::Failed(format!("event {}: {why}", event.id));
    let (Some(index), Some(id)) = (event.log_index, event.idtimestamp) else {
        return Err(failed("it has no place in the log"));
    };
    let (index, id) = (index as u64, id as u64);
    let leaf = event_leaf(event, id).map_err(|e| failed(&e.to_string()))?;
    let mut stored = repo.latest_seal(tenant).await?;
    if stored.as_ref().is_none_or(|s| (s.mmr_size as u64) <= index) {
        seal_tenant(repo, log, tenant).await?;
        stored = repo.latest_seal(tenant).await?;
    }
    let stored = stored.ok_or_else(|| failed("no seal covers it"))?;
    let state = verify_seal(repo, log, tenant, &stored.seal).await?;
    if index >= state.size {
        return Err(failed("the latest seal does not cover it"));
    }
    let mut indices = mmr::inclusion_path(state.size, index);
    indices.push(index);
    let nodes = repo.log_nodes_at(tenant, &indices).await?;
    // The stored leaf too: a proof from the recomputed leaf would not read it.
    if nodes.get(&index) != Some(&leaf) {
        return Err(failed("the log's leaf for it is not the event's"));
    }
    indices.pop();
    let path = indices
        .iter()
        .map(|i| nodes.get(i).copied())
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| failed("a node of its inclusion path is missing"))?;
    if !mmr::verify_inclusion(state.size, &state.peaks, index, &leaf, &path) {
        return Err(failed(
            "it is not in the signed log as stored (its leaf or the log was changed)",
        ));
    }
    log.remember_proven(&stored.seal, index, leaf);
    Ok(Inclusion {
        index,
        idtimestamp: id,
        leaf,
        peak_index: mmr::peak_index(state.size, 0, path.len()),
        path,
        size: state.size,
        peaks: state.peaks,
        seal: stored.seal,
        massif_index: stored.massif_index as u64,
    })
}
