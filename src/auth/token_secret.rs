//! The secret that signs attachd's own tokens (HS256) lives in a file, never in the
//! database: anyone holding a copy of the database (a backup, a replica, a support dump)
//! could otherwise mint a token for any tenant. The page-token key is derived from it, and
//! the chunk-MAC key from the log signing key, so neither is in the database either.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::repo::Repo;

/// File name of the generated secret, beside the embedded database.
pub const GENERATED_FILE: &str = "token-signing-secret";
/// Where versions before this one kept a generated secret.
pub const LEGACY_SETTING: &str = "jwt_hs256_secret";

/// The secret: `--jwt-secret`, the `--jwt-key-file`, or on the embedded default the file
/// beside the database (made on first start). A secret a database from before still holds
/// is written to the file once (so its tokens keep working) and removed from the database.
pub async fn resolve(repo: &dyn Repo, given: Option<&str>, key_file: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let legacy = repo.setting(LEGACY_SETTING).await?;
    let secret = match (given, key_file, repo.data_dir()) {
        (Some(secret), _, _) => secret.as_bytes().to_vec(),
        (None, Some(path), _) => from_file(path, legacy.as_deref(), false)?,
        (None, None, Some(dir)) => from_file(&dir.join(GENERATED_FILE), legacy.as_deref(), true)?,
        (None, None, None) => anyhow::bail!(
            "a PostgreSQL deployment needs --jwt-key-file (ATTACHD_JWT_KEY_FILE): a file of at least \
             32 random bytes that signs tokens, the same for every attachd process; make one with \
             `openssl rand -hex 32 > token-signing-secret && chmod 600 token-signing-secret`"
        ),
    };
    if let Some(old) = legacy {
        if old.as_bytes() != secret.as_slice() {
            tracing::warn!("the database held another token secret: tokens it signed are no longer accepted");
        }
        repo.delete_setting(LEGACY_SETTING).await?;
        tracing::info!("the token signing secret was removed from the database");
    }
    Ok(secret)
}

/// The secret in `path`; when the file does not exist, the database's old secret written
/// to it, or (when `generate`) a new one.
fn from_file(path: &Path, legacy: Option<&str>, generate: bool) -> anyhow::Result<Vec<u8>> {
    if !path.exists() {
        let secret = match (legacy, generate) {
            (Some(old), _) => old.to_string(),
            (None, true) => super::secrets::generate_secret(),
            (None, false) => anyhow::bail!(
                "the JWT key file {} does not exist: make one with `openssl rand -hex 32 > {0}`",
                path.display()
            ),
        };
        write_private(path, secret.as_bytes())
            .map_err(|e| anyhow::anyhow!("writing the token signing secret {}: {e}", path.display()))?;
    }
    let raw = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading the JWT key file {}: {e}", path.display()))?;
    Ok(raw.trim_ascii().to_vec())
}

/// Creates `path` (mode 0600) holding `bytes`, durably.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir: PathBuf = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    if !dir.as_os_str().is_empty() {
        std::fs::File::open(&dir)?.sync_all()?;
    }
    Ok(())
}
