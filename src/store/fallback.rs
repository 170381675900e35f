//! A store being moved away from: while `attachd store migrate` copies content to the new
//! store, nodes already writing there read what is not copied yet from the old one.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ChunkSpan, ChunkStream, ContentId, ContentStore, DynStore, StagedContent, StoreError, StoreResult};

pub struct FallbackStore {
    pub primary: DynStore,
    pub previous: DynStore,
}

#[async_trait]
impl ContentStore for FallbackStore {
    fn kind(&self) -> &'static str {
        self.primary.kind()
    }

    async fn stage(&self, id: ContentId) -> StoreResult<Box<dyn StagedContent>> {
        self.primary.stage(id).await
    }

    async fn read(&self, id: ContentId, span: ChunkSpan) -> StoreResult<ChunkStream> {
        match self.primary.read(id, span).await {
            Err(StoreError::NotFound) => self.previous.read(id, span).await,
            read => read,
        }
    }

    async fn discard(&self, id: ContentId, cleanup: Option<&str>) -> StoreResult<()> {
        self.primary.discard(id, cleanup).await
    }

    async fn sweep_orphans(&self, older_than: DateTime<Utc>) -> StoreResult<u64> {
        self.primary.sweep_orphans(older_than).await
    }
}
