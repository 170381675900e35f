//! What a tenant's latest seal confirms, shown in event responses as `merklelog_entry`.

use super::mmr::{self, Hash};
use super::seal::SealContents;
use crate::ids::TenantId;
use crate::repo::{Repo, RepoResult};

/// The latest seal of a tenant's log, read (not verified) for display.
pub struct SealedView {
    pub size: u64,
    /// Unix milliseconds when sealed.
    pub timestamp: i64,
    pub idtimestamp: u64,
    /// The seal as published (COSE Sign1).
    pub seal: Vec<u8>,
    /// The log's peaks at `size`, highest first.
    pub peaks: Vec<Hash>,
}

impl SealedView {
    pub async fn latest(repo: &dyn Repo, tenant: TenantId) -> RepoResult<Option<Self>> {
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
        Ok(Some(Self {
            size,
            timestamp: contents.state.timestamp,
            idtimestamp: contents.state.idtimestamp,
            seal: stored.seal,
            peaks,
        }))
    }

    /// The peak that commits leaf `index`, when this seal covers it.
    pub fn root_of(&self, index: u64) -> Option<Hash> {
        if index >= self.size {
            return None;
        }
        let path = mmr::inclusion_path(self.size, index);
        self.peaks
            .get(mmr::peak_index(self.size, mmr::index_height(index), path.len()))
            .copied()
    }
}
