//! External OpenID Connect tokens: RS256 and ES256 keys the test generates, a JWKS the test
//! serves on loopback (or writes to a file), key rotation, and the attacks that must fail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use crate::both;
use crate::common::{bare_id, default_settings, eventually, Backend, TestApp, TestDb};

both!(external_tokens_are_verified_by_jwks, jwks_can_come_from_a_file);

const ISSUER: &str = "https://idp.example";
const AUDIENCE: &str = "attachd-api";
const TENANT_CLAIM: &str = "org_tenant";

struct RsaKey {
    kid: String,
    private: rsa::RsaPrivateKey,
}

impl RsaKey {
    fn new(kid: &str) -> anyhow::Result<Self> {
        Ok(Self {
            kid: kid.into(),
            private: rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?,
        })
    }

    fn jwk(&self) -> Value {
        let public = self.private.to_public_key();
        json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
               "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
               "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be())})
    }

    fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        self.sign_as(&self.kid, claims)
    }

    fn sign_as(&self, kid: &str, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        let pem = self.private.to_pkcs1_pem(LineEnding::LF)?;
        Ok(encode(&header, claims, &EncodingKey::from_rsa_pem(pem.as_bytes())?)?)
    }

    /// The public key as PEM: what an algorithm-confusion attack uses as an HMAC secret.
    fn public_pem(&self) -> anyhow::Result<String> {
        Ok(self.private.to_public_key().to_pkcs1_pem(LineEnding::LF)?)
    }
}

struct EcKey {
    kid: String,
    secret: p256::SecretKey,
}

impl EcKey {
    fn new(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            secret: p256::SecretKey::random(&mut rand::thread_rng()),
        }
    }

    fn jwk(&self) -> Value {
        let point = self.secret.public_key().to_encoded_point(false);
        json!({"kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256", "crv": "P-256",
               "x": URL_SAFE_NO_PAD.encode(point.x().map(|x| x.to_vec()).unwrap_or_default()),
               "y": URL_SAFE_NO_PAD.encode(point.y().map(|y| y.to_vec()).unwrap_or_default())})
    }

    fn sign(&self, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let pem = self.secret.to_pkcs8_pem(LineEnding::LF)?;
        Ok(encode(&header, claims, &EncodingKey::from_ec_pem(pem.as_bytes())?)?)
    }
}

fn claims(tenant: &str, overrides: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice@idp.example", TENANT_CLAIM: tenant,
                            "iat": now, "nbf": now, "exp": now + 600});
    if let (Some(base), Some(extra)) = (claims.as_object_mut(), overrides.as_object()) {
        for (key, value) in extra {
            base.insert(key.clone(), value.clone());
        }
    }
    claims
}

