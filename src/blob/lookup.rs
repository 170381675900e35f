//! Which of a tenant's events record a given SHA-256: the "was this file registered?"
//! question, asked with a hash the client computed (the file itself never travels).

use serde_json::Value;

use super::{find_references, BlobError, BlobReference, BlobResult};
use crate::ids::TenantId;
use crate::repo::{Event, Repo};

/// At most this many events are answered (the newest).
pub const LOOKUP_LIMIT: i64 = 100;

/// An event recording the hash, and the attachment attributes that do.
pub struct Recorded {
    pub event: Event,
    pub references: Vec<BlobReference>,
}

/// The lower-case hex SHA-256 in `hash`, or 400.
pub fn parse_sha256(hash: &str) -> BlobResult<String> {
    let hash = hash.trim().to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BlobError::bad_request("hash must be 64 hex digits (a SHA-256)"));
    }
    Ok(hash)
}

/// The tenant's newest events whose attachment attributes record `hash` (lower-case hex).
pub async fn events_recording(repo: &dyn Repo, tenant: TenantId, hash: &str) -> BlobResult<Vec<Recorded>> {
    let candidates = repo.events_recording(tenant, hash, LOOKUP_LIMIT).await?;
    Ok(candidates
        .into_iter()
        .filter_map(|event| {
            let trees: &[(&str, &str)] = if event.asset_id.is_some() {
                &[
                    ("event_attributes", &event.event_attributes),
                    ("asset_attributes", &event.asset_attributes),
                ]
            } else {
                &[("attributes", &event.event_attributes)]
            };
            // The index finds candidates; only attachment attributes the core accepts count.
            let references: Vec<BlobReference> = trees
                .iter()
                .flat_map(|(root, text)| {
                    let tree = serde_json::from_str(text).unwrap_or(Value::Null);
                    find_references(root, &tree).unwrap_or_default()
                })
                .filter(|reference| reference.hash.eq_ignore_ascii_case(hash))
                .collect();
            (!references.is_empty()).then_some(Recorded { event, references })
        })
        .collect())
}
