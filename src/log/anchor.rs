//! The log's anchor: each tenant's latest seal, with the peaks it signs, kept where the
//! metadata database cannot reach. The sealer takes its previous state from here (and from
//! memory), and proofs are checked against it, so rewriting the database's log, nodes or
//! seals cannot make attachd sign or serve a history it did not sign first.
//!
//! The anchor is also the authority on which tenants exist: a tenant's record is written
//! before anything of it is committed, as an empty log (`mmr_size` 0, no peaks, `seal` "").
//! A tenant the database holds but the anchor does not is never trusted.
//!
//! A record is `tenant-<uuid>.json` (never a name the content sweepers take for a blob):
//! `{"version":1,"tenant":"tenant/…","mmr_size":N,"massif_index":K,"peaks":[hex…],"seal":"<base64 COSE Sign1>"}`.
//! It only ever grows: a record is replaced only by one of a larger log (or, once, by the
//! same state sealed again with its peaks signed for receipts).
//!
//! Beside the records, `every-tenant-anchored` marks that every tenant of the deployment
//! has a record (the one-time step at the first start of a version that writes them).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use merklelog::mmr::Hash;

/// The folder of records inside a content store's directory or bucket prefix.
pub const ANCHOR_FOLDER: &str = ".attachd-log-anchor";

/// The marker of the one-time step that gave every tenant a record.
const EVERY_TENANT_MARKER: &str = "every-tenant-anchored";

/// A tenant's anchored state: a seal and the peaks it signs (none for an empty log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorRecord {
    pub tenant: TenantId,
    pub size: u64,
    pub massif_index: u64,
    pub peaks: Vec<Hash>,
    pub seal: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct RecordFile {
    version: u32,
    tenant: String,
    mmr_size: u64,
    massif_index: u64,
    peaks: Vec<String>,
    seal: String,
}

impl AnchorRecord {
    /// The record of a tenant whose log is empty: written as the tenant is created.
    pub fn empty(tenant: TenantId) -> Self {
        Self {
            tenant,
            size: 0,
            massif_index: 0,
            peaks: Vec::new(),
            seal: Vec::new(),
        }
    }

    /// Whether this record names an empty log.
    pub fn is_empty(&self) -> bool {
        self.size == 0 && self.peaks.is_empty() && self.seal.is_empty()
    }

    /// Whether `self` may replace `held`: a larger log, or the same state sealed again
    /// with its peaks signed (seals from before receipts).
    fn supersedes(&self, held: &AnchorRecord) -> bool {
        use merklelog::receipt::has_signed_peaks;
        self.size > held.size
            || (self.size == held.size
                && self.size > 0
                && self.peaks == held.peaks
                && !has_signed_peaks(&held.seal)
                && has_signed_peaks(&self.seal))
    }

    fn encode(&self) -> anyhow::Result<Vec<u8>> {
        let file = RecordFile {
            version: 1,
            tenant: self.tenant.identity(),
            mmr_size: self.size,
            massif_index: self.massif_index,
            peaks: self.peaks.iter().map(hex::encode).collect(),
            seal: base64::engine::general_purpose::STANDARD.encode(&self.seal),
        };
        Ok(serde_json::to_vec_pretty(&file)?)
    }

    fn decode(tenant: TenantId, bytes: &[u8]) -> anyhow::Result<Self> {
        let file: RecordFile = serde_json::from_slice(bytes)?;
        anyhow::ensure!(file.version == 1, "anchor record version {} is unknown", file.version);
        anyhow::ensure!(file.tenant == tenant.identity(), "the record names {}", file.tenant);
        let peaks = file
            .peaks
            .iter()
            .map(|p| {
                let bytes = hex::decode(p)?;
                Hash::try_from(bytes.as_slice()).map_err(|_| anyhow::anyhow!("a peak is not 32 bytes"))
            })
            .collect::<anyhow::Result<Vec<Hash>>>()?;
        Ok(Self {
            tenant,
            size: file.mmr_size,
            massif_index: file.massif_index,
            peaks,
            seal: base64::engine::general_purpose::STANDARD.decode(file.seal)?,
        })
    }
}

