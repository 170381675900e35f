//! Attribute terms: each top-level string attribute of an asset or asset event as a row of
//! `asset_terms` / `event_terms`, written in the transaction that writes the row. An
//! attribute filter or count then reads only the matching entries of one tenant's index
//! range, on both databases, however many rows the tenants hold.
//!
//! A term is a 16-byte hash of which JSON field, the key and the value: fixed-size index
//! entries whatever the length of a value (PostgreSQL refuses btree entries over ~2.7 KB),
//! and no quoting of keys. Only strings are terms, as only strings match a filter.

use sha2::{Digest, Sha256};

/// Which JSON object of a row a term comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermField {
    /// An asset's current `attributes` (`asset_terms`).
    AssetAttributes,
    /// An event's `event_attributes` (`event_terms`, as are the others).
    EventAttributes,
    /// The asset attributes an event set.
    EventAssetAttributes,
    /// The event's `principal_declared`.
    PrincipalDeclared,
    /// The SHA-256 an attachment attribute of the event records, at any depth of its
    /// `event_attributes` or `asset_attributes` (what "was this file registered?" asks for).
    AttachmentHash,
}

impl TermField {
    /// Whether the term lives in `asset_terms` rather than `event_terms`.
    pub fn of_asset(self) -> bool {
        self == TermField::AssetAttributes
    }

    fn code(self) -> u8 {
        match self {
            TermField::AssetAttributes => 1,
            TermField::EventAttributes => 2,
            TermField::EventAssetAttributes => 3,
            TermField::PrincipalDeclared => 4,
            TermField::AttachmentHash => 5,
        }
    }
}

/// The term of `key` = `value` in `field`. Lengths are framed, so no two (key, value)
/// pairs share an input.
pub fn term(field: TermField, key: &str, value: &str) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(b"attachd term\0");
    hash.update([field.code()]);
    hash.update((key.len() as u64).to_be_bytes());
    hash.update(key.as_bytes());
    hash.update(value.as_bytes());
    hash.finalize()[..16].to_vec()
}

/// The term saying `key` of `field` is set to a non-empty value (DataTrails' `=*`): hashed
/// apart from every value term, so no value can make it.
pub fn presence_term(field: TermField, key: &str) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(b"attachd presence\0");
    hash.update([field.code()]);
    hash.update((key.len() as u64).to_be_bytes());
    hash.update(key.as_bytes());
    hash.finalize()[..16].to_vec()
}

/// Whether an attribute counts as set for `=*` (and access policies' `=*`): anything but
/// null, an empty string, an empty list or an empty object.
pub fn is_set(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => false,
        serde_json::Value::String(text) => !text.is_empty(),
        serde_json::Value::Array(items) => !items.is_empty(),
        serde_json::Value::Object(entries) => !entries.is_empty(),
        _ => true,
    }
}

/// The terms of the string values of JSON object text `json`; none for anything else.
pub fn object_terms(field: TermField, json: &str) -> Vec<Vec<u8>> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(object) => map_terms(field, &object),
        Err(_) => Vec::new(),
    }
}

