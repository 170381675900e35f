//! SQL shared by both backends (`$n` placeholders work on both) and small helpers for it.

pub const INSERT_TENANT: &str = "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)";
pub const INSERT_APP: &str = "INSERT INTO apps (id, tenant_id, display_name, client_id, secret_hash, admin, \
     custom_claims, created_at, secret_created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";
pub const APP_COLUMNS: &str =
    "SELECT id, tenant_id, display_name, client_id, admin, custom_claims, created_at, secret_created_at FROM apps";
pub const UPDATE_APP: &str = "UPDATE apps SET display_name = COALESCE($3, display_name), \
     custom_claims = COALESCE($4, custom_claims) WHERE tenant_id = $1 AND id = $2";
pub const DELETE_APP: &str = "DELETE FROM apps WHERE tenant_id = $1 AND id = $2";
pub const SET_APP_SECRET: &str =
    "UPDATE apps SET secret_hash = $3, secret_created_at = $4 WHERE tenant_id = $1 AND id = $2";
pub const TENANT_USAGE: &str =
    "SELECT max_blobs, max_bytes, max_blob_bytes, blob_count, bytes_used FROM tenants WHERE id = $1";
pub const SET_QUOTA: &str = "UPDATE tenants SET max_blobs = COALESCE($2, max_blobs), \
     max_bytes = COALESCE($3, max_bytes), max_blob_bytes = COALESCE($4, max_blob_bytes) WHERE id = $1";
pub const SCAN_CANDIDATES: &str = "SELECT id, tenant_id, size, chunk_bytes, hash_sha256 FROM blobs \
     WHERE scanned_status = 'NOT_SCANNED' AND scan_skipped = $1 AND (scan_claimed_at IS NULL OR scan_claimed_at < $2) \
     ORDER BY timestamp_accepted LIMIT $3";
/// Compare-and-set: of two scanners racing for a blob, one updates it and one finds it taken.
pub const CLAIM_SCAN: &str = "UPDATE blobs SET scan_claim = $2, scan_claimed_at = $3 WHERE id = $1 \
     AND scanned_status = 'NOT_SCANNED' AND (scan_claimed_at IS NULL OR scan_claimed_at < $4)";
pub const RECORD_SCAN: &str = "UPDATE blobs SET scanned_status = $4, scanned_bad_reason = $5, \
     scanned_timestamp = $6, scan_skipped = $7, scan_count = scan_count + 1, scan_claim = NULL, \
     scan_claimed_at = NULL WHERE tenant_id = $1 AND id = $2 AND scan_claim = $3";
pub const RELEASE_SCAN: &str =
    "UPDATE blobs SET scan_claim = NULL, scan_claimed_at = NULL WHERE id = $1 AND scan_claim = $2";

/// Counts a new blob against the tenant, only if that stays within both limits.
pub const RESERVE_QUOTA: &str = "UPDATE tenants SET blob_count = blob_count + 1, bytes_used = bytes_used + $2 \
     WHERE id = $1 AND blob_count + 1 <= $3 AND bytes_used + $2 <= $4";
pub const COUNT_TENANTS: &str = "SELECT COUNT(*) FROM tenants";
pub const APP_BY_CLIENT_ID: &str =
    "SELECT id, tenant_id, secret_hash, admin, custom_claims FROM apps WHERE client_id = $1";
pub const INSERT_SETTING: &str = "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
pub const SELECT_SETTING: &str = "SELECT value FROM settings WHERE key = $1";
pub const INSERT_CHUNK: &str = "INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)";
/// Gives a published blob its place in the log.
pub const LOG_BLOB: &str = "UPDATE blobs SET log_index = $2, idtimestamp = $3 WHERE id = $1 AND log_index IS NULL";
/// A blob row's columns, as `Blob` reads them.
macro_rules! blob_columns {
    () => {
        "SELECT id, tenant_id, hash_sha256, size, chunk_bytes, mime_type, issuer, subject, \
         timestamp_accepted, scanned_status, scanned_bad_reason, scanned_timestamp, tampered_at, \
         chunk_mac_key, log_index, idtimestamp FROM blobs"
    };
}
pub const SELECT_BLOB: &str = concat!(blob_columns!(), " WHERE tenant_id = $1 AND id = $2");
/// Every blob row, to be filtered.
pub const SELECT_BLOBS: &str = blob_columns!();
pub const BLOBS_AFTER: &str = concat!(blob_columns!(), " WHERE id > $1 ORDER BY id LIMIT $2");
pub const BLOB_TOTALS: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs";
pub const SELECT_CHUNK: &str = "SELECT c.data FROM blob_chunks c JOIN blobs b ON b.id = c.blob_id \
     WHERE b.tenant_id = $1 AND c.blob_id = $2 AND c.seq = $3";
