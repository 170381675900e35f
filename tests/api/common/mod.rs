//! Test harness: the real server on 127.0.0.1:0 over a real database of either backend.

pub mod audit;
pub mod clamd;
pub mod podman;
pub mod postgres;
pub mod raw;
pub mod resources;
pub mod seaweedfs;
pub mod store;

pub use store::{ContentPlace, Store, STORE};
pub mod tools;

use std::time::{Duration, Instant};

use anyhow::Context;
use attachd::config::ServeArgs;
use attachd::tenants::{create_tenant, TenantCredentials};
use attachd::AppState;
use clap::Parser;
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `async fn NAME(backend: Backend) -> anyhow::Result<()>` once per backend.
#[macro_export]
macro_rules! both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )+};
}

/// A fresh database of one backend, and a content store of the running test's kind,
/// removed with the test.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub content: ContentPlace,
    /// The log anchor of a PostgreSQL deployment whose content is in the database (which
    /// must name one); SQLite's is beside its file.
    pub anchor: tempfile::TempDir,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> anyhow::Result<Self> {
        let content = ContentPlace::new()?;
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("attachd.db").display());
                Ok(Self {
                    backend,
                    url,
                    content,
                    anchor: tempfile::tempdir()?,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres => Ok(Self {
                backend,
                url: postgres::cluster()?.create_database().await?,
                content,
                anchor: tempfile::tempdir()?,
                _dir: None,
            }),
        }
    }

    /// A database at `url` that something else made (and removes).
    pub fn at(backend: Backend, url: String) -> anyhow::Result<Self> {
        Ok(Self {
            backend,
            url,
            content: ContentPlace::database(),
            anchor: tempfile::tempdir()?,
            _dir: None,
        })
    }

    /// A number from a query run straight against the database, e.g. a row count.
    pub async fn scalar(&self, sql: &str) -> anyhow::Result<i64> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
                sqlx::query_scalar(sql).fetch_one(&mut conn).await?
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::query_scalar(sql).fetch_one(&mut conn).await?
            }
        })
    }

    /// Runs a statement straight against the database (to alter stored content, say).
    pub async fn execute(&self, sql: &str) -> anyhow::Result<u64> {
        Ok(match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
                sqlx::query(sql).execute(&mut conn).await?.rows_affected()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::query(sql).execute(&mut conn).await?.rows_affected()
            }
        })
    }

    /// Blobs with content stored but no blob row: staged uploads, or leftovers.
    pub async fn staged_chunks(&self) -> anyhow::Result<i64> {
        if self.content.store == Store::Database {
            return self
                .scalar(
                    "SELECT COUNT(*) FROM blob_chunks c \
                     WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = c.blob_id)",
                )
                .await;
        }
        // An S3 multipart upload under way is listed nowhere but in the ledger.
        let mut staged = self
            .scalar("SELECT COUNT(*) FROM blob_uploads WHERE cleanup_id IS NOT NULL")
            .await?;
        for blob in store::content_blobs(self).await? {
            if self
                .scalar(&format!("SELECT COUNT(*) FROM blobs WHERE id = {}", self.uuid(&blob)))
                .await?
                == 0
            {
                staged += 1;
            }
        }
        Ok(staged)
    }

    /// How many blobs have content in the store, visible or not.
    pub async fn stored_content(&self) -> anyhow::Result<i64> {
        if self.content.store == Store::Database {
            return self.scalar("SELECT COUNT(DISTINCT blob_id) FROM blob_chunks").await;
        }
        Ok(i64::try_from(store::content_blobs(self).await?.len())?)
    }

    /// Whether any upload is staged: listed as in progress, or holding invisible content.
    pub async fn upload_staged(&self) -> anyhow::Result<bool> {
        Ok(self.scalar("SELECT COUNT(*) FROM blob_uploads").await? > 0 || self.staged_chunks().await? > 0)
    }

    /// A uuid as a literal of this database's SQL.
    pub fn uuid(&self, id: &uuid::Uuid) -> String {
        match self.backend {
            Backend::Sqlite => format!("X'{}'", id.simple()),
            Backend::Postgres => format!("'{id}'"),
        }
    }

    /// Alters one byte of stored content, behind attachd's back: the first of chunk `seq`.
    pub async fn corrupt_chunk(&self, blob: &str, seq: u64) -> anyhow::Result<()> {
        store::corrupt_byte(self, blob, seq * attachd::blob::DEFAULT_CHUNK_BYTES as u64).await
    }
}

/// Polls `check` until it holds, failing after `limit`.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the server at `base` answers `/readyz` with 200 (a process just started).
pub async fn until_ready(http: &reqwest::Client, base: &str, limit: Duration) -> anyhow::Result<()> {
    eventually("the server is ready", limit, || async {
        Ok(http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200))
    })
    .await
}

