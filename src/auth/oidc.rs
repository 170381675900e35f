//! Tokens from an external OpenID Connect issuer: RS256 or ES256, verified with the
//! issuer's JWKS (from a URL or a file), which is cached and fetched again when a token
//! names a key id it does not hold (key rotation). The tenant comes from a configured claim.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};

use crate::error::ApiError;
use crate::ids::TenantId;

/// Key fetches on unknown key ids happen at most this often, so forged kids cannot make
/// attachd hammer the issuer.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(2);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const LEEWAY_SECS: u64 = 30;

#[derive(Clone, Debug)]
pub enum JwksSource {
    Url(String),
    File(PathBuf),
}

/// What a verified external token says.
#[derive(Debug)]
pub struct ExternalIdentity {
    pub tenant: TenantId,
    pub issuer: String,
    pub subject: String,
}

pub struct Oidc {
    issuer: String,
    audience: String,
    tenant_claim: String,
    source: JwksSource,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
}

impl Oidc {
    pub async fn new(
        issuer: String,
        audience: String,
        tenant_claim: String,
        source: JwksSource,
    ) -> anyhow::Result<Self> {
        let oidc = Self {
            issuer,
            audience,
            tenant_claim,
            source,
            http: reqwest::Client::builder().timeout(FETCH_TIMEOUT).build()?,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
        };
        // An issuer that is down at start is not fatal: keys are fetched again on use.
        if let Err(err) = oidc.refetch().await {
            tracing::warn!(error = %err, "could not load the OIDC issuer's keys yet");
        }
        Ok(oidc)
    }

    /// Verifies an RS256/ES256 token: signature by a key of the issuer's JWKS, `exp`, `nbf`,
    /// `iss`, `aud`, and a tenant claim naming `tenant/<uuid>` (or the bare uuid).
    pub async fn verify(&self, token: &str, header: &Header) -> Result<ExternalIdentity, ApiError> {
        let reject = |why: &str| {
            tracing::debug!(why, "external token rejected");
            ApiError::Unauthenticated("invalid or expired token".into())
        };
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(reject("algorithm not accepted from the external issuer"));
        }
        let kid = header.kid.as_deref().ok_or_else(|| reject("no kid"))?;
        let key = match self.key(kid).await {
            Some(key) => key,
            None => {
                if let Err(err) = self.refetch_if_due().await {
                    tracing::warn!(error = %err, "could not refresh the OIDC issuer's keys");
                }
                self.key(kid).await.ok_or_else(|| reject("unknown kid"))?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| reject(&e.to_string()))?
            .claims;
        let tenant = claims
            .get(&self.tenant_claim)
            .and_then(Value::as_str)
            .and_then(|t| TenantId::parse_identity(t).or_else(|| TenantId::parse_bare(t).ok()))
            .ok_or_else(|| reject("no tenant claim"))?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
        Ok(ExternalIdentity {
            tenant,
            issuer: text("iss"),
            subject: text("sub"),
        })
    }

    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        self.keys.read().await.get(kid).cloned()
    }

    async fn refetch_if_due(&self) -> anyhow::Result<()> {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY) {
            return Ok(());
        }
        *last = Some(Instant::now());
        drop(last);
        self.refetch().await
    }

    async fn refetch(&self) -> anyhow::Result<()> {
        let set: JwkSet = match &self.source {
            JwksSource::Url(url) => self.http.get(url).send().await?.error_for_status()?.json().await?,
            JwksSource::File(path) => serde_json::from_slice(&tokio::fs::read(path).await?)?,
        };
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, key);
                }
                Err(err) => tracing::warn!(kid, error = %err, "skipping an unusable JWKS key"),
            }
        }
        tracing::info!(keys = keys.len(), "loaded the OIDC issuer's keys");
        *self.keys.write().await = keys;
        Ok(())
    }
}
