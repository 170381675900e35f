//! The verifiable log's storage: each tenant's head (size, last idtimestamp), its MMR
//! nodes and the latest seal of each massif. Massifs are rendered from the nodes, so this
//! is the one interface another store of massifs would implement.

use std::collections::HashMap;
use std::ops::Range;

use async_trait::async_trait;

use super::{Event, RepoResult};
use crate::ids::TenantId;
use crate::log::mmr::Hash;

/// A seal as stored: the massif it seals, the log size it covers and its bytes.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredSeal {
    pub massif_index: i64,
    pub mmr_size: i64,
    pub seal: Vec<u8>,
}

#[async_trait]
pub trait LogRepo {
    /// The size of the tenant's log and its last idtimestamp; (0, 0) when empty.
    async fn log_head(&self, tenant: TenantId) -> RepoResult<(u64, u64)>;
    /// The nodes at `indices`; an index not in the log is missing from the answer.
    async fn log_nodes_at(&self, tenant: TenantId, indices: &[u64]) -> RepoResult<HashMap<u64, Hash>>;
    /// The nodes of `range`, in order (as many as exist).
    async fn log_node_range(&self, tenant: TenantId, range: Range<u64>) -> RepoResult<Vec<Hash>>;
    /// The events whose leaves are in `range` of node indices, in log order.
    async fn log_events(&self, tenant: TenantId, range: Range<u64>) -> RepoResult<Vec<Event>>;
    /// The seal of the tenant's highest massif.
    async fn latest_seal(&self, tenant: TenantId) -> RepoResult<Option<StoredSeal>>;
    async fn massif_seal(&self, tenant: TenantId, massif: u64) -> RepoResult<Option<StoredSeal>>;
    /// Keeps `seal` as massif `massif`'s, unless a seal covering at least `size` is there.
    async fn store_seal(&self, tenant: TenantId, massif: u64, size: u64, seal: &[u8]) -> RepoResult<()>;
    /// Tenants whose log has grown past their latest seal.
    async fn unsealed_tenants(&self) -> RepoResult<Vec<TenantId>>;
}

/// Turns a stored u64 bit pattern back into the u64.
pub fn unsigned(stored: i64) -> u64 {
    stored as u64
}

/// The u64 as stored (its bit pattern in a signed column).
pub fn signed(value: u64) -> i64 {
    value as i64
}

/// Locks the tenant's log head in write transaction `$tx` and answers (size, last id).
/// `$lock` is the backend's row-lock clause: PostgreSQL orders concurrent appenders on
/// the row; SQLite has one writer already.
macro_rules! lock_log_head {
    ($tx:expr, $tenant:expr, $lock:expr) => {{
        let tenant: uuid::Uuid = $tenant;
        let select = format!(
            "SELECT size, last_idtimestamp FROM log_heads WHERE tenant_id = $1{}",
            $lock
        );
        let head: Option<(i64, i64)> = sqlx::query_as(&select).bind(tenant).fetch_optional(&mut *$tx).await?;
        let (size, last) = match head {
            Some(head) => head,
            None => {
                // The tenant's first event: another appender may be making the row too.
                sqlx::query(
                    "INSERT INTO log_heads (tenant_id, size, last_idtimestamp) VALUES ($1, 0, 0) \
                     ON CONFLICT (tenant_id) DO NOTHING",
                )
                .bind(tenant)
                .execute(&mut *$tx)
                .await?;
                sqlx::query_as(&select).bind(tenant).fetch_one(&mut *$tx).await?
            }
        };
        (size as u64, $crate::repo::log::unsigned(last))
    }};
}

