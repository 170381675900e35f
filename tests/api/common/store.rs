//! The content stores tests run on (the `stores!`/`all_stores!` axis), and reaching behind
//! attachd into them: which blobs have content there, and altering a byte of it, as an
//! attacker with access to the store would.

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use attachd::config::ServeArgs;

use super::{seaweedfs, Backend, TestDb};
use attachd::store::StoreUrl;

/// Where a test's server keeps blob content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Database,
    File,
    S3,
}

tokio::task_local! {
    /// The content store the test running in this task uses (the database when unset).
    pub static STORE: Store;
}

/// The content store of the test running in this task.
pub fn current_store() -> Store {
    STORE.try_with(|store| *store).unwrap_or(Store::Database)
}

/// Runs `async fn NAME(backend: Backend)` on SQLite and PostgreSQL with content in the
/// database, and on PostgreSQL with content in S3 (SeaweedFS).
#[macro_export]
macro_rules! stores {
    ($($name:ident),+ $(,)?) => { $crate::store_matrix!(without_file; $($name),+); };
}

/// `stores!`, and SQLite with content in a directory as well.
#[macro_export]
macro_rules! all_stores {
    ($($name:ident),+ $(,)?) => { $crate::store_matrix!(with_file; $($name),+); };
}

#[macro_export]
macro_rules! store_matrix {
    ($file:ident; $($name:ident),+) => {$(
        mod $name {
            #[allow(unused_imports)]
            use $crate::common::{Backend, Store, STORE};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                super::$name(Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_s3() -> anyhow::Result<()> {
                STORE.scope(Store::S3, super::$name(Backend::Postgres)).await
            }
            $crate::file_store_test!($file, $name);
        }
    )+};
}

#[macro_export]
macro_rules! file_store_test {
    (without_file, $name:ident) => {};
    (with_file, $name:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite_file() -> anyhow::Result<()> {
            STORE.scope(Store::File, super::$name(Backend::Sqlite)).await
        }
    };
}

/// Where a test database's blob content is kept.
pub struct ContentPlace {
    pub store: Store,
    pub url: attachd::store::StoreUrl,
    _dir: Option<tempfile::TempDir>,
}

impl ContentPlace {
    /// A new, empty place of the running test's kind.
    pub fn new() -> anyhow::Result<Self> {
        Self::of(current_store())
    }

    /// Content in the metadata database.
    pub fn database() -> Self {
        Self {
            store: Store::Database,
            url: StoreUrl::Database,
            _dir: None,
        }
    }

    pub fn of(store: Store) -> anyhow::Result<Self> {
        Ok(match store {
            Store::Database => Self::database(),
            Store::File => {
                let dir = tempfile::tempdir()?;
                Self {
                    store,
                    url: StoreUrl::File(dir.path().join("content")),
                    _dir: Some(dir),
                }
            }
            Store::S3 => {
                seaweedfs::seaweed()?;
                Self {
                    store,
                    url: StoreUrl::S3 {
                        bucket: seaweedfs::BUCKET.into(),
                        prefix: format!("t-{}", uuid::Uuid::new_v4().simple()),
                    },
                    _dir: None,
                }
            }
        })
    }

    /// Points `settings` at this place.
    pub fn configure(&self, settings: &mut ServeArgs) -> anyhow::Result<()> {
        settings.store.content_store = self.url.clone();
        if self.store == Store::S3 {
            seaweedfs::seaweed()?.configure(settings);
        }
        Ok(())
    }
}

/// The blobs (by id) with content in the store, whether visible or still staged.
pub async fn content_blobs(db: &TestDb) -> anyhow::Result<Vec<uuid::Uuid>> {
    content_blobs_in(&db.content).await
}

/// `content_blobs` of a place outside the database.
pub async fn content_blobs_in(place: &ContentPlace) -> anyhow::Result<Vec<uuid::Uuid>> {
    let names: Vec<String> = match &place.url {
        StoreUrl::Database => anyhow::bail!("the database store's content is in blob_chunks"),
        StoreUrl::File(root) => {
            let mut names = Vec::new();
            if let Ok(tenants) = std::fs::read_dir(root) {
                for tenant in tenants {
                    for file in std::fs::read_dir(tenant?.path())? {
                        names.push(file?.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            names
        }
        StoreUrl::S3 { prefix, .. } => {
            let client = seaweedfs::seaweed()?.client()?;
            let objects: Vec<object_store::ObjectMeta> =
                client.list(Some(&prefix.as_str().into())).try_collect().await?;
            objects
                .iter()
                .filter_map(|meta| meta.location.filename().map(str::to_string))
                .collect()
        }
    };
    let mut blobs: Vec<uuid::Uuid> = names
        .iter()
        .filter_map(|name| uuid::Uuid::parse_str(name.get(..36)?).ok())
        .collect();
    blobs.sort();
    blobs.dedup();
    Ok(blobs)
}

/// Changes the byte at `offset` of a blob's stored content.
pub async fn corrupt_byte(db: &TestDb, blob: &str, offset: u64) -> anyhow::Result<()> {
    corrupt_byte_in(db, &db.content, blob, offset).await
}

/// `corrupt_byte` in `place`, one of `db`'s stores.
pub async fn corrupt_byte_in(db: &TestDb, place: &ContentPlace, blob: &str, offset: u64) -> anyhow::Result<()> {
    let chunk_bytes = attachd::blob::DEFAULT_CHUNK_BYTES as u64;
    let id = uuid::Uuid::parse_str(blob)?;
    match &place.url {
        StoreUrl::Database => {
            let (seq, at) = (offset / chunk_bytes, offset % chunk_bytes);
            let sql = match db.backend {
                Backend::Postgres => format!(
                    "UPDATE blob_chunks SET data = set_byte(data, {at}, (get_byte(data, {at}) + 1) % 256) \
                     WHERE blob_id = '{id}' AND seq = {seq}"
                ),
                Backend::Sqlite => format!(
                    "UPDATE blob_chunks SET data = substr(data, 1, {at}) \
                     || (CASE WHEN substr(data, {at} + 1, 1) = X'00' THEN X'01' ELSE X'00' END) \
                     || substr(data, {at} + 2) WHERE blob_id = X'{}' AND seq = {seq}",
                    id.simple()
                ),
            };
            anyhow::ensure!(db.execute(&sql).await? == 1, "no chunk {seq} of {blob}");
        }
        StoreUrl::File(root) => {
            let path = find_file(root, &id)?;
            let mut bytes = std::fs::read(&path)?;
            flip(&mut bytes, offset)?;
            std::fs::write(&path, bytes)?;
        }
        StoreUrl::S3 { prefix, .. } => {
            let client = seaweedfs::seaweed()?.client()?;
            let objects: Vec<object_store::ObjectMeta> =
                client.list(Some(&prefix.as_str().into())).try_collect().await?;
            let meta = objects
                .iter()
                .find(|meta| meta.location.filename() == Some(blob))
                .ok_or_else(|| anyhow::anyhow!("no object for {blob}"))?;
            let mut bytes = client.get(&meta.location).await?.bytes().await?.to_vec();
            flip(&mut bytes, offset)?;
            client.put(&meta.location, bytes.into()).await?;
        }
    }
    Ok(())
}

/// Removes a blob's stored content altogether.
pub async fn delete_content(db: &TestDb, blob: &str) -> anyhow::Result<()> {
    delete_content_in(db, &db.content, blob).await
}

/// `delete_content` in `place`, one of `db`'s stores.
pub async fn delete_content_in(db: &TestDb, place: &ContentPlace, blob: &str) -> anyhow::Result<()> {
    let id = uuid::Uuid::parse_str(blob)?;
    match &place.url {
        StoreUrl::Database => {
            db.execute(&format!("DELETE FROM blob_chunks WHERE blob_id = {}", db.uuid(&id)))
                .await?;
        }
        StoreUrl::File(root) => std::fs::remove_file(find_file(root, &id)?)?,
        StoreUrl::S3 { prefix, .. } => {
            let client = seaweedfs::seaweed()?.client()?;
            let objects: Vec<object_store::ObjectMeta> =
                client.list(Some(&prefix.as_str().into())).try_collect().await?;
            for meta in objects.iter().filter(|meta| meta.location.filename() == Some(blob)) {
                client.delete(&meta.location).await?;
            }
        }
    }
    Ok(())
}

/// The file holding a blob's content in a `file://` place.
pub fn content_file(place: &ContentPlace, blob: &str) -> anyhow::Result<std::path::PathBuf> {
    match &place.url {
        StoreUrl::File(root) => find_file(root, &uuid::Uuid::parse_str(blob)?),
        other => anyhow::bail!("{other} keeps no files"),
    }
}

fn find_file(root: &std::path::Path, id: &uuid::Uuid) -> anyhow::Result<std::path::PathBuf> {
    for tenant in std::fs::read_dir(root)? {
        let path = tenant?.path().join(id.to_string());
        if path.is_file() {
            return Ok(path);
        }
    }
    anyhow::bail!("no file for {id}")
}

fn flip(bytes: &mut [u8], offset: u64) -> anyhow::Result<()> {
    let at = usize::try_from(offset)?;
    let byte = bytes
        .get_mut(at)
        .ok_or_else(|| anyhow::anyhow!("offset {offset} is past the content"))?;
    *byte = byte.wrapping_add(1);
    Ok(())
}

/// The S3 multipart upload an upload in progress recorded in the ledger: object path and id.
pub async fn multipart_upload(db: &TestDb) -> anyhow::Result<Option<(object_store::path::Path, String)>> {
    let StoreUrl::S3 { prefix, .. } = &db.content.url else {
        return Ok(None);
    };
    let rows: Vec<(uuid::Uuid, uuid::Uuid, String)> = match db.backend {
        Backend::Postgres => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&db.url).await?;
            sqlx::query_as("SELECT tenant_id, blob_id, cleanup_id FROM blob_uploads WHERE cleanup_id IS NOT NULL")
                .fetch_all(&mut conn)
                .await?
        }
        Backend::Sqlite => anyhow::bail!("the S3 tests run on PostgreSQL"),
    };
    let (tenant, blob, id) = rows
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no multipart upload is recorded"))?;
    Ok(Some((format!("{prefix}/{tenant}/{blob}").into(), id)))
}

/// Fails unless the multipart upload `id` is gone (aborted): a part cannot be added to it.
pub async fn assert_aborted(path: &object_store::path::Path, id: &String) -> anyhow::Result<()> {
    use object_store::multipart::MultipartStore;
    let client = seaweedfs::seaweed()?.client()?;
    let added = client
        .put_part(path, id, 5, bytes::Bytes::from_static(b"late").into())
        .await;
    anyhow::ensure!(added.is_err(), "multipart upload {id} was left open");
    Ok(())
}
