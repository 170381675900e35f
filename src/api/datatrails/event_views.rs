//! Events as DataTrails shows them: `v2EventResponse` (asset events) with its
//! `merklelog_entry`, and `v1EventResponse` (asset-free events) with its
//! `merklelog_commit`.

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::{json_text, timestamp};
use crate::ids::{EventId, TenantId};
use crate::log::state::SealedView;
use crate::repo::leaves::EventFields;
use crate::repo::Event;
use merklelog::idtimestamp;

/// DataTrails' `v2EventResponse`.
#[derive(Serialize, ToSchema)]
#[schema(as = v2EventResponse)]
pub struct EventResponse {
    /// `assets/<uuid>/events/<uuid>`.
    identity: String,
    asset_identity: String,
    #[schema(value_type = HashMap<String, Value>)]
    event_attributes: StoredJson,
    #[schema(value_type = HashMap<String, Value>)]
    asset_attributes: StoredJson,
    operation: String,
    behaviour: String,
    timestamp_declared: String,
    timestamp_accepted: String,
    /// When the event's leaf was added to the log (its idtimestamp's time).
    timestamp_committed: String,
    #[schema(value_type = Object)]
    principal_declared: StoredJson,
    #[schema(value_type = Object)]
    principal_accepted: Value,
    confirmation_status: &'static str,
    transaction_id: &'static str,
    block_number: u64,
    transaction_index: u64,
    from: &'static str,
    tenant_identity: String,
    merklelog_entry: MerkleLogEntry,
}

impl EventResponse {
    /// The event, confirmed by `sealed` when that seal covers it.
    pub fn new(event: &Event, sealed: Option<&SealedView>) -> Self {
        let fields = EventFields::rendered(event, stored_json);
        Self {
            identity: fields.identity,
            asset_identity: fields.asset_identity,
            event_attributes: fields.event_attributes,
            asset_attributes: fields.asset_attributes,
            operation: fields.operation,
            behaviour: fields.behaviour,
            timestamp_declared: fields.timestamp_declared,
            timestamp_accepted: fields.timestamp_accepted,
            timestamp_committed: fields.timestamp_committed,
            principal_declared: fields.principal_declared,
            principal_accepted: fields.principal_accepted,
            confirmation_status: "CONFIRMED",
            transaction_id: "",
            block_number: 0,
            transaction_index: 0,
            from: "",
            tenant_identity: fields.tenant_identity,
            merklelog_entry: MerkleLogEntry::new(event, sealed),
        }
    }
}

/// A stored JSON field shown as stored (`null` if it is not JSON): attachd stores the
/// compact form serde_json writes, so this is what parsing and writing it again would show,
/// without the cost of doing so for every event of a page.
type StoredJson = Option<Box<RawValue>>;

fn stored_json(text: &str) -> StoredJson {
    RawValue::from_string(text.to_owned()).ok()
}

/// DataTrails' `v2MerkleLogEntry`: where the event is in its tenant's log, and once a seal
/// covers it, that seal.
#[derive(Serialize, ToSchema)]
#[schema(as = v2MerkleLogEntry)]
pub struct MerkleLogEntry {
    commit: MerkleLogCommit,
    /// Absent until a seal covers the event (within a second or so).
    #[serde(skip_serializing_if = "Option::is_none")]
    confirm: Option<MerkleLogConfirm>,
    #[schema(value_type = Option<Object>)]
    unequivocal: Option<Value>,
}

impl MerkleLogEntry {
    fn new(event: &Event, sealed: Option<&SealedView>) -> Self {
        let index = event.log_index.unwrap_or_default() as u64;
        let confirm = sealed.and_then(|sealed| {
            Some(MerkleLogConfirm {
                mmr_size: sealed.mmr_size.clone(),
                root: sealed.root_of(index)?,
                timestamp: sealed.timestamp.clone(),
                idtimestamp: sealed.idtimestamp.clone(),
                signed_tree_head: sealed.signed_tree_head.clone(),
            })
        });
        Self {
            commit: MerkleLogCommit::new(event),
            confirm,
            unequivocal: None,
        }
    }
}

/// DataTrails' `v2MerkleLogCommit`.
#[derive(Serialize, ToSchema)]
#[schema(as = v2MerkleLogCommit)]
pub struct MerkleLogCommit {
    /// The leaf's node index in the tenant's log (a decimal string).
    index: String,
    /// The idtimestamp the leaf commits to: the epoch byte and the id, in hex.
    idtimestamp: String,
}

impl MerkleLogCommit {
    fn new(event: &Event) -> Self {
        Self {
            index: event.log_index.unwrap_or_default().to_string(),
            idtimestamp: idtimestamp::to_hex(event.idtimestamp.unwrap_or_default() as u64),
        }
    }
}

/// DataTrails' `v2MerkleLogConfirm`: the seal covering the event.
#[derive(Serialize, ToSchema)]
#[schema(as = v2MerkleLogConfirm)]
pub struct MerkleLogConfirm {
    /// The log size the seal signs.
    #[schema(value_type = String)]
    mmr_size: Arc<str>,
    /// The peak of the sealed log that commits this event (base64); its inclusion proof
    /// leads from the event's leaf to it.
    #[schema(value_type = String)]
    root: Arc<str>,
    /// When it was signed, in Unix milliseconds.
    #[schema(value_type = String)]
    timestamp: Arc<str>,
    /// The idtimestamp of the last leaf the seal covers.
    #[schema(value_type = String)]
    idtimestamp: Arc<str>,
    /// The seal: a COSE Sign1 (ES384) over the log state (base64).
    #[schema(value_type = String)]
    signed_tree_head: Arc<str>,
}

/// DataTrails' `v1EventResponse` (asset-free events).
#[derive(Serialize, ToSchema)]
#[schema(as = v1EventResponse)]
pub struct FreeEventResponse {
    /// `events/<uuid>`.
    identity: String,
    #[schema(value_type = HashMap<String, Value>)]
    attributes: Value,
    #[schema(value_type = Vec<String>)]
    trails: Value,
    origin_tenant: String,
    created_by: String,
    created_at: String,
    confirmation_status: &'static str,
    merklelog_commit: MerkleLogCommit,
}

impl FreeEventResponse {
    pub fn new(event: &Event) -> Self {
        Self {
            identity: EventId(event.id).identity(),
            attributes: json_text(&event.event_attributes),
            trails: json_text(&event.trails),
            origin_tenant: TenantId(event.tenant_id).identity(),
            created_by: event.subject.clone(),
            created_at: timestamp(event.timestamp_accepted),
            confirmation_status: "CONFIRMED",
            merklelog_commit: MerkleLogCommit::new(event),
        }
    }
}
