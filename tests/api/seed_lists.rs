//! Lists of assets and events as the seed documents page and filter them, on every store.

use serde_json::{json, Value};

use crate::common::{bare_id, Backend, TestApp, TestDb};
use crate::stores;

stores!(
    paging_through_120_events,
    asset_lists_filter_and_count,
    event_lists_filter,
);

async fn paging_through_120_events(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let asset_id = bare_id(&asset["identity"]);
    for i in 0..120 {
        let body =
            json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"n": i.to_string()}});
        let (status, _) = app
            .post_json(&tenant.token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
            .await?;
        assert_eq!(status, 200);
    }
    for list in [
        format!("/archivist/v2/assets/{asset_id}/events"),
        "/archivist/v2/assets/-/events".to_string(),
    ] {
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut token = String::new();
        loop {
            let response = app
                .http
                .get(app.url(&format!("{list}?page_size=50&page_token={token}")))
                .bearer_auth(&tenant.token)
                .header("x-request-total-count", "true")
                .send()
                .await?;
            // And the asset's creation event, the oldest.
            assert_eq!(response.headers()["x-total-count"], "121");
            let page: Value = response.json().await?;
            let events = page["events"].as_array().cloned().unwrap_or_default();
            sizes.push(events.len());
            seen.extend(
                events
                    .iter()
                    .map(|e| e["event_attributes"]["n"].as_str().unwrap_or_default().to_string()),
            );
            token = page["next_page_token"].as_str().unwrap_or_default().to_string();
            if token.is_empty() {
                break;
            }
        }
        assert_eq!(sizes, [50, 50, 21], "{list}");
        let mut expected: Vec<String> = (0..120).rev().map(|i: i32| i.to_string()).collect();
        expected.push(String::new());
        assert_eq!(seen, expected, "newest first, each once");
    }
    let (status, _) = app
        .get_json(Some(&tenant.token), "/archivist/v2/assets/-/events?page_token=garbage")
        .await?;
    assert_eq!(status, 400);
    Ok(())
}

async fn asset_lists_filter_and_count(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    for (kind, name) in [("Truck", "a"), ("Truck", "b"), ("Crate", "c")] {
        app.create_asset(
            &tenant.token,
            json!({"arc_display_type": kind, "arc_display_name": name}),
            false,
        )
        .await?;
    }
    let response = app
        .http
        .get(app.url("/archivist/v2/assets?attributes.arc_display_type=Truck"))
        .bearer_auth(&tenant.token)
        .header("x-request-total-count", "true")
        .send()
        .await?;
    assert_eq!(response.headers()["x-total-count"], "2");
    let list: Value = response.json().await?;
    let names: Vec<&str> = list["assets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["attributes"]["arc_display_name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["b", "a"]);
    let (_, all) = app
        .get_json(Some(&tenant.token), "/archivist/v2/assets?page_size=2")
        .await?;
    assert_eq!(all["assets"].as_array().map(Vec::len), Some(2));
    assert!(all["next_page_token"].as_str().is_some_and(|t| !t.is_empty()));
    let (status, _) = app
        .get_json(Some(&tenant.token), "/archivist/v2/assets?page_size=0")
        .await?;
    assert_eq!(status, 400);
    Ok(())
}

async fn event_lists_filter(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let asset_id = bare_id(&asset["identity"]);
    for (kind, who) in [("inspection", "alice"), ("repair", "bob"), ("inspection", "bob")] {
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
            "event_attributes": {"kind": kind}, "asset_attributes": {"last": kind},
            "principal_declared": {"issuer": "idp", "subject": who, "display_name": who, "email": ""}});
        let (status, _) = app
            .post_json(&tenant.token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
            .await?;
        assert_eq!(status, 200);
    }
    let subject = &tenant.credentials.client_id;
    for (query, expected) in [
        ("event_attributes.kind=inspection".to_string(), 2),
        (
            "event_attributes.kind=inspection&principal_declared.subject=bob".to_string(),
            1,
        ),
        ("asset_attributes.last=repair".to_string(), 1),
        // The three, and the asset's creation.
        (format!("principal_accepted.subject={subject}"), 4),
        ("principal_accepted.subject=someone-else".to_string(), 0),
    ] {
        for list in [
            format!("/archivist/v2/assets/{asset_id}/events"),
            "/archivist/v2/assets/-/events".to_string(),
        ] {
            let response = app
                .http
                .get(app.url(&format!("{list}?{query}")))
                .bearer_auth(&tenant.token)
                .header("x-request-total-count", "true")
                .send()
                .await?;
            assert_eq!(
                response.headers()["x-total-count"],
                expected.to_string().as_str(),
                "{query}"
            );
            let page: Value = response.json().await?;
            assert_eq!(
                page["events"].as_array().map(Vec::len),
                Some(expected),
                "{list}?{query}"
            );
        }
    }
    Ok(())
}
