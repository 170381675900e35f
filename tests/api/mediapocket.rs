//! The Mediapocket-style routes (seed 003): an asset's or project's attachments with
//! `X-API-KEY`, placeholders by title, and Mediapocket's `{"error": …}` answers.

use serde_json::{json, Value};

use crate::both;
use crate::common::{attachment, bare_id, random_bytes, sha256_hex, Backend, TestApp, TestDb};

both!(
    seed_003_examples,
    lists_show_the_evidence_attached_through_datatrails,
    refusals_store_nothing,
);

/// `method path` with `X-API-KEY: key` and an optional JSON body; the status and answer.
async fn call(
    app: &TestApp,
    method: &str,
    key: Option<&str>,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = match method {
        "POST" => app.http.post(app.url(path)),
        _ => app.http.get(app.url(path)),
    };
    request = request.header("content-type", "application/json");
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await?;
    Ok((response.status().as_u16(), response.json().await?))
}

async fn seed_003_examples(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let key = Some(tenant.token.as_str());
    let asset = bare_id(
        &app.create_asset(&tenant.token, json!({"arc_display_name": "Tank 7"}), false)
            .await?["identity"],
    );
    let (_, project) = app
        .post_json(
            &tenant.token,
            "/archivist/v1/events",
            &json!({"attributes": {"arc_display_name": "Survey"}}),
        )
        .await?;
    let project = bare_id(&project["identity"]);
    for (kind, id) in [("assets", &asset), ("projects", &project)] {
        let path = format!("/api/v2/{kind}/{id}/attachments");
        assert_eq!(
            call(&app, "GET", key, &path, None).await?,
            (200, json!({"attachments": []}))
        );
        let (status, created) = call(&app, "POST", key, &path, Some(&json!({"title": "sample attachment"}))).await?;
        assert_eq!(status, 200, "{created}");
        let made = &created["asset"];
        assert_eq!(made["title"], "sample attachment");
        assert_eq!(made["parent_id"], id.as_str());
        assert_eq!(
            (&made["media_type"], &made["status"]),
            (&json!("placeholder"), &json!("open"))
        );
        assert_eq!(
            (&made["tags"], &made["project_id"], &made["md5_sum"]),
            (&json!([]), &Value::Null, &Value::Null)
        );
        assert!(made["owner"].as_str().is_some_and(|o| !o.is_empty()), "{made}");
        let (status, listed) = call(&app, "GET", key, &path, None).await?;
        assert_eq!((status, &listed["attachments"]), (200, &json!([made])));

        assert_eq!(
            call(&app, "POST", key, &path, None).await?,
            (422, json!({"error": "Missing parameter title"}))
        );
        let long = format!("Testing too long title: {}", "X".repeat(240));
        assert_eq!(
            call(&app, "POST", key, &path, Some(&json!({ "title": long }))).await?,
            (400, json!({"error": "Title is too long (maximum is 255 characters)"}))
        );
        // Bearer works as well as X-API-KEY.
        assert_eq!(app.get_json(Some(&tenant.token), &path).await?.0, 200);
    }
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(
        call(&app, "GET", key, &format!("/api/v2/assets/{unknown}/attachments"), None).await?,
        (404, json!({"error": "asset not found"}))
    );
    let body = json!({"title": "sample attachment"});
    assert_eq!(
        call(
            &app,
            "POST",
            key,
            &format!("/api/v2/projects/{unknown}/attachments"),
            Some(&body)
        )
        .await?,
        (404, json!({"error": "project not found"}))
    );
    // An asset event is not a project.
    let (_, event) = app
        .post_json(
            &tenant.token,
            &format!("/archivist/v2/assets/{asset}/events"),
            &json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {}}),
        )
        .await?;
    let event_path = format!("/api/v2/projects/{}/attachments", bare_id(&event["identity"]));
    assert_eq!(call(&app, "GET", key, &event_path, None).await?.0, 404);
    let path = format!("/api/v2/assets/{asset}/attachments");
    for bad_key in [None, Some("not-a-token")] {
        let (status, body) = call(&app, "GET", bad_key, &path, None).await?;
        assert_eq!(status, 401, "{body}");
        assert!(body["error"].is_string() && body.get("code").is_none(), "{body}");
    }
    Ok(())
}