/// A file in a directory shared by this run's tests, made once by `make` (under a lock).
fn shared_file(
    name: &str,
    make: impl FnOnce(&std::path::Path) -> anyhow::Result<()>,
) -> anyhow::Result<std::path::PathBuf> {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = MADE.lock().map_err(|_| anyhow::anyhow!("shared file lock poisoned"))?;
    let dir = match DIR.get() {
        Some(dir) => dir,
        None => {
            let _ = DIR.set(tempfile::tempdir()?);
            DIR.get().ok_or_else(|| anyhow::anyhow!("no shared directory"))?
        }
    };
    let path = dir.path().join(name);
    if !path.exists() {
        make(&path)?;
    }
    Ok(path)
}

/// One log signing key file for the PostgreSQL tests of this run.
pub fn shared_log_key() -> anyhow::Result<std::path::PathBuf> {
    shared_file("log-signing-key.pem", |path| {
        attachd::log::signing::load(path, true).map(|_| ())
    })
}

/// One seal-log checkpoint key file for the PostgreSQL tests of this run.
pub fn shared_checkpoint_key() -> anyhow::Result<std::path::PathBuf> {
    shared_file("checkpoint-signing-key", |path| {
        attachd::log::seallog::SealLog::load(path, Some("attachd.test/seallog")).map(|_| ())
    })
}

/// One token signing secret file for the PostgreSQL tests of this run (a server database
/// names its file, as production does).
pub fn shared_token_secret() -> anyhow::Result<std::path::PathBuf> {
    shared_file("token-signing-secret", |path| {
        Ok(std::fs::write(path, attachd::auth::secrets::generate_secret())?)
    })
}

/// Settings as a fresh install has them.
pub fn default_settings() -> ServeArgs {
    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        serve: ServeArgs,
    }
    Only::parse_from(["attachd"]).serve
}

/// The server running in this process.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub addr: std::net::SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    scanner_stop: tokio::sync::watch::Sender<bool>,
}

impl TestApp {
    pub async fn start(db: &TestDb) -> anyhow::Result<Self> {
        Self::start_with(db, default_settings()).await
    }

    pub async fn start_with(db: &TestDb, mut settings: ServeArgs) -> anyhow::Result<Self> {
        if settings.store.content_store == attachd::store::StoreUrl::Database {
            db.content.configure(&mut settings)?;
        }
        if settings.log_signing_key.is_none() && matches!(db.backend, Backend::Postgres) {
            // A server database has no data directory: the key is a file, as in production.
            settings.log_signing_key = Some(shared_log_key()?);
        }
        if settings.checkpoint_signing_key.is_none() && matches!(db.backend, Backend::Postgres) {
            settings.checkpoint_signing_key = Some(shared_checkpoint_key()?);
        }
        if settings.jwt_secret.is_none() && settings.jwt_key_file.is_none() && matches!(db.backend, Backend::Postgres) {
            settings.jwt_key_file = Some(shared_token_secret()?);
        }
        let content_in_database = settings.store.content_store == attachd::store::StoreUrl::Database;
        if settings.log_anchor.is_none() && matches!(db.backend, Backend::Postgres) && content_in_database {
            settings.log_anchor = Some(attachd::store::StoreUrl::File(db.anchor.path().to_path_buf()));
        }
        let repo = attachd::repo::connect(&db.url).await?;
        let state = AppState::new(repo, &settings).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let (scanner_stop, stopped) = tokio::sync::watch::channel(false);
        attachd::state::spawn_scanner(state.repo.clone(), state.content.store.clone(), &settings, stopped);
        let task = tokio::spawn(attachd::serve(
            state.clone(),
            listener,
            settings.header_read_timeout.0,
            async move {
                let _ = rx.await;
            },
        ));
        Ok(Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            state,
            addr,
            shutdown: Some(tx),
            task: Some(task),
            scanner_stop,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Asks the server to stop (as SIGTERM does) without waiting.
    pub fn begin_shutdown(&mut self) {
        let _ = self.scanner_stop.send(true);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the server and waits until in-flight requests are done.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        if let Some(task) = self.task.take() {
            task.await??;
        }
        Ok(())
    }

    /// A new tenant and a bearer token for it, obtained from the token endpoint.
    pub async fn tenant(&self) -> anyhow::Result<Tenant> {
        let credentials = create_tenant(self.state.repo.as_ref(), &self.state.log.trust.anchor, "test").await?;
        let token = self.token_for(&credentials).await?;
        Ok(Tenant { credentials, token })
    }

    /// The token endpoint's answer to these client credentials.
    pub async fn token_response(&self, credentials: &TenantCredentials) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .post(self.url("/archivist/iam/v1/appidp/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", credentials.client_id.as_str()),
                ("client_secret", credentials.client_secret.as_str()),
            ])
            .send()
            .await?)
    }

    pub async fn token_for(&self, credentials: &TenantCredentials) -> anyhow::Result<String> {
        let response = self.token_response(credentials).await?;
        anyhow::ensure!(response.status() == 200, "token endpoint said {}", response.status());
        let body: Value = response.json().await?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .context("no access_token in the token response")
    }

    /// Uploads `content` as part `file` and returns the JSON answer.
    pub async fn upload(&self, token: &str, name: &str, content: Vec<u8>) -> anyhow::Result<Value> {
        let response = self.upload_request(token, name, content).send().await?;
        let status = response.status();
        let body: Value = response.json().await?;
        anyhow::ensure!(status == 200, "upload answered {status}: {body}");
        Ok(body)
    }
}