/// Where records are kept.
#[derive(Clone)]
pub enum Anchor {
    /// A directory: each record written to a temporary file, fsynced, renamed into place
    /// and the directory fsynced.
    Dir(PathBuf),
    /// An object per tenant under `prefix`, replaced only by a conditional put on the
    /// version read, so two processes sealing at once cannot make it go back.
    Objects {
        store: Arc<dyn ObjectStore>,
        prefix: String,
    },
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(dir) => write!(f, "file://{}", dir.display()),
            Self::Objects { store, prefix } => write!(f, "{store}/{prefix}"),
        }
    }
}

fn file_name(tenant: TenantId) -> String {
    format!("tenant-{}.json", tenant.0)
}

impl Anchor {
    /// Opens a directory anchor, creating it (mode 0700) if needed.
    pub fn dir(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating the log anchor {}: {e}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        Ok(Self::Dir(dir.to_path_buf()))
    }

    /// The tenant's record, as stored (not yet verified).
    pub async fn read(&self, tenant: TenantId) -> anyhow::Result<Option<AnchorRecord>> {
        Ok(self.read_versioned(tenant).await?.map(|(record, _)| record))
    }

    async fn read_versioned(&self, tenant: TenantId) -> anyhow::Result<Option<(AnchorRecord, Option<UpdateVersion>)>> {
        let bytes = match self {
            Self::Dir(dir) => match tokio::fs::read(dir.join(file_name(tenant))).await {
                Ok(bytes) => (bytes, None),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(err) => return Err(anyhow::anyhow!("reading the log anchor of {tenant}: {err}")),
            },
            Self::Objects { store, prefix } => {
                let path = object_store::path::Path::from(format!("{prefix}/{}", file_name(tenant)));
                match store.get(&path).await {
                    Ok(got) => {
                        let version = UpdateVersion {
                            e_tag: got.meta.e_tag.clone(),
                            version: got.meta.version.clone(),
                        };
                        (got.bytes().await?.to_vec(), Some(version))
                    }
                    Err(object_store::Error::NotFound { .. }) => return Ok(None),
                    Err(err) => return Err(anyhow::anyhow!("reading the log anchor of {tenant}: {err}")),
                }
            }
        };
        let (bytes, version) = bytes;
        let record = AnchorRecord::decode(tenant, &bytes)
            .map_err(|e| anyhow::anyhow!("the log anchor of {tenant} is unreadable: {e}"))?;
        Ok(Some((record, version)))
    }

