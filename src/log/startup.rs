//! At start: the one-time migrations of a database from before the log anchor (seals) and
//! from before every tenant had a record (tenants), or the report of events and blobs that
//! lost their place in the log.

use super::anchor::AnchorRecord;
use super::sealer::verify_seal;
use super::state::LogState;
use crate::repo::Repo;

/// Set once the log anchor holds every tenant's seal: from then on nothing is appended
/// to a log but what the server stores, and a row without a place in it is tampering.
pub const ANCHORED_SETTING: &str = "log_anchored";

pub async fn prepare(repo: &dyn Repo, log: &LogState) -> anyhow::Result<()> {
    // The anchor's marker is written after the seals' migration: with it there, a database
    // without the setting had it deleted, and the migration does not run again.
    let migrated = repo.setting(ANCHORED_SETTING).await?.is_some() || log.trust.anchor.every_tenant_anchored().await?;
    if migrated {
        report_unlogged(repo, log).await?;
    } else {
        anchor_seals(repo, log).await?;
    }
    anchor_every_tenant(repo, log).await?;
    log.trust.set_every_tenant_anchored();
    Ok(())
}

/// Once per deployment (the marker is in the anchor, so no database edit can make it run
/// again): every tenant without a record and without seals gets an empty record. A tenant
/// with seals but no record is left to the audit, as before; the sealer refuses it.
async fn anchor_every_tenant(repo: &dyn Repo, log: &LogState) -> anyhow::Result<()> {
    let anchor = &log.trust.anchor;
    if anchor.every_tenant_anchored().await? {
        return Ok(());
    }
    let mut recorded = 0;
    for tenant in repo.tenant_ids().await? {
        if anchor.read(tenant).await?.is_some() || repo.latest_seal(tenant).await?.is_some() {
            continue;
        }
        anchor.write(&AnchorRecord::empty(tenant)).await?;
        recorded += 1;
    }
    anchor.mark_every_tenant_anchored().await?;
    tracing::info!(%anchor, recorded, "the log anchor holds a record of every tenant");
    Ok(())
}

/// The one-time migration of a database from before the log anchor.
async fn anchor_seals(repo: &dyn Repo, log: &LogState) -> anyhow::Result<()> {
    // Events from before the log and blobs from before blob leaves get their places.
    repo.backfill_log().await?;
    for tenant in repo.log_tenants().await? {
        if log.trust.anchor.read(tenant).await?.is_some() {
            continue;
        }
        let Some(stored) = repo.latest_seal(tenant).await? else {
            continue;
        };
        // The database's latest seal, checked against its nodes and the trusted keys, is
        // the state the anchor starts from.
        match verify_seal(repo, log, tenant, &stored.seal).await {
            Ok(state) => {
                let record = AnchorRecord {
                    tenant,
                    size: state.size,
                    massif_index: stored.massif_index as u64,
                    peaks: state.peaks,
                    seal: stored.seal,
                };
                log.trust.anchor.write(&record).await?;
                log.trust.anchored(record);
            }
            Err(err) => tracing::error!(%tenant, error = %err,
                "not anchored: the stored log fails its seal; audit it (attachd log audit)"),
        }
    }
    repo.setting_or_insert(ANCHORED_SETTING, &chrono::Utc::now().to_rfc3339())
        .await?;
    tracing::info!(anchor = %log.trust.anchor, "the log anchor holds every tenant's seal");
    Ok(())
}

/// Events and blobs without a place in the log, once the log is anchored, were taken out
/// of it: each tenant holding some is reported as tampered, and their proofs fail.
async fn report_unlogged(repo: &dyn Repo, log: &LogState) -> anyhow::Result<()> {
    for (tenant, events, blobs) in repo.unlogged().await? {
        let why = format!("{events} events and {blobs} blobs have no place in its log");
        metrics::counter!(crate::metrics::INTEGRITY_FAILURES, "route" => "startup").increment(1);
        tracing::error!(%tenant, why, "integrity failure: rows were taken out of the log");
        log.trust.failed(tenant, &why);
    }
    Ok(())
}
