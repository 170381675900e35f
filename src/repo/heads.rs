//! Each tenant's log head as appenders hold it, and what one append adds: shared by the
//! backends' statements (`backend`) and the log's queries (`log`).

use std::collections::HashMap;

use merklelog::mmr::Hash;

use super::RepoResult;

/// Turns a stored u64 bit pattern back into the u64.
pub fn unsigned(stored: i64) -> u64 {
    stored as u64
}

/// The u64 as stored (its bit pattern in a signed column).
pub fn signed(value: u64) -> i64 {
    value as i64
}

pub use merklelog::head::LogHead;

/// What one append adds: the nodes `added` from index `from`, and the head they lead to.
pub struct Appended<'a> {
    pub from: u64,
    pub added: &'a [Hash],
    pub head: &'a LogHead,
}

/// Each tenant's head as this process last wrote it. An appender that finds the head where
/// this process left it takes the peaks from here rather than reading them again.
///
/// Heads are remembered just before their commit: the next appender takes the lock the
/// moment the commit releases it. A head whose commit is abandoned (a client gone
/// mid-request) is forgotten before its rollback releases the lock; one whose commit fails,
/// as soon as the error arrives. A forgotten head matters: two attempts in one millisecond at
/// one size have the same size and idtimestamp, and an appender uses a remembered head
/// whenever the locked row holds exactly those.
pub struct KnownHeads(moka::sync::Cache<uuid::Uuid, LogHead>);

impl Default for KnownHeads {
    fn default() -> Self {
        Self(moka::sync::Cache::new(10_000))
    }
}

impl KnownHeads {
    /// The remembered head at exactly this size and last idtimestamp.
    pub fn at(&self, tenant: uuid::Uuid, size: u64, last_id: u64) -> Option<LogHead> {
        self.0
            .get(&tenant)
            .filter(|head| head.size == size && head.last_id == last_id)
    }

    /// Commits `tx`, which advanced `heads`, and remembers them (see above).
    pub async fn commit<DB: sqlx::Database>(
        &self,
        tx: super::tx::Tx<DB>,
        heads: HashMap<uuid::Uuid, LogHead>,
    ) -> RepoResult<()>
    where
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    {
        let mut unconfirmed = Unconfirmed {
            heads: self,
            tenants: heads.keys().copied().collect(),
        };
        for (tenant, head) in heads {
            self.0.insert(tenant, head);
        }
        tx.commit().await?;
        unconfirmed.tenants.clear();
        Ok(())
    }
}

/// Heads remembered for a commit not yet confirmed: forgotten when dropped, which is on a
/// failed commit or when the committing task is cancelled.
struct Unconfirmed<'a> {
    heads: &'a KnownHeads,
    tenants: Vec<uuid::Uuid>,
}

impl Drop for Unconfirmed<'_> {
    fn drop(&mut self) {
        for tenant in &self.tenants {
            self.heads.0.invalidate(tenant);
        }
    }
}