/// Appends `$leaf` (committed at idtimestamp `$id`) to the tenant's log of `$size` nodes
/// locked by `lock_log_head!`, on database `$db`; answers the log's new size.
macro_rules! append_leaf {
    ($db:ty, $tx:expr, $tenant:expr, $size:expr, $leaf:expr, $id:expr) => {{
        let (tenant, size, leaf, id): (uuid::Uuid, u64, $crate::log::mmr::Hash, u64) = ($tenant, $size, $leaf, $id);
        // The new parents' left children are the lowest peaks, one per trailing one of
        // the leaf count.
        let merges = $crate::log::mmr::leaf_count(size).trailing_ones() as usize;
        let peaks = $crate::log::mmr::peaks(size);
        let needed = &peaks[peaks.len().saturating_sub(merges)..];
        let mut known = std::collections::HashMap::new();
        if !needed.is_empty() {
            let mut select = sqlx::QueryBuilder::<$db>::new("SELECT mmr_index, hash FROM log_nodes WHERE tenant_id = ");
            select.push_bind(tenant).push(" AND mmr_index IN (");
            let mut list = select.separated(", ");
            for i in needed {
                list.push_bind(*i as i64);
            }
            select.push(")");
            let rows: Vec<(i64, Vec<u8>)> = select.build_query_as().fetch_all(&mut *$tx).await?;
            for (i, hash) in rows {
                let hash: $crate::log::mmr::Hash = hash
                    .try_into()
                    .map_err(|_| $crate::repo::RepoError::Other(anyhow::anyhow!("log node {i} is not 32 bytes")))?;
                known.insert(i as u64, hash);
            }
        }
        let added = $crate::log::mmr::append(size, leaf, &known).map_err($crate::repo::RepoError::Other)?;
        let mut insert = sqlx::QueryBuilder::<$db>::new("INSERT INTO log_nodes (tenant_id, mmr_index, hash) ");
        insert.push_values(added.iter().enumerate(), |mut row, (n, hash)| {
            row.push_bind(tenant)
                .push_bind((size + n as u64) as i64)
                .push_bind(hash.to_vec());
        });
        insert.build().execute(&mut *$tx).await?;
        let grown = size + added.len() as u64;
        sqlx::query("UPDATE log_heads SET size = $2, last_idtimestamp = $3 WHERE tenant_id = $1")
            .bind(tenant)
            .bind(grown as i64)
            .bind($crate::repo::log::signed(id))
            .execute(&mut *$tx)
            .await?;
        grown
    }};
}

pub(crate) use {append_leaf, lock_log_head};

