//! What handlers are given: the application state, built from the settings.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::jwt::TokenKeys;
use crate::blob::UploadLimits;
use crate::config::ServeArgs;
use crate::repo::DynRepo;
use crate::{auth, blob, log, ratelimit, repo, scan, store};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub repo: DynRepo,
    pub keys: Arc<TokenKeys>,
    pub upload_limits: UploadLimits,
    /// Hash checked for unknown client ids, so a miss costs as much as a hit.
    pub decoy_hash: Arc<str>,
    /// `None` when rate limiting is off.
    pub rate_limits: Option<Arc<ratelimit::RateLimits>>,
    /// The external OpenID Connect issuer, when one is configured.
    pub oidc: Option<Arc<auth::oidc::Oidc>>,
    /// Signs list page tokens.
    pub page_keys: Arc<auth::page_keys::PageKeys>,
    /// The verifiable log's keys and settings.
    pub log: Arc<log::state::LogState>,
    /// Where blob content is kept.
    pub content: blob::Content,
    /// How old unowned stored content must be before the sweeper removes it.
    pub orphan_age: Duration,
    /// What other tenants share with a tenant.
    pub sharing: Arc<crate::sharing::Sharing>,
    /// Signed statements checked and recorded at once (see `STATEMENT_SLOTS`).
    pub statement_slots: Arc<tokio::sync::Semaphore>,
}

/// Statements read, checked and recorded at once: each takes about a dozen copies of
/// itself (up to 1 MiB) while it is parsed, hashed, rendered and stored, spread over the
/// threads that touch it. Two keep a server's peak under 150 MiB with 32 clients sending
/// 1 MiB statements at once (four reached 169 MiB); a statement takes milliseconds.
const STATEMENT_SLOTS: usize = 2;

/// The external issuer the settings name, if any.
impl axum::extract::FromRef<AppState> for auth::AuthState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            repo: state.repo.clone(),
            keys: state.keys.clone(),
            oidc: state.oidc.clone(),
            rate_limits: state.rate_limits.clone(),
        }
    }
}

async fn oidc(settings: &ServeArgs) -> anyhow::Result<Option<auth::oidc::Oidc>> {
    use auth::oidc::{JwksSource, Oidc};
    let Some(issuer) = settings.oidc_issuer.clone() else {
        return Ok(None);
    };
    let audience = settings
        .oidc_audience
        .clone()
        .ok_or_else(|| anyhow::anyhow!("ATTACHD_OIDC_ISSUER needs ATTACHD_OIDC_AUDIENCE"))?;
    let source = match (&settings.oidc_jwks_url, &settings.oidc_jwks_file) {
        (Some(url), _) => JwksSource::Url(url.clone()),
        (None, Some(path)) => JwksSource::File(path.clone()),
        (None, None) => anyhow::bail!("ATTACHD_OIDC_ISSUER needs ATTACHD_OIDC_JWKS_URL or ATTACHD_OIDC_JWKS_FILE"),
    };
    Ok(Some(
        Oidc::new(issuer, audience, settings.oidc_tenant_claim.clone(), source).await?,
    ))
}

/// Starts the malware scanner when a clamd is configured; it stops when `stop` turns true.
pub fn spawn_scanner(
    repo: DynRepo,
    store: store::DynStore,
    settings: &ServeArgs,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let Some(clamd) = settings.clamd.clone() else {
        tracing::info!("malware scanning is off (no ATTACHD_CLAMD): blobs stay NOT_SCANNED");
        return None;
    };
    let config = scan::ScannerConfig {
        clamd,
        store,
        interval: settings.scan_interval.0,
        max_bytes: settings.clamd_max_bytes,
    };
    Some(tokio::spawn(scan::run(repo, config, stop)))
}

/// A quota setting as stored: unset means unlimited.
fn quota_figure(setting: Option<u64>) -> i64 {
    setting.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX))
}

