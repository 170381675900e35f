//! Events: stored with their asset's attribute update in one transaction, read, listed
//! and counted.

use super::{Event, EventScope, ListQuery, NewEvent, RepoResult};
use crate::ids::{EventId, TenantId};
use async_trait::async_trait;

#[async_trait]
pub trait EventRepo {
    /// Stores an event; an asset event's `asset_attributes` update its asset in the same
    /// transaction. `NotFound` when the asset does not exist in the tenant.
    async fn create_event(&self, tenant: TenantId, event: &NewEvent) -> RepoResult<Event>;
    async fn event(&self, tenant: TenantId, event: EventId) -> RepoResult<Option<Event>>;
    /// Events of one asset, of all assets (`AssetScope::AllAssets`) or asset-free ones.
    async fn list_events(&self, tenant: TenantId, scope: EventScope, query: &ListQuery) -> RepoResult<Vec<Event>>;
    async fn count_events(&self, tenant: TenantId, scope: EventScope, query: &ListQuery) -> RepoResult<i64>;
}

/// An event's terms: written before its row (PostgreSQL, which took its `seq` for them), or
/// to be written with it.
pub enum EventTerms<'a> {
    Written { seq: i64 },
    WithRow { terms: &'a [Vec<u8>], names: (i32, i32) },
}

/// Stores `$event` (a `NewEvent`) of tenant `$tenant` in write transaction `$tx`, with its
/// leaf appended to the tenant's log; `$names` are the ids of its operation and behaviour
/// (`event_name_ids`). The tenant's log head is locked (`lock_log_head!`, with the
/// `KnownHeads` `$committed`) unless `$heads` (the `LogHead`s this transaction holds, by
/// tenant) has it, and `$heads` is advanced. An asset event also gets its attribute
/// terms. Answers the stored event.
macro_rules! store_event {
    ($repo:ty, $db:ty, $tx:expr, $tenant:expr, $event:expr, $names:expr, $heads:expr, $committed:expr) => {{
        let (tenant, event, heads): (
            uuid::Uuid,
            &$crate::repo::NewEvent,
            &mut std::collections::HashMap<uuid::Uuid, $crate::repo::log::LogHead>,
        ) = ($tenant, $event, $heads);
        let asset_attributes =
            serde_json::to_string(&event.asset_attributes).map_err(|e| $crate::repo::RepoError::Other(e.into()))?;
        let terms = match event.asset {
            Some(_) => {
                $crate::repo::terms::event_terms(&event.event_attributes, &asset_attributes, &event.principal_declared)
            }
            None => Vec::new(),
        };
        // Whatever can be written before the head is locked, is.
        let early_terms = <$repo>::store_event_terms_early(&mut *$tx, tenant, &terms, $names).await?;
        let head = match heads.entry(tenant) {
            std::collections::hash_map::Entry::Occupied(held) => held.into_mut(),
            std::collections::hash_map::Entry::Vacant(free) => free.insert($crate::repo::log::lock_log_head!(
                $db,
                $tx,
                tenant,
                <$repo>::ROW_LOCK,
                $committed
            )),
        };
        let id = ::merklelog::idtimestamp::next(chrono::Utc::now(), head.last_id);
        let mut stored = $crate::repo::Event::logged(tenant, event, asset_attributes, head.size, id);
        // The leaf of the event exactly as it is stored: what a download recomputes and checks.
        let leaf =
            $crate::repo::leaves::event_leaf(&stored, id).map_err(|e| $crate::repo::RepoError::Other(e.into()))?;
        let from = head.size;
        let added = head
            .append(leaf, id)
            .map_err(|e| $crate::repo::RepoError::Other(e.into()))?;
        let appended = $crate::repo::log::Appended {
            from,
            added: &added,
            head,
        };
        stored.seq = <$repo>::store_logged_event(&mut *$tx, &stored, early_terms, appended).await?;
        stored
    }};
}

pub(crate) use store_event;

