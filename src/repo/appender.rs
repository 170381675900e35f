//! Group commit, where the database has one writer (SQLite): one transaction per event or
//! published blob would cost a disk flush (and a write of every page it touched) each.
//! Instead, writers queue their work here and one of them at a time (the leader) does every
//! queued piece in one transaction, each under its own savepoint, and hands each writer its
//! outcome.

use std::sync::Mutex;

use tokio::sync::{oneshot, Mutex as AsyncMutex, OwnedMutexGuard};

use super::RepoError;
use crate::ids::TenantId;

/// Pieces of work done by one transaction at most.
const BATCH: usize = 64;
/// Queues per process; tenants share them by hash, and a batch may hold several tenants.
const SHARDS: usize = 16;

/// What became of a queued piece of work that answers `O`.
pub enum Outcome<O> {
    Stored(Box<O>),
    Failed(RepoError),
    /// The batch failed as a whole (begin, a head lock or the commit): nothing of it was
    /// committed, or not knowingly, and the writer does its work on its own.
    Alone,
}

/// A queued piece of work and where its outcome goes.
pub struct Job<W, O> {
    pub tenant: TenantId,
    pub work: W,
    ticket: u64,
    done: oneshot::Sender<Outcome<O>>,
}

impl<W, O> Job<W, O> {
    pub fn finish(self, outcome: Outcome<O>) {
        // The writer may have gone (its request was dropped); the outcome is then unread.
        let _ = self.done.send(outcome);
    }
}

/// A writer's turn: its outcome is ready, or it leads the jobs to store now.
pub enum Turn<W, O> {
    Done(Outcome<O>),
    Lead {
        jobs: Vec<Job<W, O>>,
        outcome: oneshot::Receiver<Outcome<O>>,
        /// Held until the batch is over, so one batch per shard runs at a time.
        _leading: OwnedMutexGuard<()>,
    },
}

struct Shard<W, O> {
    queue: Mutex<Vec<Job<W, O>>>,
    tickets: std::sync::atomic::AtomicU64,
    leader: std::sync::Arc<AsyncMutex<()>>,
}

/// The queues of one kind of work: `W` done, answering `O`.
pub struct Appenders<W, O> {
    shards: Vec<Shard<W, O>>,
}

impl<W, O> Default for Appenders<W, O> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    queue: Mutex::new(Vec::new()),
                    tickets: Default::default(),
                    leader: Default::default(),
                })
                .collect(),
        }
    }
}

impl<W, O> Appenders<W, O> {
    /// Queues `work` and waits for the shard's current batch; answers the outcome if that
    /// batch took the work, or makes this writer the leader of the next batch.
    pub async fn enter(&self, tenant: TenantId, work: W) -> Turn<W, O> {
        let shard = &self.shards[tenant.0.as_u128() as usize % SHARDS];
        let (done, mut outcome) = oneshot::channel();
        let ticket = shard.tickets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&shard.queue).push(Job {
            tenant,
            work,
            ticket,
            done,
        });
        let leading = shard.leader.clone().lock_owned().await;
        match outcome.try_recv() {
            Ok(ready) => Turn::Done(ready),
            // A leader that was dropped mid-batch committed nothing it reported.
            Err(oneshot::error::TryRecvError::Closed) => Turn::Done(Outcome::Alone),
            Err(oneshot::error::TryRecvError::Empty) => {
                let mut queue = lock(&shard.queue);
                let take = queue.len().min(BATCH);
                let mut jobs: Vec<Job<W, O>> = queue.drain(..take).collect();
                // The leader's own work is always in its batch, however long the queue.
                if !jobs.iter().any(|job| job.ticket == ticket) {
                    if let Some(at) = queue.iter().position(|job| job.ticket == ticket) {
                        jobs.push(queue.remove(at));
                    }
                }
                Turn::Lead {
                    jobs,
                    outcome,
                    _leading: leading,
                }
            }
        }
    }
}

/// The queue, even if a panicking writer poisoned its lock (the Vec stays consistent).
fn lock<T>(queue: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
