//! An event as the log commits to it: the fields the API shows and the leaf hashes, from
//! one rendering, so the leaf the server appends is the leaf a verifier recomputes from
//! the API's JSON.

use merklelog::leaf::{bencode_text_dict, eventsv1_extra, eventsv1_leaf, leaf_hash, LeafError};
use merklelog::massif::{trie_key, TrieEntry};
use merklelog::mmr::Hash;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Blob, Event};
use crate::ids::{AssetId, EventId, TenantId};

/// RFC 3339 UTC, to the second, as attachd shows times.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// JSON text stored by attachd, parsed.
pub fn json_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// An asset event's fields as DataTrails' `v2EventResponse` shows them; the v3 leaf
/// covers all but `asset_identity`. `J` holds the stored JSON fields: parsed for the leaf,
/// or as stored for a response.
pub struct EventFields<J = Value> {
    pub identity: String,
    pub asset_identity: String,
    pub event_attributes: J,
    pub asset_attributes: J,
    pub operation: String,
    pub behaviour: String,
    pub timestamp_declared: String,
    pub timestamp_accepted: String,
    pub timestamp_committed: String,
    pub principal_declared: J,
    pub principal_accepted: Value,
    pub tenant_identity: String,
}

impl EventFields {
    pub fn of(event: &Event) -> Self {
        Self::rendered(event, json_text)
    }
}

impl<J> EventFields<J> {
    /// The fields, with each stored JSON field made a `J` by `json`.
    pub fn rendered(event: &Event, json: impl Fn(&str) -> J) -> Self {
        let asset = AssetId(event.asset_id.unwrap_or_default());
        let accepted = timestamp(event.timestamp_accepted);
        let committed = match event.idtimestamp {
            Some(id) => merklelog::idtimestamp::time(id as u64).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            None => accepted.clone(),
        };
        Self {
            identity: format!("{}/events/{}", asset.identity(), event.id),
            asset_identity: asset.identity(),
            event_attributes: json(&event.event_attributes),
            asset_attributes: json(&event.asset_attributes),
            operation: event.operation.clone(),
            behaviour: event.behaviour.clone(),
            timestamp_declared: event.timestamp_declared.clone(),
            timestamp_accepted: accepted,
            timestamp_committed: committed,
            principal_declared: json(&event.principal_declared),
            principal_accepted: json!({
                "issuer": event.issuer, "subject": event.subject, "display_name": "", "email": ""
            }),
            tenant_identity: TenantId(event.tenant_id).identity(),
        }
    }
}

impl EventFields {
    /// The fields the v3 leaf covers, as JSON.
    pub fn v3_json(&self) -> Value {
        json!({
            "identity": self.identity,
            "event_attributes": self.event_attributes,
            "asset_attributes": self.asset_attributes,
            "operation": self.operation,
            "behaviour": self.behaviour,
            "timestamp_declared": self.timestamp_declared,
            "timestamp_accepted": self.timestamp_accepted,
            "timestamp_committed": self.timestamp_committed,
            "principal_declared": self.principal_declared,
            "principal_accepted": self.principal_accepted,
            "tenant_identity": self.tenant_identity,
        })
    }
}

/// The identity an event's index entry is keyed by.
pub fn event_identity(event: &Event) -> String {
    match event.asset_id {
        Some(asset) => format!("{}/events/{}", AssetId(asset).identity(), event.id),
        None => EventId(event.id).identity(),
    }
}

/// The leaf of a stored event at idtimestamp `id`: v3 for an asset event, eventsv1 for an
/// asset-free one.
pub fn event_leaf(event: &Event, id: u64) -> Result<Hash, LeafError> {
    match event.asset_id {
        Some(_) => leaf_hash(id, &EventFields::of(event).v3_json()),
        None => Ok(eventsv1_leaf(
            id,
            event.tenant_id,
            &json_text(&event.event_attributes),
            &json_text(&event.trails),
        )),
    }
}

/// The event's entry in its massif's index.
pub fn trie_entry(event: &Event, id: u64) -> TrieEntry {
    let tenant = TenantId(event.tenant_id).identity();
    TrieEntry {
        key: trie_key(&tenant, &event_identity(event)),
        extra: match event.asset_id {
            Some(_) => [0; 24],
            None => eventsv1_extra(event.tenant_id),
        },
        idtimestamp: id,
    }
}

/// Names the blob leaf encoding, inside the hashed fields.
pub const BLOB_LEAF_TYPE: &str = "attachd/blob/v1";

/// The fields a blob's leaf covers, as text: what a download trusts about the blob.
pub fn blob_leaf_fields(blob: &Blob) -> Vec<(&'static str, String)> {
    vec![
        ("leaf_type", BLOB_LEAF_TYPE.to_string()),
        ("identity", crate::ids::BlobId(blob.id).identity()),
        ("tenant_identity", TenantId(blob.tenant_id).identity()),
        ("hash_sha256", blob.hash_sha256.clone()),
        ("size", blob.size.to_string()),
        ("chunk_bytes", blob.chunk_bytes.to_string()),
        ("chunk_mac_key", blob.chunk_mac_key.clone()),
        (
            "timestamp_accepted",
            blob.timestamp_accepted
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
    ]
}

/// The leaf of a blob's record committed at idtimestamp `id`: SHA-256(0x00 ‖ u64be(id) ‖
/// bencode(`blob_leaf_fields`)), the v3 leaf's form over fields no event has, so no blob
/// leaf can pass for an event's.
pub fn blob_leaf(blob: &Blob, id: u64) -> Hash {
    let fields = blob_leaf_fields(blob);
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut hash = Sha256::new();
    hash.update([0u8]);
    hash.update(id.to_be_bytes());
    hash.update(bencode_text_dict(&pairs));
    hash.finalize().into()
}

/// The blob's entry in its massif's index.
pub fn blob_trie_entry(blob: &Blob, id: u64) -> TrieEntry {
    TrieEntry {
        key: trie_key(
            &TenantId(blob.tenant_id).identity(),
            &crate::ids::BlobId(blob.id).identity(),
        ),
        extra: [0; 24],
        idtimestamp: id,
    }
}
