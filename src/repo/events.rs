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

/// Stores `$event` (a `NewEvent`) of tenant `$tenant` in write transaction `$tx` with its
/// leaf appended to the tenant's log and, for an asset event, its attribute terms; answers
/// the stored event.
macro_rules! store_event {
    ($repo:ty, $db:ty, $tx:expr, $tenant:expr, $event:expr) => {{
        let (tenant, event): (uuid::Uuid, &$crate::repo::NewEvent) = ($tenant, $event);
        let asset_attributes =
            serde_json::to_string(&event.asset_attributes).map_err(|e| $crate::repo::RepoError::Other(e.into()))?;
        // Locked last, so the tenant's appenders wait on it only for the rest of this work.
        let (size, last_id) = $crate::repo::log::lock_log_head!($tx, tenant, <$repo>::ROW_LOCK);
        let id = $crate::log::idtimestamp::next(chrono::Utc::now(), last_id);
        sqlx::query($crate::repo::sql::INSERT_EVENT)
            .bind(event.id.0)
            .bind(tenant)
            .bind(event.asset.map(|a| a.0))
            .bind(&event.operation)
            .bind(&event.behaviour)
            .bind(&event.event_attributes)
            .bind(asset_attributes)
            .bind(&event.trails)
            .bind(&event.timestamp_declared)
            .bind(&event.principal_declared)
            .bind(&event.issuer)
            .bind(&event.subject)
            .bind(chrono::Utc::now())
            .bind(size as i64)
            .bind($crate::repo::log::signed(id))
            .execute(&mut *$tx)
            .await?;
        let stored: $crate::repo::Event = sqlx::query_as(&format!(
            "{} WHERE tenant_id = $1 AND id = $2",
            $crate::repo::sql::EVENT_COLUMNS
        ))
        .bind(tenant)
        .bind(event.id.0)
        .fetch_one(&mut *$tx)
        .await?;
        // The leaf of the event as stored: what a download recomputes and checks.
        let leaf = $crate::log::entry::event_leaf(&stored, id).map_err(|e| $crate::repo::RepoError::Other(e.into()))?;
        $crate::repo::log::append_leaf!($db, $tx, tenant, size, leaf, id);
        if event.asset.is_some() {
            $crate::repo::terms::insert_event_names!($tx, &stored.operation, &stored.behaviour);
            let terms = $crate::repo::terms::event_terms(
                &stored.event_attributes,
                &stored.asset_attributes,
                &stored.principal_declared,
            );
            $crate::repo::terms::insert_terms!(
                $db,
                $tx,
                "event_terms (tenant_id, term, event_seq, operation_id, behaviour_id)",
                tenant,
                stored.seq,
                terms,
                stored.operation,
                stored.behaviour
            );
        }
        stored
    }};
}

pub(crate) use store_event;

/// Implements `EventRepo` for a backend of `impl_repo!` over database `$db`.
macro_rules! impl_events {
    ($repo:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::repo::EventRepo for $repo {
            async fn create_event(
                &self,
                tenant: $crate::ids::TenantId,
                event: &$crate::repo::NewEvent,
            ) -> $crate::repo::RepoResult<$crate::repo::Event> {
                use $crate::repo::sql::*;
                for _ in 0..UPDATE_ATTEMPTS {
                    let mut write = self.begin_write().await?;
                    if let Some(asset_id) = event.asset {
                        let asset: Option<$crate::repo::Asset> =
                            sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                                .bind(tenant.0)
                                .bind(asset_id.0)
                                .fetch_optional(&mut *write.tx)
                                .await?;
                        let asset = asset.ok_or($crate::repo::RepoError::NotFound)?;
                        if !event.asset_attributes.is_empty() {
                            let merged_text = merge_attributes(&asset.attributes, &event.asset_attributes)?;
                            let updated = sqlx::query(UPDATE_ASSET_ATTRIBUTES)
                                .bind(tenant.0)
                                .bind(asset_id.0)
                                .bind(&merged_text)
                                .bind(chrono::Utc::now())
                                .bind(asset.version)
                                .execute(&mut *write.tx)
                                .await?;
                            if updated.rows_affected() == 0 {
                                // Another event updated the asset first: start over.
                                continue;
                            }
                            sqlx::query("DELETE FROM asset_terms WHERE asset_seq = $1")
                                .bind(asset.seq)
                                .execute(&mut *write.tx)
                                .await?;
                            let terms = $crate::repo::terms::object_terms(
                                $crate::repo::TermField::AssetAttributes,
                                &merged_text,
                            );
                            $crate::repo::terms::insert_terms!(
                                $db,
                                write.tx,
                                "asset_terms (tenant_id, term, asset_seq)",
                                tenant.0,
                                asset.seq,
                                terms
                            );
                        }
                    }
                    let stored = $crate::repo::events::store_event!($repo, $db, write.tx, tenant.0, event);
                    write.tx.commit().await?;
                    return Ok(stored);
                }
                Err($crate::repo::RepoError::Conflict(
                    "the asset is being updated too often; try again".into(),
                ))
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
                let rows = RowsSql::new("events", &query.filters, first, &Self::FILTERS, drive);
                let sql = rows.list(EVENT_FIELDS, scope_sql);
                let binds = rows.binds;
                let mut select = sqlx::query_as(&sql)
                    .bind(tenant.0)
                    .bind(query.before.unwrap_or(i64::MAX))
                    .bind(query.limit);
                if let Some(asset) = asset {
                    select = select.bind(asset);
                }
                let select = $crate::repo::sql::bind_filters!(select, binds);
                Ok(select.fetch_all(&self.pool).await?)
            }

            async fn count_events(
                &self,
                tenant: $crate::ids::TenantId,
                scope: $crate::repo::EventScope,
                query: &$crate::repo::ListQuery,
            ) -> $crate::repo::RepoResult<i64> {
                use $crate::repo::sql::*;
                let (scope_sql, asset, first) = match scope {
                    $crate::repo::EventScope::Asset(asset) => (" AND asset_id = $2", Some(asset.0), 3),
                    $crate::repo::EventScope::AllAssets => (" AND asset_id IS NOT NULL", None, 2),
                };
                let rows = RowsSql::new("events", &query.filters, first, &Self::FILTERS, asset.is_none());
                let sql = rows.count(scope_sql);
                let binds = rows.binds;
                let mut select = sqlx::query_scalar(&sql).bind(tenant.0);
                if let Some(asset) = asset {
                    select = select.bind(asset);
                }
                let select = $crate::repo::sql::bind_filters!(select, binds);
                Ok(select.fetch_one(&self.pool).await?)
            }
        }
    };
}

pub(crate) use impl_events;