/// Applies asset event `$event`'s `asset_attributes` to its asset (and the asset's terms) in
/// write transaction `$tx`; `NotFound` when the asset is not the tenant's.
macro_rules! update_event_asset {
    ($db:ty, $tx:expr, $tenant:expr, $event:expr) => {{
        use $crate::repo::sql::*;
        let (tenant, event): (uuid::Uuid, &$crate::repo::NewEvent) = ($tenant, $event);
        if let Some(asset_id) = event.asset {
            let mut attempts = 0;
            loop {
                let asset: Option<$crate::repo::Asset> =
                    sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                        .bind(tenant)
                        .bind(asset_id.0)
                        .fetch_optional(&mut *$tx)
                        .await?;
                let asset = asset.ok_or($crate::repo::RepoError::NotFound)?;
                if event.asset_attributes.is_empty() {
                    break;
                }
                let merged_text = merge_attributes(&asset.attributes, &event.asset_attributes)?;
                let updated = sqlx::query(UPDATE_ASSET_ATTRIBUTES)
                    .bind(tenant)
                    .bind(asset_id.0)
                    .bind(&merged_text)
                    .bind(chrono::Utc::now())
                    .bind(asset.version)
                    .execute(&mut *$tx)
                    .await?;
                if updated.rows_affected() == 1 {
                    sqlx::query("DELETE FROM asset_terms WHERE asset_seq = $1")
                        .bind(asset.seq)
                        .execute(&mut *$tx)
                        .await?;
                    let terms =
                        $crate::repo::terms::object_terms($crate::repo::TermField::AssetAttributes, &merged_text);
                    $crate::repo::terms::insert_terms!(
                        $db,
                        $tx,
                        "asset_terms (tenant_id, term, asset_seq)",
                        tenant,
                        asset.seq,
                        terms
                    );
                    break;
                }
                // Another writer changed the asset since it was read: read it again.
                attempts += 1;
                if attempts == UPDATE_ATTEMPTS {
                    return Err($crate::repo::RepoError::Conflict(
                        "the asset is being updated too often; try again".into(),
                    ));
                }
            }
        }
    }};
}

pub(crate) use update_event_asset;

