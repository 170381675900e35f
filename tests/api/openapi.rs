//! The OpenAPI description: generated from the handlers, committed, served, complete, and
//! faithful to DataTrails' own paths, operation ids and response shapes.

use std::collections::BTreeSet;

use attachd::api::{route_table, spec, spec_json};
use serde_json::Value;

use crate::both;
use crate::common::{Backend, TestApp, TestDb};

both!(
    served_without_a_token,
    undocumented_methods_get_405_with_the_documented_allow
);

const COMMITTED: &str = "openapi/attachd.json";

#[test]
fn committed_spec_is_what_the_code_generates() -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let committed = std::fs::read_to_string(&path)?;
    assert!(
        committed == spec_json(),
        "{COMMITTED} is stale: run `cargo run -- openapi --output {COMMITTED}` and commit it"
    );
    Ok(())
}

/// `(METHOD, path)` with parameter names erased: the router names some parameters
/// differently from DataTrails (matchit needs one name per position).
fn shape(method: &str, path: &str) -> (String, String) {
    (method.to_uppercase(), replace_params(path, || "{}".to_string()))
}

/// `path` with each `{parameter}` replaced by `value()`, keeping any `:verb` after it.
fn replace_params(path: &str, value: impl Fn() -> String) -> String {
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| match segment.split_once('}') {
            Some((_, verb)) if segment.starts_with('{') => format!("{}{verb}", value()),
            _ => segment.to_string(),
        })
        .collect();
    segments.join("/")
}

fn spec_operations() -> anyhow::Result<Vec<(String, String, Value)>> {
    let doc = serde_json::to_value(spec())?;
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            all.push((method.clone(), path.clone(), operation.clone()));
        }
    }
    Ok(all)
}

#[test]
fn every_route_is_in_the_spec_and_every_operation_is_routed() -> anyhow::Result<()> {
    let routed: BTreeSet<_> = route_table()
        .iter()
        .map(|r| shape(r.method.as_str(), &r.path))
        .collect();
    let documented: BTreeSet<_> = spec_operations()?
        .iter()
        .map(|(method, path, _)| {
            shape(
                method,
                &path
                    .replace(":publicurl", "")
                    .replace(":regenerate-secret", "")
                    .replace(":publicinfo", "")
                    .replace(":proof", ""),
            )
        })
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the spec: {undocumented:?}"
    );
    assert!(unrouted.is_empty(), "documented operations with no route: {unrouted:?}");
    Ok(())
}

#[test]
fn operations_are_unique_and_public_routes_need_no_token() -> anyhow::Result<()> {
    let operations = spec_operations()?;
    let ids: BTreeSet<_> = operations
        .iter()
        .map(|(_, _, op)| op["operationId"].to_string())
        .collect();
    assert_eq!(ids.len(), operations.len(), "operation ids repeat");
    let public: BTreeSet<_> = route_table()
        .iter()
        .filter(|r| r.public)
        .map(|r| shape(r.method.as_str(), &r.client_path()))
        .collect();
    for (method, path, operation) in &operations {
        let anonymous = operation["security"] == serde_json::json!([{}]);
        assert_eq!(
            anonymous,
            public.contains(&shape(method, path)),
            "{method} {path}: security {}",
            operation["security"]
        );
    }
    Ok(())
}

