//! The token endpoint and every way a presented token must be refused.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::both;
use crate::common::{default_settings, Backend, TestApp, TestDb};

both!(
    token_endpoint_issues_and_refuses,
    forged_tokens_are_401,
    the_token_secret_moves_out_of_the_database
);

const SECRET: &str = "test-signing-secret-that-is-long-enough-0123456789";

async fn token_endpoint_issues_and_refuses(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let url = app.url("/archivist/iam/v1/appidp/token");
    let good = [
        ("grant_type", "client_credentials"),
        ("client_id", tenant.credentials.client_id.as_str()),
        ("client_secret", tenant.credentials.client_secret.as_str()),
    ];
    let response = app.http.post(&url).form(&good).send().await?;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await?;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(body["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3));

    let wrong_secret = [good[0], good[1], ("client_secret", "not-the-secret")];
    let unknown_client = [good[0], ("client_id", "no-such-client"), good[2]];
    for form in [&wrong_secret, &unknown_client] {
        let response = app.http.post(&url).form(form).send().await?;
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await?;
        assert_eq!(body["code"], 16);
    }
    let bad_grant = [("grant_type", "password"), good[1], good[2]];
    let missing_secret = [good[0], good[1]];
    for form in [&bad_grant[..], &missing_secret[..]] {
        let response = app.http.post(&url).form(form).send().await?;
        assert_eq!(response.status(), 400);
    }
    Ok(())
}

/// The claims of a token the server issued (its payload, not verified).
pub fn token_claims(token: &str) -> anyhow::Result<Value> {
    let payload = token.split('.').nth(1).unwrap_or_default();
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?)
}

fn claims(tenant: &str, app: &Value, overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": "attachd", "aud": "attachd", "sub": "someone", "tenant": tenant, "app": app,
        "iat": now, "nbf": now, "exp": now + 600, "jti": "x",
    });
    if let (Some(base), Some(extra)) = (claims.as_object_mut(), overrides.as_object()) {
        for (key, value) in extra {
            base.insert(key.clone(), value.clone());
        }
    }
    claims
}

fn sign(claims: &Value, secret: &str) -> anyhow::Result<String> {
    Ok(encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

async fn forged_tokens_are_401(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.jwt_secret = Some(attachd::config::Secret(SECRET.into()));
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let t = tenant.credentials.tenant.as_str();
    // The right app under another tenant's name: the signature is ours, the pairing is not.
    let other_tenant = app.tenant().await?.credentials.tenant;
    let own_app = token_claims(&tenant.token)?["app"].clone();
    let now = chrono::Utc::now().timestamp();
    let claims = |tenant: &str, overrides: Value| claims(tenant, &own_app, overrides);

    // A token made here with the server's key is accepted: the refusals below are about what differs.
    let valid = sign(&claims(t, json!({})), SECRET)?;
    let blobs = app.url(&format!("/archivist/v1/blobs/{}/info", uuid::Uuid::new_v4()));
    let response = app.http.get(&blobs).bearer_auth(&valid).send().await?;
    assert_eq!(response.status(), 404, "a well-signed token must pass auth");

    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(t, json!({})).to_string())
    );
    let hs512 = encode(
        &Header::new(Algorithm::HS512),
        &claims(t, json!({})),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )?;
    let forged = [
        ("garbage", "not.a.token".to_string()),
        (
            "wrong signature",
            sign(&claims(t, json!({})), "another-secret-another-secret-another")?,
        ),
        (
            "expired",
            sign(
                &claims(t, json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200})),
                SECRET,
            )?,
        ),
        ("not yet valid", sign(&claims(t, json!({"nbf": now + 3600})), SECRET)?),
        ("alg none", alg_none),
        ("other algorithm", hs512),
        (
            "wrong issuer",
            sign(&claims(t, json!({"iss": "someone-else"})), SECRET)?,
        ),
        (
            "wrong audience",
            sign(&claims(t, json!({"aud": "someone-else"})), SECRET)?,
        ),
        ("no tenant", sign(&claims("tenant/nope", json!({})), SECRET)?),
        ("another tenant's app", sign(&claims(&other_tenant, json!({})), SECRET)?),
        (
            "unknown app",
            sign(
                &claims(t, json!({"app": format!("applications/{}", uuid::Uuid::new_v4())})),
                SECRET,
            )?,
        ),
    ];
    for (what, token) in forged {
        let response = app.http.get(&blobs).bearer_auth(&token).send().await?;
        assert_eq!(response.status(), 401, "{what}");
        let body: Value = response.json().await?;
        assert_eq!(body["code"], 16, "{what}");
    }
    let response = app.http.get(&blobs).send().await?;
    assert_eq!(response.status(), 401, "no token");
    let response = app
        .http
        .get(&blobs)
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await?;
    assert_eq!(response.status(), 401, "not bearer");
    Ok(())
}

/// A database from before that keeps its token secret in the settings table: the first
/// start writes it to a 0600 file (beside SQLite; the named file on PostgreSQL), removes it
/// from the database, and tokens it signed keep working, also after a restart.
async fn the_token_secret_moves_out_of_the_database(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let legacy = attachd::auth::token_secret::LEGACY_SETTING;
    let old = attachd::auth::secrets::generate_secret();
    attachd::repo::connect(&db.url)
        .await?
        .setting_or_insert(legacy, &old)
        .await?;
    let dir = tempfile::tempdir()?;
    let mut settings = default_settings();
    let file = match backend {
        Backend::Sqlite => std::path::PathBuf::from(db.url.trim_start_matches("sqlite://"))
            .with_file_name(attachd::auth::token_secret::GENERATED_FILE),
        Backend::Postgres => dir.path().join("token-signing-secret"),
    };
    if backend == Backend::Postgres {
        settings.jwt_key_file = Some(file.clone());
    }
    let app = TestApp::start_with(&db, settings.clone()).await?;
    let tenant = app.tenant().await?;
    // Signed with the old secret: a token from before the upgrade is the same token.
    let keys =
        attachd::auth::jwt::TokenKeys::new(old.as_bytes(), "attachd", "attachd", std::time::Duration::from_secs(60));
    assert!(
        keys.verify(&tenant.token).is_ok(),
        "signed with the secret the database held"
    );
    assert_eq!(std::fs::read_to_string(&file)?.trim(), old);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file)?.permissions().mode() & 0o777, 0o600);
    let left = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM settings WHERE key = '{legacy}' OR value = '{old}'"
        ))
        .await?;
    assert_eq!(left, 0, "the secret is gone from the database");
    app.stop().await?;

    let app = TestApp::start_with(&db, settings).await?;
    let (status, _) = app.get_json(Some(&tenant.token), "/archivist/v2/assets").await?;
    assert_eq!(status, 200, "a token from before the restart");
    app.stop().await?;
    Ok(())
}
