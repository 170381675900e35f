//! The malware scanner's queries: candidates, claims that let several scanners share the
//! work, and verdicts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, RowsAffected, SqlRepo};
use super::{RepoResult, ScanCandidate, ScanVerdict};
use crate::ids::BlobId;

#[async_trait]
pub trait ScanRepo {
    /// NOT_SCANNED blobs nobody holds a live claim on, oldest first.
    async fn scan_candidates(&self, limit: i64, claims_before: DateTime<Utc>) -> RepoResult<Vec<ScanCandidate>>;
    /// Claims blobs for `scanner` where no other live claim holds them, in one transaction;
    /// returns those that are ours now.
    async fn claim_scans(
        &self,
        blobs: &[BlobId],
        scanner: &str,
        claims_before: DateTime<Utc>,
    ) -> RepoResult<Vec<BlobId>>;
    /// Records verdicts, in one transaction, for the blobs `scanner` still holds the claim on;
    /// returns how many were recorded.
    async fn record_scans(&self, verdicts: &[ScanVerdict], scanner: &str) -> RepoResult<usize>;
    async fn release_scan(&self, blob: BlobId, scanner: &str) -> RepoResult<()>;
}

#[async_trait]
impl<DB: Backend> ScanRepo for SqlRepo<DB>
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
    async fn scan_candidates(
        &self,
        limit: i64,
        claims_before: chrono::DateTime<chrono::Utc>,
    ) -> crate::repo::RepoResult<Vec<crate::repo::ScanCandidate>> {
        Ok(sqlx::query_as(crate::repo::sql::SCAN_CANDIDATES)
            .bind(false)
            .bind(claims_before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn claim_scans(
        &self,
        blobs: &[crate::ids::BlobId],
        scanner: &str,
        claims_before: chrono::DateTime<chrono::Utc>,
    ) -> crate::repo::RepoResult<Vec<crate::ids::BlobId>> {
        let now = chrono::Utc::now();
        let mut write = self.begin_write().await?;
        let mut claimed = Vec::new();
        for blob in blobs {
            let updated = sqlx::query(crate::repo::sql::CLAIM_SCAN)
                .bind(blob.0)
                .bind(scanner)
                .bind(now)
                .bind(claims_before)
                .execute(&mut *write.tx)
                .await?;
            if updated.rows_affected() == 1 {
                claimed.push(*blob);
            }
        }
        write.tx.commit().await?;
        Ok(claimed)
    }

    async fn record_scans(
        &self,
        verdicts: &[crate::repo::ScanVerdict],
        scanner: &str,
    ) -> crate::repo::RepoResult<usize> {
        use crate::repo::ScanOutcome;
        if verdicts.is_empty() {
            return Ok(0);
        }
        let now = chrono::Utc::now();
        let mut write = self.begin_write().await?;
        let mut recorded = 0;
        for verdict in verdicts {
            let (status, reason, at, skipped) = match &verdict.outcome {
                ScanOutcome::Clean => ("SCANNED_OK", String::new(), Some(now), false),
                ScanOutcome::Infected(signature) => ("SCANNED_BAD", signature.clone(), Some(now), false),
                ScanOutcome::Skipped(why) => ("NOT_SCANNED", why.clone(), None, true),
            };
            let updated = sqlx::query(crate::repo::sql::RECORD_SCAN)
                .bind(verdict.tenant.0)
                .bind(verdict.blob.0)
                .bind(scanner)
                .bind(status)
                .bind(reason)
                .bind(at)
                .bind(skipped)
                .execute(&mut *write.tx)
                .await?;
            recorded += usize::try_from(updated.rows_affected()).unwrap_or(0);
        }
        write.tx.commit().await?;
        for verdict in verdicts {
            self.cache.blobs.invalidate(&(verdict.tenant.0, verdict.blob.0)).await;
        }
        Ok(recorded)
    }

    async fn release_scan(&self, blob: crate::ids::BlobId, scanner: &str) -> crate::repo::RepoResult<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(crate::repo::sql::RELEASE_SCAN)
            .bind(blob.0)
            .bind(scanner)
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        Ok(())
    }
}
