//! The one-time migration's appends: events stored before the log existed, and blobs
//! stored before their records were leaves, each given its place in its tenant's log.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, RowsAffected, SqlRepo};
use super::log;

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
    pub(super) async fn backfill_blobs(&self) -> crate::repo::RepoResult<()> {
        loop {
            let pending: Vec<crate::repo::Blob> = sqlx::query_as(&format!(
                "{} WHERE log_index IS NULL ORDER BY timestamp_accepted, id LIMIT 500",
                crate::repo::sql::SELECT_BLOBS
            ))
            .fetch_all(&self.pool)
            .await?;
            if pending.is_empty() {
                return Ok(());
            }
            for blob in pending {
                let tenant = blob.tenant_id;
                let mut write = self.begin_write().await?;
                let mut head = log::lock_log_head::<DB>(&mut *write.tx, tenant, &self.heads).await?;
                let id = ::merklelog::idtimestamp::next(chrono::Utc::now(), head.last_id);
                let updated = sqlx::query(crate::repo::sql::LOG_BLOB)
                    .bind(blob.id)
                    .bind(head.size as i64)
                    .bind(crate::repo::log::signed(id))
                    .execute(&mut *write.tx)
                    .await?;
                if updated.rows_affected() == 1 {
                    let leaf = crate::repo::leaves::blob_leaf(&blob, id);
                    log::append_leaf::<DB>(&mut write.tx, tenant, &mut head, leaf, id).await?;
                }
                self.heads
                    .commit(write.tx, std::collections::HashMap::from([(tenant, head)]))
                    .await?;
            }
        }
    }

    pub(super) async fn backfill_events(&self) -> crate::repo::RepoResult<()> {
        loop {
            let pending: Vec<crate::repo::Event> = sqlx::query_as(&format!(
                "{} WHERE log_index IS NULL ORDER BY seq LIMIT 500",
                crate::repo::sql::EVENT_COLUMNS
            ))
            .fetch_all(&self.pool)
            .await?;
            if pending.is_empty() {
                return Ok(());
            }
            for event in pending {
                let tenant = event.tenant_id;
                let mut write = self.begin_write().await?;
                let mut head = log::lock_log_head::<DB>(&mut *write.tx, tenant, &self.heads).await?;
                let id = ::merklelog::idtimestamp::next(chrono::Utc::now(), head.last_id);
                let updated = sqlx::query(
                    "UPDATE events SET log_index = $2, idtimestamp = $3 WHERE seq = $1 AND log_index IS NULL",
                )
                .bind(event.seq)
                .bind(head.size as i64)
                .bind(crate::repo::log::signed(id))
                .execute(&mut *write.tx)
                .await?;
                if updated.rows_affected() == 1 {
                    let logged = crate::repo::Event {
                        log_index: Some(head.size as i64),
                        idtimestamp: Some(crate::repo::log::signed(id)),
                        ..event
                    };
                    let leaf = crate::repo::leaves::event_leaf(&logged, id)
                        .map_err(|e| crate::repo::RepoError::Other(e.into()))?;
                    log::append_leaf::<DB>(&mut write.tx, tenant, &mut head, leaf, id).await?;
                }
                self.heads
                    .commit(write.tx, std::collections::HashMap::from([(tenant, head)]))
                    .await?;
            }
        }
    }
}