async fn lists_show_the_evidence_attached_through_datatrails(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(5000, 9);
    let blob = app.upload(&tenant.token, "report.pdf", content.clone()).await?;
    let asset = app
        .create_asset(&tenant.token, json!({"arc_display_name": "Tank 7"}), false)
        .await?;
    let asset = bare_id(&asset["identity"]);
    let path = format!("/api/v2/assets/{asset}/attachments");
    let (_, placeholder) = call(
        &app,
        "POST",
        Some(&tenant.token),
        &path,
        Some(&json!({"title": "to come", "tags": ["qa"]})),
    )
    .await?;
    assert_eq!(placeholder["asset"]["tags"], json!(["qa"]));
    // Attached to the asset the DataTrails way, by an event's asset_attributes.
    let (status, _) = app
        .post_json(
            &tenant.token,
            &format!("/archivist/v2/assets/{asset}/events"),
            &json!({"operation": "Record", "behaviour": "RecordEvidence",
                    "event_attributes": {}, "asset_attributes": {"report": attachment(&blob, "report.pdf")}}),
        )
        .await?;
    assert_eq!(status, 200);
    let (status, listed) = call(&app, "GET", Some(&tenant.token), &path, None).await?;
    assert_eq!(status, 200);
    let attachments = listed["attachments"].as_array().cloned().unwrap_or_default();
    assert_eq!(attachments.len(), 2, "{listed}");
    // Oldest first: the blob was uploaded before the placeholder was made.
    let evidence = &attachments[0];
    assert_eq!(evidence["id"], bare_id(&blob["identity"]).as_str());
    assert_eq!(evidence["original_filename"], "report.pdf");
    assert_eq!(evidence["media_type"], "application/pdf");
    assert_eq!(evidence["sha256_sum"], sha256_hex(&content).as_str());
    assert_eq!(attachments[1], placeholder["asset"]);
    let url = evidence["download_url"].as_str().unwrap_or_default();
    let downloaded = app.http.get(url).bearer_auth(&tenant.token).send().await?;
    assert_eq!(downloaded.status(), 200, "{url}");
    assert_eq!(downloaded.bytes().await?.as_ref(), content.as_slice());
    Ok(())
}

async fn refusals_store_nothing(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let a = app.tenant().await?;
    let b = app.tenant().await?;
    let asset = bare_id(&app.create_asset(&a.token, json!({}), false).await?["identity"]);
    let path = format!("/api/v2/assets/{asset}/attachments");
    let key = Some(a.token.as_str());
    for (body, status) in [
        (json!({"title": 7}), 400),
        (json!({"title": ""}), 422),
        (json!({"title": "t", "colour": "red"}), 400),
        (json!({"title": "t", "tags": "qa"}), 400),
        (json!({"title": "t\u{0}"}), 400),
        (json!(["title"]), 400),
    ] {
        let (got, answer) = call(&app, "POST", key, &path, Some(&body)).await?;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    let not_json = app
        .http
        .post(app.url(&path))
        .header("x-api-key", &a.token)
        .header("content-type", "application/json")
        .body("{title")
        .send()
        .await?;
    assert_eq!(not_json.status(), 400);
    assert_eq!(
        call(&app, "GET", key, "/api/v2/assets/not-an-id/attachments", None)
            .await?
            .0,
        400
    );
    // Tenant B neither sees nor adds to A's asset.
    let other = Some(b.token.as_str());
    assert_eq!(
        call(&app, "GET", other, &path, None).await?,
        (404, json!({"error": "asset not found"}))
    );
    let body = json!({"title": "B's"});
    assert_eq!(call(&app, "POST", other, &path, Some(&body)).await?.0, 404);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM dialect_attachments").await?, 0);
    Ok(())
}
