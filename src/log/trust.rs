//! What this process trusts about each tenant's log: the state anchored outside the
//! database (read again when older than asked for), never less than what this process has
//! itself anchored; and the tenants whose log failed a check, for `/readyz`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::anchor::{Anchor, AnchorRecord};
use crate::ids::TenantId;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The anchored record fails its check.
    #[error("{0}")]
    Untrusted(String),
    /// The anchor cannot be read.
    #[error("the log anchor cannot be read: {0}")]
    Unavailable(anyhow::Error),
}

struct Known {
    record: Option<Arc<AnchorRecord>>,
    read_at: Instant,
}

pub struct Trust {
    pub anchor: Anchor,
    known: Mutex<HashMap<TenantId, Known>>,
    /// Tenants whose log or content failed a check since start, and why (the first few
    /// distinct reasons).
    failures: Mutex<BTreeMap<TenantId, Vec<String>>>,
    /// Tenants whose log the sealer refused, and why: nothing of theirs is proven since.
    refusals: Mutex<BTreeMap<TenantId, String>>,
    /// The sealer's rounds, (started, finished); a reader waiting for a seal watches them.
    rounds: tokio::sync::watch::Sender<(u64, u64)>,
    /// Asks the sealer for a round now.
    nudge: tokio::sync::Notify,
}

/// The lock, even if a panicking holder poisoned it (the maps stay consistent).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Trust {
    pub fn new(anchor: Anchor) -> Self {
        Self {
            anchor,
            known: Mutex::default(),
            failures: Mutex::default(),
            refusals: Mutex::default(),
            rounds: tokio::sync::watch::channel((0, 0)).0,
            nudge: tokio::sync::Notify::new(),
        }
    }

    /// Records that this process anchored `record`.
    pub fn anchored(&self, record: AnchorRecord) {
        let mut known = lock(&self.known);
        let keep = known
            .get(&record.tenant)
            .and_then(|k| k.record.as_ref())
            .is_some_and(|held| held.size >= record.size);
        if !keep {
            known.insert(
                record.tenant,
                Known {
                    record: Some(Arc::new(record)),
                    read_at: Instant::now(),
                },
            );
        }
    }

    /// Forgets what was read of the tenant's anchor (after `attachd log audit --reanchor`).
    pub fn forget(&self, tenant: TenantId) {
        lock(&self.known).remove(&tenant);
    }

    /// Records a failed check of the tenant's log or content.
    pub fn failed(&self, tenant: TenantId, why: &str) {
        let mut failures = lock(&self.failures);
        let reasons = failures.entry(tenant).or_default();
        if reasons.len() < 8 && !reasons.iter().any(|known| known == why) {
            reasons.push(why.to_string());
        }
    }

    /// Records that the sealer refused the tenant's log.
    pub fn refused(&self, tenant: TenantId, why: &str) {
        self.failed(tenant, why);
        lock(&self.refusals).insert(tenant, why.to_string());
    }

    /// Why the sealer refused the tenant's log, if it did.
    pub fn refusal(&self, tenant: TenantId) -> Option<String> {
        lock(&self.refusals).get(&tenant).cloned()
    }

    /// Every tenant whose log or content failed a check since start, and why.
    pub fn failures(&self) -> Vec<(TenantId, String)> {
        lock(&self.failures)
            .iter()
            .map(|(t, reasons)| (*t, reasons.join("; ")))
            .collect()
    }

    /// Called by the sealer as each round starts.
    pub fn round_started(&self) {
        self.rounds.send_modify(|(started, _)| *started += 1);
    }

    /// Called by the sealer after each round.
    pub fn round_finished(&self) {
        self.rounds.send_modify(|(started, finished)| *finished = *started);
    }

    /// Asks the sealer for a round and waits until one that started after this call has
    /// finished, or `limit` passed.
    pub async fn next_round(&self, limit: Duration) {
        let mut rounds = self.rounds.subscribe();
        let (started, _) = *rounds.borrow_and_update();
        self.nudge.notify_one();
        let _ = tokio::time::timeout(limit, async {
            while rounds.borrow_and_update().1 <= started {
                if rounds.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }

    /// Waits for a nudge or `interval`, whichever is first (the sealer's pause).
    pub async fn pause(&self, interval: Duration) {
        let _ = tokio::time::timeout(interval, self.nudge.notified()).await;
    }
}

/// The tenant's trusted state: its anchor record, read again when the one this process
/// holds is older than `max_age`, and never older than what this process anchored.
/// `verify` checks a record read from the anchor.
pub async fn trusted_head(
    trust: &Trust,
    tenant: TenantId,
    max_age: Duration,
    verify: impl FnOnce(AnchorRecord) -> Result<AnchorRecord, TrustError>,
) -> Result<Option<Arc<AnchorRecord>>, TrustError> {
    let held = {
        let known = lock(&trust.known);
        match known.get(&tenant) {
            Some(k) if k.read_at.elapsed() <= max_age => return Ok(k.record.clone()),
            Some(k) => k.record.clone(),
            None => None,
        }
    };
    let read = trust.anchor.read(tenant).await.map_err(TrustError::Unavailable)?;
    let read = match read {
        Some(record) => Some(verify(record)?),
        None => None,
    };
    let record = match (held, read) {
        (Some(held), Some(read)) if held.size > read.size => {
            tracing::error!(%tenant, held = held.size, anchored = read.size,
                "the log anchor went back to a smaller log; keeping the larger one this process saw");
            Some(held)
        }
        (Some(held), None) => {
            tracing::error!(%tenant, "the log anchor lost its record; keeping the one this process saw");
            Some(held)
        }
        (_, read) => read.map(Arc::new),
    };
    lock(&trust.known).insert(
        tenant,
        Known {
            record: record.clone(),
            read_at: Instant::now(),
        },
    );
    Ok(record)
}
