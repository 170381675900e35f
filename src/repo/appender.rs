//! Group commit for events, where the database has one writer (SQLite): one transaction per
//! event would cost a disk flush per event. Instead, writers queue their event here and one
//! of them at a time (the leader) stores every queued event in one transaction, each under
//! its own savepoint, and hands each writer its outcome.

use std::sync::Mutex;

use tokio::sync::{oneshot, Mutex as AsyncMutex, OwnedMutexGuard};

use super::{Event, NewEvent, RepoError};
use crate::ids::TenantId;

/// Events stored by one transaction at most.
const BATCH: usize = 64;
/// Queues per process; tenants share them by hash, and a batch may hold several tenants.
const SHARDS: usize = 16;

/// What became of a queued event.
pub enum Outcome {
    Stored(Box<Event>),
    Failed(RepoError),
    /// The batch failed as a whole (begin, a head lock or the commit): nothing of it was
    /// committed, or not knowingly, and the writer stores its event on its own.
    Alone,
}

/// A queued event and where its outcome goes.
pub struct Job {
    pub tenant: TenantId,
    pub event: NewEvent,
    ticket: u64,
    done: oneshot::Sender<Outcome>,
}

impl Job {
    pub fn finish(self, outcome: Outcome) {
        // The writer may have gone (its request was dropped); the outcome is then unread.
        let _ = self.done.send(outcome);
    }
}

/// A writer's turn: its outcome is ready, or it leads the jobs to store now.
pub enum Turn {
    Done(Outcome),
    Lead {
        jobs: Vec<Job>,
        outcome: oneshot::Receiver<Outcome>,
        /// Held until the batch is over, so one batch per shard runs at a time.
        _leading: OwnedMutexGuard<()>,
    },
}

struct Shard {
    queue: Mutex<Vec<Job>>,
    tickets: std::sync::atomic::AtomicU64,
    leader: std::sync::Arc<AsyncMutex<()>>,
}

pub struct Appenders {
    shards: Vec<Shard>,
}

impl Default for Appenders {
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

impl Appenders {
    /// Queues `event` and waits for the shard's current batch; answers the outcome if that
    /// batch took the event, or makes this writer the leader of the next batch.
    pub async fn enter(&self, tenant: TenantId, event: NewEvent) -> Turn {
        let shard = &self.shards[tenant.0.as_u128() as usize % SHARDS];
        let (done, mut outcome) = oneshot::channel();
        let ticket = shard.tickets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&shard.queue).push(Job {
            tenant,
            event,
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
                let mut jobs: Vec<Job> = queue.drain(..take).collect();
                // The leader's own event is always in its batch, however long the queue.
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
fn lock(queue: &Mutex<Vec<Job>>) -> std::sync::MutexGuard<'_, Vec<Job>> {
    queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
