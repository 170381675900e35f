//! The leaf of an event, as veracity recomputes it from the event JSON.
//!
//! An asset event's leaf is DataTrails' v3 event hash (go-datatrails-simplehash
//! `schemav3`) with the idtimestamp: SHA-256(0x00 ‖ u64be(idtimestamp) ‖ bencode(v3
//! fields)). An asset-free event's is DataTrails' `eventsv1` leaf: SHA-256(0x00 ‖ extra ‖
//! u64be(idtimestamp) ‖ bencoded string of the JSON of its attributes and trails), where
//! the 24 extra bytes are 0x01, the tenant's uuid and zeros (they are in the massif index too).
//!
//! Strings, objects and lists hash exactly as DataTrails hashes them. DataTrails stores no
//! other JSON values; attachd hashes them so none can pass for another value:
//! `true`/`false` as `i1e`/`i0e` (what DataTrails' bencoder writes), `null` as `z`, and a
//! number as `n<length>:<its JSON text>`. A bencoded string starts with a digit, an
//! integer with `i`, a list with `l` and a dictionary with `d`, so none collides.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::mmr::Hash;

/// The event fields the v3 hash covers; absent text fields hash as "".
const TEXT_FIELDS: [&str; 7] = [
    "identity",
    "operation",
    "behaviour",
    "timestamp_declared",
    "timestamp_accepted",
    "timestamp_committed",
    "tenant_identity",
];
/// Object fields; absent ones are left out.
const OBJECT_FIELDS: [&str; 4] = [
    "event_attributes",
    "asset_attributes",
    "principal_accepted",
    "principal_declared",
];

