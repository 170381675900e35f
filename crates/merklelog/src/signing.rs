//! The log's ECDSA P-384 keys: a signing key with the id seals name it by, and public keys
//! in PEM and as JWK.

use p384::ecdsa::{SigningKey, VerifyingKey};
use p384::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

/// The key seals are signed with, and its id.
pub struct SealKey {
    signing: SigningKey,
    kid: String,
}

impl SealKey {
    /// The key, named by [`key_id`].
    pub fn new(signing: SigningKey) -> Self {
        let kid = key_id(signing.verifying_key());
        Self { signing, kid }
    }

    /// The key in `pem` (PKCS#8 or SEC1).
    pub fn from_pem(pem: &str) -> crate::Result<Self> {
        let signing = SigningKey::from_pkcs8_pem(pem)
            .or_else(|_| p384::SecretKey::from_sec1_pem(pem).map(SigningKey::from))
            .map_err(|_| crate::fail!("not an ECDSA P-384 private key in PEM"))?;
        Ok(Self::new(signing))
    }

    /// The key in PKCS#8 PEM.
    pub fn to_pem(&self) -> crate::Result<String> {
        Ok(self
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| crate::fail!("encoding the log signing key: {e}"))?
            .to_string())
    }

    /// The private key.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key.
    pub fn verifying(&self) -> &VerifyingKey {
        self.signing.verifying_key()
    }

    /// Names the key in seals and in the public key route.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// `attachd:` and the first 16 bytes of SHA-256 of the uncompressed public point, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    let point = key.to_encoded_point(false);
    format!("attachd:{}", hex::encode(&Sha256::digest(point.as_bytes())[..16]))
}

/// The public key in PEM (SubjectPublicKeyInfo).
pub fn public_pem(key: &VerifyingKey) -> crate::Result<String> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| crate::fail!("encoding the public key: {e}"))
}

/// A public key from PEM (SubjectPublicKeyInfo). Whitespace around it is allowed: `jq -r`
/// and editors add a final newline, and Windows tools CRLF line ends.
pub fn public_from_pem(pem: &str) -> crate::Result<VerifyingKey> {
    let pem = pem.trim().replace("\r\n", "\n");
    VerifyingKey::from_public_key_pem(&pem).map_err(|_| crate::fail!("not an ECDSA P-384 public key in PEM"))
}

/// The public key as a JWK, with its kid.
pub fn public_jwk(key: &VerifyingKey) -> serde_json::Value {
    use base64::Engine;
    let point = key.to_encoded_point(false);
    let b64 = |bytes: Option<&p384::FieldBytes>| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.map(|b| b.as_slice()).unwrap_or_default())
    };
    serde_json::json!({
        "kty": "EC",
        "crv": "P-384",
        "alg": "ES384",
        "use": "sig",
        "kid": key_id(key),
        "x": b64(point.x()),
        "y": b64(point.y()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_survives_pem_both_ways() -> anyhow::Result<()> {
        let key = SealKey::new(SigningKey::random(&mut rand::rngs::OsRng));
        let again = SealKey::from_pem(&key.to_pem()?)?;
        assert_eq!(key.kid(), again.kid());
        let public = public_pem(key.verifying())?;
        assert_eq!(&public_from_pem(&format!("\n{public}\n\n"))?, key.verifying());
        assert!(SealKey::from_pem(&public).is_err());
        Ok(())
    }
}
