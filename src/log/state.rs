//! What the server holds for its log: the signing key (from a file, never the database),
//! the public keys it trusts for seals, the massif height, and the seals it has verified;
//! each tenant's trusted head, read from the anchor and checked with those keys; and what
//! the latest seal confirms, as event responses show it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use merklelog::mmr::{self, Hash};
use merklelog::seal::SealContents;
use merklelog::signing::{key_id, public_from_pem, SealKey};
use p384::ecdsa::VerifyingKey;
use sha2::{Digest, Sha256};

use super::anchor::AnchorRecord;
use super::trust::TrustError;
use crate::ids::TenantId;

/// DataTrails' massif height.
pub const DEFAULT_MASSIF_HEIGHT: u8 = 14;
/// The issuer named in seals.
pub const ISSUER: &str = "attachd";
/// File name of the generated key, beside the embedded database.
pub const GENERATED_KEY_FILE: &str = "log-signing-key.pem";

pub struct LogState {
    pub key: SealKey,
    /// Keys whose seals are believed: the signing key and any earlier ones configured.
    trusted: Vec<VerifyingKey>,
    pub massif_height: u8,
    /// How often the sealer looks for grown logs.
    pub seal_interval: std::time::Duration,
    /// Seals whose signature checked out, by the SHA-256 of their bytes: the state (with
    /// peaks) they sign.
    verified: moka::sync::Cache<[u8; 32], Arc<merklelog::seal::MmrState>>,
    /// Leaves proven to be at an index under a verified seal: (seal digest, index, leaf).
    /// A seal and a leaf never change, so neither does that fact.
    proven: moka::sync::Cache<([u8; 32], u64, Hash), ()>,
    /// Each tenant's latest seal as event responses show it. This process's sealer replaces
    /// an entry when it seals; a seal made by another process shows within the time to live.
    sealed_views: moka::sync::Cache<TenantId, Option<Arc<SealedView>>>,
    /// The anchored state of each tenant's log, and the tenants that failed a check.
    pub trust: super::trust::Trust,
    /// The seal log, when a checkpoint key is configured.
    pub seal_log: Option<super::seallog::SealLog>,
}

/// How long a tenant's seal view is reused before its latest seal is read again.
const SEALED_VIEW_TTL: std::time::Duration = std::time::Duration::from_millis(250);

/// Where the signing key comes from.
pub enum KeySource<'a> {
    /// A key file that must exist.
    File(&'a Path),
    /// The embedded default: a key kept in this directory, created on first start.
    DataDir(PathBuf),
}

impl LogState {
    pub fn new(
        source: KeySource,
        earlier_keys: &[PathBuf],
        massif_height: u8,
        seal_interval: std::time::Duration,
        anchor: super::anchor::Anchor,
        seal_log: Option<super::seallog::SealLog>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            (2..=30).contains(&massif_height),
            "the massif height must be between 2 and 30"
        );
        let key = match source {
            KeySource::File(path) => super::signing::load(path, false)?,
            KeySource::DataDir(dir) => super::signing::load(&dir.join(GENERATED_KEY_FILE), true)?,
        };
        let mut trusted = vec![*key.verifying()];
        for path in earlier_keys {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading the trusted log key {}: {e}", path.display()))?;
            trusted.push(public_from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?);
        }
        Ok(Self {
            key,
            trusted,
            massif_height,
            seal_interval,
            verified: moka::sync::Cache::new(4096),
            proven: moka::sync::Cache::new(100_000),
            sealed_views: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(SEALED_VIEW_TTL)
                .build(),
            trust: super::trust::Trust::new(anchor),
            seal_log,
        })
    }

    /// The trusted key a seal names, if it names one.
    pub fn trusted(&self, named: &VerifyingKey) -> Option<&VerifyingKey> {
        self.trusted.iter().find(|key| *key == named)
    }

    /// Every trusted public key, the signing key first.
    pub fn trusted_keys(&self) -> &[VerifyingKey] {
        &self.trusted
    }

    pub fn kid(&self) -> String {
        key_id(self.key.verifying())
    }

    /// The state a seal with these bytes was verified to sign, if it was.
    pub fn verified_state(&self, seal: &[u8]) -> Option<Arc<merklelog::seal::MmrState>> {
        self.verified.get(&seal_digest(seal))
    }

    pub fn remember_verified(&self, seal: &[u8], state: merklelog::seal::MmrState) {
        self.verified.insert(seal_digest(seal), Arc::new(state));
    }

    /// Whether `leaf` was proven at `index` under the seal with these bytes.
    pub fn was_proven(&self, seal: &[u8], index: u64, leaf: Hash) -> bool {
        self.proven.contains_key(&(seal_digest(seal), index, leaf))
    }

    pub fn remember_proven(&self, seal: &[u8], index: u64, leaf: Hash) {
        self.proven.insert((seal_digest(seal), index, leaf), ());
    }

    /// The tenant's remembered seal view: `None` when it must be read, `Some(None)` when
    /// the tenant had no seal.
    pub fn sealed_view(&self, tenant: TenantId) -> Option<Option<Arc<SealedView>>> {
        self.sealed_views.get(&tenant)
    }

    pub fn remember_sealed_view(&self, tenant: TenantId, view: Option<Arc<SealedView>>) {
        self.sealed_views.insert(tenant, view);
    }

    /// Forgets the tenant's seal view, after a new seal.
    pub fn forget_sealed_view(&self, tenant: TenantId) {
        self.sealed_views.invalidate(&tenant);
    }
}