/// Implements `LogRepo` for a backend of `impl_repo!` over database `$db`, and
/// `backfill_log`, which appends events stored before the log existed.
macro_rules! impl_log {
    ($repo:ty, $db:ty) => {
        impl $repo {
            pub async fn backfill_log(&self) -> $crate::repo::RepoResult<()> {
                loop {
                    let pending: Vec<$crate::repo::Event> = sqlx::query_as(&format!(
                        "{} WHERE log_index IS NULL ORDER BY seq LIMIT 500",
                        $crate::repo::sql::EVENT_COLUMNS
                    ))
                    .fetch_all(&self.pool)
                    .await?;
                    if pending.is_empty() {
                        return Ok(());
                    }
                    for event in pending {
                        let mut write = self.begin_write().await?;
                        let (size, last_id) =
                            $crate::repo::log::lock_log_head!(write.tx, event.tenant_id, Self::ROW_LOCK);
                        let id = $crate::log::idtimestamp::next(chrono::Utc::now(), last_id);
                        let updated = sqlx::query(
                            "UPDATE events SET log_index = $2, idtimestamp = $3 WHERE seq = $1 AND log_index IS NULL",
                        )
                        .bind(event.seq)
                        .bind(size as i64)
                        .bind($crate::repo::log::signed(id))
                        .execute(&mut *write.tx)
                        .await?;
                        if updated.rows_affected() == 1 {
                            let logged = $crate::repo::Event {
                                log_index: Some(size as i64),
                                idtimestamp: Some($crate::repo::log::signed(id)),
                                ..event
                            };
                            let leaf = $crate::log::entry::event_leaf(&logged, id)
                                .map_err(|e| $crate::repo::RepoError::Other(e.into()))?;
                            $crate::repo::log::append_leaf!($db, write.tx, logged.tenant_id, size, leaf, id);
                        }
                        write.tx.commit().await?;
                    }
                }
            }
        }

        #[async_trait::async_trait]
        impl $crate::repo::LogRepo for $repo {
            async fn log_head(&self, tenant: $crate::ids::TenantId) -> $crate::repo::RepoResult<(u64, u64)> {
                let head: Option<(i64, i64)> =
                    sqlx::query_as("SELECT size, last_idtimestamp FROM log_heads WHERE tenant_id = $1")
                        .bind(tenant.0)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(head.map_or((0, 0), |(size, last)| {
                    (size as u64, $crate::repo::log::unsigned(last))
                }))
            }

            async fn log_nodes_at(
                &self,
                tenant: $crate::ids::TenantId,
                indices: &[u64],
            ) -> $crate::repo::RepoResult<std::collections::HashMap<u64, $crate::log::mmr::Hash>> {
                let mut found = std::collections::HashMap::new();
                for batch in indices.chunks(500) {
                    let mut select =
                        sqlx::QueryBuilder::<$db>::new("SELECT mmr_index, hash FROM log_nodes WHERE tenant_id = ");
                    select.push_bind(tenant.0).push(" AND mmr_index IN (");
                    let mut list = select.separated(", ");
                    for i in batch {
                        list.push_bind(*i as i64);
                    }
                    select.push(")");
                    let rows: Vec<(i64, Vec<u8>)> = select.build_query_as().fetch_all(&self.pool).await?;
                    for (i, hash) in rows {
                        found.insert(i as u64, $crate::repo::log::node_hash(i, hash)?);
                    }
                }
                Ok(found)
            }

            async fn log_node_range(
                &self,
                tenant: $crate::ids::TenantId,
                range: std::ops::Range<u64>,
            ) -> $crate::repo::RepoResult<Vec<$crate::log::mmr::Hash>> {
                let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                    "SELECT mmr_index, hash FROM log_nodes WHERE tenant_id = $1 AND mmr_index >= $2 \
                     AND mmr_index < $3 ORDER BY mmr_index",
                )
                .bind(tenant.0)
                .bind(range.start as i64)
                .bind(range.end as i64)
                .fetch_all(&self.pool)
                .await?;
                let mut nodes = Vec::with_capacity(rows.len());
                for (n, (i, hash)) in rows.into_iter().enumerate() {
                    if i as u64 != range.start + n as u64 {
                        // A gap: the log was edited; the nodes before it are all there are.
                        break;
                    }
                    nodes.push($crate::repo::log::node_hash(i, hash)?);
                }
                Ok(nodes)
            }

            async fn log_events(
                &self,
                tenant: $crate::ids::TenantId,
                range: std::ops::Range<u64>,
            ) -> $crate::repo::RepoResult<Vec<$crate::repo::Event>> {
                Ok(sqlx::query_as(&format!(
                    "{} WHERE tenant_id = $1 AND log_index >= $2 AND log_index < $3 ORDER BY log_index",
                    $crate::repo::sql::EVENT_COLUMNS
                ))
                .bind(tenant.0)
                .bind(range.start as i64)
                .bind(range.end as i64)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn latest_seal(
                &self,
                tenant: $crate::ids::TenantId,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::StoredSeal>> {
                Ok(sqlx::query_as(
                    "SELECT massif_index, mmr_size, seal FROM log_seals WHERE tenant_id = $1 \
                     ORDER BY massif_index DESC LIMIT 1",
                )
                .bind(tenant.0)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn massif_seal(
                &self,
                tenant: $crate::ids::TenantId,
                massif: u64,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::StoredSeal>> {
                Ok(sqlx::query_as(
                    "SELECT massif_index, mmr_size, seal FROM log_seals WHERE tenant_id = $1 AND massif_index = $2",
                )
                .bind(tenant.0)
                .bind(massif as i64)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn store_seal(
                &self,
                tenant: $crate::ids::TenantId,
                massif: u64,
                size: u64,
                seal: &[u8],
            ) -> $crate::repo::RepoResult<()> {
                let mut write = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO log_seals (tenant_id, massif_index, mmr_size, seal, sealed_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, massif_index) DO UPDATE \
                     SET mmr_size = excluded.mmr_size, seal = excluded.seal, sealed_at = excluded.sealed_at \
                     WHERE log_seals.mmr_size < excluded.mmr_size",
                )
                .bind(tenant.0)
                .bind(massif as i64)
                .bind(size as i64)
                .bind(seal)
                .bind(chrono::Utc::now())
                .execute(&mut *write.tx)
                .await?;
                write.tx.commit().await?;
                Ok(())
            }

            async fn unsealed_tenants(&self) -> $crate::repo::RepoResult<Vec<$crate::ids::TenantId>> {
                let tenants: Vec<uuid::Uuid> = sqlx::query_scalar(
                    "SELECT h.tenant_id FROM log_heads h WHERE h.size > \
                     COALESCE((SELECT MAX(s.mmr_size) FROM log_seals s WHERE s.tenant_id = h.tenant_id), 0)",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(tenants.into_iter().map($crate::ids::TenantId).collect())
            }
        }
    };
}

pub(crate) use impl_log;

/// A stored node, checked to be a hash.
pub fn node_hash(index: i64, bytes: Vec<u8>) -> RepoResult<Hash> {
    bytes
        .try_into()
        .map_err(|_| super::RepoError::Other(anyhow::anyhow!("log node {index} is not 32 bytes")))
}
