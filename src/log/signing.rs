//! The log's ECDSA P-384 signing key: read from a file, or created once (mode 0600) where
//! the embedded default keeps its data. Never stored in the database.

use std::io::Write;
use std::path::Path;

use merklelog::signing::SealKey;
use p384::ecdsa::SigningKey;

/// The key in `path` (PKCS#8 or SEC1 PEM); with `create`, a new one written there first
/// when the file does not exist.
pub fn load(path: &Path, create: bool) -> anyhow::Result<SealKey> {
    if create && !path.exists() {
        let key = SealKey::new(SigningKey::random(&mut rand::rngs::OsRng));
        let pem = key.to_pem()?;
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = open_private(path)?;
        file.write_all(pem.as_bytes())?;
        file.sync_all()?;
        return Ok(key);
    }
    let pem = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading the log signing key {}: {e}", path.display()))?;
    SealKey::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Writes a new file only its owner can read (it must not exist yet), durably.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = open_private(path)?;
    file.write_all(bytes)?;
    file.sync_all()
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
    use merklelog::signing::{public_from_pem, public_pem};

    #[test]
    fn created_once_private_and_read_back() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("keys/log-signing-key.pem");
        let created = load(&path, true)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
        }
        let again = load(&path, true)?;
        assert_eq!(created.kid(), again.kid());
        let pem = public_pem(again.verifying())?;
        assert_eq!(&public_from_pem(&pem)?, created.verifying());
        assert!(load(&dir.path().join("missing.pem"), false).is_err());
        Ok(())
    }
}
