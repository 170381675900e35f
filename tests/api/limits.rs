//! Rate limits: per tenant, and per client address where no token is needed.

use serde_json::{json, Value};

use crate::both;
use std::time::Duration;

use crate::common::{attachment, bare_id, default_settings, eventually, Backend, TestApp, TestDb};

both!(over_the_rate_is_429_with_reset);

async fn over_the_rate_is_429_with_reset(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.rate_limit_per_second = Some(1);
    settings.rate_limit_burst = Some(3);
    let app = TestApp::start_with(&db, settings).await?;
    let busy = app.tenant().await?;
    let quiet = app.tenant().await?;
    let blob = app.upload(&busy.token, "x.txt", b"x".to_vec()).await?;
    let asset = app
        .create_asset(&busy.token, json!({"doc": attachment(&blob, "x.txt")}), true)
        .await?;
    let info = format!("/archivist/v1/blobs/{}/info", bare_id(&blob["identity"]));

    // Calls in quick succession exhaust the burst of 3 long before a second passes.
    let mut refused = None;
    for _ in 0..10 {
        let response = app.http.get(app.url(&info)).bearer_auth(&busy.token).send().await?;
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let response = refused.ok_or_else(|| anyhow::anyhow!("ten quick calls were never limited"))?;
    let reset: u64 = response.headers()["archivist-rate-limit-reset"].to_str()?.parse()?;
    assert!((1..=5).contains(&reset), "reset {reset}");
    let body: Value = response.json().await?;
    assert_eq!(body["code"], 8);
    // Another tenant has its own allowance.
    let (status, _) = app.get_json(Some(&quiet.token), "/archivist/v2/assets").await?;
    assert_eq!(status, 200);

    // No token: limited by client address, on the public routes and the token endpoint.
    let public = format!("/archivist/v2/publicassets/{}", bare_id(&asset["identity"]));
    // The address's allowance refills at one call a second: one call gets through, then
    // quick ones are refused.
    eventually("a public call is allowed", Duration::from_secs(10), || async {
        Ok(app.get_bytes(None, &public).await?.0 == 200)
    })
    .await?;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.get_bytes(None, &public).await?.0);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let response = app
        .http
        .post(app.url("/archivist/iam/v1/appidp/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", "y"),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), 429, "the client address spent its allowance above");
    Ok(())
}