impl TestApp {
    /// A blob upload of `content` as file `name`, to send and judge by hand.
    pub fn upload_request(&self, token: &str, name: &str, content: Vec<u8>) -> reqwest::RequestBuilder {
        let part = reqwest::multipart::Part::bytes(content).file_name(name.to_string());
        self.http
            .post(self.url("/archivist/v1/blobs"))
            .bearer_auth(token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
    }

    /// Downloads a blob, or `range` of it: the status, and the bytes unless the transfer was cut.
    pub async fn download(
        &self,
        token: &str,
        blob: &str,
        range: Option<&str>,
    ) -> anyhow::Result<(u16, Option<Vec<u8>>)> {
        let mut request = self
            .http
            .get(self.url(&format!("/archivist/v1/blobs/{blob}")))
            .bearer_auth(token);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await.ok().map(|b| b.to_vec())))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

pub struct Tenant {
    pub credentials: TenantCredentials,
    pub token: String,
}

/// The bare uuid of an identity such as `blobs/<uuid>`.
pub fn bare_id(identity: &Value) -> String {
    identity
        .as_str()
        .and_then(|s| s.rsplit('/').next())
        .unwrap_or_default()
        .to_string()
}

/// Deterministic pseudo-random bytes (not compressible, fast to make).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut bytes = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

impl TestApp {
    /// `POST path` with a JSON body; the status and JSON answer.
    pub async fn post_json(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        Ok((response.status().as_u16(), response.json().await?))
    }

    /// `GET path`, with a token or none; the status and JSON answer.
    pub async fn get_json(&self, token: Option<&str>, path: &str) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        Ok((response.status().as_u16(), response.json().await?))
    }

    /// `GET path` as raw bytes: the status and the body, or `None` if the transfer failed.
    pub async fn get_bytes(&self, token: Option<&str>, path: &str) -> anyhow::Result<(u16, Option<Vec<u8>>)> {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.bytes().await.ok().map(|b| b.to_vec())))
    }

    /// Creates an asset and returns its JSON.
    pub async fn create_asset(&self, token: &str, attributes: Value, public: bool) -> anyhow::Result<Value> {
        let body = serde_json::json!({"behaviours": ["RecordEvidence"], "attributes": attributes, "public": public});
        let (status, asset) = self.post_json(token, "/archivist/v2/assets", &body).await?;
        anyhow::ensure!(status == 200, "asset create answered {status}: {asset}");
        Ok(asset)
    }
}

/// The attachment attribute DataTrails' docs show, for an uploaded blob's JSON.
pub fn attachment(blob: &Value, file_name: &str) -> Value {
    serde_json::json!({
        "arc_attribute_type": "arc_attachment",
        "arc_blob_identity": blob["identity"],
        "arc_blob_hash_alg": "SHA256",
        "arc_blob_hash_value": blob["hash"]["value"],
        "arc_file_name": file_name,
        "arc_display_name": file_name,
    })
}

/// Every route that downloads `blob`'s content: the blob itself and each attachment route,
/// for an asset (public, so its public routes serve it) holding it, an event of that asset
/// and an asset-free event naming it.
pub fn download_routes(asset: &str, event: &str, free_event: &str, blob: &str) -> [String; 6] {
    [
        format!("/archivist/v1/blobs/{blob}"),
        format!("/archivist/v2/attachments/assets/{asset}/{blob}"),
        format!("/archivist/v2/attachments/assets/{asset}/events/{event}/{blob}"),
        format!("/archivist/v2/attachments/events/{free_event}/{blob}"),
        format!("/archivist/v2/attachments/publicassets/{asset}/{blob}"),
        format!("/archivist/v2/attachments/publicassets/{asset}/events/{event}/{blob}"),
    ]
}
