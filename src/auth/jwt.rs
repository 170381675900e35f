//! Our own tokens: HS256 JWTs naming a tenant and a subject, checked with a pinned
//! algorithm, `exp`/`nbf` with leeway, and our `iss`/`aud`.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Claims of a token issued by attachd.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The app registration's client id.
    pub sub: String,
    /// `tenant/<uuid>`.
    pub tenant: String,
    /// `applications/<uuid>`: the registration that obtained the token.
    pub app: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// The app registration's custom claims.
    #[serde(flatten)]
    pub custom: serde_json::Map<String, serde_json::Value>,
}

/// Claim names attachd sets itself: custom claims may not use them.
pub const RESERVED_CLAIMS: &[&str] = &["iss", "aud", "sub", "tenant", "app", "iat", "nbf", "exp", "jti"];

/// Signs and verifies our tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

const LEEWAY_SECS: u64 = 30;

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A signed token for `subject` of `tenant`, valid from now for the configured lifetime.
    pub fn issue(
        &self,
        tenant: &str,
        app: &str,
        subject: &str,
        custom: serde_json::Map<String, serde_json::Value>,
    ) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.to_string(),
            tenant: tenant.to_string(),
            app: app.to_string(),
            iat: now,
            nbf: now,
            exp: now + i64::try_from(self.ttl.as_secs())?,
            jti: uuid::Uuid::new_v4().to_string(),
            custom,
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature, algorithm, `exp`, `nbf`, `iss` and `aud`.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims)
    }
}
