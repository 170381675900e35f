//! The log's anchor: each tenant's latest seal, with the peaks it signs, kept where the
//! metadata database cannot reach. The sealer takes its previous state from here (and from
//! memory), and proofs are checked against it, so rewriting the database's log, nodes or
//! seals cannot make attachd sign or serve a history it did not sign first.
//!
//! A record is `tenant-<uuid>.json` (never a name the content sweepers take for a blob):
//! `{"version":1,"tenant":"tenant/…","mmr_size":N,"massif_index":K,"peaks":[hex…],"seal":"<base64 COSE Sign1>"}`.
//! It only ever grows: a record is replaced only by one of a larger log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::ids::TenantId;
use merklelog::mmr::Hash;

/// The folder of records inside a content store's directory or bucket prefix.
pub const ANCHOR_FOLDER: &str = ".attachd-log-anchor";

/// A tenant's anchored state: a seal and the peaks it signs.
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

    /// Keeps `record` unless the anchor holds one of a log at least as large.
    pub async fn write(&self, record: &AnchorRecord) -> anyhow::Result<()> {
        let bytes = record.encode()?;
        match self {
            Self::Dir(dir) => {
                let (dir, tenant, size) = (dir.clone(), record.tenant, record.size);
                tokio::task::spawn_blocking(move || write_if_larger(&dir, tenant, size, &bytes)).await??;
                Ok(())
            }
            Self::Objects { store, prefix } => {
                let path = object_store::path::Path::from(format!("{prefix}/{}", file_name(record.tenant)));
                // Another process may replace it between the read and the put: read again.
                for _ in 0..8 {
                    let mode = match self.read_versioned(record.tenant).await? {
                        Some((held, _)) if held.size >= record.size => return Ok(()),
                        Some((_, Some(version))) => PutMode::Update(version),
                        Some((_, None)) => PutMode::Overwrite,
                        None => PutMode::Create,
                    };
                    let options = PutOptions {
                        mode,
                        ..Default::default()
                    };
                    match store.put_opts(&path, bytes.clone().into(), options).await {
                        Ok(_) => return Ok(()),
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

/// Replaces the tenant's record unless it holds a log at least as large: under an exclusive
/// lock of the directory, so two processes sealing at once cannot make it go back.
fn write_if_larger(dir: &Path, tenant: TenantId, size: u64, bytes: &[u8]) -> anyhow::Result<()> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)?;
    let name = file_name(tenant);
    match std::fs::read(dir.join(&name)) {
        Ok(held) if AnchorRecord::decode(tenant, &held).is_ok_and(|held| held.size >= size) => return Ok(()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err.into()),
    }
    write_durably(dir, &name, bytes)?;
    Ok(())
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
