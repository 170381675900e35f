//! The upload ledger: an upload is listed in `blob_uploads` from before its first byte is
//! stored until its blob row replaces the entry, in one transaction, when it completes.
//! The content itself goes to the content store; the ledger is how the sweeper finds what a
//! crash left there, and how a blob row and its chunk MACs become visible together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, RowsAffected, SqlRepo};
use super::models::Publish;
use super::BlobWriter;
use crate::ids::{BlobId, TenantId};

pub const INSERT_UPLOAD: &str =
    "INSERT INTO blob_uploads (blob_id, tenant_id, started_at, touched_at) VALUES ($1, $2, $3, $3)";
pub const TOUCH_UPLOAD: &str = "UPDATE blob_uploads SET touched_at = $2 WHERE blob_id = $1";
pub const RECORD_CLEANUP: &str = "UPDATE blob_uploads SET cleanup_id = $2, touched_at = $3 WHERE blob_id = $1";
/// Publishing takes the upload off the list; 0 rows means it was swept meanwhile.
pub const END_UPLOAD: &str = "DELETE FROM blob_uploads WHERE blob_id = $1";
/// The sweeper's compare-and-delete: an upload touched since it was found stays.
pub const END_STALE_UPLOAD: &str = "DELETE FROM blob_uploads WHERE blob_id = $1 AND touched_at < $2";
pub const STALE_UPLOADS: &str =
    "SELECT blob_id, tenant_id, cleanup_id FROM blob_uploads WHERE touched_at < $1 LIMIT 1000";
pub const INSERT_CHUNK_MACS: &str = "INSERT INTO blob_chunk_macs (blob_id, key_id, macs) VALUES ($1, $2, $3)";

/// An upload the sweeper took off the ledger: its content is to be discarded.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StaleUpload {
    pub blob_id: Uuid,
    pub tenant_id: Uuid,
    pub cleanup_id: Option<String>,
}

impl StaleUpload {
    pub fn tenant(&self) -> TenantId {
        TenantId(self.tenant_id)
    }

    pub fn blob(&self) -> BlobId {
        BlobId(self.blob_id)
    }
}

/// The error of an upload the sweeper removed while it was still being written.
pub fn swept(blob: BlobId) -> super::RepoError {
    super::RepoError::Other(anyhow::anyhow!("upload {blob} was swept as abandoned"))
}

/// Writes one upload's ledger entry.
pub struct LedgerEntry<DB: sqlx::Database> {
    pub pool: sqlx::Pool<DB>,
    pub gate: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
    pub tenant: TenantId,
    pub blob: BlobId,
    /// The repository's remembered log heads: publishing appends the blob's leaf.
    pub heads: std::sync::Arc<super::log::KnownHeads>,
    /// The queues publishes share a transaction from (None: each publishes alone).
    pub group: Option<std::sync::Arc<super::models::Publishers>>,
}

impl<DB: Backend> SqlRepo<DB>
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
    pub(super) async fn begin_staged_blob(
        &self,
        tenant: crate::ids::TenantId,
        blob: crate::ids::BlobId,
    ) -> crate::repo::RepoResult<Box<dyn crate::repo::BlobWriter>> {
        use crate::repo::uploads::*;
        let mut write = self.begin_write().await?;
        sqlx::query(INSERT_UPLOAD)
            .bind(blob.0)
            .bind(tenant.0)
            .bind(chrono::Utc::now())
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        Ok(Box::new(LedgerEntry::<DB> {
            pool: self.pool.clone(),
            gate: self.write_gate.clone(),
            tenant,
            blob,
            heads: self.heads.clone(),
            // On PostgreSQL too: a tenant's publishes wait for each other on its quota
            // row anyway, so sharing a transaction costs them nothing and saves
            // each its own lock waits and commit.
            group: Some(self.publishers.clone()),
        }))
    }

    pub(super) async fn sweep_staged_uploads(
        &self,
        untouched_since: chrono::DateTime<chrono::Utc>,
    ) -> crate::repo::RepoResult<Vec<crate::repo::uploads::StaleUpload>> {
        use crate::repo::uploads::*;
        let stale: Vec<StaleUpload> = sqlx::query_as(STALE_UPLOADS)
            .bind(untouched_since)
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = Vec::new();
        for upload in stale {
            let mut write = self.begin_write().await?;
            let ended = sqlx::query(END_STALE_UPLOAD)
                .bind(upload.blob_id)
                .bind(untouched_since)
                .execute(&mut *write.tx)
                .await?;
            write.tx.commit().await?;
            if ended.rows_affected() > 0 {
                claimed.push(upload);
            }
        }
        Ok(claimed)
    }
}

