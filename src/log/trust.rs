//! What this process trusts about each tenant's log: the state anchored outside the
//! database (read again when older than asked for), never less than what this process has
//! itself anchored; and the tenants whose log failed a check, for `/readyz`.
//!
//! Once every tenant has a record (`Anchor::every_tenant_anchored`), a tenant without one
//! is not trusted at all: the database alone cannot make a tenant. A record that went
//! missing or went back while this process held a larger one is reported, not papered over.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
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
    record: Arc<AnchorRecord>,
    read_at: Instant,
}

pub struct Trust {
    pub anchor: Anchor,
    /// Every tenant has a record: a tenant without one is refused.
    every_tenant_anchored: AtomicBool,
    known: Mutex<HashMap<TenantId, Known>>,
    /// Tenants whose log or content failed a check since start, and why (the first few
    /// distinct reasons).
    failures: Mutex<BTreeMap<TenantId, Vec<String>>>,
    /// Tenants whose log the sealer refuses now, and why: nothing of theirs is proven
    /// while it does. Checked again each round, and cleared once log and anchor agree.
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
            every_tenant_anchored: AtomicBool::new(false),
            known: Mutex::default(),
            failures: Mutex::default(),
            refusals: Mutex::default(),
            rounds: tokio::sync::watch::channel((0, 0)).0,
            nudge: tokio::sync::Notify::new(),
        }
    }

    /// From now on a tenant without a record is refused.
    pub fn set_every_tenant_anchored(&self) {
        self.every_tenant_anchored.store(true, Ordering::Release);
    }

    pub fn is_every_tenant_anchored(&self) -> bool {
        self.every_tenant_anchored.load(Ordering::Acquire)
    }

    /// Records that this process anchored `record`.
    pub fn anchored(&self, record: AnchorRecord) {
        let mut known = lock(&self.known);
        let keep = known.get(&record.tenant).is_some_and(|k| k.record.size > record.size);
        if !keep {
            known.insert(
                record.tenant,
                Known {
                    record: Arc::new(record),
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

    /// Records that the sealer refuses the tenant's log; answers whether that is news (a
    /// new refusal, or a new reason), so it is logged once per change.
    pub fn refused(&self, tenant: TenantId, why: &str) -> bool {
        lock(&self.refusals).insert(tenant, why.to_string()).as_deref() != Some(why)
    }

    /// Records that the tenant's log and anchor agree: answers the refusal it clears.
    pub fn agreed(&self, tenant: TenantId) -> Option<String> {
        lock(&self.refusals).remove(&tenant)
    }

    /// Every tenant refused now.
    pub fn refused_tenants(&self) -> Vec<TenantId> {
        lock(&self.refusals).keys().copied().collect()
    }

    /// Why the sealer refused the tenant's log, if it did.
    pub fn refusal(&self, tenant: TenantId) -> Option<String> {
        lock(&self.refusals).get(&tenant).cloned()
    }

    /// Every tenant refused now, or whose content or log failed a check since start, and why.
    pub fn failures(&self) -> Vec<(TenantId, String)> {
        let mut all: BTreeMap<TenantId, Vec<String>> = lock(&self.failures).clone();
        for (tenant, why) in lock(&self.refusals).iter() {
            let reasons = all.entry(*tenant).or_default();
            if !reasons.contains(why) {
                reasons.insert(0, why.clone());
            }
        }
        all.into_iter().map(|(t, reasons)| (t, reasons.join("; "))).collect()
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
/// holds is older than `max_age`. `verify` checks a record read from the anchor. A record
/// smaller than this process anchored, or gone, is untrusted; so is a tenant without a
/// record once every tenant has one. An empty record answers `Some` with size 0.
pub async fn trusted_head(
    trust: &Trust,
    tenant: TenantId,
    max_age: Duration,
    verify: impl FnOnce(AnchorRecord) -> Result<AnchorRecord, TrustError>,
) -> Result<Option<Arc<AnchorRecord>>, TrustError> {
    let held = {
        let known = lock(&trust.known);
        match known.get(&tenant) {
            Some(k) if k.read_at.elapsed() <= max_age => return Ok(Some(k.record.clone())),
            Some(k) => Some(k.record.clone()),
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
            return Err(TrustError::Untrusted(format!(
                "the log anchor went back from size {} (anchored by this process) to {}",
                held.size, read.size
            )))
        }
        (Some(held), None) => {
            return Err(TrustError::Untrusted(format!(
                "the log anchor lost its record of this tenant (this process holds one of size {})",
                held.size
            )))
        }
        (None, None) if trust.is_every_tenant_anchored() => {
            return Err(TrustError::Untrusted(
                "the log anchor has no record of this tenant: the database holds a tenant the anchor never saw \
                 (if its record was lost, audit it and re-anchor it: attachd log audit --reanchor --tenant …)"
                    .into(),
            ))
        }
        // Not cached: a tenant created since (on another node) has its record now.
        (None, None) => return Ok(None),
        (_, Some(read)) => Arc::new(read),
    };
    lock(&trust.known).insert(
        tenant,
        Known {
            record: record.clone(),
            read_at: Instant::now(),
        },
    );
    Ok(Some(record))
}
