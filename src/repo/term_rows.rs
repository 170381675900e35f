//! Writing attribute terms (`terms`) as rows: with each asset and asset event, for the ids
//! of event names, and once for the rows stored before terms existed.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, SqlRepo};
use super::terms::{
    event_terms, free_event_terms, object_terms, TermField, BACKFILLED, BACKFILL_BATCH, BACKFILL_VERSION,
    TERMS_PER_INSERT,
};
use super::RepoResult;

/// Inserts `terms` of row `seq` of `tenant` with `INSERT INTO {into}` (the table and its
/// columns: tenant, term, row, then an event's operation and behaviour ids where `names`
/// has them) in transaction `tx`; a term already there is kept.
pub async fn insert_terms<DB: Backend>(
    tx: &mut DB::Connection,
    into: &str,
    tenant: Uuid,
    seq: i64,
    terms: &[Vec<u8>],
    names: Option<(i32, i32)>,
) -> RepoResult<()>
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
    // The tenant, the row and its names are bound once, as $1 to $4, and named in each row.
    let (first, shared) = match names {
        Some(_) => (5, ", $2, $3, $4)"),
        None => (3, ", $2)"),
    };
    for batch in terms.chunks(TERMS_PER_INSERT) {
        let rows: Vec<String> = (first..first + batch.len())
            .map(|n| format!("($1, ${n}{shared}"))
            .collect();
        let insert = format!("INSERT INTO {into} VALUES {} ON CONFLICT DO NOTHING", rows.join(", "));
        let mut insert = sqlx::query(&insert).bind(tenant).bind(seq);
        if let Some((operation, behaviour)) = names {
            insert = insert.bind(operation).bind(behaviour);
        }
        for term in batch {
            insert = insert.bind(term.as_slice());
        }
        insert.execute(&mut *tx).await?;
    }
    Ok(())
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
    /// The ids of an operation and a behaviour, committed in a transaction of their own if
    /// new (a name is harmless even if its event then fails), before the caller's
    /// transaction, which therefore never waits on another writer's new name.
    pub async fn event_name_ids(&self, operation: &str, behaviour: &str) -> crate::repo::RepoResult<(i32, i32)> {
        if let (Some(o), Some(b)) = (self.names.get(operation), self.names.get(behaviour)) {
            return Ok((o, b));
        }
        let mut write = self.begin_write().await?;
        // In one order, so two new names never deadlock two writers.
        sqlx::query("INSERT INTO event_names (name) VALUES ($1), ($2) ON CONFLICT DO NOTHING")
            .bind(operation.min(behaviour))
            .bind(operation.max(behaviour))
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        let rows: Vec<(i32, String)> = sqlx::query_as("SELECT id, name FROM event_names WHERE name = $1 OR name = $2")
            .bind(operation)
            .bind(behaviour)
            .fetch_all(&self.pool)
            .await?;
        for (id, name) in rows {
            self.names.remember(name, id);
        }
        match (self.names.get(operation), self.names.get(behaviour)) {
            (Some(o), Some(b)) => Ok((o, b)),
            _ => Err(crate::repo::RepoError::Other(anyhow::anyhow!(
                "event names were not stored"
            ))),
        }
    }
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
    /// Indexes, once, the assets and asset events stored before attribute terms existed, the
    /// events stored before attachment hash terms, and every row stored before presence
    /// terms (a term already there is kept).
    pub async fn backfill_terms(&self) -> crate::repo::RepoResult<()> {
        use crate::repo::sql::SELECT_SETTING;
        let done: Option<String> = sqlx::query_scalar(SELECT_SETTING)
            .bind(BACKFILLED)
            .fetch_optional(&self.pool)
            .await?;
        if done.as_deref() == Some(BACKFILL_VERSION) {
            return Ok(());
        }
        // Assets have no attachment hash terms: version 1 indexed their values, version 3
        // adds presence terms (a term already there is kept).
        let version: u32 = done.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0);
        if version < 3 {
            let mut after = 0i64;
            loop {
                let assets: Vec<(i64, uuid::Uuid, String)> = sqlx::query_as(
                    "SELECT seq, tenant_id, attributes FROM assets WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after)
                .bind(BACKFILL_BATCH)
                .fetch_all(&self.pool)
                .await?;
                let Some(last) = assets.last() else { break };
                after = last.0;
                let mut write = self.begin_write().await?;
                for (seq, tenant, attributes) in &assets {
                    let terms = object_terms(TermField::AssetAttributes, attributes);
                    let into = "asset_terms (tenant_id, term, asset_seq)";
                    insert_terms::<DB>(&mut *write.tx, into, *tenant, *seq, &terms, None).await?;
                }
                write.tx.commit().await?;
            }
        }
        let mut after = 0i64;
        loop {
            type Row = (
                i64,
                uuid::Uuid,
                Option<uuid::Uuid>,
                String,
                String,
                String,
                String,
                String,
            );
            let events: Vec<Row> = sqlx::query_as(
                "SELECT seq, tenant_id, asset_id, event_attributes, asset_attributes, principal_declared, \
                 operation, behaviour FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(after)
            .bind(BACKFILL_BATCH)
            .fetch_all(&self.pool)
            .await?;
            let Some(last) = events.last() else { break };
            after = last.0;
            let mut names = Vec::with_capacity(events.len());
            for (_, _, _, _, _, _, operation, behaviour) in &events {
                names.push(self.event_name_ids(operation, behaviour).await?);
            }
            let mut write = self.begin_write().await?;
            for ((seq, tenant, asset, event_attributes, asset_attributes, principal, _, _), (operation, behaviour)) in
                events.iter().zip(names)
            {
                let terms = match asset {
                    Some(_) => event_terms(event_attributes, asset_attributes, principal),
                    None => free_event_terms(event_attributes),
                };
                let into = "event_terms (tenant_id, term, event_seq, operation_id, behaviour_id)";
                insert_terms::<DB>(
                    &mut *write.tx,
                    into,
                    *tenant,
                    *seq,
                    &terms,
                    Some((operation, behaviour)),
                )
                .await?;
            }
            write.tx.commit().await?;
        }
        let mut write = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(BACKFILLED)
        .bind(BACKFILL_VERSION)
        .execute(&mut *write.tx)
        .await?;
        write.tx.commit().await?;
        Ok(())
    }
}
