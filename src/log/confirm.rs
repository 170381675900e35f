//! What a tenant's latest seal confirms, shown in event responses as `merklelog_entry`.

use std::sync::Arc;

use base64::Engine;

use super::mmr::{self, Hash};
use super::seal::SealContents;
use super::state::LogState;
use crate::ids::TenantId;
use crate::repo::{Repo, RepoResult};

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
    pub async fn latest(repo: &dyn Repo, log: &LogState, tenant: TenantId) -> RepoResult<Option<Arc<Self>>> {
        if let Some(view) = log.sealed_view(tenant) {
            return Ok(view);
        }
        let view = Self::read(repo, tenant).await?.map(Arc::new);
        log.remember_sealed_view(tenant, view.clone());
        Ok(view)
    }

    async fn read(repo: &dyn Repo, tenant: TenantId) -> RepoResult<Option<Self>> {
        let Some(stored) = repo.latest_seal(tenant).await? else {
            return Ok(None);
        };
        let Ok(contents) = SealContents::parse(&stored.seal) else {
            // Not ours to show; a download reports it.
            return Ok(None);
        };
        let size = contents.state.size;
        let indices = mmr::peaks(size);
        let nodes = repo.log_nodes_at(tenant, &indices).await?;
        let Some(peaks) = indices
            .iter()
            .map(|i| nodes.get(i).copied())
            .collect::<Option<Vec<Hash>>>()
        else {
            return Ok(None);
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(Some(Self {
            size,
            mmr_size: size.to_string().into(),
            timestamp: contents.state.timestamp.to_string().into(),
            idtimestamp: super::idtimestamp::to_hex(contents.state.idtimestamp).into(),
            signed_tree_head: b64.encode(&stored.seal).into(),
            peaks: peaks.iter().map(|p| b64.encode(p).into()).collect(),
        }))
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
