//! Metadata that read-heavy routes (`/info`, attachment lookups) would otherwise fetch on
//! every request. Events never change once stored, so they are kept; a blob's scan status
//! and tampered mark can change (monotonically, NOT_SCANNED → SCANNED_*), so blobs are kept
//! for a second and dropped at once when this process changes them. Content is never cached:
//! every download reads and verifies its chunks.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use uuid::Uuid;

use super::{App, Blob, Event};

/// Bytes of events kept: pages of events are served from here.
const EVENT_BYTES: u64 = 64 << 20;
/// The largest event kept: typical events are a few KiB; one holding a large signed
/// statement (up to 1.4 MB) is read when asked for rather than crowding out pages of others.
const EVENT_MAX_BYTES: u32 = 64 << 10;
const BLOBS: u64 = 100_000;
const APPS: u64 = 10_000;
/// How stale a mutable entry may be when another process changed it.
const TTL: Duration = Duration::from_secs(1);

/// Keyed by (tenant, id): a lookup in another tenant never sees an entry.
#[derive(Clone)]
pub struct MetadataCache {
    pub events: Cache<(Uuid, Uuid), Arc<Event>>,
    pub blobs: Cache<(Uuid, Uuid), Arc<Blob>>,
    /// App registrations, checked on every request: deleting or changing one here drops it
    /// at once; another process sees the change within a second.
    pub apps: Cache<(Uuid, Uuid), Arc<App>>,
    /// Tenants known to exist (they are never deleted).
    pub tenants: Cache<Uuid, ()>,
}

impl Default for MetadataCache {
    fn default() -> Self {
        Self {
            events: Cache::builder()
                .max_capacity(EVENT_BYTES)
                .weigher(|_, event: &Arc<Event>| event.weight())
                .build(),
            blobs: Cache::builder().max_capacity(BLOBS).time_to_live(TTL).build(),
            apps: Cache::builder().max_capacity(APPS).time_to_live(TTL).build(),
            tenants: Cache::new(APPS),
        }
    }
}

impl MetadataCache {
    /// Keeps `event`, unless it is larger than `EVENT_MAX_BYTES`.
    pub async fn keep_event(&self, key: (Uuid, Uuid), event: Arc<Event>) {
        if event.weight() <= EVENT_MAX_BYTES {
            self.events.insert(key, event).await;
        }
    }
}

/// The ids of event names (operation and behaviour, as event terms carry them): a name's
/// id never changes once committed, so each process remembers them, a bounded number (a
/// client may send endless new names).
pub struct EventNameIds(moka::sync::Cache<String, i32>);

impl Default for EventNameIds {
    fn default() -> Self {
        Self(moka::sync::Cache::new(10_000))
    }
}

impl EventNameIds {
    pub fn get(&self, name: &str) -> Option<i32> {
        self.0.get(name)
    }

    pub fn remember(&self, name: String, id: i32) {
        self.0.insert(name, id);
    }
}
