//! The sealer: signs each tenant's new log state, after checking that it extends the
//! state of the previous seal. A log that does not is never sealed; that is logged loudly.

use std::sync::Arc;

use super::massif;
use super::mmr::{self, Hash};
use super::seal::{sign, MmrState, SealContents, STATE_VERSION};
use super::state::{massif_path, LogState, ISSUER};
use crate::ids::TenantId;
use crate::repo::{DynRepo, Repo, RepoError};

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The stored log or seal fails a check: nothing is sealed.
    #[error("the log of {tenant} cannot be trusted: {why}")]
    Untrusted { tenant: TenantId, why: String },
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The peaks of the tenant's log at `size`, read from its nodes.
pub async fn peaks_at(repo: &dyn Repo, tenant: TenantId, size: u64) -> Result<Vec<Hash>, SealError> {
    let indices = mmr::peaks(size);
    let nodes = repo.log_nodes_at(tenant, &indices).await?;
    indices
        .iter()
        .map(|i| nodes.get(i).copied())
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| SealError::Untrusted {
            tenant,
            why: format!("a peak of the log at size {size} is missing"),
        })
}

/// Checks `seal` against the tenant's stored nodes and the trusted keys; answers its state
/// with the peaks it signs. Verified seals are remembered, so each is checked once.
pub async fn verify_seal(
    repo: &dyn Repo,
    log: &LogState,
    tenant: TenantId,
    seal: &[u8],
) -> Result<MmrState, SealError> {
    if let Some(state) = log.verified_state(seal) {
        return Ok((*state).clone());
    }
    let untrusted = |why: String| SealError::Untrusted { tenant, why };
    let contents = SealContents::parse(seal).map_err(|e| untrusted(e.to_string()))?;
    let key = log.trusted(&contents.key).ok_or_else(|| {
        untrusted(format!(
            "its seal is signed by an untrusted key ({})",
            super::signing::key_id(&contents.key)
        ))
    })?;
    let peaks = peaks_at(repo, tenant, contents.state.size).await?;
    contents
        .verify(&peaks, key)
        .map_err(|e| untrusted(format!("the seal at size {}: {e}", contents.state.size)))?;
    let state = MmrState {
        peaks,
        ..contents.state
    };
    log.remember_verified(seal, state.clone());
    Ok(state)
}

/// Seals the tenant's log as it stands, unless its latest seal covers it already; answers
/// the size sealed. Massifs completed since the last seal get their final seal too.
pub async fn seal_tenant(repo: &dyn Repo, log: &LogState, tenant: TenantId) -> Result<u64, SealError> {
    let (size, last_id) = repo.log_head(tenant).await?;
    let latest = repo.latest_seal(tenant).await?;
    let (sealed_size, sealed_peaks, first_massif) = match &latest {
        Some(stored) => {
            let state = verify_seal(repo, log, tenant, &stored.seal).await?;
            (state.size, state.peaks, stored.massif_index as u64)
        }
        None => (0, Vec::new(), 0),
    };
    if size <= sealed_size {
        return Ok(sealed_size);
    }
    let peaks = peaks_at(repo, tenant, size).await?;
    if sealed_size > 0 {
        check_consistency(repo, tenant, sealed_size, &sealed_peaks, size, &peaks).await?;
    }
    let height = log.massif_height;
    let last_massif = massif::massif_of(height, size - 1);
    // Massifs that filled up since the last seal: sealed as they ended.
    for k in first_massif..last_massif {
        let end = massif::first_index(height, k + 1);
        if end > sealed_size {
            let last_leaf = repo
                .log_events(tenant, end.saturating_sub(64)..end)
                .await?
                .last()
                .and_then(|e| e.idtimestamp)
                .unwrap_or_default() as u64;
            let peaks_k = peaks_at(repo, tenant, end).await?;
            store(repo, log, tenant, k, end, last_leaf, peaks_k).await?;
        }
    }
    store(repo, log, tenant, last_massif, size, last_id, peaks).await?;
    Ok(size)
}

/// Refuses a log that is not the sealed one grown: every sealed peak must lead, by its
/// inclusion path in the new log, to the new log's first peaks.
async fn check_consistency(
    repo: &dyn Repo,
    tenant: TenantId,
    old_size: u64,
    old_peaks: &[Hash],
    size: u64,
    peaks: &[Hash],
) -> Result<(), SealError> {
    let paths: Vec<Vec<u64>> = mmr::peaks(old_size)
        .iter()
        .map(|p| mmr::inclusion_path(size, *p))
        .collect();
    let wanted: Vec<u64> = paths.iter().flatten().copied().collect();
    let nodes = repo.log_nodes_at(tenant, &wanted).await?;
    let proof: Option<Vec<Vec<Hash>>> = paths
        .iter()
        .map(|path| path.iter().map(|i| nodes.get(i).copied()).collect())
        .collect();
    let consistent = proof.is_some_and(|proof| mmr::verify_consistency(old_size, old_peaks, size, peaks, &proof));
    if !consistent {
        return Err(SealError::Untrusted {
            tenant,
            why: format!("the log at size {size} does not extend the sealed log of size {old_size}"),
        });
    }
    Ok(())
}

async fn store(
    repo: &dyn Repo,
    log: &LogState,
    tenant: TenantId,
    massif: u64,
    size: u64,
    last_id: u64,
    peaks: Vec<Hash>,
) -> Result<(), SealError> {
    let state = MmrState {
        size,
        timestamp: chrono::Utc::now().timestamp_millis(),
        idtimestamp: last_id,
        commitment_epoch: u32::from(super::idtimestamp::EPOCH),
        version: STATE_VERSION,
        peaks,
    };
    let seal = sign(&log.key, &state, ISSUER, &massif_path(tenant.0, massif))?;
    log.remember_verified(&seal, state);
    repo.store_seal(tenant, massif, size, &seal).await?;
    log.forget_sealed_view(tenant);
    Ok(())
}

/// Seals every tenant whose log grew, every `log.seal_interval`, until aborted.
pub async fn run(repo: DynRepo, log: Arc<LogState>) {
    loop {
        match repo.unsealed_tenants().await {
            Ok(tenants) => {
                for tenant in tenants {
                    report(seal_tenant(repo.as_ref(), &log, tenant).await);
                }
            }
            Err(err) => tracing::warn!(error = %err, "the sealer could not list logs to seal"),
        }
        tokio::time::sleep(log.seal_interval).await;
    }
}

/// Logs a failed seal: loudly when the log itself is in doubt.
pub fn report(result: Result<u64, SealError>) {
    match result {
        Ok(_) => {}
        Err(err @ SealError::Untrusted { .. }) => {
            metrics::counter!(crate::metrics::INTEGRITY_FAILURES, "route" => "sealer").increment(1);
            tracing::error!(error = %err, "REFUSING TO SEAL: the stored log does not match its signed history");
        }
        Err(err) => tracing::warn!(error = %err, "sealing failed; will retry"),
    }
}