/// DataTrails' operations, from its public swagger files: attachd keeps each one's path
/// (and so its parameter names) and operation id.
const DATATRAILS_OPERATIONS: &[(&str, &str, &str)] = &[
    (
        "get",
        "/archivist/iam/v1/applications",
        "AppRegistrations_ListAppRegistrations",
    ),
    (
        "post",
        "/archivist/iam/v1/applications",
        "AppRegistrations_CreateAppRegistration",
    ),
    (
        "get",
        "/archivist/iam/v1/applications/{uuid}",
        "AppRegistrations_GetAppRegistration",
    ),
    (
        "delete",
        "/archivist/iam/v1/applications/{uuid}",
        "AppRegistrations_DeleteAppRegistration",
    ),
    (
        "patch",
        "/archivist/iam/v1/applications/{uuid}",
        "AppRegistrations_UpdateAppRegistration",
    ),
    (
        "post",
        "/archivist/iam/v1/applications/{uuid}:regenerate-secret",
        "AppRegistrations_RegenerateAppRegistrationSecret",
    ),
    ("get", "/archivist/v2/assets", "Assets_ListAssets"),
    ("post", "/archivist/v2/assets", "Assets_CreateAsset"),
    ("get", "/archivist/v2/assets/{uuid}", "Assets_GetAsset"),
    (
        "get",
        "/archivist/v2/assets/{uuid}:publicurl",
        "Assets_GetAssetPublicURL",
    ),
    ("get", "/archivist/v2/assets/{uuid}/events", "Assets_ListEvents"),
    ("post", "/archivist/v2/assets/{uuid}/events", "Events_Create"),
    (
        "get",
        "/archivist/v2/assets/{asset_uuid}/events/{uuid}",
        "Assets_GetEvent",
    ),
    (
        "get",
        "/archivist/v2/assets/{asset_uuid}/events/{uuid}:publicurl",
        "Assets_GetEventPublicURL",
    ),
    ("post", "/archivist/v1/events", "Events_CreateEvent"),
    ("get", "/archivist/v1/events/{uuid}", "Events_GetEvent"),
    ("post", "/archivist/v1/blobs", "Blobs_Upload"),
    ("get", "/archivist/v1/blobs/{uuid}", "Blobs_Download"),
    ("get", "/archivist/v1/blobs/{uuid}/info", "Blobs_Info"),
    (
        "get",
        "/archivist/v2/publicassets/{uuid}",
        "PublicAssets_GetPublicAsset",
    ),
    (
        "get",
        "/archivist/v2/publicassets/{uuid}/events",
        "PublicAssets_ListPublicEvents",
    ),
    (
        "get",
        "/archivist/v2/publicassets/{asset_uuid}/events/{uuid}",
        "PublicAssets_GetPublicEvent",
    ),
    (
        "get",
        "/archivist/v2/attachments/assets/{asset_uuid}/{uuid}",
        "Attachments_Asset_Download",
    ),
    (
        "get",
        "/archivist/v2/attachments/assets/{asset_uuid}/{uuid}/info",
        "Attachments_Asset_Info",
    ),
    (
        "get",
        "/archivist/v2/attachments/assets/{asset_uuid}/events/{event_uuid}/{uuid}",
        "Attachments_Event_Download",
    ),
    (
        "get",
        "/archivist/v2/attachments/assets/{asset_uuid}/events/{event_uuid}/{uuid}/info",
        "Attachments_Event_Info",
    ),
    (
        "get",
        "/archivist/v2/attachments/publicassets/{asset_uuid}/{uuid}",
        "Attachments_PublicAsset_Download",
    ),
    (
        "get",
        "/archivist/v2/attachments/publicassets/{asset_uuid}/{uuid}/info",
        "Attachments_PublicAsset_Info",
    ),
    (
        "get",
        "/archivist/v2/attachments/publicassets/{asset_uuid}/events/{event_uuid}/{uuid}",
        "Attachments_PublicEvent_Download",
    ),
    (
        "get",
        "/archivist/v2/attachments/publicassets/{asset_uuid}/events/{event_uuid}/{uuid}/info",
        "Attachments_PublicEvent_Info",
    ),
];