#[async_trait]
impl<DB: Backend> BlobWriter for LedgerEntry<DB>
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
    async fn record_cleanup(&mut self, cleanup_id: &str) -> crate::repo::RepoResult<()> {
        let mut write = crate::repo::tx::begin_write(&self.pool, self.gate.as_ref()).await?;
        let recorded = sqlx::query(crate::repo::uploads::RECORD_CLEANUP)
            .bind(self.blob.0)
            .bind(cleanup_id)
            .bind(chrono::Utc::now())
            .execute(&mut *write.tx)
            .await?;
        if recorded.rows_affected() == 0 {
            return Err(crate::repo::uploads::swept(self.blob));
        }
        write.tx.commit().await
    }

    async fn keep_alive(&mut self) -> crate::repo::RepoResult<()> {
        let mut write =
            crate::repo::tx::begin_write_with(&self.pool, self.gate.as_ref(), crate::repo::tx::Sync::Staged).await?;
        let touched = sqlx::query(crate::repo::uploads::TOUCH_UPLOAD)
            .bind(self.blob.0)
            .bind(chrono::Utc::now())
            .execute(&mut *write.tx)
            .await?;
        if touched.rows_affected() == 0 {
            return Err(crate::repo::uploads::swept(self.blob));
        }
        write.tx.commit().await
    }

    async fn commit(
        self: Box<Self>,
        blob: crate::repo::NewBlob,
        limits: crate::repo::CommitLimits,
        record: Option<&crate::repo::NewRecord>,
    ) -> crate::repo::RepoResult<crate::repo::Blob> {
        let published = self.publish(blob, limits, record).await;
        if published.is_err() {
            crate::repo::BlobWriter::abort(self).await;
        }
        published
    }

    async fn abort(self: Box<Self>) {
        let ended = async {
            let mut write = crate::repo::tx::begin_write(&self.pool, self.gate.as_ref()).await?;
            sqlx::query(crate::repo::uploads::END_UPLOAD)
                .bind(self.blob.0)
                .execute(&mut *write.tx)
                .await?;
            write.tx.commit().await
        };
        if let Err(err) = ended.await {
            // The sweeper retries once the upload is stale.
            tracing::warn!(error = %err, blob = %self.blob, "could not end an abandoned upload");
        }
    }
}

