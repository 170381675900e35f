//! The sealer: signs each tenant's new log state, after checking that it extends the
//! state of the previous seal. A log that does not is never sealed; that is logged loudly.

use std::sync::Arc;

use super::anchor::AnchorRecord;
use super::state::{massif_path, trusted_head, verify_record, LogState, ISSUER};
use super::trust::TrustError;
use crate::ids::TenantId;
use crate::repo::{DynRepo, Repo, RepoError};
use merklelog::massif;
use merklelog::mmr::{self, Hash};
use merklelog::seal::{sign, sign_with_receipts, MmrState, SealContents, STATE_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The stored log or seal fails a check: nothing is sealed.
    #[error("the log of {tenant} cannot be trusted: {why}")]
    Untrusted { tenant: TenantId, why: String },
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Format(#[from] merklelog::Error),
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
            merklelog::signing::key_id(&contents.key)
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

/// How long a new tenant's empty record may stand without its tenant in the database:
/// the record is written first, and the tenant committed a moment later (on any node).
const CREATION_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Seals the tenant's log as it stands, unless its anchored state covers it already;
/// answers the size sealed. The previous state comes from the anchor (or what this process
/// anchored), never from the database alone: a tenant without a record, a log that is
/// missing, shorter than that state or not its extension is refused. Massifs completed
/// since get their final seal too.
pub async fn seal_tenant(repo: &dyn Repo, log: &LogState, tenant: TenantId) -> Result<u64, SealError> {
    let untrusted = |why: String| SealError::Untrusted { tenant, why };
    // The anchor first: another process may seal meanwhile, and the head it read then is
    // never smaller than the state it anchored.
    let mut anchored = anchored_state(log, tenant).await?;
    if anchored.is_none() && repo.latest_seal(tenant).await?.is_some() {
        // Another process anchors before it publishes: read the anchor again.
        anchored = anchored_state(log, tenant).await?;
    }
    if let Some(held) = &anchored {
        if !repo.tenant_exists(tenant).await? {
            if held.is_empty() && recently_created(log, tenant).await? {
                return Ok(0);
            }
            return Err(untrusted(format!(
                "the log anchor holds a record of this tenant (a log of {} nodes), but the database has no such tenant",
                held.size
            )));
        }
    }
    let (size, last_id) = repo.log_head(tenant).await?;
    let (sealed_size, sealed_peaks, first_massif) = match &anchored {
        Some(held) => (held.size, held.peaks.clone(), held.massif_index),
        None if repo.latest_seal(tenant).await?.is_some() => {
            return Err(untrusted(
                "its log has seals but the log anchor has no record of it: audit it and re-anchor it \
                 (attachd log audit --reanchor --tenant …)"
                    .into(),
            ))
        }
        None => (0, Vec::new(), 0),
    };
    if size < sealed_size {
        return Err(untrusted(format!(
            "the log holds {size} nodes, fewer than the {sealed_size} anchored"
        )));
    }
    if size == 0 {
        return Ok(0);
    }
    let peaks = peaks_at(repo, tenant, size).await?;
    if size == sealed_size {
        if peaks != sealed_peaks {
            return Err(untrusted(format!("the log at size {size} is not the anchored log")));
        }
        match &anchored {
            // Sealed before seals carried their signed peaks (for receipts): sealed again.
            Some(held) if !merklelog::receipt::has_signed_peaks(&held.seal) => {
                let seal = sign_state(log, tenant, held.massif_index, size, last_id, peaks.clone(), true)?;
                let record = AnchorRecord {
                    seal,
                    ..(**held).clone()
                };
                let kept = anchor(log, &record).await?;
                repo.replace_seal(tenant, kept.massif_index, kept.size, &kept.seal)
                    .await?;
                if kept.seal == record.seal {
                    if let Some(seal_log) = &log.seal_log {
                        seal_log.anchored(tenant, kept.size, &kept.peaks, &kept.seal);
                    }
                }
            }
            Some(held) => republish(repo, log, held).await?,
            None => {}
        }
        return Ok(size);
    }
    if sealed_size > 0 {
        check_consistency(repo, tenant, sealed_size, &sealed_peaks, size, &peaks).await?;
    }
    let height = log.massif_height;
    let last_massif = massif::massif_of(height, size - 1);
    // Massifs that filled up since the last seal: sealed as they ended.
    let mut ended = Vec::new();
    for k in first_massif..last_massif {
        let end = massif::first_index(height, k + 1);
        if end > sealed_size {
            let last_leaf = last_idtimestamp_before(repo, tenant, end).await?;
            let peaks_k = peaks_at(repo, tenant, end).await?;
            ended.push((k, end, sign_state(log, tenant, k, end, last_leaf, peaks_k, false)?));
        }
    }
    let seal = sign_state(log, tenant, last_massif, size, last_id, peaks.clone(), true)?;
    // Anchored before anything is published: no seal is in the database that the anchor
    // does not cover, and nothing is trusted that the anchor does not hold.
    let record = AnchorRecord {
        tenant,
        size,
        massif_index: last_massif,
        peaks,
        seal,
    };
    let kept = anchor(log, &record).await?;
    if kept.seal != record.seal {
        // Another process anchored this size (or more) first: its seal is the one, and it
        // publishes it (or the next round here does, if it stopped before it could).
        tracing::debug!(%tenant, size, anchored = kept.size, "another process sealed first");
        return Ok(kept.size);
    }
    for (k, end, seal) in ended {
        repo.store_seal(tenant, k, end, &seal).await?;
    }
    repo.store_seal(tenant, last_massif, size, &record.seal).await?;
    if let Some(seal_log) = &log.seal_log {
        seal_log.anchored(tenant, size, &record.peaks, &record.seal);
    }
    log.forget_sealed_view(tenant);
    Ok(size)
}

/// Writes `record` to the anchor and answers the record the anchor keeps (ours, or one
/// another process anchored first, checked like any record read), now trusted here.
async fn anchor(log: &LogState, record: &AnchorRecord) -> Result<AnchorRecord, SealError> {
    let kept = log.trust.anchor.write(record).await?;
    let kept = match kept.seal == record.seal {
        true => kept,
        false => verify_record(log, kept).map_err(|err| SealError::Untrusted {
            tenant: record.tenant,
            why: err.to_string(),
        })?,
    };
    log.trust.anchored(kept.clone());
    log.forget_sealed_view(record.tenant);
    Ok(kept)
}

/// Whether the tenant's record was written moments ago (its creation may be in flight).
async fn recently_created(log: &LogState, tenant: TenantId) -> Result<bool, SealError> {
    let modified = log.trust.anchor.modified(tenant).await?;
    Ok(modified.is_some_and(|at| at.elapsed().map_or(true, |age| age < CREATION_GRACE)))
}

/// The tenant's anchored state, read now.
async fn anchored_state(log: &LogState, tenant: TenantId) -> Result<Option<Arc<AnchorRecord>>, SealError> {
    match trusted_head(log, tenant, std::time::Duration::ZERO).await {
        Ok(anchored) => Ok(anchored),
        Err(TrustError::Untrusted(why)) => Err(SealError::Untrusted { tenant, why }),
        Err(TrustError::Unavailable(err)) => Err(SealError::Other(err)),
    }
}

/// Puts the anchored seal where the database lacks it: what is published is what was
/// signed. The process that anchored a seal publishes it a moment later, so a smaller seal
/// there is no alarm; a seal of the anchored size or more that the anchor does not hold
/// was put by hand, and is reported.
async fn republish(repo: &dyn Repo, log: &LogState, held: &AnchorRecord) -> Result<(), SealError> {
    let tenant = held.tenant;
    let stored = repo.massif_seal(tenant, held.massif_index).await?;
    match &stored {
        Some(s) if s.seal == held.seal => return Ok(()),
        Some(s) if (s.mmr_size as u64) < held.size => {
            tracing::debug!(%tenant, size = held.size, "publishing the anchored seal");
            repo.store_seal(tenant, held.massif_index, held.size, &held.seal)
                .await?;
            return Ok(());
        }
        None => {
            tracing::info!(%tenant, size = held.size, "publishing the anchored seal the database lacks");
            repo.store_seal(tenant, held.massif_index, held.size, &held.seal)
                .await?;
            return Ok(());
        }
        Some(_) => {}
    }
    // Another process may have sealed since the anchor was read: read it again.
    let now = anchored_state(log, tenant).await?;
    if now.as_ref().is_some_and(|now| now.size > held.size) {
        return Ok(());
    }
    let why = format!(
        "the published seal of massif {} was not the anchored one",
        held.massif_index
    );
    metrics::counter!(crate::metrics::INTEGRITY_FAILURES, "route" => "sealer").increment(1);
    tracing::error!(%tenant, why, "integrity failure: republishing the anchored seal");
    log.trust.failed(tenant, &why);
    repo.replace_seal(tenant, held.massif_index, held.size, &held.seal)
        .await?;
    Ok(())
}

/// The idtimestamp of the last leaf before node `end`, event or blob.
async fn last_idtimestamp_before(repo: &dyn Repo, tenant: TenantId, end: u64) -> Result<u64, SealError> {
    let range = end.saturating_sub(64)..end;
    let event = repo
        .log_events(tenant, range.clone())
        .await?
        .last()
        .map(|e| (e.log_index, e.idtimestamp));
    let blob = repo
        .log_blobs(tenant, range)
        .await?
        .last()
        .map(|b| (b.log_index, b.idtimestamp));
    Ok(event.max(blob).and_then(|(_, id)| id).unwrap_or_default() as u64)
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

fn sign_state(
    log: &LogState,
    tenant: TenantId,
    massif: u64,
    size: u64,
    last_id: u64,
    peaks: Vec<Hash>,
    // The anchored seal carries its peaks signed, for receipts; seals of ended massifs not.
    receipts: bool,
) -> Result<Vec<u8>, SealError> {
    let state = MmrState {
        size,
        timestamp: chrono::Utc::now().timestamp_millis(),
        idtimestamp: last_id,
        commitment_epoch: u32::from(merklelog::idtimestamp::EPOCH),
        version: STATE_VERSION,
        peaks,
    };
    let subject = massif_path(tenant.0, massif);
    let seal = match receipts {
        true => sign_with_receipts(&log.key, &state, ISSUER, &subject)?,
        false => sign(&log.key, &state, ISSUER, &subject)?,
    };
    log.remember_verified(&seal, state);
    Ok(seal)
}

/// Every tenant is checked against its anchor at least this often (and at start), so a
/// record deleted or replaced, or a tenant renamed, while attachd runs is reported.
const FULL_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Seals every tenant whose log grew, every `log.seal_interval` or sooner when a reader
/// waits for a seal, until aborted. The first round, and one every `FULL_CHECK_EVERY`,
/// checks every tenant against its anchor, so a log edited while attachd was stopped is
/// refused at once; a refused tenant is checked again every round.
pub async fn run(repo: DynRepo, log: Arc<LogState>) {
    let mut last_full: Option<std::time::Instant> = None;
    loop {
        log.trust.round_started();
        let full = last_full.is_none_or(|at| at.elapsed() >= FULL_CHECK_EVERY);
        let listed = match full {
            true => every_tenant(repo.as_ref(), &log).await,
            false => due_tenants(repo.as_ref(), &log).await,
        };
        match listed {
            Ok(tenants) => {
                if full {
                    last_full = Some(std::time::Instant::now());
                }
                for tenant in tenants {
                    report(&log, tenant, seal_tenant(repo.as_ref(), &log, tenant).await);
                }
            }
            Err(err) => tracing::warn!(error = %err, "the sealer could not list logs to seal"),
        }
        if let Some(seal_log) = &log.seal_log {
            if let Err(err) = seal_log.end_round(repo.as_ref()).await {
                tracing::warn!(error = %err, "the seal log could not be appended to or checkpointed; will retry");
            }
        }
        log.trust.round_finished();
        log.trust.pause(log.seal_interval).await;
    }
}

/// Every tenant the database or the anchor knows.
pub async fn every_tenant(repo: &dyn Repo, log: &LogState) -> anyhow::Result<Vec<TenantId>> {
    let mut tenants: std::collections::BTreeSet<TenantId> = repo.log_tenants().await?.into_iter().collect();
    tenants.extend(repo.tenant_ids().await?);
    tenants.extend(log.trust.anchor.tenants().await?);
    Ok(tenants.into_iter().collect())
}

/// Tenants whose log grew past its seal, and those refused now (checked again).
async fn due_tenants(repo: &dyn Repo, log: &LogState) -> anyhow::Result<Vec<TenantId>> {
    let mut tenants: std::collections::BTreeSet<TenantId> = repo.unsealed_tenants().await?.into_iter().collect();
    tenants.extend(log.trust.refused_tenants());
    Ok(tenants.into_iter().collect())
}

/// Logs a sealing round's verdict on a tenant: a refusal loudly, counted and named by
/// `/readyz`, once per change; a refusal that no longer holds is cleared and logged.
pub fn report(log: &LogState, tenant: TenantId, result: Result<u64, SealError>) {
    match result {
        Ok(_) => {
            if let Some(was) = log.trust.agreed(tenant) {
                tracing::warn!(%tenant, was, "the tenant's log and its anchor agree again: sealing and proving it again");
            }
        }
        Err(err @ SealError::Untrusted { .. }) => {
            let why = err.to_string();
            if log.trust.refused(tenant, &why) {
                metrics::counter!(crate::metrics::INTEGRITY_FAILURES, "route" => "sealer").increment(1);
                tracing::error!(%tenant, why, "REFUSING TO SEAL: the stored log does not match its signed history");
            }
        }
        Err(err) => tracing::warn!(%tenant, error = %err, "sealing failed; will retry"),
    }
}
