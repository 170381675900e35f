//! The log's ECDSA P-384 signing key: read from a file, or created once (mode 0600) where
//! the embedded default keeps its data. Never stored in the database.

use std::io::Write;
use std::path::Path;

use p384::ecdsa::{SigningKey, VerifyingKey};
use p384::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

/// The key seals are signed with.
pub struct SealKey {
    signing: SigningKey,
    kid: String,
}

impl SealKey {
    pub fn new(signing: SigningKey) -> Self {
        let kid = key_id(signing.verifying_key());
        Self { signing, kid }
    }

    /// The key in `path` (PKCS#8 or SEC1 PEM); with `create`, a new one written there
    /// first when the file does not exist.
    pub fn load(path: &Path, create: bool) -> anyhow::Result<Self> {
        if create && !path.exists() {
            let signing = SigningKey::random(&mut rand::rngs::OsRng);
            let pem = signing
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| anyhow::anyhow!("encoding the log signing key: {e}"))?;
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = open_private(path)?;
            file.write_all(pem.as_bytes())?;
            file.sync_all()?;
            return Ok(Self::new(signing));
        }
        let pem = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the log signing key {}: {e}", path.display()))?;
        let signing = SigningKey::from_pkcs8_pem(&pem)
            .or_else(|_| p384::SecretKey::from_sec1_pem(&pem).map(SigningKey::from))
            .map_err(|_| anyhow::anyhow!("{} is not an ECDSA P-384 private key in PEM", path.display()))?;
        Ok(Self::new(signing))
    }

    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

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
pub fn public_pem(key: &VerifyingKey) -> anyhow::Result<String> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the public key: {e}"))
}

/// A public key from PEM (SubjectPublicKeyInfo). Whitespace around it is allowed: `jq -r`
/// and editors add a final newline, and Windows tools CRLF line ends.
pub fn public_from_pem(pem: &str) -> anyhow::Result<VerifyingKey> {
    let pem = pem.trim().replace("\r\n", "\n");
    VerifyingKey::from_public_key_pem(&pem).map_err(|_| anyhow::anyhow!("not an ECDSA P-384 public key in PEM"))
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

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_read_back() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("keys/log-signing-key.pem");
        let created = SealKey::load(&path, true)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        }
        let again = SealKey::load(&path, true)?;
        assert_eq!(created.kid(), again.kid());
        let pem = public_pem(again.verifying())?;
        assert_eq!(&public_from_pem(&pem)?, created.verifying());
        assert!(SealKey::load(&dir.path().join("missing.pem"), false).is_err());
        Ok(())
    }
}