/// The terms of the string values of `object`, and the presence term of each key set.
pub fn map_terms(field: TermField, object: &serde_json::Map<String, serde_json::Value>) -> Vec<Vec<u8>> {
    let mut terms: Vec<Vec<u8>> = object
        .iter()
        .filter_map(|(key, value)| value.as_str().map(|value| term(field, key, value)))
        .collect();
    terms.extend(
        object
            .iter()
            .filter(|(_, value)| is_set(value))
            .map(|(key, _)| presence_term(field, key)),
    );
    // A JSON object may repeat a key; the index holds each term once.
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// The terms an asset event indexes, from its stored JSON text columns (each parsed once).
pub fn event_terms(event_attributes: &str, asset_attributes: &str, principal_declared: &str) -> Vec<Vec<u8>> {
    let (event, asset) = (parse(event_attributes), parse(asset_attributes));
    let mut terms = value_terms(TermField::EventAttributes, &event);
    terms.extend(value_terms(TermField::EventAssetAttributes, &asset));
    terms.extend(object_terms(TermField::PrincipalDeclared, principal_declared));
    terms.extend(attachment_terms(&[&event, &asset]));
    terms
}

/// The terms an asset-free event indexes: its attachments' hashes only (attribute filters
/// and counts are of asset events, and never ask for an attachment hash term).
pub fn free_event_terms(event_attributes: &str) -> Vec<Vec<u8>> {
    attachment_terms(&[&parse(event_attributes)])
}

/// Stored JSON text as a value; anything unreadable indexes nothing.
fn parse(json: &str) -> serde_json::Value {
    serde_json::from_str(json).unwrap_or(serde_json::Value::Null)
}

/// The terms of the string values of `value` when it is an object; none otherwise.
fn value_terms(field: TermField, value: &serde_json::Value) -> Vec<Vec<u8>> {
    value
        .as_object()
        .map(|object| map_terms(field, object))
        .unwrap_or_default()
}

/// The attachment hash terms of `trees`, each once.
fn attachment_terms(trees: &[&serde_json::Value]) -> Vec<Vec<u8>> {
    let mut hashes = Vec::new();
    for tree in trees {
        attachment_hashes(tree, &mut hashes);
    }
    hashes.sort_unstable();
    hashes.dedup();
    hashes.iter().map(|hash| attachment_term(hash)).collect()
}

/// The term of an attachment recording `hash` (hex, either case).
pub fn attachment_term(hash: &str) -> Vec<u8> {
    term(TermField::AttachmentHash, "", &hash.to_ascii_lowercase())
}

/// The `arc_blob_hash_value` of every attachment object in `tree`. A candidate index only:
/// the core checks each event's attachments exactly before answering.
fn attachment_hashes(tree: &serde_json::Value, found: &mut Vec<String>) {
    match tree {
        serde_json::Value::Object(object) => {
            let hash = object.get("arc_blob_hash_value").and_then(|h| h.as_str());
            if let (Some("arc_attachment"), Some(hash)) =
                (object.get("arc_attribute_type").and_then(|t| t.as_str()), hash)
            {
                found.push(hash.to_ascii_lowercase());
            }
            object.values().for_each(|value| attachment_hashes(value, found));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| attachment_hashes(item, found)),
        _ => {}
    }
}

/// Rows per INSERT, well inside SQLite's limit on bound parameters.
pub const TERMS_PER_INSERT: usize = 1000;

/// Setting recording that rows stored before terms existed have been indexed: "1" for the
/// attribute terms, "2" once events stored before attachment hash terms have them too, "3"
/// once every asset and event has its presence terms.
pub const BACKFILLED: &str = "attribute_terms_backfilled";
pub const BACKFILL_VERSION: &str = "3";
/// Rows indexed per transaction by the backfill.
pub const BACKFILL_BATCH: i64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn only_strings_are_terms() {
        let terms = object_terms(
            TermField::EventAttributes,
            r#"{"a":"1","b":1,"c":true,"d":null,"e":["1"],"f":"","g":[]}"#,
        );
        let values = terms
            .iter()
            .filter(|t| **t == term(TermField::EventAttributes, "a", "1"));
        assert_eq!(values.count(), 1);
        // Every key set has its presence term; null and empty values do not.
        for key in ["a", "b", "c", "e"] {
            assert!(terms.contains(&presence_term(TermField::EventAttributes, key)), "{key}");
        }
        for key in ["d", "f", "g"] {
            assert!(
                !terms.contains(&presence_term(TermField::EventAttributes, key)),
                "{key}"
            );
        }
        // Values of "a" and "f" (an empty string is still a value), presences of a, b, c, e.
        assert_eq!(terms.len(), 6);
        assert!(object_terms(TermField::EventAttributes, "[1]").is_empty());
    }

    #[test]
    pub(super) fn framing_and_field_keep_terms_apart() {
        let base = term(TermField::EventAttributes, "ab", "c");
        assert_ne!(base, term(TermField::EventAttributes, "a", "bc"));
        assert_ne!(base, term(TermField::EventAssetAttributes, "ab", "c"));
        assert_eq!(base.len(), 16);
    }

    #[test]
    pub(super) fn attachments_are_found_at_any_depth_in_either_case() {
        let hash = "AB".repeat(32);
        let attachment = format!(r#"{{"arc_attribute_type":"arc_attachment","arc_blob_hash_value":"{hash}"}}"#);
        let nested = format!(r#"{{"arc_attachments":[{attachment}],"note":"{hash}"}}"#);
        let terms = event_terms(&nested, "{}", "{}");
        assert!(terms.contains(&attachment_term(&hash.to_lowercase())));
        // The hash as plain text is a term of its attribute, not an attachment's.
        assert_eq!(terms.iter().filter(|t| **t == attachment_term(&hash)).count(), 1);
        assert!(!event_terms(&format!(r#"{{"note":"{hash}"}}"#), "{}", "{}").contains(&attachment_term(&hash)));
    }
}