/// Why an event has no v3 leaf.
#[derive(Debug, thiserror::Error)]
pub enum LeafError {
    /// The event is not a JSON object.
    #[error("the event is not a JSON object")]
    NotAnObject,
    /// A field that must be a string is not.
    #[error("{0} must be a string")]
    NotText(&'static str),
    /// A field that must be an object is not.
    #[error("{0} must be an object")]
    NotObject(&'static str),
}

/// The leaf of `event` (as the API shows it) committed at `idtimestamp`.
pub fn leaf_hash(idtimestamp: u64, event: &Value) -> Result<Hash, LeafError> {
    let mut hash = Sha256::new();
    hash.update([0u8]);
    hash.update(idtimestamp.to_be_bytes());
    hash.update(v3_bencode(event)?);
    Ok(hash.finalize().into())
}

/// The bencoded v3 fields of `event`.
pub fn v3_bencode(event: &Value) -> Result<Vec<u8>, LeafError> {
    let event = event.as_object().ok_or(LeafError::NotAnObject)?;
    let mut fields: Vec<(&str, Value)> = Vec::new();
    for name in TEXT_FIELDS {
        let text = match event.get(name) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text.clone(),
            Some(_) => return Err(LeafError::NotText(name)),
        };
        // A public asset's events hash as the asset's own.
        let text = match (name, text.strip_prefix("public")) {
            ("identity", Some(rest)) => rest.to_string(),
            _ => text,
        };
        fields.push((name, Value::String(text)));
    }
    for name in OBJECT_FIELDS {
        match event.get(name) {
            None | Some(Value::Null) => {}
            Some(value @ Value::Object(_)) => fields.push((name, value.clone())),
            Some(_) => return Err(LeafError::NotObject(name)),
        }
    }
    fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = vec![b'd'];
    for (name, value) in &fields {
        bencode_text(name, &mut out);
        bencode(value, &mut out);
    }
    out.push(b'e');
    Ok(out)
}

/// A bencoded dictionary of text values, keys in byte order.
pub fn bencode_text_dict(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut fields = fields.to_vec();
    fields.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = vec![b'd'];
    for (name, value) in fields {
        bencode_text(name, &mut out);
        bencode_text(value, &mut out);
    }
    out.push(b'e');
    out
}

/// The index extra bytes of an asset-free event of `tenant`: the eventsv1 app domain and
/// the tenant's uuid.
pub fn eventsv1_extra(tenant: uuid::Uuid) -> [u8; 24] {
    let mut extra = [0u8; 24];
    extra[0] = 1;
    extra[1..17].copy_from_slice(tenant.as_bytes());
    extra
}

/// The leaf of an asset-free event of `tenant` with `attributes` and `trails`.
pub fn eventsv1_leaf(idtimestamp: u64, tenant: uuid::Uuid, attributes: &Value, trails: &Value) -> Hash {
    let mut json = Vec::new();
    json.extend_from_slice(b"{\"attributes\":");
    go_json(attributes, &mut json);
    json.extend_from_slice(b",\"trails\":");
    go_json(trails, &mut json);
    json.push(b'}');
    let mut hash = Sha256::new();
    hash.update([0u8]);
    hash.update(eventsv1_extra(tenant));
    hash.update(idtimestamp.to_be_bytes());
    hash.update(json.len().to_string());
    hash.update(b":");
    hash.update(&json);
    hash.finalize().into()
}

/// `value` as Go's `json.Marshal` writes it: compact, object keys sorted, and `<`, `>`,
/// `&`, U+2028 and U+2029 escaped.
fn go_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (n, (key, value)) in entries.into_iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                go_json_string(key, out);
                out.push(b':');
                go_json(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                go_json(item, out);
            }
            out.push(b']');
        }
        Value::String(text) => go_json_string(text, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn go_json_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

fn bencode_text(text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(text.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(text.as_bytes());
}

/// Bencodes `value`: dictionary keys in byte order, and the encodings above for values
/// bencode has no form for.
fn bencode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::String(text) => bencode_text(text, out),
        Value::Bool(flag) => out.extend_from_slice(if *flag { b"i1e" } else { b"i0e" }),
        Value::Null => out.push(b'z'),
        Value::Number(number) => {
            out.push(b'n');
            bencode_text(&number.to_string(), out);
        }
        Value::Array(items) => {
            out.push(b'l');
            items.iter().for_each(|item| bencode(item, out));
            out.push(b'e');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'd');
            for (key, value) in entries {
                bencode_text(key, out);
                bencode(value, out);
            }
            out.push(b'e');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> Value {
        serde_json::from_str(text).expect("test event")
    }

    /// veracity's assetsV2Event: the first leaf of a size-1 log, so its published root.
    #[test]
    fn veracity_assets_v2_event() -> anyhow::Result<()> {
        let event = event(include_str!("testdata/veracity_assets_v2_event.json"));
        let leaf = leaf_hash(0x946fe35fc6017900, &event)?;
        assert_eq!(
            hex::encode(leaf),
            "61e7012a7f14b5467a8654e7ae75c894abcd3992ae30221e98d74d03cc0eca39"
        );
        Ok(())
    }

    /// veracity's KnownGoodPublicEvent (leaf 663 of DataTrails' public tenant): lists of
    /// objects, byte-order keys, empty principals and a public identity.
    #[test]
    fn veracity_known_good_public_event() -> anyhow::Result<()> {
        let mut event = event(include_str!("testdata/veracity_known_good_public_event.json"));
        let leaf = leaf_hash(0x8fa97ef269039b00, &event)?;
        assert_eq!(
            hex::encode(leaf),
            "bfc511ab1b880b24bb2358e07472e3383cdeddfbc4de9d66d652197dfb2b6633"
        );
        // veracity's KnownTamperedPublicEvent: one key renamed.
        let attributes = event["event_attributes"].as_object_mut().expect("attributes");
        let policy = attributes.remove("arc_access_policy_always_read").expect("policy");
        attributes.insert("rc_access_policy_always_read".into(), policy);
        assert_eq!(
            hex::encode(leaf_hash(0x8fa97ef269039b00, &event)?),
            "3a26f568fdf81842392271c0442d55ac1e2656a3e557a71a0ad58dd37d26c505"
        );
        Ok(())
    }

    /// veracity's eventsV1Event.
    #[test]
    fn veracity_events_v1_event() -> anyhow::Result<()> {
        let tenant: uuid::Uuid = "112758ce-a8cb-4924-8df8-fcba1e31f8b0".parse()?;
        let leaf = eventsv1_leaf(
            0x9470003611017900,
            tenant,
            &serde_json::json!({"foo": "bar"}),
            &serde_json::json!([]),
        );
        assert_eq!(
            hex::encode(leaf),
            "d7bf6bd2860a2838e24788a40976a69f561faf87ca732597ae767371191090fa"
        );
        let mut json = Vec::new();
        go_json(
            &serde_json::json!({"b": "<&>\u{2028}\n\u{1}", "a": [1, true, null]}),
            &mut json,
        );
        assert_eq!(
            String::from_utf8(json)?,
            r#"{"a":[1,true,null],"b":"\u003c\u0026\u003e\u2028\n\u0001"}"#
        );
        Ok(())
    }

    #[test]
    fn values_datatrails_never_stores_cannot_pass_for_others() -> anyhow::Result<()> {
        let leaf = |attributes: Value| leaf_hash(1, &serde_json::json!({"event_attributes": attributes}));
        let values = [
            serde_json::json!("1"),
            serde_json::json!(1),
            serde_json::json!(1.0),
            serde_json::json!(true),
            serde_json::json!(null),
            serde_json::json!("z"),
            serde_json::json!(["1"]),
        ];
        let mut seen = std::collections::HashSet::new();
        for value in values {
            assert!(seen.insert(leaf(serde_json::json!({"k": value.clone()}))?), "{value}");
        }
        assert!(seen.insert(leaf(serde_json::json!({}))?), "absent differs from null");
        Ok(())
    }
}