fn seal_digest(seal: &[u8]) -> [u8; 32] {
    Sha256::digest(seal).into()
}

/// The path of massif `index` of `tenant`, as DataTrails names the blob.
pub fn massif_path(tenant: uuid::Uuid, index: u64) -> String {
    format!("v1/mmrs/tenant/{tenant}/0/massifs/{index:016}.log")
}

/// The latest seal of a tenant's log, read (not verified) for display, its fields encoded
/// once as the responses show them.
pub struct SealedView {
    pub size: u64,
    /// `size` in decimal.
    pub mmr_size: Arc<str>,
    /// When sealed, in Unix milliseconds (decimal).
    pub timestamp: Arc<str>,
    /// The idtimestamp of the last leaf sealed, in hex.
    pub idtimestamp: Arc<str>,
    /// The seal as published (COSE Sign1), in base64.
    pub signed_tree_head: Arc<str>,
    /// The log's peaks at `size`, highest first, in base64.
    peaks: Vec<Arc<str>>,
}

impl SealedView {
    /// The tenant's latest seal: remembered briefly, and replaced when this process seals.
    /// None for a tenant whose log the sealer refused: its events confirm nothing.
    pub async fn latest(log: &LogState, tenant: TenantId) -> Option<Arc<Self>> {
        if log.trust.refusal(tenant).is_some() {
            return None;
        }
        if let Some(view) = log.sealed_view(tenant) {
            return view;
        }
        let view = Self::read(log, tenant).await.map(Arc::new);
        log.remember_sealed_view(tenant, view.clone());
        view
    }

    /// Read from the anchored state, not the database's seals: a response never shows a
    /// confirmation the anchor does not hold. An anchor that cannot be read shows none.
    async fn read(log: &LogState, tenant: TenantId) -> Option<Self> {
        let record = match trusted_head(log, tenant, std::time::Duration::from_millis(250)).await {
            Ok(record) => record?,
            Err(err) => {
                tracing::warn!(%tenant, error = %err, "no seal shown: the log anchor cannot be used");
                return None;
            }
        };
        let contents = SealContents::parse(&record.seal).ok()?;
        let size = record.size;
        let b64 = base64::engine::general_purpose::STANDARD;
        Some(Self {
            size,
            mmr_size: size.to_string().into(),
            timestamp: contents.state.timestamp.to_string().into(),
            idtimestamp: merklelog::idtimestamp::to_hex(contents.state.idtimestamp).into(),
            signed_tree_head: b64.encode(&record.seal).into(),
            peaks: record.peaks.iter().map(|p| b64.encode(p).into()).collect(),
        })
    }

    /// The peak that commits leaf `index` (base64), when this seal covers it.
    pub fn root_of(&self, index: u64) -> Option<Arc<str>> {
        if index >= self.size {
            return None;
        }
        let path = mmr::inclusion_path(self.size, index);
        self.peaks
            .get(mmr::peak_index(self.size, mmr::index_height(index), path.len()))
            .cloned()
    }
}

/// The tenant's trusted state (see `trust::trusted_head`), its records checked against
/// this process's trusted keys.
pub async fn trusted_head(
    log: &LogState,
    tenant: TenantId,
    max_age: std::time::Duration,
) -> Result<Option<Arc<AnchorRecord>>, TrustError> {
    super::trust::trusted_head(&log.trust, tenant, max_age, |record| verify_record(log, record)).await
}

/// Checks a record's seal signs its size and peaks with a trusted key.
pub fn verify_record(log: &LogState, record: AnchorRecord) -> Result<AnchorRecord, TrustError> {
    let tenant = record.tenant;
    let untrusted = |why: String| TrustError::Untrusted(format!("the anchored seal of {tenant}: {why}"));
    // A tenant's first record: an empty log, with nothing to sign.
    if record.is_empty() {
        return Ok(record);
    }
    if let Some(state) = log.verified_state(&record.seal) {
        return match state.size == record.size && state.peaks == record.peaks {
            true => Ok(record),
            false => Err(untrusted("its size or peaks are not what the seal signs".into())),
        };
    }
    let contents = SealContents::parse(&record.seal).map_err(|e| untrusted(e.to_string()))?;
    if contents.state.size != record.size {
        return Err(untrusted("its size is not what the seal signs".into()));
    }
    let key = log.trusted(&contents.key).ok_or_else(|| {
        untrusted(format!(
            "signed by an untrusted key ({})",
            merklelog::signing::key_id(&contents.key)
        ))
    })?;
    contents
        .verify(&record.peaks, key)
        .map_err(|e| untrusted(e.to_string()))?;
    log.remember_verified(
        &record.seal,
        merklelog::seal::MmrState {
            peaks: record.peaks.clone(),
            ..contents.state
        },
    );
    Ok(record)
}