impl AppState {
    /// Resolves the signing key (flag, key file, or the one kept in the database).
    pub async fn new(repo: DynRepo, settings: &ServeArgs) -> anyhow::Result<Self> {
        let secret = auth::token_secret::resolve(
            repo.as_ref(),
            settings.jwt_secret.as_ref().map(|s| s.0.as_str()),
            settings.jwt_key_file.as_deref(),
        )
        .await?;
        if !store::CHUNK_BYTES.contains(&settings.chunk_bytes) {
            anyhow::bail!("chunk size must be between 4 KiB and 16 MiB");
        }
        if secret.len() < 32 {
            anyhow::bail!("the JWT signing secret must be at least 32 bytes");
        }
        let page_keys = Arc::new(auth::page_keys::PageKeys::derive(&secret));
        let log = Arc::new(log_state(repo.as_ref(), settings).await?);
        log::startup::prepare(repo.as_ref(), &log).await?;
        let content = content(repo.clone(), settings, &log).await?;
        let keys = TokenKeys::new(
            &secret,
            &settings.jwt_issuer,
            &settings.jwt_audience,
            Duration::from_secs(settings.token_ttl),
        );
        crate::metrics::handle();
        let decoy_hash =
            tokio::task::spawn_blocking(|| auth::secrets::hash_secret(&auth::secrets::generate_secret())).await??;
        Ok(Self {
            repo: repo.clone(),
            keys: Arc::new(keys),
            upload_limits: UploadLimits {
                max_blob_bytes: settings.max_blob_bytes,
                default_max_blobs: quota_figure(settings.quota_max_blobs),
                default_max_bytes: quota_figure(settings.quota_max_bytes),
                body_idle: settings.body_idle_timeout.0,
                chunk_bytes: settings.chunk_bytes,
            },
            decoy_hash: decoy_hash.into(),
            rate_limits: ratelimit::RateLimits::new(settings.rate_limit_per_second, settings.rate_limit_burst),
            oidc: oidc(settings).await?.map(Arc::new),
            page_keys,
            log,
            content,
            orphan_age: settings.store.store_orphan_age.0,
            sharing: Arc::new(crate::sharing::Sharing::new(repo.clone())),
            statement_slots: Arc::new(tokio::sync::Semaphore::new(STATEMENT_SLOTS)),
        })
    }
}

const MASSIF_HEIGHT_SETTING: &str = "log_massif_height";

/// Opens the content store, with the key its chunks' MACs are made with.
pub async fn content(
    repo: DynRepo,
    settings: &ServeArgs,
    log: &Arc<log::state::LogState>,
) -> anyhow::Result<blob::Content> {
    let macs = match &settings.store.chunk_mac_key {
        Some(path) => {
            let raw = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("reading the chunk MAC key {}: {e}", path.display()))?;
            blob::ChunkMacKey::derive(&raw)?
        }
        None => blob::ChunkMacKey::derive(&log.key.signing().to_bytes())?,
    };
    let mut watched: Vec<std::path::PathBuf> = repo.data_dir().into_iter().collect();
    if let store::StoreUrl::File(dir) = &settings.store.content_store {
        watched.push(dir.clone());
    }
    // Content in SQLite is written twice: to its log (WAL), then to the database file.
    let in_sqlite = repo.data_dir().is_some() && settings.store.content_store == store::StoreUrl::Database;
    let copies = if in_sqlite { 2 } else { 1 };
    let store = store::open_with_previous(
        &settings.store.content_store,
        settings.store.content_store_previous.as_ref(),
        repo,
        &settings.store.s3(),
    )
    .await?;
    tracing::info!(store = %settings.store.content_store, "content store open");
    Ok(blob::Content {
        store,
        macs: Arc::new(macs),
        log: log.clone(),
        reserve: store::reserve::SpaceReserve::new(watched, settings.store.min_free_space, copies),
    })
}

