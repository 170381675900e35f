//! Blob metadata and content chunks: staged uploads begin here, reads go through the
//! blob row, and a download that finds altered content marks it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Blob, BlobWriter, RepoResult};
use crate::ids::{BlobId, TenantId};

#[async_trait]
pub trait BlobRepo {
    async fn begin_blob(&self, tenant: TenantId, blob: BlobId) -> RepoResult<Box<dyn BlobWriter>>;
    /// Removes uploads (and their chunks) untouched since then: those a crash or a lost
    /// cleanup left. Returns how many.
    async fn sweep_uploads(&self, untouched_since: DateTime<Utc>) -> RepoResult<u64>;
    async fn blob(&self, tenant: TenantId, blob: BlobId) -> RepoResult<Option<Blob>>;
    async fn blob_chunk(&self, tenant: TenantId, blob: BlobId, seq: i64) -> RepoResult<Option<Vec<u8>>>;
    /// Records that the blob's content no longer matches its hash (first time only).
    async fn mark_tampered(&self, tenant: TenantId, blob: BlobId) -> RepoResult<()>;
}

/// Implements `BlobRepo` for a backend of `impl_repo!` over database `$db`.
macro_rules! impl_blobs {
    ($repo:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::repo::BlobRepo for $repo {
            async fn begin_blob(
                &self,
                tenant: $crate::ids::TenantId,
                blob: $crate::ids::BlobId,
            ) -> $crate::repo::RepoResult<Box<dyn $crate::repo::BlobWriter>> {
                self.begin_staged_blob(tenant, blob).await
            }

            async fn sweep_uploads(
                &self,
                untouched_since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::repo::RepoResult<u64> {
                self.sweep_staged_uploads(untouched_since).await
            }

            async fn blob(
                &self,
                tenant: $crate::ids::TenantId,
                blob: $crate::ids::BlobId,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::Blob>> {
                let key = (tenant.0, blob.0);
                if let Some(cached) = self.cache.blobs.get(&key).await {
                    return Ok(Some((*cached).clone()));
                }
                let found: Option<$crate::repo::Blob> = sqlx::query_as($crate::repo::sql::SELECT_BLOB)
                    .bind(tenant.0)
                    .bind(blob.0)
                    .fetch_optional(&self.pool)
                    .await?;
                if let Some(found) = &found {
                    self.cache
                        .blobs
                        .insert(key, std::sync::Arc::new(found.clone()))
                        .await;
                }
                Ok(found)
            }

            async fn blob_chunk(
                &self,
                tenant: $crate::ids::TenantId,
                blob: $crate::ids::BlobId,
                seq: i64,
            ) -> $crate::repo::RepoResult<Option<Vec<u8>>> {
                Ok(sqlx::query_scalar($crate::repo::sql::SELECT_CHUNK)
                    .bind(tenant.0)
                    .bind(blob.0)
                    .bind(seq)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn mark_tampered(
                &self,
                tenant: $crate::ids::TenantId,
                blob: $crate::ids::BlobId,
            ) -> $crate::repo::RepoResult<()> {
                let mut write = self.begin_write().await?;
                sqlx::query($crate::repo::sql::MARK_TAMPERED)
                    .bind(tenant.0)
                    .bind(blob.0)
                    .bind(chrono::Utc::now())
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                self.cache.blobs.invalidate(&(tenant.0, blob.0)).await;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_blobs;
