//! The upload sweeper: removes staged uploads nobody is writing any more — those a crash
//! left, or whose immediate cleanup failed (a full disk, a database outage).

use std::time::Duration;

use crate::repo::DynRepo;

/// Sweeps at start, then every `body_idle`, uploads untouched for twice that: a live upload
/// writes at least once per idle timeout, or it has been answered 408 already.
pub async fn sweep_uploads(repo: DynRepo, body_idle: Duration) {
    let stale_after = chrono::Duration::from_std(body_idle * 2).unwrap_or(chrono::Duration::hours(1));
    let mut every = tokio::time::interval(body_idle);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match repo.sweep_uploads(chrono::Utc::now() - stale_after).await {
            Ok(0) => {}
            Ok(swept) => tracing::info!(swept, "removed abandoned uploads"),
            Err(err) => tracing::warn!(error = %err, "sweeping abandoned uploads failed; will retry"),
        }
    }
}
