//! `GET /archivist/v1/tenancies/{uuid}:publicinfo` and `attachd tenant set-domain`.

use serde_json::{json, Value};

use crate::both;
use crate::common::{bare_id, Backend, TestApp, TestDb};

both!(public_info_of_any_tenant);

async fn public_info_of_any_tenant(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let mine = app.tenant().await?;
    let other = app.tenant().await?;
    let info = |tenant: &str| format!("/archivist/v1/tenancies/{}:publicinfo", bare_id(&json!(tenant)));
    let (status, body) = app.get_json(Some(&mine.token), &info(&mine.credentials.tenant)).await?;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"identity": mine.credentials.tenant, "verified_domain": ""})
    );

    // The operator sets a domain with the CLI, on the same database.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args([
            "tenant",
            "set-domain",
            "--tenant",
            &other.credentials.tenant,
            "--domain",
            "example.org",
        ])
        .env("ATTACHD_DATABASE_URL", &db.url)
        .output()
        .await?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // Another tenant's information is public: the same shape for any caller.
    let (status, body) = app
        .get_json(Some(&mine.token), &info(&other.credentials.tenant))
        .await?;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"identity": other.credentials.tenant, "verified_domain": "example.org"})
    );

    let unknown = format!("/archivist/v1/tenancies/{}:publicinfo", uuid::Uuid::new_v4());
    assert_eq!(app.get_json(Some(&mine.token), &unknown).await?.0, 404);
    let (status, body): (u16, Value) = app
        .get_json(Some(&mine.token), "/archivist/v1/tenancies/nope:publicinfo")
        .await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(app.get_json(None, &info(&mine.credentials.tenant)).await?.0, 401);
    Ok(())
}
