//! The seal log's service (see `crates/seallog`): its checkpoint key (a file, never the
//! database), an entry for each seal the sealer anchors, appended at the end of the round,
//! and a signed checkpoint after every round that moved the log.

use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::ids::TenantId;
use crate::repo::seallog::KnownHashes;
use crate::repo::Repo;
use merklelog::mmr::Hash;
use seallog::{checkpoint, SealEntry};

/// File name of the generated key, beside the embedded database.
pub const GENERATED_KEY_FILE: &str = "checkpoint-signing-key";

pub struct SealLog {
    /// The signed-note signer key (`PRIVATE+KEY+…`).
    skey: String,
    /// The verifier key anyone checks checkpoints with.
    pub vkey: String,
    /// Entries of seals anchored this round, appended at its end (and kept for the next
    /// round if the database refused them).
    pending: Mutex<Vec<Vec<u8>>>,
}

impl SealLog {
    /// The key in `path`; with `create_for`, a new key for that origin written there first
    /// (mode 0600) when the file does not exist.
    pub fn load(path: &Path, create_for: Option<&str>) -> anyhow::Result<Self> {
        let skey = match (std::fs::read_to_string(path), create_for) {
            (Ok(text), _) => text.trim().to_string(),
            (Err(err), Some(origin)) if err.kind() == std::io::ErrorKind::NotFound => {
                anyhow::ensure!(
                    checkpoint::valid_origin(origin),
                    "the seal log's origin {origin:?} is not a valid key name (no spaces or +)"
                );
                let (skey, _) = checkpoint::generate_key(&mut rand::rngs::OsRng, origin);
                super::signing::write_private(path, format!("{skey}\n").as_bytes())?;
                skey
            }
            (Err(err), _) => anyhow::bail!("reading the checkpoint signing key {}: {err}", path.display()),
        };
        let vkey = checkpoint::verifier_key(&skey).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Self {
            skey,
            vkey,
            pending: Mutex::default(),
        })
    }

    /// The log's origin: its key's name.
    pub fn origin(&self) -> &str {
        checkpoint::key_name(&self.skey).unwrap_or_default()
    }

    /// Records that `seal` of `tenant`'s log at `size` with `peaks` was anchored.
    pub fn anchored(&self, tenant: TenantId, size: u64, peaks: &[Hash], seal: &[u8]) {
        let mut digest = Sha256::new();
        peaks.iter().for_each(|peak| digest.update(peak));
        let entry = SealEntry {
            tenant: tenant.0,
            mmr_size: size,
            peaks_sha256: digest.finalize().into(),
            seal_sha256: Sha256::digest(seal).into(),
        };
        if let Ok(mut pending) = self.pending.lock() {
            pending.push(entry.encode());
        }
    }

    /// Appends the round's entries, then signs and stores a checkpoint if the log moved.
    pub async fn end_round(&self, repo: &dyn Repo) -> anyhow::Result<()> {
        let entries = self
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        if !entries.is_empty() {
            if let Err(err) = repo.append_seal_entries(&entries).await {
                if let Ok(mut pending) = self.pending.lock() {
                    pending.splice(0..0, entries);
                }
                return Err(err.into());
            }
        }
        let size = repo.seal_log_size().await?;
        let signed = repo.seal_log_checkpoint().await?.map_or(0, |(size, _)| size);
        if size <= signed {
            return Ok(());
        }
        let root = root(repo, size).await?;
        let note = checkpoint::sign(&self.skey, size, root)?;
        repo.store_seal_log_checkpoint(size, &note).await?;
        Ok(())
    }
}

/// The root of the seal log at `size`, from its stored hashes.
async fn root(repo: &dyn Repo, size: u64) -> anyhow::Result<seallog::Hash> {
    let indexes = seallog::sub_tree_index(0, size, Vec::new());
    let hashes = repo.seal_log_hashes(&indexes).await?;
    let known = KnownHashes::new(indexes.into_iter().zip(hashes).collect());
    Ok(seallog::tree_hash(size, &known)?)
}
