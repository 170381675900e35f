//! Events: stored with their asset's attribute update in one transaction, read, listed
//! and counted.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, RowsAffected, SqlRepo};
use super::log::{self, Appended, LogHead};
use super::sql::{merge_attributes, ASSET_COLUMNS, UPDATE_ASSET_ATTRIBUTES, UPDATE_ATTEMPTS};
use super::term_rows;
use super::terms::{self, TermField};
use super::{leaves, Asset, Event, EventScope, ListQuery, NewEvent, RepoError, RepoResult};
use crate::ids::{EventId, TenantId};

#[async_trait]
pub trait EventRepo {
    /// Stores an event; an asset event's `asset_attributes` update its asset in the same
    /// transaction. `NotFound` when the asset does not exist in the tenant.
    async fn create_event(&self, tenant: TenantId, event: &NewEvent) -> RepoResult<Event>;
    async fn event(&self, tenant: TenantId, event: EventId) -> RepoResult<Option<Event>>;
    /// Events of one asset, of all assets (`AssetScope::AllAssets`) or asset-free ones.
    async fn list_events(&self, tenant: TenantId, scope: EventScope, query: &ListQuery) -> RepoResult<Vec<Event>>;
    async fn count_events(&self, tenant: TenantId, scope: EventScope, query: &ListQuery) -> RepoResult<i64>;
    /// The tenant's newest `limit` events with an attachment recording `hash` (hex), as the
    /// index of terms has them: candidates, for the caller to match exactly.
    async fn events_recording(&self, tenant: TenantId, hash: &str, limit: i64) -> RepoResult<Vec<Event>>;
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
    /// Stores `event` of `tenant` in write transaction `tx`: applies its asset attributes
    /// to its asset (`NotFound` when the asset is not the tenant's), then logs it.
    pub(super) async fn store_event(
        &self,
        tx: &mut DB::Connection,
        tenant: Uuid,
        event: &NewEvent,
        names: (i32, i32),
        heads: &mut HashMap<Uuid, LogHead>,
    ) -> RepoResult<Event> {
        if let Some(asset) = event.asset {
            Self::update_asset_attributes(tx, tenant, asset.0, &event.asset_attributes).await?;
            if let Some(tracked) = tracking(&event.operation, &event.behaviour) {
                sqlx::query(
                    "UPDATE assets SET tracked = $3, updated_at = $4, version = version + 1 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(asset.0)
                .bind(tracked)
                .bind(chrono::Utc::now())
                .execute(&mut *tx)
                .await?;
            }
        }
        self.log_event(tx, tenant, event, names, heads).await
    }

    /// Appends `event`'s leaf to the tenant's log and writes its row (and an asset event's
    /// terms) in write transaction `tx`. `names` are the ids of its operation and behaviour
    /// (`event_name_ids`). The tenant's log head is locked unless `heads` (the heads this
    /// transaction holds, by tenant) has it, and `heads` is advanced.
    pub(super) async fn log_event(
        &self,
        tx: &mut DB::Connection,
        tenant: Uuid,
        event: &NewEvent,
        names: (i32, i32),
        heads: &mut HashMap<Uuid, LogHead>,
    ) -> RepoResult<Event> {
        let asset_attributes =
            serde_json::to_string(&event.asset_attributes).map_err(|e| RepoError::Other(e.into()))?;
        let terms = match event.asset {
            Some(_) => terms::event_terms(&event.event_attributes, &asset_attributes, &event.principal_declared),
            None => terms::free_event_terms(&event.event_attributes),
        };
        // Whatever can be written before the head is locked, is.
        let early_terms = DB::store_event_terms_early(tx, tenant, &terms, names).await?;
        let head = match heads.entry(tenant) {
            Entry::Occupied(held) => held.into_mut(),
            Entry::Vacant(free) => free.insert(log::lock_log_head::<DB>(tx, tenant, &self.heads).await?),
        };
        let id = merklelog::idtimestamp::next(chrono::Utc::now(), head.last_id);
        let mut stored = Event::logged(tenant, event, asset_attributes, head.size, id);
        // The leaf of the event exactly as it is stored: what a download recomputes and checks.
        let leaf = leaves::event_leaf(&stored, id).map_err(|e| RepoError::Other(e.into()))?;
        let from = head.size;
        let added = head.append(leaf, id).map_err(|e| RepoError::Other(e.into()))?;
        let appended = Appended {
            from,
            added: &added,
            head,
        };
        stored.seq = DB::store_logged_event(tx, &stored, early_terms, appended).await?;
        Ok(stored)
    }

    /// Checks that `asset` is the tenant's and replaces the attributes named in `update`
    /// (and the asset's terms) in write transaction `tx`, retrying when another writer
    /// changed the asset meanwhile. `NotFound` when the asset is not the tenant's.
    pub(super) async fn update_asset_attributes(
        tx: &mut DB::Connection,
        tenant: Uuid,
        asset: Uuid,
        update: &serde_json::Map<String, serde_json::Value>,
    ) -> RepoResult<()> {
        for _ in 0..UPDATE_ATTEMPTS {
            let current: Option<Asset> = sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant)
                .bind(asset)
                .fetch_optional(&mut *tx)
                .await?;
            let current = current.ok_or(RepoError::NotFound)?;
            if update.is_empty() {
                return Ok(());
            }
            let merged = merge_attributes(&current.attributes, update)?;
            let updated = sqlx::query(UPDATE_ASSET_ATTRIBUTES)
                .bind(tenant)
                .bind(asset)
                .bind(&merged)
                .bind(chrono::Utc::now())
                .bind(current.version)
                .execute(&mut *tx)
                .await?;
            if updated.rows_affected() == 1 {
                sqlx::query("DELETE FROM asset_terms WHERE asset_seq = $1")
                    .bind(current.seq)
                    .execute(&mut *tx)
                    .await?;
                let terms = terms::object_terms(TermField::AssetAttributes, &merged);
                let into = "asset_terms (tenant_id, term, asset_seq)";
                return term_rows::insert_terms::<DB>(tx, into, tenant, current.seq, &terms, None).await;
            }
            // Another writer changed the asset since it was read: read it again.
        }
        Err(RepoError::Conflict(
            "the asset is being updated too often; try again".into(),
        ))
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
    /// Stores `event` in a transaction of its own.
    pub(super) async fn store_event_alone(
        &self,
        tenant: crate::ids::TenantId,
        event: &crate::repo::NewEvent,
    ) -> crate::repo::RepoResult<crate::repo::Event> {
        let mut outcomes = self.store_events(&[(tenant, event)]).await?;
        outcomes
            .pop()
            .unwrap_or(Err(crate::repo::RepoError::Other(anyhow::anyhow!(
                "an event stored on its own had no outcome"
            ))))
    }

    /// Stores `events` in one transaction, each under its own savepoint: answers each
    /// event's outcome, or an error when the transaction as a whole failed.
    pub(super) async fn store_events(
        &self,
        events: &[(crate::ids::TenantId, &crate::repo::NewEvent)],
    ) -> crate::repo::RepoResult<Vec<crate::repo::RepoResult<crate::repo::Event>>> {
        let mut names = Vec::with_capacity(events.len());
        for (_, event) in events {
            names.push(self.event_name_ids(&event.operation, &event.behaviour).await?);
        }
        let mut write = self.begin_write().await?;
        let mut heads = std::collections::HashMap::new();
        let alone = events.len() == 1;
        let mut outcomes = Vec::with_capacity(events.len());
        for ((tenant, event), names) in events.iter().zip(names) {
            let mut job_heads = heads.clone();
            if !alone {
                write.tx.begin_piece().await?;
            }
            let outcome = self
                .store_event(&mut write.tx, tenant.0, event, names, &mut job_heads)
                .await;
            if !alone {
                write.tx.end_piece(outcome.is_ok()).await?;
            }
            match &outcome {
                Ok(_) => heads = job_heads,
                // On its own, a failed event's transaction is rolled back when dropped.
                Err(_) if alone => return Ok(vec![outcome]),
                Err(_) => {}
            }
            outcomes.push(outcome);
        }
        self.heads.commit(write.tx, heads).await?;
        Ok(outcomes)
    }
}

#[async_trait]
impl<DB: Backend> EventRepo for SqlRepo<DB>
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
    async fn create_event(
        &self,
        tenant: crate::ids::TenantId,
        event: &crate::repo::NewEvent,
    ) -> crate::repo::RepoResult<crate::repo::Event> {
        use crate::repo::appender::{Outcome, Turn};
        if !DB::GROUP_COMMIT {
            return self.store_event_alone(tenant, event).await;
        }
        let outcome = match self.appenders.enter(tenant, event.clone()).await {
            Turn::Done(outcome) => outcome,
            Turn::Lead {
                jobs,
                outcome,
                _leading,
            } => {
                let events: Vec<_> = jobs.iter().map(|job| (job.tenant, &job.work)).collect();
                match self.store_events(&events).await {
                    Ok(outcomes) => {
                        for (job, stored) in jobs.into_iter().zip(outcomes) {
                            job.finish(match stored {
                                Ok(stored) => Outcome::Stored(Box::new(stored)),
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
            Outcome::Stored(stored) => Ok(*stored),
            Outcome::Failed(err) => Err(err),
            Outcome::Alone => {
                // Its batch's commit may have gone through unreported.
                if let Some(stored) = self.event(tenant, event.id).await? {
                    return Ok(stored);
                }
                self.store_event_alone(tenant, event).await
            }
        }
    }

    async fn event(
        &self,
        tenant: crate::ids::TenantId,
        event: crate::ids::EventId,
    ) -> crate::repo::RepoResult<Option<crate::repo::Event>> {
        use crate::repo::sql::*;
        let key = (tenant.0, event.0);
        if let Some(cached) = self.cache.events.get(&key).await {
            return Ok(Some((*cached).clone()));
        }
        let found: Option<crate::repo::Event> =
            sqlx::query_as(&format!("{EVENT_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant.0)
                .bind(event.0)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(found) = &found {
            // Events are never changed once stored.
            self.cache.keep_event(key, std::sync::Arc::new(found.clone())).await;
        }
        Ok(found)
    }

    async fn events_recording(
        &self,
        tenant: crate::ids::TenantId,
        hash: &str,
        limit: i64,
    ) -> crate::repo::RepoResult<Vec<crate::repo::Event>> {
        use crate::repo::sql::*;
        let term = terms::attachment_term(hash);
        Ok(sqlx::query_as(&format!(
            "{EVENT_COLUMNS} WHERE tenant_id = $1 AND seq IN \
             (SELECT event_seq FROM event_terms WHERE tenant_id = $1 AND term = $2) ORDER BY seq DESC LIMIT $3"
        ))
        .bind(tenant.0)
        .bind(term.as_slice())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn list_events(
        &self,
        tenant: crate::ids::TenantId,
        scope: crate::repo::EventScope,
        query: &crate::repo::ListQuery,
    ) -> crate::repo::RepoResult<Vec<crate::repo::Event>> {
        use crate::repo::sql::*;
        let (scope_sql, asset, first) = match scope {
            crate::repo::EventScope::Asset(asset) => (" AND asset_id = $4", Some(asset.0), 5),
            crate::repo::EventScope::AllAssets => (" AND asset_id IS NOT NULL", None, 4),
        };
        // Terms drive over all assets (event terms are those of asset events); one
        // asset's events are fewer than any term's entries.
        let drive = asset.is_none();
        let rows = crate::repo::filters::RowsSql::new("events", &query.filters, first, &DB::FILTERS, drive);
        // The page's keys only; events never change, so those read before come from
        // the cache and the rest in one more query (decoding every column of 50
        // rows was most of a first page's time).
        let sql = rows.list("events.seq, events.id", scope_sql);
        let binds = rows.binds;
        let mut select = sqlx::query_as(&sql)
            .persistent(DB::LIST_STATEMENTS_CACHED || query.filters.is_empty())
            .bind(tenant.0)
            .bind(query.before.unwrap_or(i64::MAX))
            .bind(query.limit);
        if let Some(asset) = asset {
            select = select.bind(asset);
        }
        let select = crate::repo::filters::bind_filters!(select, binds);
        let keys: Vec<(i64, uuid::Uuid)> = select.fetch_all(&self.pool).await?;
        let mut page = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for (seq, id) in &keys {
            let cached = self.cache.events.get(&(tenant.0, *id)).await;
            if cached.is_none() {
                missing.push(*seq);
            }
            page.push(cached);
        }
        if !missing.is_empty() {
            let read = format!(
                "{EVENT_COLUMNS} WHERE tenant_id = $1 AND seq IN ({})",
                crate::repo::sql::numbered(2, missing.len())
            );
            let mut read = sqlx::query_as(&read).bind(tenant.0);
            for seq in &missing {
                read = read.bind(*seq);
            }
            let read: Vec<Event> = read.fetch_all(&self.pool).await?;
            for event in read {
                let event = std::sync::Arc::new(event);
                self.cache.keep_event((tenant.0, event.id), event.clone()).await;
                if let Some(slot) = keys.iter().position(|(seq, _)| *seq == event.seq) {
                    page[slot] = Some(event);
                }
            }
        }
        // A row gone between the two reads (its tenant deleted) is left out.
        Ok(page.into_iter().flatten().map(|event| (*event).clone()).collect())
    }

    async fn count_events(
        &self,
        tenant: crate::ids::TenantId,
        scope: crate::repo::EventScope,
        query: &crate::repo::ListQuery,
    ) -> crate::repo::RepoResult<i64> {
        let (scope_sql, asset, first) = match scope {
            crate::repo::EventScope::Asset(asset) => (" AND asset_id = $2", Some(asset.0), 3),
            crate::repo::EventScope::AllAssets => (" AND asset_id IS NOT NULL", None, 2),
        };
        let rows = crate::repo::filters::RowsSql::new("events", &query.filters, first, &DB::FILTERS, asset.is_none());
        let sql = rows.count(scope_sql);
        let binds = rows.binds;
        let mut select = sqlx::query_scalar(&sql)
            .persistent(DB::LIST_STATEMENTS_CACHED || query.filters.is_empty())
            .bind(tenant.0);
        if let Some(asset) = asset {
            select = select.bind(asset);
        }
        let select = crate::repo::filters::bind_filters!(select, binds);
        Ok(select.fetch_one(&self.pool).await?)
    }
}

/// What DataTrails' built-in tracking events set an asset's `tracked` to.
fn tracking(operation: &str, behaviour: &str) -> Option<bool> {
    match (operation, behaviour) {
        ("StopTracking", "Builtin") => Some(false),
        ("StartTracking", "Builtin") => Some(true),
        _ => None,
    }
}
