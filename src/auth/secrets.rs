//! Client secrets: random, shown once, stored only as an argon2id hash.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;

/// A fresh random secret, 32 bytes as hex.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane): deliberately slow.
/// Call from `spawn_blocking`.
pub fn hash_secret(secret: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a secret: {e}"))
}

/// Whether `secret` matches the stored PHC string. Call from `spawn_blocking`.
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default().verify_password(secret.as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_secret() -> anyhow::Result<()> {
        let secret = generate_secret();
        let phc = hash_secret(&secret)?;
        assert!(!phc.contains(&secret));
        assert!(verify_secret(&secret, &phc));
        assert!(!verify_secret("other", &phc));
        assert!(!verify_secret(&secret, "not a phc string"));
        Ok(())
    }
}
