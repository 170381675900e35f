//! App registrations, roles, revocation and tenant quotas.

use serde_json::{json, Value};

use crate::both;
use crate::common::{bare_id, default_settings, random_bytes, Backend, TestApp, TestDb};
use crate::tokens::token_claims;
use attachd::tenants::TenantCredentials;

both!(
    app_registrations_lifecycle,
    plain_apps_may_not_manage_registrations,
    quotas_answer_402_and_store_nothing
);

const APPS: &str = "/archivist/iam/v1/applications";

async fn create_app(app: &TestApp, token: &str, body: Value) -> anyhow::Result<Value> {
    let (status, created) = app.post_json(token, APPS, &body).await?;
    anyhow::ensure!(status == 200, "create answered {status}: {created}");
    Ok(created)
}

fn credentials_of(tenant: &str, created: &Value) -> TenantCredentials {
    TenantCredentials {
        tenant: tenant.to_string(),
        client_id: created["client_id"].as_str().unwrap_or_default().to_string(),
        client_secret: created["credentials"][0]["secret"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

async fn token_status(app: &TestApp, credentials: &TenantCredentials) -> anyhow::Result<u16> {
    Ok(app.token_response(credentials).await?.status().as_u16())
}

async fn app_registrations_lifecycle(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let admin = app.tenant().await?;
    let tenant = admin.credentials.tenant.clone();
    let created = create_app(
        &app,
        &admin.token,
        json!({"display_name": "ingest", "custom_claims": {"site": "north"}}),
    )
    .await?;
    assert!(created["identity"]
        .as_str()
        .is_some_and(|i| i.starts_with("applications/")));
    assert_eq!(created["tenant_id"], tenant);
    assert_eq!(created["roles"], json!([]));
    let secret = created["credentials"][0]["secret"].as_str().unwrap_or_default();
    assert_eq!(secret.len(), 64, "the secret is shown once, on create");
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM apps WHERE secret_hash LIKE '%{secret}%'"
        ))
        .await?,
        0
    );
    let id = bare_id(&created["identity"]);
    let credentials = credentials_of(&tenant, &created);

    // Its token carries the custom claims; get never shows the secret again.
    let token = app.token_for(&credentials).await?;
    assert_eq!(token_claims(&token)?["site"], "north");
    let (status, got) = app.get_json(Some(&admin.token), &format!("{APPS}/{id}")).await?;
    assert_eq!(status, 200);
    assert_eq!(got["credentials"][0]["secret"], "");

    // Patch, list with filter and paging.
    let response = app
        .http
        .patch(app.url(&format!("{APPS}/{id}")))
        .bearer_auth(&admin.token)
        .json(&json!({"display_name": "ingest-2", "custom_claims": {"site": "south"}}))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(token_claims(&app.token_for(&credentials).await?)?["site"], "south");
    create_app(&app, &admin.token, json!({"display_name": "other"})).await?;
    let (_, filtered) = app
        .get_json(Some(&admin.token), &format!("{APPS}?display_name=ingest-2"))
        .await?;
    assert_eq!(filtered["applications"].as_array().map(Vec::len), Some(1));
    let (_, page) = app.get_json(Some(&admin.token), &format!("{APPS}?page_size=2")).await?;
    assert_eq!(page["applications"].as_array().map(Vec::len), Some(2));
    let next = page["next_page_token"].as_str().unwrap_or_default();
    let (_, rest) = app
        .get_json(Some(&admin.token), &format!("{APPS}?page_size=2&page_token={next}"))
        .await?;
    assert_eq!(
        rest["applications"].as_array().map(Vec::len),
        Some(1),
        "three registrations in all"
    );

    // Regenerating the secret retires the old one.
    let (status, regenerated) = app
        .post_json(&admin.token, &format!("{APPS}/{id}:regenerate-secret"), &json!({}))
        .await?;
    assert_eq!(status, 200);
    let renewed = credentials_of(&tenant, &regenerated);
    assert_ne!(renewed.client_secret, credentials.client_secret);
    assert_eq!(token_status(&app, &credentials).await?, 401);
    assert_eq!(token_status(&app, &renewed).await?, 200);

    // Another tenant sees none of it.
    let other = app.tenant().await?;
    assert_eq!(app.get_json(Some(&other.token), &format!("{APPS}/{id}")).await?.0, 404);
    let response = app
        .http
        .delete(app.url(&format!("{APPS}/{id}")))
        .bearer_auth(&other.token)
        .send()
        .await?;
    assert_eq!(response.status(), 404);

    // An administrator cannot delete its own registration (and lock the tenant out).
    let (_, all) = app.get_json(Some(&admin.token), APPS).await?;
    let own = all["applications"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["client_id"] == admin.credentials.client_id.as_str())
        .map(|a| bare_id(&a["identity"]))
        .unwrap_or_default();
    let response = app
        .http
        .delete(app.url(&format!("{APPS}/{own}")))
        .bearer_auth(&admin.token)
        .send()
        .await?;
    assert_eq!(response.status(), 409);
    assert_eq!(app.get_json(Some(&admin.token), APPS).await?.0, 200);

    // Deleting it stops its tokens at once.
    let blob = app.upload(&token, "x.txt", b"x".to_vec()).await?;
    let info = format!("/archivist/v1/blobs/{}/info", bare_id(&blob["identity"]));
    assert_eq!(app.get_json(Some(&token), &info).await?.0, 200);
    let response = app
        .http
        .delete(app.url(&format!("{APPS}/{id}")))
        .bearer_auth(&admin.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(app.get_json(Some(&token), &info).await?.0, 401);
    assert_eq!(token_status(&app, &renewed).await?, 401);
    assert_eq!(
        app.get_json(Some(&admin.token), &info).await?.0,
        200,
        "the tenant's data stays"
    );
    Ok(())
}

async fn plain_apps_may_not_manage_registrations(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let admin = app.tenant().await?;
    let tenant = admin.credentials.tenant.clone();
    let plain = create_app(&app, &admin.token, json!({"display_name": "plain"})).await?;
    let second_admin = create_app(
        &app,
        &admin.token,
        json!({"display_name": "admin 2", "roles": ["archivist_administrator"]}),
    )
    .await?;
    assert_eq!(second_admin["roles"], json!(["archivist_administrator"]));
    let plain_token = app.token_for(&credentials_of(&tenant, &plain)).await?;
    let admin_token = app.token_for(&credentials_of(&tenant, &second_admin)).await?;
    let plain_id = bare_id(&plain["identity"]);
    assert_eq!(app.get_json(Some(&plain_token), APPS).await?.0, 403);
    assert_eq!(
        app.get_json(Some(&plain_token), &format!("{APPS}/{plain_id}")).await?.0,
        403
    );
    assert_eq!(
        app.post_json(&plain_token, APPS, &json!({"display_name": "x"}))
            .await?
            .0,
        403
    );
    let response = app
        .http
        .delete(app.url(&format!("{APPS}/{plain_id}")))
        .bearer_auth(&plain_token)
        .send()
        .await?;
    assert_eq!(response.status(), 403);
    assert_eq!(app.get_json(Some(&admin_token), APPS).await?.0, 200);
    // A plain app still does the tenant's work.
    app.upload(&plain_token, "work.txt", b"work".to_vec()).await?;
    for bad in [
        json!({"display_name": ""}),
        json!({"display_name": "x", "roles": ["OWNER"]}),
        json!({"display_name": "x", "custom_claims": {"sub": "me"}}),
        json!({"display_name": "x", "custom_claims": {"n": 1}}),
    ] {
        assert_eq!(app.post_json(&admin.token, APPS, &bad).await?.0, 400, "{bad}");
    }
    Ok(())
}

async fn quotas_answer_402_and_store_nothing(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.quota_max_blobs = Some(2);
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    app.upload(&tenant.token, "1", b"one".to_vec()).await?;
    app.upload(&tenant.token, "2", b"two".to_vec()).await?;
    let refused = app
        .upload(&tenant.token, "3", b"three".to_vec())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("402") && refused.contains("blob count quota"),
        "{refused}"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 2);

    // A tenant's own quotas: total bytes and largest blob, through `attachd tenant set-quota`.
    let other = app.tenant().await?;
    let exe = env!("CARGO_BIN_EXE_attachd");
    let output = tokio::process::Command::new(exe)
        .args([
            "tenant",
            "set-quota",
            "--tenant",
            &other.credentials.tenant,
            "--max-blobs",
            "100",
        ])
        .args([
            "--max-bytes",
            "1000",
            "--max-blob-bytes",
            "700",
            "--database-url",
            &db.url,
        ])
        .output()
        .await?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(printed["max_bytes"], 1000);
    let refused = refused_upload(&app, &other.token, 800).await;
    assert!(
        refused.contains("402") && refused.contains("blob size quota"),
        "{refused}"
    );
    app.upload(&other.token, "a", random_bytes(600, 1)).await?;
    let refused = refused_upload(&app, &other.token, 500).await;
    assert!(
        refused.contains("402") && refused.contains("storage quota"),
        "{refused}"
    );
    app.upload(&other.token, "c", random_bytes(400, 3)).await?;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 4);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blob_chunks").await?, 4);
    Ok(())
}

/// The error an upload of `size` bytes was refused with ("" if it was stored).
async fn refused_upload(app: &TestApp, token: &str, size: usize) -> String {
    let refused = app.upload(token, "b", random_bytes(size, 2)).await;
    refused.err().map(|e| e.to_string()).unwrap_or_default()
}
