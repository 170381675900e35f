//! Tenant bootstrap: `attachd tenant create` and the dev tenant of a new embedded database.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::auth::jwt::TokenKeys;
use crate::auth::secrets::{generate_secret, hash_secret};
use crate::ids::{AppId, TenantId};
use crate::log::anchor::{Anchor, AnchorRecord};
use crate::repo::{NewApp, Repo};

/// What `attachd tenant create` prints: the only time the secret is shown.
#[derive(Debug, Serialize, Deserialize)]
pub struct TenantCredentials {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Creates a tenant and its administrator app registration. Its log-anchor record (an
/// empty log) is written, durably, before anything of it is committed: the anchor, not
/// the database, says which tenants exist. A tenant the anchor cannot record is not made.
pub async fn create_tenant(repo: &dyn Repo, anchor: &Anchor, name: &str) -> anyhow::Result<TenantCredentials> {
    let tenant = TenantId::new();
    let client_id = uuid::Uuid::new_v4().to_string();
    let client_secret = generate_secret();
    let to_hash = client_secret.clone();
    let secret_hash = tokio::task::spawn_blocking(move || hash_secret(&to_hash)).await??;
    let app = NewApp {
        id: AppId::new(),
        display_name: format!("{name} administrator"),
        client_id: client_id.clone(),
        secret_hash,
        admin: true,
        custom_claims: "{}".into(),
    };
    anchor
        .write(&AnchorRecord::empty(tenant))
        .await
        .map_err(|e| anyhow::anyhow!("the tenant was not created: its log anchor ({anchor}) cannot be written: {e}"))?;
    if let Err(err) = repo.create_tenant(tenant, name, &app).await {
        if let Err(removing) = anchor.remove_empty(tenant).await {
            tracing::warn!(%tenant, error = %removing, "the record of a tenant not created stays in the log anchor");
        }
        return Err(err.into());
    }
    Ok(TenantCredentials {
        tenant: tenant.identity(),
        client_id,
        client_secret,
    })
}

/// Files of the dev tenant, kept beside the embedded database.
pub struct DevFiles {
    pub token: PathBuf,
    pub credentials: PathBuf,
}

impl DevFiles {
    pub fn beside(database: &Path, token_override: Option<PathBuf>) -> Self {
        let dir = database.parent().unwrap_or_else(|| Path::new("."));
        Self {
            token: token_override.unwrap_or_else(|| dir.join("bearer-token.txt")),
            credentials: dir.join("dev-credentials.json"),
        }
    }
}

/// On an empty embedded database, creates a dev tenant; whenever its credentials file
/// exists, writes a fresh `Authorization: Bearer …` line for `curl -H @file`.
/// Returns the token file's path when one was written.
pub async fn ensure_dev_token(
    repo: &dyn Repo,
    anchor: &Anchor,
    keys: &TokenKeys,
    files: &DevFiles,
) -> anyhow::Result<Option<PathBuf>> {
    if repo.tenant_count().await? == 0 {
        let credentials = create_tenant(repo, anchor, "dev").await?;
        write_private(&files.credentials, &serde_json::to_vec_pretty(&credentials)?)?;
    }
    let Ok(raw) = std::fs::read(&files.credentials) else {
        return Ok(None);
    };
    let credentials: TenantCredentials = serde_json::from_slice(&raw)?;
    let Some(app) = repo.app_by_client_id(&credentials.client_id).await? else {
        return Ok(None);
    };
    let token = keys.issue(
        &TenantId(app.tenant_id).identity(),
        &AppId(app.id).identity(),
        &credentials.client_id,
        serde_json::Map::new(),
    )?;
    write_private(&files.token, format!("Authorization: Bearer {token}\n").as_bytes())?;
    Ok(Some(files.token.clone()))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
