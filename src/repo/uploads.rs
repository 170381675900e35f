//! Staged uploads: each chunk is committed in a short transaction of its own as it arrives,
//! listed under its upload in `blob_uploads`, and becomes visible only when `commit` writes
//! the blob row (chunks are read through it). No upload holds the SQLite write gate or a
//! PostgreSQL connection while it waits for its client.
//!
//! A failed upload deletes its chunks at once (also when its request is dropped mid-way);
//! whatever a crash leaves is swept once untouched for long enough.

use std::sync::Arc;

use futures::future::BoxFuture;
use sqlx::{Database, Pool};
use tokio::sync::Mutex;

use super::RepoResult;
use crate::ids::{BlobId, TenantId};

pub const INSERT_UPLOAD: &str =
    "INSERT INTO blob_uploads (blob_id, tenant_id, started_at, touched_at) VALUES ($1, $2, $3, $3)";
pub const TOUCH_UPLOAD: &str = "UPDATE blob_uploads SET touched_at = $2 WHERE blob_id = $1";
/// Publishing takes the upload off the list; 0 rows means it was swept meanwhile.
pub const END_UPLOAD: &str = "DELETE FROM blob_uploads WHERE blob_id = $1";
/// The sweeper's compare-and-delete: an upload touched since it was found stays.
pub const END_STALE_UPLOAD: &str = "DELETE FROM blob_uploads WHERE blob_id = $1 AND touched_at < $2";
pub const STALE_UPLOADS: &str = "SELECT blob_id FROM blob_uploads WHERE touched_at < $1 LIMIT 1000";
pub const DELETE_CHUNKS: &str = "DELETE FROM blob_chunks WHERE blob_id = $1";

/// The error of an upload the sweeper removed while it was still being written.
pub fn swept(blob: BlobId) -> super::RepoError {
    super::RepoError::Other(anyhow::anyhow!("upload {blob} was swept as abandoned"))
}

/// Deletes an abandoned upload's chunks; the backend's own function, so `Drop` can call it.
pub type Discard<DB> = fn(Pool<DB>, Option<Arc<Mutex<()>>>, BlobId) -> BoxFuture<'static, RepoResult<()>>;

/// Writes one staged upload.
pub struct StagedBlobWriter<DB: Database> {
    pub pool: Pool<DB>,
    pub gate: Option<Arc<Mutex<()>>>,
    pub tenant: TenantId,
    pub blob: BlobId,
    pub discard: Discard<DB>,
    /// Published or discarded: nothing left for `Drop` to do.
    pub finished: bool,
}

impl<DB: Database> StagedBlobWriter<DB> {
    /// Deletes the staged chunks now.
    pub async fn discard_now(&mut self) {
        self.finished = true;
        if let Err(err) = (self.discard)(self.pool.clone(), self.gate.clone(), self.blob).await {
            // The sweeper retries once the upload is stale.
            tracing::warn!(error = %err, blob = %self.blob, "could not remove an abandoned upload's chunks");
        }
    }
}

impl<DB: Database> Drop for StagedBlobWriter<DB> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropped mid-upload (the request went away): clean up in the background.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (pool, gate, blob, discard) = (self.pool.clone(), self.gate.clone(), self.blob, self.discard);
            runtime.spawn(async move {
                if let Err(err) = discard(pool, gate, blob).await {
                    tracing::warn!(error = %err, %blob, "could not remove an abandoned upload's chunks");
                }
            });
        }
    }
}

