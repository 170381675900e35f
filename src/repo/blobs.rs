//! Blob metadata, the upload ledger, chunk MACs, and the `database` content store's chunk
//! rows. Reads go through the blob row; a download that finds altered content marks it.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, RowsAffected, SqlRepo};
use super::{Blob, BlobWriter, RepoResult, StaleUpload};
use crate::ids::{BlobId, TenantId};

#[async_trait]
pub trait BlobRepo {
    /// Lists a new upload in the ledger.
    async fn begin_blob(&self, tenant: TenantId, blob: BlobId) -> RepoResult<Box<dyn BlobWriter>>;
    /// Takes off the ledger uploads untouched since then (those a crash or a lost cleanup
    /// left) and returns them, for their content to be discarded.
    async fn sweep_uploads(&self, untouched_since: DateTime<Utc>) -> RepoResult<Vec<StaleUpload>>;
    /// Of these blob ids, those neither a blob row nor a listed upload owns.
    async fn unowned_content(&self, blobs: &[Uuid]) -> RepoResult<HashSet<Uuid>>;
    async fn blob(&self, tenant: TenantId, blob: BlobId) -> RepoResult<Option<Blob>>;
    /// Every tenant's blobs in id order, `limit` after `after` (for moving content).
    async fn blobs_after(&self, after: Option<Uuid>, limit: i64) -> RepoResult<Vec<Blob>>;
    /// How many blobs there are, and their bytes, over all tenants.
    async fn blob_totals(&self) -> RepoResult<(i64, i64)>;
    /// The MACs of chunks `first..first + count`, if the blob has them all, made with key `key_id`.
    async fn chunk_macs(&self, blob: BlobId, key_id: &str, first: i64, count: i64) -> RepoResult<Option<Vec<u8>>>;
    /// The `database` store's chunks: stages `chunks` as numbers `first_seq`, … in one
    /// transaction, durable with the next durable commit.
    async fn write_chunks(&self, blob: BlobId, first_seq: i64, chunks: &[bytes::Bytes]) -> RepoResult<()>;
    async fn blob_chunk(&self, tenant: TenantId, blob: BlobId, seq: i64) -> RepoResult<Option<Vec<u8>>>;
    async fn delete_chunks(&self, blob: BlobId) -> RepoResult<()>;
    /// Deletes chunks neither a blob row nor a listed upload owns; returns how many blobs' worth.
    async fn delete_orphan_chunks(&self) -> RepoResult<u64>;
    /// Records that the blob's content no longer matches its hash (first time only).
    async fn mark_tampered(&self, tenant: TenantId, blob: BlobId) -> RepoResult<()>;
    /// Clears the mark once the whole content proved genuine again; answers whether it was set.
    async fn clear_tampered(&self, tenant: TenantId, blob: BlobId) -> RepoResult<bool>;
}

