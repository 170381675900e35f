//! Attachment attributes: dicts with `"arc_attribute_type": "arc_attachment"` found at any
//! depth of an attribute tree (also inside lists such as `arc_attachments`).

use serde_json::Value;

use crate::ids::BlobId;

/// One attribute that references a blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobReference {
    /// Where it was found, e.g. `event_attributes.arc_attachments[0]`.
    pub attribute: String,
    pub blob: BlobId,
    /// Lower-case hex SHA-256 the referencing attribute recorded.
    pub hash: String,
    pub file_name: Option<String>,
}

/// Every attachment attribute in `tree`, or a message naming the first malformed one.
pub fn find_references(root: &str, tree: &Value) -> Result<Vec<BlobReference>, String> {
    let mut found = Vec::new();
    walk(root, tree, &mut found)?;
    Ok(found)
}

fn walk(path: &str, value: &Value, found: &mut Vec<BlobReference>) -> Result<(), String> {
    match value {
        Value::Object(map) if map.get("arc_attribute_type").and_then(Value::as_str) == Some("arc_attachment") => {
            found.push(parse_reference(path, map)?);
        }
        // A blob identity under any other type (a typo, another case, a number, none) would be
        // stored as unchecked external content: refuse it instead.
        Value::Object(map) if map.contains_key("arc_blob_identity") => {
            return Err(format!(
                "attachment attribute {path}: arc_blob_identity needs \"arc_attribute_type\": \"arc_attachment\""
            ));
        }
        Value::Object(map) => {
            for (key, child) in map {
                walk(&join(path, key), child, found)?;
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(&format!("{path}[{i}]"), child, found)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Whether `hash` is a SHA-256 in hex (either case).
pub fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_reference(path: &str, map: &serde_json::Map<String, Value>) -> Result<BlobReference, String> {
    let text = |key: &str| map.get(key).and_then(Value::as_str);
    let blob = text("arc_blob_identity")
        .and_then(BlobId::parse_identity)
        .ok_or_else(|| format!("attachment attribute {path}: arc_blob_identity must be \"blobs/<uuid>\""))?;
    match text("arc_blob_hash_alg") {
        Some(alg) if alg.eq_ignore_ascii_case("SHA256") => {}
        _ => {
            return Err(format!(
                "attachment attribute {path}: arc_blob_hash_alg must be \"SHA256\""
            ))
        }
    }
    let hash = text("arc_blob_hash_value")
        .filter(|h| is_sha256_hex(h))
        .ok_or_else(|| format!("attachment attribute {path}: arc_blob_hash_value must be 64 hex digits"))?
        .to_ascii_lowercase();
    Ok(BlobReference {
        attribute: path.to_string(),
        blob,
        hash,
        file_name: text("arc_file_name").map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Any JSON, with attachment-looking dicts (well or badly formed) mixed in.
    fn any_tree() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,20}".prop_map(Value::String),
            (
                any::<bool>(),
                ".{0,40}",
                "[0-9a-fA-F]{0,70}",
                prop_oneof![Just("SHA256"), Just("sha256"), Just("MD5")]
            )
                .prop_map(|(typed, identity, hash, alg)| {
                    let mut map = json!({"arc_blob_identity": identity, "arc_blob_hash_value": hash,
                                          "arc_blob_hash_alg": alg});
                    if typed {
                        map["arc_attribute_type"] = json!("arc_attachment");
                    }
                    map
                }),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,10}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever the tree, the walk answers (never panics), and what it finds is well formed.
        #[test]
        fn any_attribute_tree_is_judged(tree in any_tree()) {
            match find_references("attributes", &tree) {
                Ok(found) => for reference in found {
                    prop_assert_eq!(reference.hash.len(), 64);
                    prop_assert!(reference.attribute.starts_with("attributes"));
                },
                Err(message) => prop_assert!(message.contains("attachment attribute attributes")),
            }
        }
    }

    #[test]
    fn finds_named_and_listed_attachments() -> Result<(), String> {
        let a = BlobId::new();
        let b = BlobId::new();
        let hash = "ab".repeat(32);
        let tree = json!({
            "arc_description": "x",
            "cat-id": {"arc_attribute_type": "arc_attachment", "arc_blob_identity": a.identity(),
                       "arc_blob_hash_alg": "SHA256", "arc_blob_hash_value": hash.to_uppercase(),
                       "arc_file_name": "cat.jpg"},
            "arc_attachments": [{"arc_attribute_type": "arc_attachment", "arc_blob_identity": b.identity(),
                                 "arc_blob_hash_alg": "sha256", "arc_blob_hash_value": hash}],
            // External content: integrity-protected, nothing to download.
            "external": {"arc_blob_hash_value": hash, "arc_blob_hash_alg": "SHA256", "arc_file_name": "e.pdf"}
        });
        let found = find_references("event_attributes", &tree)?;
        assert_eq!(found.len(), 2);
        assert!(found
            .iter()
            .any(|r| r.blob == a && r.attribute == "event_attributes.cat-id" && r.hash == hash));
        assert!(found
            .iter()
            .any(|r| r.blob == b && r.attribute == "event_attributes.arc_attachments[0]"));
        Ok(())
    }

    #[test]
    fn a_blob_identity_of_any_other_type_is_refused() {
        let hash = "ab".repeat(32);
        for kind in [
            json!(1),
            json!(null),
            json!(["arc_attachment"]),
            json!("ARC_ATTACHMENT"),
            json!("arc_attachment "),
        ] {
            let tree = json!({"doc": {"arc_attribute_type": kind, "arc_blob_identity": BlobId::new().identity(),
                                      "arc_blob_hash_alg": "SHA256", "arc_blob_hash_value": hash}});
            let err = find_references("attributes", &tree).err().unwrap_or_default();
            assert!(
                err.contains("attributes.doc") && err.contains("arc_attribute_type"),
                "{kind}: {err}"
            );
        }
        let untyped = json!({"doc": {"arc_blob_identity": BlobId::new().identity(), "arc_blob_hash_value": hash}});
        assert!(find_references("attributes", &untyped).is_err());
    }

    #[test]
    fn malformed_references_name_the_attribute() {
        let tree = json!({"doc": {"arc_attribute_type": "arc_attachment", "arc_blob_identity": "blobs/nope",
                                  "arc_blob_hash_alg": "SHA256", "arc_blob_hash_value": "00"}});
        let err = find_references("attributes", &tree).err().unwrap_or_default();
        assert!(err.contains("attributes.doc"), "{err}");
    }
}