/// Implements `EventRepo` for a backend of `impl_repo!` over database `$db`.
macro_rules! impl_events {
    ($repo:ty, $db:ty) => {
        impl $repo {
            /// Stores `event` in a transaction of its own.
            async fn store_event_alone(
                &self,
                tenant: $crate::ids::TenantId,
                event: &$crate::repo::NewEvent,
            ) -> $crate::repo::RepoResult<$crate::repo::Event> {
                let mut outcomes = self.store_events(&[(tenant, event)]).await?;
                outcomes
                    .pop()
                    .unwrap_or(Err($crate::repo::RepoError::Other(anyhow::anyhow!(
                        "an event stored on its own had no outcome"
                    ))))
            }

            /// Stores `events` in one transaction, each under its own savepoint: answers each
            /// event's outcome, or an error when the transaction as a whole failed.
            async fn store_events(
                &self,
                events: &[($crate::ids::TenantId, &$crate::repo::NewEvent)],
            ) -> $crate::repo::RepoResult<Vec<$crate::repo::RepoResult<$crate::repo::Event>>> {
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
                    let outcome: $crate::repo::RepoResult<$crate::repo::Event> = async {
                        $crate::repo::events::update_event_asset!($db, write.tx, tenant.0, event);
                        Ok($crate::repo::events::store_event!(
                            $repo,
                            $db,
                            write.tx,
                            tenant.0,
                            event,
                            names,
                            &mut job_heads,
                            &self.heads
                        ))
                    }
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

        #[async_trait::async_trait]
        impl $crate::repo::EventRepo for $repo {
            async fn create_event(
                &self,
                tenant: $crate::ids::TenantId,
                event: &$crate::repo::NewEvent,
            ) -> $crate::repo::RepoResult<$crate::repo::Event> {
                use $crate::repo::appender::{Outcome, Turn};
                if !Self::GROUP_COMMIT {
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
                tenant: $crate::ids::TenantId,
                event: $crate::ids::EventId,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::Event>> {
                use $crate::repo::sql::*;
                let key = (tenant.0, event.0);
                if let Some(cached) = self.cache.events.get(&key).await {
                    return Ok(Some((*cached).clone()));
                }
                let found: Option<$crate::repo::Event> =
                    sqlx::query_as(&format!("{EVENT_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                        .bind(tenant.0)
                        .bind(event.0)
                        .fetch_optional(&self.pool)
                        .await?;
                if let Some(found) = &found {
                    // Events are never changed once stored.
                    self.cache
                        .events
                        .insert(key, std::sync::Arc::new(found.clone()))
                        .await;
                }
                Ok(found)
            }

            async fn list_events(
                &self,
                tenant: $crate::ids::TenantId,
                scope: $crate::repo::EventScope,
                query: &$crate::repo::ListQuery,
            ) -> $crate::repo::RepoResult<Vec<$crate::repo::Event>> {
                use $crate::repo::sql::*;
                let (scope_sql, asset, first) = match scope {
                    $crate::repo::EventScope::Asset(asset) => (" AND asset_id = $4", Some(asset.0), 5),
                    $crate::repo::EventScope::AllAssets => (" AND asset_id IS NOT NULL", None, 4),
                };
                // Terms drive over all assets (event terms are those of asset events); one
                // asset's events are fewer than any term's entries.
                let drive = asset.is_none();
                let rows = $crate::repo::filters::RowsSql::new("events", &query.filters, first, &Self::FILTERS, drive);
                // The page's keys only; events never change, so those read before come from
                // the cache and the rest in one more query (decoding every column of 50
                // rows was most of a first page's time).
                let sql = rows.list("events.seq, events.id", scope_sql);
                let binds = rows.binds;
                let mut select = sqlx::query_as(&sql)
                    .persistent(Self::LIST_STATEMENTS_CACHED || query.filters.is_empty())
                    .bind(tenant.0)
                    .bind(query.before.unwrap_or(i64::MAX))
                    .bind(query.limit);
                if let Some(asset) = asset {
                    select = select.bind(asset);
                }
                let select = $crate::repo::filters::bind_filters!(select, binds);
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
                    let mut read = sqlx::QueryBuilder::<$db>::new(format!("{EVENT_COLUMNS} WHERE tenant_id = "));
                    read.push_bind(tenant.0).push(" AND seq IN (");
                    let mut list = read.separated(", ");
                    for seq in &missing {
                        list.push_bind(*seq);
                    }
                    list.push_unseparated(")");
                    let read: Vec<$crate::repo::Event> = read.build_query_as().fetch_all(&self.pool).await?;
                    for event in read {
                        let event = std::sync::Arc::new(event);
                        self.cache
                            .events
                            .insert((tenant.0, event.id), event.clone())
                            .await;
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
                tenant: $crate::ids::TenantId,
                scope: $crate::repo::EventScope,
                query: &$crate::repo::ListQuery,
            ) -> $crate::repo::RepoResult<i64> {
                let (scope_sql, asset, first) = match scope {
                    $crate::repo::EventScope::Asset(asset) => (" AND asset_id = $2", Some(asset.0), 3),
                    $crate::repo::EventScope::AllAssets => (" AND asset_id IS NOT NULL", None, 2),
                };
                let rows = $crate::repo::filters::RowsSql::new(
                    "events",
                    &query.filters,
                    first,
                    &Self::FILTERS,
                    asset.is_none(),
                );
                let sql = rows.count(scope_sql);
                let binds = rows.binds;
                let mut select = sqlx::query_scalar(&sql)
                    .persistent(Self::LIST_STATEMENTS_CACHED || query.filters.is_empty())
                    .bind(tenant.0);
                if let Some(asset) = asset {
                    select = select.bind(asset);
                }
                let select = $crate::repo::filters::bind_filters!(select, binds);
                Ok(select.fetch_one(&self.pool).await?)
            }
        }
    };
}

pub(crate) use impl_events;