/// A JWKS endpoint on loopback whose keys the test can change, counting its fetches.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: Vec<Value>) -> anyhow::Result<Self> {
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (keys.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let (served, counted) = (served.clone(), counted.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let keys = served.lock().map(|k| k.clone()).unwrap_or_default();
                    axum::Json(json!({ "keys": keys }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/jwks.json", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self { url, keys, fetches })
    }
}

async fn status_with(app: &TestApp, token: &str, path: &str) -> anyhow::Result<u16> {
    Ok(app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await?
        .status()
        .as_u16())
}

async fn external_tokens_are_verified_by_jwks(backend: Backend) -> anyhow::Result<()> {
    let rsa_key = RsaKey::new("rsa-1")?;
    let ec_key = EcKey::new("ec-1");
    let jwks = JwksServer::start(vec![rsa_key.jwk(), ec_key.jwk()]).await?;
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.oidc_issuer = Some(ISSUER.into());
    settings.oidc_audience = Some(AUDIENCE.into());
    settings.oidc_jwks_url = Some(jwks.url.clone());
    settings.oidc_tenant_claim = TENANT_CLAIM.into();
    let app = TestApp::start_with(&db, settings).await?;
    let own = app.tenant().await?;
    let tenant = own.credentials.tenant.clone();

    // RS256: the principal comes from the verified token.
    let rs = rsa_key.sign(&claims(&tenant, json!({})))?;
    let blob = app.upload(&rs, "ext.txt", b"from the idp".to_vec()).await?;
    assert_eq!(blob["issuer"], ISSUER);
    assert_eq!(blob["subject"], "alice@idp.example");
    assert_eq!(blob["tenantid"], tenant);
    let info = format!("/archivist/v1/blobs/{}/info", bare_id(&blob["identity"]));
    // ES256 too, with the bare uuid as the tenant claim; our own tokens keep working beside them.
    let bare_tenant = tenant.trim_start_matches("tenant/");
    assert_eq!(
        status_with(&app, &ec_key.sign(&claims(bare_tenant, json!({})))?, &info).await?,
        200
    );
    assert_eq!(status_with(&app, &own.token, &info).await?, 200);
    // External identities are not tenant administrators.
    assert_eq!(status_with(&app, &rs, "/archivist/iam/v1/applications").await?, 403);

    let now = chrono::Utc::now().timestamp();
    let stranger = RsaKey::new("rsa-1")?;
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims(&tenant, json!({})),
        &EncodingKey::from_secret(rsa_key.public_pem()?.as_bytes()),
    )?;
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#),
        URL_SAFE_NO_PAD.encode(claims(&tenant, json!({})).to_string())
    );
    let attacks = [
        (
            "wrong issuer",
            rsa_key.sign(&claims(&tenant, json!({"iss": "https://evil.example"})))?,
        ),
        (
            "wrong audience",
            rsa_key.sign(&claims(&tenant, json!({"aud": "someone-else"})))?,
        ),
        (
            "expired",
            rsa_key.sign(&claims(&tenant, json!({"exp": now - 3600, "nbf": now - 7200})))?,
        ),
        (
            "not yet valid",
            rsa_key.sign(&claims(&tenant, json!({"nbf": now + 3600})))?,
        ),
        (
            "no tenant claim",
            rsa_key.sign(&claims(&tenant, json!({TENANT_CLAIM: null})))?,
        ),
        (
            "unknown tenant",
            rsa_key.sign(&claims(&format!("tenant/{}", uuid::Uuid::new_v4()), json!({})))?,
        ),
        ("unknown kid", rsa_key.sign_as("nobody", &claims(&tenant, json!({})))?),
        ("another key under our kid", stranger.sign(&claims(&tenant, json!({})))?),
        ("HS256 with the public key as secret", confused),
        ("alg none", alg_none),
    ];
    for (what, token) in attacks {
        assert_eq!(status_with(&app, &token, &info).await?, 401, "{what}");
    }

    // Rotation: a key the server has not seen is fetched when a token names it.
    let rotated = RsaKey::new("rsa-2")?;
    let before = jwks.fetches.load(Ordering::SeqCst);
    if let Ok(mut keys) = jwks.keys.lock() {
        keys.push(rotated.jwk());
    }
    let token = rotated.sign(&claims(&tenant, json!({})))?;
    eventually("the rotated key is accepted", Duration::from_secs(15), || async {
        Ok(status_with(&app, &token, &info).await? == 200)
    })
    .await?;
    assert!(jwks.fetches.load(Ordering::SeqCst) > before);
    Ok(())
}

async fn jwks_can_come_from_a_file(backend: Backend) -> anyhow::Result<()> {
    let rsa_key = RsaKey::new("file-1")?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, json!({"keys": [rsa_key.jwk()]}).to_string())?;
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.oidc_issuer = Some(ISSUER.into());
    settings.oidc_audience = Some(AUDIENCE.into());
    settings.oidc_jwks_file = Some(file);
    settings.oidc_tenant_claim = TENANT_CLAIM.into();
    let app = TestApp::start_with(&db, settings).await?;
    let own = app.tenant().await?;
    let token = rsa_key.sign(&claims(&own.credentials.tenant, json!({})))?;
    let (status, assets) = app.get_json(Some(&token), "/archivist/v2/assets").await?;
    assert_eq!(status, 200, "{assets}");
    Ok(())
}
