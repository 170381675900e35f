//! What a tenant's latest seal confirms, shown in event responses as `merklelog_entry`.

use std::sync::Arc;

use base64::Engine;

use super::state::LogState;
use crate::ids::TenantId;
use merklelog::mmr;
use merklelog::seal::SealContents;

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
        let record = match super::trust::trusted_head(log, tenant, std::time::Duration::from_millis(250)).await {
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