#[async_trait]
impl<DB: Backend> BlobRepo for SqlRepo<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    Uuid: Column<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    i32: Column<DB>,
    bool: Column<DB>,
    Vec<u8>: Column<DB>,
    DateTime<Utc>: Column<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    Option<Uuid>: Column<DB>,
    Option<String>: Column<DB>,
    Option<i64>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
{
    async fn begin_blob(
        &self,
        tenant: crate::ids::TenantId,
        blob: crate::ids::BlobId,
    ) -> crate::repo::RepoResult<Box<dyn crate::repo::BlobWriter>> {
        self.begin_staged_blob(tenant, blob).await
    }

    async fn sweep_uploads(
        &self,
        untouched_since: chrono::DateTime<chrono::Utc>,
    ) -> crate::repo::RepoResult<Vec<crate::repo::StaleUpload>> {
        self.sweep_staged_uploads(untouched_since).await
    }

    async fn unowned_content(
        &self,
        blobs: &[uuid::Uuid],
    ) -> crate::repo::RepoResult<std::collections::HashSet<uuid::Uuid>> {
        let mut unowned: std::collections::HashSet<uuid::Uuid> = blobs.iter().copied().collect();
        // One query per batch: the ids a blob row or a listed upload owns.
        for batch in blobs.chunks(500) {
            let owned = format!(
                "SELECT id FROM blobs WHERE id IN ({ids}) UNION SELECT blob_id FROM blob_uploads WHERE blob_id IN ({ids})",
                ids = crate::repo::sql::numbered(1, batch.len())
            );
            let mut owned = sqlx::query_scalar(&owned);
            for blob in batch {
                owned = owned.bind(*blob);
            }
            let found: Vec<uuid::Uuid> = owned.fetch_all(&self.pool).await?;
            for blob in found {
                unowned.remove(&blob);
            }
        }
        Ok(unowned)
    }

    async fn blobs_after(
        &self,
        after: Option<uuid::Uuid>,
        limit: i64,
    ) -> crate::repo::RepoResult<Vec<crate::repo::Blob>> {
        Ok(sqlx::query_as(crate::repo::sql::BLOBS_AFTER)
            .bind(after.unwrap_or(uuid::Uuid::nil()))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn blob_totals(&self) -> crate::repo::RepoResult<(i64, i64)> {
        Ok(sqlx::query_as(crate::repo::sql::BLOB_TOTALS)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn chunk_macs(
        &self,
        blob: crate::ids::BlobId,
        key_id: &str,
        first: i64,
        count: i64,
    ) -> crate::repo::RepoResult<Option<Vec<u8>>> {
        const MAC_BYTES: i64 = 32;
        let (Ok(from), Ok(len)) = (i32::try_from(first * MAC_BYTES + 1), i32::try_from(count * MAC_BYTES)) else {
            return Ok(None);
        };
        let macs: Option<Vec<u8>> = sqlx::query_scalar(crate::repo::sql::SELECT_CHUNK_MACS)
            .bind(blob.0)
            .bind(from)
            .bind(len)
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(macs.filter(|macs| macs.len() as i64 == count * MAC_BYTES))
    }

    async fn write_chunks(
        &self,
        blob: crate::ids::BlobId,
        first_seq: i64,
        chunks: &[bytes::Bytes],
    ) -> crate::repo::RepoResult<()> {
        let mut write =
            crate::repo::tx::begin_write_with(&self.pool, self.write_gate.as_ref(), crate::repo::tx::Sync::Staged)
                .await?;
        for (seq, data) in (first_seq..).zip(chunks) {
            sqlx::query(crate::repo::sql::INSERT_CHUNK)
                .bind(blob.0)
                .bind(seq)
                .bind(data.as_ref())
                .execute(&mut *write.tx)
                .await?;
        }
        write.tx.commit().await
    }

    async fn delete_chunks(&self, blob: crate::ids::BlobId) -> crate::repo::RepoResult<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(crate::repo::sql::DELETE_CHUNKS)
            .bind(blob.0)
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await
    }

    async fn delete_orphan_chunks(&self) -> crate::repo::RepoResult<u64> {
        let orphans: Vec<uuid::Uuid> = sqlx::query_scalar(crate::repo::sql::ORPHAN_CHUNK_OWNERS)
            .fetch_all(&self.pool)
            .await?;
        let mut removed = 0;
        for blob in orphans {
            let mut write = self.begin_write().await?;
            let deleted = sqlx::query(crate::repo::sql::DELETE_ORPHAN_CHUNKS)
                .bind(blob)
                .execute(&mut *write.tx)
                .await?;
            write.tx.commit().await?;
            removed += u64::from(deleted.rows_affected() > 0);
        }
        Ok(removed)
    }

    async fn blob(
        &self,
        tenant: crate::ids::TenantId,
        blob: crate::ids::BlobId,
    ) -> crate::repo::RepoResult<Option<crate::repo::Blob>> {
        let key = (tenant.0, blob.0);
        if let Some(cached) = self.cache.blobs.get(&key).await {
            return Ok(Some((*cached).clone()));
        }
        let found: Option<crate::repo::Blob> = sqlx::query_as(crate::repo::sql::SELECT_BLOB)
            .bind(tenant.0)
            .bind(blob.0)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(found) = &found {
            self.cache.blobs.insert(key, std::sync::Arc::new(found.clone())).await;
        }
        Ok(found)
    }

    async fn blob_chunk(
        &self,
        tenant: crate::ids::TenantId,
        blob: crate::ids::BlobId,
        seq: i64,
    ) -> crate::repo::RepoResult<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(crate::repo::sql::SELECT_CHUNK)
            .bind(tenant.0)
            .bind(blob.0)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn mark_tampered(
        &self,
        tenant: crate::ids::TenantId,
        blob: crate::ids::BlobId,
    ) -> crate::repo::RepoResult<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(crate::repo::sql::MARK_TAMPERED)
            .bind(tenant.0)
            .bind(blob.0)
            .bind(chrono::Utc::now())
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        self.cache.blobs.invalidate(&(tenant.0, blob.0)).await;
        Ok(())
    }

    async fn clear_tampered(
        &self,
        tenant: crate::ids::TenantId,
        blob: crate::ids::BlobId,
    ) -> crate::repo::RepoResult<bool> {
        let mut write = self.begin_write().await?;
        let cleared = sqlx::query(
            "UPDATE blobs SET tampered_at = NULL WHERE tenant_id = $1 AND id = $2 AND tampered_at IS NOT NULL",
        )
        .bind(tenant.0)
        .bind(blob.0)
        .execute(&mut *write.tx)
        .await?;
        write.tx.commit().await?;
        self.cache.blobs.invalidate(&(tenant.0, blob.0)).await;
        Ok(cleared.rows_affected() > 0)
    }
}
