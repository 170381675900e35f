//! Long-lived API keys for Mediapocket clients: `mp_` and 32 random bytes (base64url), shown
//! once and stored as SHA-256. The key is high-entropy, so a fast hash is safe, and checking
//! one costs a hash and an indexed lookup rather than argon2's tens of milliseconds.

use std::net::IpAddr;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::AuthState;
use super::Principal;
use crate::error::ApiError;
use crate::ids::{ApiKeyId, TenantId};
use crate::repo::{ApiKey, NewApiKey, Repo};

/// Every key starts with this, so secret scanners can recognise a leaked one.
pub const PREFIX: &str = "mp_";
/// How much of a key a list shows.
const SHOWN: usize = PREFIX.len() + 6;

/// Whether `text` has the shape of one of our keys (rather than an access token).
pub fn looks_like_key(text: &str) -> bool {
    text.starts_with(PREFIX)
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Makes and stores a key for `tenant`; the key itself is returned only here.
pub async fn create(repo: &dyn Repo, tenant: TenantId, name: &str) -> Result<(String, ApiKey), ApiError> {
    let mut random = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut random);
    let key = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    );
    let stored = repo
        .create_api_key(
            tenant,
            &NewApiKey {
                id: uuid::Uuid::new_v4(),
                name: name.to_string(),
                prefix: key[..SHOWN].to_string(),
                key_hash: hash(&key),
            },
        )
        .await?;
    Ok((key, stored))
}

/// The caller a key names. A wrong key is 401, and counts against the client address's
/// rate limit, so keys cannot be guessed at full speed.
pub async fn principal(state: &AuthState, key: &str, peer: Option<IpAddr>) -> Result<Principal, ApiError> {
    let Some(found) = state.repo.api_key_by_hash(&hash(key)).await? else {
        if let (Some(limits), Some(peer)) = (&state.rate_limits, peer) {
            limits.check_client(peer)?;
        }
        return Err(ApiError::Unauthenticated("invalid or revoked API key".into()));
    };
    let tenant = TenantId(found.tenant_id);
    tracing::Span::current().record("tenant", tracing::field::display(&tenant));
    if let Some(limits) = &state.rate_limits {
        limits.check_tenant(tenant)?;
    }
    Ok(Principal {
        tenant,
        app: None,
        issuer: "attachd".into(),
        subject: ApiKeyId(found.id).identity(),
        admin: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hashed_not_kept() {
        assert!(looks_like_key("mp_abc") && !looks_like_key("eyJhbGciOi"));
        let digest = hash("mp_secret");
        assert_eq!(digest.len(), 64);
        assert!(!digest.contains("secret"));
        assert_ne!(digest, hash("mp_secreT"));
    }
}
