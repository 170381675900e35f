//! Tenant isolation, proven over the router's own route table: tenant B's token against
//! tenant A's resources never gets a 2xx, and no public route serves a non-public asset.

use attachd::api::route_table;
use axum::http::Method;
use serde_json::{json, Value};

use crate::both;
use crate::common::resources::Resources;
use crate::common::{Backend, TestApp, TestDb};

both!(
    other_tenants_get_nothing_on_any_route,
    public_routes_never_serve_private_assets
);

/// Tenant A's resources (private), named as the route table's parameters refer to them.
async fn tenant_a(app: &TestApp, token: &str) -> anyhow::Result<Resources> {
    Resources::create(app, token, b"tenant A's evidence".to_vec(), false).await
}

/// `path` with every parameter replaced by the A resource it names.
fn fill(resources: &Resources, path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut filled = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let before = if i > 0 { segments[i - 1] } else { "" };
        let value: &str = match *segment {
            "{asset}" => &resources.asset,
            "{project}" => &resources.free_event,
            "{workspace}" => &resources.workspace,
            "{document}" => &resources.document,
            "{attachment}" => &resources.navarik,
            "{event}" if path.contains("/assets/") => &resources.event,
            "{event}" => &resources.free_event,
            "{uuid}" => match before {
                "assets" | "publicassets" => &resources.asset,
                "applications" => &resources.app,
                "events" => &resources.free_event,
                // blobs/{uuid} and the attachment routes' last parameter
                _ => &resources.blob,
            },
            other => other,
        };
        filled.push(value);
    }
    filled.join("/")
}

fn body_for(path: &str) -> Value {
    if path.contains("applications") {
        json!({"display_name": "taken over"})
    } else {
        json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {}, "attributes": {}})
    }
}

async fn send(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut request = app.http.request(method.clone(), app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request = if path == "/archivist/v1/blobs" || (*method == Method::POST && path.starts_with("/v2/workspaces/")) {
        let part = reqwest::multipart::Part::bytes(b"B's own".to_vec()).file_name("b.txt");
        request.multipart(reqwest::multipart::Form::new().part("file", part))
    } else if *method == Method::POST && path.ends_with("/token") {
        request.form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "b"),
            ("client_secret", "b"),
        ])
    } else if path.starts_with("/api/v2/") {
        request.json(&json!({"title": "B's"}))
    } else if *method == Method::POST || *method == Method::PATCH {
        request.json(&body_for(path))
    } else {
        request
    };
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

async fn other_tenants_get_nothing_on_any_route(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let a = app.tenant().await?;
    let b = app.tenant().await?;
    let resources = tenant_a(&app, &a.token).await?;
    let table = route_table();
    assert!(table.len() >= 30, "the route table has {} routes", table.len());
    assert!(table.iter().any(|e| e.verb.is_some()), "the verbs are walked too");
    for entry in &table {
        let path = format!("{}{}", fill(&resources, &entry.path), entry.verb.unwrap_or_default());
        let (status, body) = send(&app, &entry.method, &path, Some(&b.token)).await?;
        assert!(status != 500, "{} {path}: {status} {body}", entry.method);
        // A Navarik document is named by the caller's ids: B lists and attaches in its own.
        let own_document = entry.path.starts_with("/v2/workspaces/") && entry.path.ends_with("/attachments");
        if entry.path.contains('{') && !own_document {
            assert!(
                !(200..300).contains(&status),
                "B got {status} from {} {path}: {body}",
                entry.method
            );
        }
        for id in resources.ids() {
            assert!(!body.contains(id), "{} {path} revealed {id}: {body}", entry.method);
        }
    }
    // A's things are as they were.
    let (status, asset) = app
        .get_json(Some(&a.token), &format!("/archivist/v2/assets/{}", resources.asset))
        .await?;
    assert_eq!(status, 200);
    assert!(asset["attributes"]["doc"].is_object());
    let (status, registration) = app
        .get_json(
            Some(&a.token),
            &format!("/archivist/iam/v1/applications/{}", resources.app),
        )
        .await?;
    assert_eq!((status, registration["display_name"].as_str()), (200, Some("plain")));
    let (_, events) = app.get_json(Some(&a.token), "/archivist/v2/assets/-/events").await?;
    // The event, and the asset's creation event.
    assert_eq!(events["events"].as_array().map(Vec::len), Some(2));
    let free = format!("/archivist/v1/events/{}", resources.free_event);
    assert_eq!(app.get_json(Some(&a.token), &free).await?.0, 200);
    let document = format!(
        "/v2/workspaces/{}/documents/{}/attachments",
        resources.workspace, resources.document
    );
    let (_, listed) = app.get_json(Some(&a.token), &document).await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["body"]["id"], resources.navarik.as_str());
    let placeholders = format!("/api/v2/assets/{}/attachments", resources.asset);
    let (_, listed) = app.get_json(Some(&a.token), &placeholders).await?;
    let titles: Vec<&str> = listed["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["title"].as_str())
        .collect();
    assert_eq!(titles, ["evidence.bin", "to come"], "{listed}");
    Ok(())
}

async fn public_routes_never_serve_private_assets(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let a = app.tenant().await?;
    let resources = tenant_a(&app, &a.token).await?;
    let public: Vec<_> = route_table()
        .into_iter()
        .filter(|e| e.public && e.path.contains("publicassets"))
        .collect();
    assert!(public.len() >= 7, "{public:?}");
    for entry in public {
        let path = fill(&resources, &entry.path);
        // Not even the owner's token makes a private asset public.
        for token in [None, Some(a.token.as_str())] {
            let (status, body) = send(&app, &entry.method, &path, token).await?;
            assert_eq!(status, 404, "{path}: {body}");
        }
    }
    Ok(())
}