/// DataTrails' response definitions and their properties. attachd leaves out only
/// `merklelog_entry`/`merklelog_commit` (it keeps no ledger) and `access_policy`.
const DATATRAILS_SHAPES: &[(&str, &[&str])] = &[
    (
        "v1Application",
        &[
            "identity",
            "display_name",
            "client_id",
            "tenant_id",
            "credentials",
            "custom_claims",
            "roles",
        ],
    ),
    ("v1Credential", &["secret", "valid_from", "valid_until"]),
    ("v1ListAppRegistrationsResponse", &["applications", "next_page_token"]),
    (
        "v2AssetResponse",
        &[
            "identity",
            "behaviours",
            "attributes",
            "confirmation_status",
            "tracked",
            "owner",
            "at_time",
            "proof_mechanism",
            "chain_id",
            "public",
            "tenant_identity",
        ],
    ),
    (
        "v2EventResponse",
        &[
            "identity",
            "asset_identity",
            "event_attributes",
            "asset_attributes",
            "operation",
            "behaviour",
            "timestamp_declared",
            "timestamp_accepted",
            "timestamp_committed",
            "principal_declared",
            "principal_accepted",
            "confirmation_status",
            "transaction_id",
            "block_number",
            "transaction_index",
            "from",
            "tenant_identity",
            "merklelog_entry",
        ],
    ),
    ("v2ListAssetsResponse", &["assets", "next_page_token"]),
    ("v2ListEventsResponse", &["events", "next_page_token"]),
    (
        "v1BlobsResponse",
        &[
            "identity",
            "issuer",
            "hash",
            "mime_type",
            "timestamp_accepted",
            "size",
            "scanned_status",
            "scanned_timestamp",
            "scanned_bad_reason",
            "subject",
            "tenantid",
        ],
    ),
    (
        "v1EventResponse",
        &[
            "identity",
            "attributes",
            "trails",
            "origin_tenant",
            "created_by",
            "created_at",
            "confirmation_status",
            "merklelog_commit",
        ],
    ),
];

#[test]
fn datatrails_paths_operation_ids_and_shapes_are_kept() -> anyhow::Result<()> {
    let doc = serde_json::to_value(spec())?;
    for (method, path, id) in DATATRAILS_OPERATIONS {
        let operation = &doc["paths"][path][method];
        assert_eq!(operation["operationId"], *id, "{method} {path}");
    }
    // attachd's own additions to a DataTrails shape.
    let extensions = ["tampered_timestamp", "scanned_reason"];
    for (name, properties) in DATATRAILS_SHAPES {
        let schema = &doc["components"]["schemas"][name]["properties"];
        let ours: BTreeSet<&str> = schema
            .as_object()
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let theirs: BTreeSet<&str> = properties.iter().copied().collect();
        let ours_core: BTreeSet<&str> = ours.iter().copied().filter(|p| !extensions.contains(p)).collect();
        assert_eq!(ours_core, theirs, "{name}");
    }
    Ok(())
}

async fn served_without_a_token(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let response = app.http.get(app.url("/openapi.json")).send().await?;
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served: Value = response.json().await?;
    assert_eq!(served, serde_json::from_str::<Value>(&spec_json())?);
    assert_eq!(served["openapi"], "3.1.0");
    Ok(())
}

async fn undocumented_methods_get_405_with_the_documented_allow(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let doc = serde_json::to_value(spec())?;
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let mut documented: BTreeSet<String> = item
            .as_object()
            .into_iter()
            .flatten()
            .map(|(method, _)| method.to_uppercase())
            .collect();
        if documented.contains("GET") {
            documented.insert("HEAD".into());
        }
        let filled = replace_params(path, || uuid::Uuid::new_v4().to_string());
        for method in ["OPTIONS", "PUT"] {
            let response = app
                .http
                .request(method.parse()?, app.url(&filled))
                .bearer_auth(&tenant.token)
                .send()
                .await?;
            assert_eq!(response.status(), 405, "{method} {path}");
            let allow: BTreeSet<String> = response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .split(',')
                .map(|m| m.trim().to_string())
                .collect();
            assert_eq!(allow, documented, "{method} {path}");
        }
    }
    Ok(())
}
