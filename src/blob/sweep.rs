//! The sweeper: removes what uploads left behind — staged uploads nobody is writing any more
//! (a crash, or a cleanup that failed on a full disk or an outage) and stored content no
//! blob and no upload owns.

use std::time::Duration;

use crate::repo::DynRepo;
use crate::store::{ContentId, DynStore};

/// Sweeps at start, then every `body_idle`, uploads untouched for twice that: a live upload
/// writes at least once per idle timeout, or it has been answered 408 already. Orphaned
/// content older than `orphan_age` is looked for at start and every half of that.
pub async fn sweep_uploads(repo: DynRepo, store: DynStore, body_idle: Duration, orphan_age: Duration) {
    let stale_after = chrono::Duration::from_std(body_idle * 2).unwrap_or(chrono::Duration::hours(1));
    let orphan_after = chrono::Duration::from_std(orphan_age).unwrap_or(chrono::Duration::hours(1));
    let mut every = tokio::time::interval(body_idle);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut orphans_every = tokio::time::interval(orphan_age / 2);
    orphans_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => sweep_stale(&repo, &store, chrono::Utc::now() - stale_after).await,
            _ = orphans_every.tick() => match store.sweep_orphans(chrono::Utc::now() - orphan_after).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, store = store.kind(), "removed orphaned content"),
                Err(err) => tracing::warn!(error = %err, "sweeping orphaned content failed; will retry"),
            },
        }
    }
}

async fn sweep_stale(repo: &DynRepo, store: &DynStore, untouched_since: chrono::DateTime<chrono::Utc>) {
    let stale = match repo.sweep_uploads(untouched_since).await {
        Ok(stale) => stale,
        Err(err) => {
            tracing::warn!(error = %err, "sweeping abandoned uploads failed; will retry");
            return;
        }
    };
    for upload in &stale {
        let id = ContentId {
            tenant: upload.tenant(),
            blob: upload.blob(),
        };
        if let Err(err) = store.discard(id, upload.cleanup_id.as_deref()).await {
            // Its content is an orphan now, removed by the orphan sweep.
            tracing::warn!(error = %err, blob = %id.blob, "could not remove an abandoned upload's content");
        }
    }
    if !stale.is_empty() {
        tracing::info!(swept = stale.len(), "removed abandoned uploads");
    }
}