impl<DB: Backend> LedgerEntry<DB>
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
    /// Publishes the upload, in a transaction it shares with the publishes queued
    /// meanwhile.
    pub(super) async fn publish(
        &self,
        blob: crate::repo::NewBlob,
        limits: crate::repo::CommitLimits,
        record: Option<&crate::repo::NewRecord>,
    ) -> crate::repo::RepoResult<crate::repo::Blob> {
        use crate::repo::appender::{Outcome, Turn};
        let work = std::sync::Arc::new(Publish {
            blob_id: self.blob,
            blob,
            limits,
            record: record.cloned(),
        });
        let Some(group) = &self.group else {
            return self.publish_alone(&work).await;
        };
        let outcome = match group.enter(self.tenant, work.clone()).await {
            Turn::Done(outcome) => outcome,
            Turn::Lead {
                jobs,
                outcome,
                _leading,
            } => {
                let batch: Vec<_> = jobs.iter().map(|job| (job.tenant, &*job.work)).collect();
                match self.publish_batch(&batch).await {
                    Ok(outcomes) => {
                        for (job, published) in jobs.into_iter().zip(outcomes) {
                            job.finish(match published {
                                Ok(published) => Outcome::Stored(Box::new(published)),
                                Err(err) => Outcome::Failed(err),
                            });
                        }
                    }
                    Err(_) => jobs.into_iter().for_each(|job| job.finish(Outcome::Alone)),
                }
                drop(_leading);
                outcome.await.unwrap_or(Outcome::Alone)
            }
        };
        match outcome {
            Outcome::Stored(published) => Ok(*published),
            Outcome::Failed(err) => Err(err),
            Outcome::Alone => {
                // Its batch's commit may have gone through unreported.
                let published: Option<crate::repo::Blob> = sqlx::query_as(&format!(
                    "{} WHERE tenant_id = $1 AND id = $2",
                    crate::repo::sql::SELECT_BLOBS
                ))
                .bind(self.tenant.0)
                .bind(self.blob.0)
                .fetch_optional(&self.pool)
                .await?;
                match published {
                    Some(published) => Ok(published),
                    None => self.publish_alone(&work).await,
                }
            }
        }
    }

    /// Publishes `work` in a transaction of its own.
    pub(super) async fn publish_alone(&self, work: &Publish) -> crate::repo::RepoResult<crate::repo::Blob> {
        let mut outcomes = self.publish_batch(&[(self.tenant, work)]).await?;
        outcomes
            .pop()
            .unwrap_or(Err(crate::repo::RepoError::Other(anyhow::anyhow!(
                "a blob published on its own had no outcome"
            ))))
    }

    /// Publishes `batch` in one transaction, each under its own savepoint: answers
    /// each publish's outcome, or an error when the transaction as a whole failed.
    pub(super) async fn publish_batch(
        &self,
        batch: &[(crate::ids::TenantId, &Publish)],
    ) -> crate::repo::RepoResult<Vec<crate::repo::RepoResult<crate::repo::Blob>>> {
        let mut write = crate::repo::tx::begin_write(&self.pool, self.gate.as_ref()).await?;
        let mut heads = std::collections::HashMap::new();
        let alone = batch.len() == 1;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (tenant, work) in batch {
            let mut job_heads = heads.clone();
            if !alone {
                write.tx.begin_piece().await?;
            }
            let outcome = self.publish_in(&mut write.tx, *tenant, work, &mut job_heads).await;
            if !alone {
                write.tx.end_piece(outcome.is_ok()).await?;
            }
            match &outcome {
                Ok(_) => heads = job_heads,
                // On its own, a failed publish's transaction is rolled back when dropped.
                Err(_) if alone => return Ok(vec![outcome]),
                Err(_) => {}
            }
            outcomes.push(outcome);
        }
        self.heads.commit(write.tx, heads).await?;
        Ok(outcomes)
    }

    /// In write transaction `tx`: takes the upload off the list, counts the blob
    /// against the tenant's quotas, writes its row with its leaf appended to the log
    /// (the head from `heads` where this transaction holds it), its chunk MACs and
    /// the record naming it.
    pub(super) async fn publish_in(
        &self,
        tx: &mut crate::repo::tx::Tx<DB>,
        tenant: crate::ids::TenantId,
        work: &Publish,
        heads: &mut std::collections::HashMap<uuid::Uuid, crate::repo::log::LogHead>,
    ) -> crate::repo::RepoResult<crate::repo::Blob> {
        use crate::repo::sql::*;
        use crate::repo::uploads::*;
        let Publish {
            blob_id,
            blob,
            limits,
            record,
        } = work;
        let ended = sqlx::query(END_UPLOAD).bind(blob_id.0).execute(&mut **tx).await?;
        if ended.rows_affected() == 0 {
            return Err(crate::repo::uploads::swept(*blob_id));
        }
        let reserved = sqlx::query(RESERVE_QUOTA)
            .bind(tenant.0)
            .bind(blob.size)
            .bind(limits.max_blobs)
            .bind(limits.max_bytes)
            .execute(&mut **tx)
            .await?;
        if reserved.rows_affected() == 0 {
            let usage: crate::repo::TenantUsage =
                sqlx::query_as(TENANT_USAGE).bind(tenant.0).fetch_one(&mut **tx).await?;
            return Err(crate::repo::RepoError::QuotaExceeded(quota_message(
                &usage, *limits, blob.size,
            )));
        }
        // The head is locked after the quota row, which already orders a tenant's
        // publishes: the row, its leaf's nodes and the new head go in together.
        let head = match heads.entry(tenant.0) {
            std::collections::hash_map::Entry::Occupied(held) => held.into_mut(),
            std::collections::hash_map::Entry::Vacant(free) => {
                free.insert(crate::repo::log::lock_log_head::<DB>(&mut **tx, tenant.0, &self.heads).await?)
            }
        };
        let id = ::merklelog::idtimestamp::next(chrono::Utc::now(), head.last_id);
        let stored = crate::repo::Blob {
            id: blob_id.0,
            tenant_id: tenant.0,
            hash_sha256: blob.hash_sha256.clone(),
            size: blob.size,
            chunk_bytes: blob.chunk_bytes,
            mime_type: blob.mime_type.clone(),
            issuer: blob.issuer.clone(),
            subject: blob.subject.clone(),
            timestamp_accepted: blob.timestamp_accepted,
            scanned_status: "NOT_SCANNED".into(),
            scanned_bad_reason: String::new(),
            scanned_timestamp: None,
            tampered_at: None,
            chunk_mac_key: match blob.chunk_macs.is_empty() {
                true => String::new(),
                false => blob.chunk_mac_key.clone(),
            },
            log_index: Some(head.size as i64),
            idtimestamp: Some(crate::repo::log::signed(id)),
        };
        let leaf = crate::repo::leaves::blob_leaf(&stored, id);
        let from = head.size;
        let added = head
            .append(leaf, id)
            .map_err(|e| crate::repo::RepoError::Other(e.into()))?;
        let appended = crate::repo::log::Appended {
            from,
            added: &added,
            head,
        };
        DB::store_blob(&mut **tx, &stored, appended).await?;
        if !blob.chunk_macs.is_empty() {
            sqlx::query(INSERT_CHUNK_MACS)
                .bind(blob_id.0)
                .bind(&blob.chunk_mac_key)
                .bind(&blob.chunk_macs)
                .execute(&mut **tx)
                .await?;
        }
        if let Some(record) = record {
            SqlRepo::<DB>::insert_record(tx, tenant, record).await?;
        }
        Ok(stored)
    }
}
