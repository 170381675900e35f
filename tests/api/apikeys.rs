//! Long-lived Mediapocket API keys: made by an administrator (API or CLI), shown once, used
//! in `X-API-KEY`, revoked at once; wrong keys are 401 and count against the address's limit.

use serde_json::{json, Value};

use crate::both;
use crate::common::{bare_id, default_settings, Backend, TestApp, TestDb};

both!(keys_are_made_used_and_revoked, wrong_keys_are_rate_limited);

async fn keys_are_made_used_and_revoked(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let other = app.tenant().await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let foreign = app.create_asset(&other.token, json!({}), false).await?;
    let attachments = |asset: &Value| format!("/api/v2/assets/{}/attachments", bare_id(&asset["identity"]));
    let with_key = |path: String, key: &str| app.http.get(app.url(&path)).header("x-api-key", key).send();

    let (status, made) = app
        .post_json(&tenant.token, "/archivist/iam/v1/apikeys", &json!({"name": "scanner"}))
        .await?;
    assert_eq!(status, 200, "{made}");
    let key = made["key"].as_str().unwrap_or_default().to_string();
    assert!(key.starts_with("mp_") && key.len() > 40, "{made}");
    assert_eq!(made["name"], "scanner");
    // Stored as a hash only.
    let stored = db
        .scalar(&format!("SELECT COUNT(*) FROM api_keys WHERE key_hash = '{key}'"))
        .await?;
    assert_eq!(stored, 0);

    let (_, listed) = app.get_json(Some(&tenant.token), "/archivist/iam/v1/apikeys").await?;
    let keys = listed["apikeys"].as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].get("key").is_none(), "{listed}");
    assert!(key.starts_with(keys[0]["prefix"].as_str().unwrap_or("?")));

    assert_eq!(with_key(attachments(&asset), &key).await?.status(), 200);
    assert_eq!(
        with_key(attachments(&foreign), &key).await?.status(),
        404,
        "another tenant's asset"
    );
    let response = with_key(attachments(&asset), "mp_not-a-key").await?;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await?;
    assert!(body["error"].is_string(), "Mediapocket's error shape: {body}");

    // The CLI makes keys too, on the same database.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args([
            "apikey",
            "create",
            "--tenant",
            &tenant.credentials.tenant,
            "--name",
            "cli",
        ])
        .env("ATTACHD_DATABASE_URL", &db.url)
        .output()
        .await?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout)?;
    let cli_key = printed["key"].as_str().unwrap_or_default();
    assert_eq!(with_key(attachments(&asset), cli_key).await?.status(), 200);

    // Revoked: refused at once.
    let path = format!("/archivist/iam/v1/apikeys/{}", bare_id(&made["identity"]));
    let response = app
        .http
        .delete(app.url(&path))
        .bearer_auth(&tenant.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(with_key(attachments(&asset), &key).await?.status(), 401);
    assert_eq!(with_key(attachments(&asset), cli_key).await?.status(), 200);
    // Another tenant cannot revoke it.
    let path = format!("/archivist/iam/v1/apikeys/{}", bare_id(&printed["identity"]));
    let response = app.http.delete(app.url(&path)).bearer_auth(&other.token).send().await?;
    assert_eq!(response.status(), 404);
    Ok(())
}

async fn wrong_keys_are_rate_limited(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.rate_limit_per_second = Some(1);
    settings.rate_limit_burst = Some(3);
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let path = format!("/api/v2/assets/{}/attachments", bare_id(&asset["identity"]));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = app
            .http
            .get(app.url(&path))
            .header("x-api-key", "mp_guess")
            .send()
            .await?;
        statuses.push(response.status().as_u16());
    }
    assert!(statuses.starts_with(&[401]) && statuses.contains(&429), "{statuses:?}");
    Ok(())
}