    /// Keeps `record` unless the anchor holds one it does not supersede (of a log at least
    /// as large); answers the record the anchor holds afterwards. Two processes sealing the
    /// same size both get the first one's record, so exactly one seal per size is anchored.
    pub async fn write(&self, record: &AnchorRecord) -> anyhow::Result<AnchorRecord> {
        let bytes = record.encode()?;
        match self {
            Self::Dir(dir) => {
                let (dir, record) = (dir.clone(), record.clone());
                tokio::task::spawn_blocking(move || write_unless_superseded(&dir, record, &bytes)).await?
            }
            Self::Objects { store, prefix } => {
                let path = object_store::path::Path::from(format!("{prefix}/{}", file_name(record.tenant)));
                // Another process may replace it between the read and the put: read again.
                for _ in 0..8 {
                    let mode = match self.read_versioned(record.tenant).await? {
                        Some((held, _)) if !record.supersedes(&held) => return Ok(held),
                        Some((_, Some(version))) => PutMode::Update(version),
                        Some((_, None)) => PutMode::Overwrite,
                        None => PutMode::Create,
                    };
                    let options = PutOptions {
                        mode,
                        ..Default::default()
                    };
                    match store.put_opts(&path, bytes.clone().into(), options).await {
                        Ok(_) => return Ok(record.clone()),
                        Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) => {}
                        Err(err) => return Err(anyhow::anyhow!("writing the log anchor of {}: {err}", record.tenant)),
                    }
                }
                anyhow::bail!("the log anchor of {} kept changing while it was written", record.tenant)
            }
        }
    }

    /// Every tenant with a record.
    pub async fn tenants(&self) -> anyhow::Result<Vec<TenantId>> {
        let names: Vec<String> = match self {
            Self::Dir(dir) => {
                let mut names = Vec::new();
                let mut entries = tokio::fs::read_dir(dir).await?;
                while let Some(entry) = entries.next_entry().await? {
                    names.push(entry.file_name().to_string_lossy().into_owned());
                }
                names
            }
            Self::Objects { store, prefix } => {
                use futures::TryStreamExt;
                let root = object_store::path::Path::from(prefix.as_str());
                let listed: Vec<object_store::ObjectMeta> = store.list(Some(&root)).try_collect().await?;
                listed
                    .into_iter()
                    .filter_map(|meta| meta.location.filename().map(str::to_string))
                    .collect()
            }
        };
        Ok(names
            .iter()
            .filter_map(|name| name.strip_prefix("tenant-")?.strip_suffix(".json"))
            .filter_map(|uuid| uuid::Uuid::parse_str(uuid).ok())
            .map(TenantId)
            .collect())
    }

    /// Whether every tenant of the deployment has a record (the one-time step is done).
    pub async fn every_tenant_anchored(&self) -> anyhow::Result<bool> {
        match self {
            Self::Dir(dir) => Ok(tokio::fs::try_exists(dir.join(EVERY_TENANT_MARKER)).await?),
            Self::Objects { store, prefix } => {
                let path = object_store::path::Path::from(format!("{prefix}/{EVERY_TENANT_MARKER}"));
                match store.head(&path).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(err) => Err(anyhow::anyhow!("reading the log anchor's marker: {err}")),
                }
            }
        }
    }

    /// Marks that every tenant has a record: the one-time step never runs again, whatever
    /// the database says.
    pub async fn mark_every_tenant_anchored(&self) -> anyhow::Result<()> {
        let note = format!(
            "{{\"every_tenant_anchored_at\":\"{}\"}}\n",
            chrono::Utc::now().to_rfc3339()
        );
        match self {
            Self::Dir(dir) => {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || write_durably(&dir, EVERY_TENANT_MARKER, note.as_bytes()))
                    .await??;
            }
            Self::Objects { store, prefix } => {
                let path = object_store::path::Path::from(format!("{prefix}/{EVERY_TENANT_MARKER}"));
                store.put(&path, note.into_bytes().into()).await?;
            }
        }
        Ok(())
    }

    /// When the tenant's record was last written, if it exists.
    pub async fn modified(&self, tenant: TenantId) -> anyhow::Result<Option<std::time::SystemTime>> {
        match self {
            Self::Dir(dir) => match tokio::fs::metadata(dir.join(file_name(tenant))).await {
                Ok(meta) => Ok(Some(meta.modified()?)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(err) => Err(err.into()),
            },
            Self::Objects { store, prefix } => {
                let path = object_store::path::Path::from(format!("{prefix}/{}", file_name(tenant)));
                match store.head(&path).await {
                    Ok(meta) => Ok(Some(meta.last_modified.into())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(err) => Err(err.into()),
                }
            }
        }
    }

    /// Removes the tenant's record if it is still an empty log: a tenant whose creation
    /// failed after its record was written leaves nothing behind.
    pub async fn remove_empty(&self, tenant: TenantId) -> anyhow::Result<()> {
        match self.read(tenant).await? {
            Some(record) if record.is_empty() => self.remove(tenant).await,
            _ => Ok(()),
        }
    }

    /// Removes the tenant's record (only `attachd log audit --reanchor` does, before writing anew).
    pub async fn remove(&self, tenant: TenantId) -> anyhow::Result<()> {
        match self {
            Self::Dir(dir) => match tokio::fs::remove_file(dir.join(file_name(tenant))).await {
                Ok(()) => Ok(()),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(err) => Err(err.into()),
            },
            Self::Objects { store, prefix } => {
                let path = object_store::path::Path::from(format!("{prefix}/{}", file_name(tenant)));
                match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(err) => Err(err.into()),
                }
            }
        }
    }
}

/// Replaces the tenant's record unless `record` does not supersede it: under an exclusive
/// lock of the directory, so two processes sealing at once cannot make it go back.
fn write_unless_superseded(dir: &Path, record: AnchorRecord, bytes: &[u8]) -> anyhow::Result<AnchorRecord> {
    let _lock = lock_dir(dir)?;
    let name = file_name(record.tenant);
    match std::fs::read(dir.join(&name)) {
        Ok(held) => match AnchorRecord::decode(record.tenant, &held) {
            Ok(held) if !record.supersedes(&held) => return Ok(held),
            _ => {}
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.into()),
    }
    write_durably(dir, &name, bytes)?;
    Ok(record)
}

/// The directory's exclusive lock, held until the file is dropped.
fn lock_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(lock)
}

/// Writes `name` in `dir` so that it is either the old file or the whole new one, even
/// after a power loss.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, dir.join(name))?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}