/// Implements staged uploads for backend `$repo` over database `$db`: the `BlobWriter`, and
/// `begin_staged_blob`/`sweep_staged_uploads` for its `Repo` implementation to call.
macro_rules! impl_uploads {
    ($repo:ty, $db:ty) => {
        impl $repo {
            fn discard_upload(
                pool: sqlx::Pool<$db>,
                gate: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
                blob: $crate::ids::BlobId,
            ) -> futures::future::BoxFuture<'static, $crate::repo::RepoResult<()>> {
                Box::pin(async move {
                    use $crate::repo::uploads::*;
                    let mut write = $crate::repo::tx::begin_write(&pool, gate.as_ref()).await?;
                    sqlx::query(DELETE_CHUNKS)
                        .bind(blob.0)
                        .execute(&mut *write.tx)
                        .await?;
                    sqlx::query(END_UPLOAD)
                        .bind(blob.0)
                        .execute(&mut *write.tx)
                        .await?;
                    write.tx.commit().await?;
                    Ok(())
                })
            }

            async fn begin_staged_blob(
                &self,
                tenant: $crate::ids::TenantId,
                blob: $crate::ids::BlobId,
            ) -> $crate::repo::RepoResult<Box<dyn $crate::repo::BlobWriter>> {
                use $crate::repo::uploads::*;
                let mut write = self.begin_write().await?;
                sqlx::query(INSERT_UPLOAD)
                    .bind(blob.0)
                    .bind(tenant.0)
                    .bind(chrono::Utc::now())
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                Ok(Box::new(StagedBlobWriter::<$db> {
                    pool: self.pool.clone(),
                    gate: self.write_gate(),
                    tenant,
                    blob,
                    discard: Self::discard_upload,
                    finished: false,
                }))
            }

            async fn sweep_staged_uploads(
                &self,
                untouched_since: chrono::DateTime<chrono::Utc>,
            ) -> $crate::repo::RepoResult<u64> {
                use $crate::repo::uploads::*;
                let stale: Vec<uuid::Uuid> = sqlx::query_scalar(STALE_UPLOADS)
                    .bind(untouched_since)
                    .fetch_all(&self.pool)
                    .await?;
                let mut swept = 0;
                for blob in stale {
                    let mut write = self.begin_write().await?;
                    let ended = sqlx::query(END_STALE_UPLOAD)
                        .bind(blob)
                        .bind(untouched_since)
                        .execute(&mut *write.tx)
                        .await?;
                    if ended.rows_affected() > 0 {
                        sqlx::query(DELETE_CHUNKS)
                            .bind(blob)
                            .execute(&mut *write.tx)
                            .await?;
                        swept += 1;
                    }
                    write.tx.commit().await?;
                }
                Ok(swept)
            }
        }

        #[async_trait::async_trait]
        impl $crate::repo::BlobWriter for $crate::repo::uploads::StagedBlobWriter<$db> {
            async fn write_chunks(&mut self, first_seq: i64, chunks: &[bytes::Bytes]) -> $crate::repo::RepoResult<()> {
                let mut write =
                    $crate::repo::tx::begin_write_with(&self.pool, self.gate.as_ref(), $crate::repo::tx::Sync::Staged)
                        .await?;
                for (seq, data) in (first_seq..).zip(chunks) {
                    sqlx::query($crate::repo::sql::INSERT_CHUNK)
                        .bind(self.blob.0)
                        .bind(seq)
                        .bind(data.as_ref())
                        .execute(&mut *write.tx)
                        .await?;
                }
                write.tx.commit().await
            }

            async fn keep_alive(&mut self) -> $crate::repo::RepoResult<()> {
                let write =
                    $crate::repo::tx::begin_write_with(&self.pool, self.gate.as_ref(), $crate::repo::tx::Sync::Staged)
                        .await?;
                self.touch(write).await
            }

            async fn commit(
                mut self: Box<Self>,
                blob: $crate::repo::NewBlob,
                limits: $crate::repo::CommitLimits,
                record: Option<&$crate::repo::NewRecord>,
            ) -> $crate::repo::RepoResult<$crate::repo::Blob> {
                let published = self.publish(blob, limits, record).await;
                if published.is_err() {
                    self.discard_now().await;
                }
                self.finished = true;
                published
            }

            async fn abort(mut self: Box<Self>) {
                self.discard_now().await;
            }
        }

        impl $crate::repo::uploads::StagedBlobWriter<$db> {
            /// Records in `write` that the upload is alive, and commits; an error if it was swept.
            async fn touch(&self, mut write: $crate::repo::tx::WriteTx<$db>) -> $crate::repo::RepoResult<()> {
                let touched = sqlx::query($crate::repo::uploads::TOUCH_UPLOAD)
                    .bind(self.blob.0)
                    .bind(chrono::Utc::now())
                    .execute(&mut *write.tx)
                    .await?;
                if touched.rows_affected() == 0 {
                    return Err($crate::repo::uploads::swept(self.blob));
                }
                write.tx.commit().await?;
                Ok(())
            }

            /// In one transaction: takes the upload off the list, counts the blob against the
            /// tenant's quotas, writes its row (and the record naming it).
            async fn publish(
                &mut self,
                blob: $crate::repo::NewBlob,
                limits: $crate::repo::CommitLimits,
                record: Option<&$crate::repo::NewRecord>,
            ) -> $crate::repo::RepoResult<$crate::repo::Blob> {
                use $crate::repo::sql::*;
                use $crate::repo::uploads::*;
                let mut write = $crate::repo::tx::begin_write(&self.pool, self.gate.as_ref()).await?;
                let ended = sqlx::query(END_UPLOAD)
                    .bind(self.blob.0)
                    .execute(&mut *write.tx)
                    .await?;
                if ended.rows_affected() == 0 {
                    return Err($crate::repo::uploads::swept(self.blob));
                }
                let reserved = sqlx::query(RESERVE_QUOTA)
                    .bind(self.tenant.0)
                    .bind(blob.size)
                    .bind(limits.max_blobs)
                    .bind(limits.max_bytes)
                    .execute(&mut *write.tx)
                    .await?;
                if reserved.rows_affected() == 0 {
                    let usage: $crate::repo::TenantUsage = sqlx::query_as(TENANT_USAGE)
                        .bind(self.tenant.0)
                        .fetch_one(&mut *write.tx)
                        .await?;
                    return Err($crate::repo::RepoError::QuotaExceeded(quota_message(
                        &usage, limits, blob.size,
                    )));
                }
                sqlx::query(INSERT_BLOB)
                    .bind(self.blob.0)
                    .bind(self.tenant.0)
                    .bind(&blob.hash_sha256)
                    .bind(blob.size)
                    .bind(blob.chunk_bytes)
                    .bind(&blob.mime_type)
                    .bind(&blob.issuer)
                    .bind(&blob.subject)
                    .bind(blob.timestamp_accepted)
                    .execute(&mut *write.tx)
                    .await?;
                let stored: $crate::repo::Blob = sqlx::query_as(SELECT_BLOB)
                    .bind(self.tenant.0)
                    .bind(self.blob.0)
                    .fetch_one(&mut *write.tx)
                    .await?;
                if let Some(record) = record {
                    <$repo>::insert_record(&mut write.tx, self.tenant, record).await?;
                }
                write.tx.commit().await?;
                Ok(stored)
            }
        }
    };
}

pub(crate) use impl_uploads;