/// The log's signing key (the configured file, or on the embedded default one made beside
/// the database) and its massif height, which cannot change once chosen.
pub async fn log_state(repo: &dyn repo::Repo, settings: &ServeArgs) -> anyhow::Result<log::state::LogState> {
    use log::state::KeySource;
    let source = match (&settings.log_signing_key, repo.data_dir()) {
        (Some(path), _) => KeySource::File(path),
        (None, Some(dir)) => KeySource::DataDir(dir),
        (None, None) => anyhow::bail!(
            "a PostgreSQL deployment needs --log-signing-key (ATTACHD_LOG_SIGNING_KEY): an ECDSA P-384 \
             private key in PEM, the same file for every attachd process; make one with \
             `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out log-signing-key.pem`"
        ),
    };
    let height = settings.log_massif_height.to_string();
    let stored = repo.setting_or_insert(MASSIF_HEIGHT_SETTING, &height).await?;
    if stored != height {
        anyhow::bail!("this log's massif height is {stored}; it cannot change to {height}");
    }
    log::state::LogState::new(
        source,
        &settings.log_trusted_keys,
        settings.log_massif_height,
        settings.log_seal_interval.0,
        log_anchor(repo, settings)?,
        seal_log(repo, settings)?,
    )
}

/// The seal log's checkpoint key: the configured file, or on the embedded default one made
/// beside the database for `--seallog-origin`. A server database without one has no seal log.
fn seal_log(repo: &dyn repo::Repo, settings: &ServeArgs) -> anyhow::Result<Option<log::seallog::SealLog>> {
    use log::seallog::{SealLog, GENERATED_KEY_FILE};
    Ok(match (&settings.checkpoint_signing_key, repo.data_dir()) {
        (Some(path), _) => Some(SealLog::load(path, None)?),
        (None, Some(dir)) => Some(SealLog::load(
            &dir.join(GENERATED_KEY_FILE),
            Some(&settings.seallog_origin),
        )?),
        (None, None) => {
            tracing::warn!("no --checkpoint-signing-key (ATTACHD_CHECKPOINT_SIGNING_KEY): the seal log is off");
            None
        }
    })
}

/// Where each tenant's latest seal is kept outside the database (see `--log-anchor`).
pub fn log_anchor(repo: &dyn repo::Repo, settings: &ServeArgs) -> anyhow::Result<log::anchor::Anchor> {
    use log::anchor::{Anchor, ANCHOR_FOLDER};
    use store::StoreUrl;
    let objects = |bucket: &str, prefix: String| -> anyhow::Result<Anchor> {
        Ok(Anchor::Objects {
            store: store::s3::anchor_client(bucket, &settings.store.s3())?,
            prefix,
        })
    };
    match (&settings.log_anchor, repo.data_dir(), &settings.store.content_store) {
        (Some(StoreUrl::File(dir)), _, _) => Anchor::dir(dir),
        (Some(StoreUrl::S3 { bucket, prefix }), _, _) => objects(bucket, prefix.trim_matches('/').to_string()),
        (Some(StoreUrl::Database), _, _) => {
            anyhow::bail!("the log anchor must be outside the database: file:///DIR or s3://BUCKET/PREFIX")
        }
        (None, Some(dir), _) => Anchor::dir(&dir.join("log-anchor")),
        (None, None, StoreUrl::File(dir)) => Anchor::dir(&dir.join(ANCHOR_FOLDER)),
        (None, None, StoreUrl::S3 { bucket, prefix }) => {
            let prefix = prefix.trim_matches('/');
            objects(
                bucket,
                match prefix.is_empty() {
                    true => ANCHOR_FOLDER.to_string(),
                    false => format!("{prefix}/{ANCHOR_FOLDER}"),
                },
            )
        }
        (None, None, StoreUrl::Database) => anyhow::bail!(
            "a PostgreSQL deployment whose content is in the database needs --log-anchor \
             (ATTACHD_LOG_ANCHOR): file:///DIR or s3://BUCKET/PREFIX, a place the database does not \
             control where each tenant's latest seal is kept; every attachd process names the same"
        ),
    }
}