pub const DELETE_CHUNKS: &str = "DELETE FROM blob_chunks WHERE blob_id = $1";
pub const ORPHAN_CHUNK_OWNERS: &str = "SELECT DISTINCT c.blob_id FROM blob_chunks c \
     WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = c.blob_id) \
     AND NOT EXISTS (SELECT 1 FROM blob_uploads u WHERE u.blob_id = c.blob_id) LIMIT 1000";
/// Deletes one blob's chunks only if still unowned (an upload may have begun with that id).
pub const DELETE_ORPHAN_CHUNKS: &str = "DELETE FROM blob_chunks WHERE blob_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM blobs WHERE id = $1) \
     AND NOT EXISTS (SELECT 1 FROM blob_uploads WHERE blob_id = $1)";
/// A slice of a blob's chunk MACs: 1-based byte offset and length.
pub const SELECT_CHUNK_MACS: &str =
    "SELECT substr(macs, $2, $3) FROM blob_chunk_macs WHERE blob_id = $1 AND key_id = $4";
pub const MARK_TAMPERED: &str =
    "UPDATE blobs SET tampered_at = $3 WHERE tenant_id = $1 AND id = $2 AND tampered_at IS NULL";

pub const INSERT_ASSET: &str = "INSERT INTO assets (id, tenant_id, behaviours, attributes, public, owner, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
/// An asset's columns, qualified so they read the same in a join with its terms.
macro_rules! asset_fields {
    () => {
        "assets.seq, assets.id, assets.tenant_id, assets.behaviours, assets.attributes, assets.public, \
         assets.owner, assets.created_at, assets.updated_at, assets.version, assets.tracked"
    };
}
pub const ASSET_FIELDS: &str = asset_fields!();
pub const ASSET_COLUMNS: &str = concat!("SELECT ", asset_fields!(), " FROM assets");
pub const UPDATE_ASSET_ATTRIBUTES: &str = "UPDATE assets SET attributes = $3, updated_at = $4, version = version + 1 \
     WHERE tenant_id = $1 AND id = $2 AND version = $5";
pub const INSERT_EVENT: &str = "INSERT INTO events (id, tenant_id, asset_id, operation, behaviour, event_attributes, \
     asset_attributes, trails, timestamp_declared, principal_declared, issuer, subject, timestamp_accepted, \
     log_index, idtimestamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
/// An event's columns, qualified so they read the same in a join with its terms.
macro_rules! event_fields {
    () => {
        "events.seq, events.id, events.tenant_id, events.asset_id, events.operation, events.behaviour, \
         events.event_attributes, events.asset_attributes, events.trails, events.timestamp_declared, \
         events.principal_declared, events.issuer, events.subject, events.timestamp_accepted, \
         events.log_index, events.idtimestamp"
    };
}
pub const EVENT_COLUMNS: &str = concat!("SELECT ", event_fields!(), " FROM events");

/// Binds an `Event`'s columns as `INSERT_EVENT` numbers them ($1 to $15).
macro_rules! bind_event_row {
    ($query:expr, $event:expr) => {{
        let event: &$crate::repo::Event = $event;
        $query
            .bind(event.id)
            .bind(event.tenant_id)
            .bind(event.asset_id)
            .bind(&event.operation)
            .bind(&event.behaviour)
            .bind(&event.event_attributes)
            .bind(&event.asset_attributes)
            .bind(&event.trails)
            .bind(&event.timestamp_declared)
            .bind(&event.principal_declared)
            .bind(&event.issuer)
            .bind(&event.subject)
            .bind(event.timestamp_accepted)
            .bind(event.log_index)
            .bind(event.idtimestamp)
    }};
}

pub(crate) use bind_event_row;

/// `$first, $first+1, …`: the placeholders of `count` values.
pub fn numbered(first: usize, count: usize) -> String {
    let placeholders: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    placeholders.join(", ")
}

/// Attempts at an asset update that lost a race with another one.
pub const UPDATE_ATTEMPTS: usize = 8;

/// Replaces the asset's attributes named in `update`, keeping the others.
pub fn merge_attributes(
    current: &str,
    update: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, super::RepoError> {
    let mut attributes: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(current).map_err(|e| super::RepoError::Other(e.into()))?;
    for (key, value) in update {
        attributes.insert(key.clone(), value.clone());
    }
    serde_json::to_string(&attributes).map_err(|e| super::RepoError::Other(e.into()))
}

/// Which quota a refused commit would have passed, for the 402 message.
pub fn quota_message(usage: &super::TenantUsage, limits: super::CommitLimits, size: i64) -> String {
    if usage.blob_count + 1 > limits.max_blobs {
        format!(
            "blob count quota exceeded: the tenant may store {} blobs",
            limits.max_blobs
        )
    } else {
        format!(
            "storage quota exceeded: {} of {} bytes used, this blob needs {size} more",
            usage.bytes_used, limits.max_bytes
        )
    }
}
