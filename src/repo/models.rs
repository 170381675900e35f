//! Rows of assets and events, and what creating them takes.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::AssetId;

/// An asset; `behaviours` and `attributes` are JSON text.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Asset {
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub behaviours: String,
    pub attributes: String,
    pub public: bool,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// False after a StopTracking event (until a StartTracking one): default lists hide it.
    pub tracked: bool,
}

#[derive(Clone, Debug)]
pub struct NewAsset {
    pub id: AssetId,
    pub behaviours: String,
    pub attributes: String,
    pub public: bool,
    pub owner: String,
    /// Who creates it: the `NewAsset` event's accepted principal.
    pub issuer: String,
    pub subject: String,
}

/// An asset event (`asset_id` set) or asset-free event. JSON fields are text.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Event {
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub asset_id: Option<Uuid>,
    pub operation: String,
    pub behaviour: String,
    pub event_attributes: String,
    pub asset_attributes: String,
    pub trails: String,
    pub timestamp_declared: String,
    pub principal_declared: String,
    pub issuer: String,
    pub subject: String,
    pub timestamp_accepted: DateTime<Utc>,
    /// The leaf's index in the tenant's log (`None` only until a start appends events
    /// stored before the log existed).
    pub log_index: Option<i64>,
    /// The snowflake id the leaf commits to, as its bit pattern.
    pub idtimestamp: Option<i64>,
}

impl Event {
    /// About the bytes it holds, for a cache's bound.
    pub fn weight(&self) -> u32 {
        let text = [
            &self.operation,
            &self.behaviour,
            &self.event_attributes,
            &self.asset_attributes,
            &self.trails,
            &self.timestamp_declared,
            &self.principal_declared,
            &self.issuer,
            &self.subject,
        ];
        let bytes = std::mem::size_of::<Self>() + text.iter().map(|t| t.len()).sum::<usize>();
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }

    /// `event` as it will be stored for `tenant`, accepted now, at index `log_index` with
    /// idtimestamp `id`: what reading it back answers, to the microsecond the databases
    /// keep. `seq` is the database's to assign.
    pub fn logged(tenant: Uuid, event: &super::NewEvent, asset_attributes: String, log_index: u64, id: u64) -> Self {
        let now = Utc::now();
        Self {
            seq: 0,
            id: event.id.0,
            tenant_id: tenant,
            asset_id: event.asset.map(|a| a.0),
            operation: event.operation.clone(),
            behaviour: event.behaviour.clone(),
            event_attributes: event.event_attributes.clone(),
            asset_attributes,
            trails: event.trails.clone(),
            timestamp_declared: event.timestamp_declared.clone(),
            principal_declared: event.principal_declared.clone(),
            issuer: event.issuer.clone(),
            subject: event.subject.clone(),
            timestamp_accepted: DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
            log_index: Some(log_index as i64),
            idtimestamp: Some(super::heads::signed(id)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewEvent {
    pub id: crate::ids::EventId,
    pub asset: Option<AssetId>,
    pub operation: String,
    pub behaviour: String,
    pub event_attributes: String,
    /// JSON object whose keys replace the asset's attributes of the same name.
    pub asset_attributes: serde_json::Map<String, serde_json::Value>,
    pub trails: String,
    pub timestamp_declared: String,
    pub principal_declared: String,
    pub issuer: String,
    pub subject: String,
}

/// One page of a list: newest first, after the item with `seq` = `before`.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub before: Option<i64>,
    pub limit: i64,
    /// Every filter must hold.
    pub filters: Vec<Filter>,
    /// A filter no stored item can meet (e.g. `confirmation_status=PENDING`): the list is
    /// empty without asking the database.
    pub matches_nothing: bool,
}

/// Which of an owner's assets may be shared with a reader, as far as SQL can tell: those
/// any one alternative selects (each every one of its lists, each any one of its filters).
/// It may select more than is shared, never less; the sharing core decides each row.
#[derive(Clone, Debug, Default)]
pub struct SharedScope {
    pub alternatives: Vec<Vec<Vec<Filter>>>,
}

/// One condition of a list, e.g. from `attributes.arc_display_type=Truck`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub field: FilterField,
    pub value: FilterValue,
}

/// What a filter compares. Column names are fixed by attachd, never taken from a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterField {
    /// A top-level key of a JSON object of the row is the string value (see `terms`).
    Term {
        field: super::terms::TermField,
        key: String,
    },
    /// A column equals the value.
    Column(&'static str),
    /// A time column is later than the value.
    After(&'static str),
    /// A time column is earlier than the value.
    Before(&'static str),
    /// A JSON array column holds the value.
    ArrayHolds(&'static str),
    /// A top-level key of the current attributes of the event's asset equals the value.
    AssetAttribute(String),
    /// A top-level key of a JSON object of the row is set to a non-empty value (`set`,
    /// DataTrails' `=*`), or is missing or empty (`!=*`). The value is unused.
    Presence {
        field: super::terms::TermField,
        key: String,
        set: bool,
    },
    /// `Presence` of a key of the current attributes of the event's asset.
    AssetAttributePresence { key: String, set: bool },
}

impl FilterField {
    /// The attribute a filter reads, when it reads one a partner's grant may hide: any key
    /// of an asset's attributes, an event's attributes or the asset attributes it set.
    pub fn attribute_key(&self) -> Option<&str> {
        use super::terms::TermField::{AssetAttributes, EventAssetAttributes, EventAttributes};
        match self {
            Self::Term { field, key } | Self::Presence { field, key, .. }
                if matches!(field, AssetAttributes | EventAttributes | EventAssetAttributes) =>
            {
                Some(key)
            }
            Self::AssetAttribute(key) | Self::AssetAttributePresence { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// The value a filter compares with, typed as its column is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterValue {
    Text(String),
    Bool(bool),
    Time(DateTime<Utc>),
    Bytes(Vec<u8>),
}

/// What publishing an upload writes: its blob row (and chunk MACs), within `limits`, with
/// the attachment record naming it, if any.
pub struct Publish {
    pub blob_id: crate::ids::BlobId,
    pub blob: super::NewBlob,
    pub limits: super::CommitLimits,
    pub record: Option<super::NewRecord>,
}

/// Publishes queued for group commit (`appender`).
pub type Publishers = super::appender::Appenders<std::sync::Arc<Publish>, super::Blob>;
