//! The verifiable log's storage: each tenant's head (size, last idtimestamp), its MMR
//! nodes and the latest seal of each massif. Massifs are rendered from the nodes, so this
//! is the one interface another store of massifs would implement.

use std::collections::HashMap;
use std::ops::Range;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use merklelog::mmr::Hash;
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, SqlRepo};
use super::sql::numbered;
use super::{Event, RepoError, RepoResult};
use crate::ids::TenantId;

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
    /// Keeps `seal` as massif `massif`'s whatever is there: the anchored seal put back.
    async fn replace_seal(&self, tenant: TenantId, massif: u64, size: u64, seal: &[u8]) -> RepoResult<()>;
    /// Tenants whose log has grown past their latest seal.
    async fn unsealed_tenants(&self) -> RepoResult<Vec<TenantId>>;
    /// Every tenant with a log.
    async fn log_tenants(&self) -> RepoResult<Vec<TenantId>>;
    /// The blobs whose leaves are in `range` of node indices, in log order.
    async fn log_blobs(&self, tenant: TenantId, range: Range<u64>) -> RepoResult<Vec<super::Blob>>;
    /// Appends every event and blob without a place in the log: the one-time migration of
    /// a database from before the log (events) or before blob leaves (blobs).
    async fn backfill_log(&self) -> RepoResult<()>;
    /// Events and blobs without a place in the log, by tenant: (tenant, events, blobs).
    async fn unlogged(&self) -> RepoResult<Vec<(TenantId, i64, i64)>>;
}

pub use super::heads::{signed, unsigned, Appended, KnownHeads, LogHead};

/// Locks the tenant's log head in write transaction `tx` and answers it, its peaks from
/// `known` or read from the nodes. PostgreSQL orders concurrent appenders on the row
/// (`Backend::ROW_LOCK`); SQLite has one writer already.
pub async fn lock_log_head<DB: Backend>(
    tx: &mut DB::Connection,
    tenant: Uuid,
    known: &KnownHeads,
) -> RepoResult<LogHead>
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
    let select = format!(
        "SELECT size, last_idtimestamp FROM log_heads WHERE tenant_id = $1{}",
        DB::ROW_LOCK
    );
    let head: Option<(i64, i64)> = sqlx::query_as(&select).bind(tenant).fetch_optional(&mut *tx).await?;
    let (size, last) = match head {
        Some(head) => head,
        None => {
            // The tenant's first event: another appender may be making the row too.
            sqlx::query(
                "INSERT INTO log_heads (tenant_id, size, last_idtimestamp) VALUES ($1, 0, 0) \
                 ON CONFLICT (tenant_id) DO NOTHING",
            )
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
            sqlx::query_as(&select).bind(tenant).fetch_one(&mut *tx).await?
        }
    };
    let (size, last_id) = (size as u64, unsigned(last));
    if let Some(head) = known.at(tenant, size, last_id) {
        return Ok(head);
    }
    let indices = merklelog::mmr::peaks(size);
    let rows: Vec<(i64, Vec<u8>)> = if indices.is_empty() {
        Vec::new()
    } else {
        let select = format!(
            "SELECT mmr_index, hash FROM log_nodes WHERE tenant_id = $1 AND mmr_index IN ({})",
            numbered(2, indices.len())
        );
        let mut select = sqlx::query_as(&select).bind(tenant);
        for i in &indices {
            select = select.bind(*i as i64);
        }
        select.fetch_all(&mut *tx).await?
    };
    let nodes: HashMap<u64, Vec<u8>> = rows.into_iter().map(|(i, hash)| (i as u64, hash)).collect();
    let peaks = indices
        .iter()
        .map(|i| nodes.get(i).and_then(|hash| Hash::try_from(hash.as_slice()).ok()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            RepoError::Other(anyhow::anyhow!(
                "a peak of the log of tenant {tenant} at size {size} is missing or malformed"
            ))
        })?;
    Ok(LogHead { size, last_id, peaks })
}

/// Appends `leaf` (committed at idtimestamp `id`) to `head` (locked by `lock_log_head`) in
/// write transaction `tx`; `head` moves to the grown log.
pub async fn append_leaf<DB: Backend>(
    tx: &mut DB::Connection,
    tenant: Uuid,
    head: &mut LogHead,
    leaf: Hash,
    id: u64,
) -> RepoResult<()> {
    let from = head.size;
    let added = head.append(leaf, id).map_err(|e| RepoError::Other(e.into()))?;
    let appended = Appended {
        from,
        added: &added,
        head,
    };
    DB::store_append(tx, tenant, appended).await
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
    /// Upserts massif `massif`'s seal; `condition` limits which stored seal it replaces.
    pub(super) async fn write_seal(
        &self,
        tenant: crate::ids::TenantId,
        massif: u64,
        size: u64,
        seal: &[u8],
        condition: &str,
    ) -> crate::repo::RepoResult<()> {
        let mut write = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO log_seals (tenant_id, massif_index, mmr_size, seal, sealed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, massif_index) DO UPDATE \
             SET mmr_size = excluded.mmr_size, seal = excluded.seal, sealed_at = excluded.sealed_at{condition}"
        ))
        .bind(tenant.0)
        .bind(massif as i64)
        .bind(size as i64)
        .bind(seal)
        .bind(chrono::Utc::now())
        .execute(&mut *write.tx)
        .await?;
        write.tx.commit().await
    }
}

#[async_trait]
impl<DB: Backend> LogRepo for SqlRepo<DB>
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
    async fn log_head(&self, tenant: crate::ids::TenantId) -> crate::repo::RepoResult<(u64, u64)> {
        let head: Option<(i64, i64)> =
            sqlx::query_as("SELECT size, last_idtimestamp FROM log_heads WHERE tenant_id = $1")
                .bind(tenant.0)
                .fetch_optional(&self.pool)
                .await?;
        Ok(head.map_or((0, 0), |(size, last)| (size as u64, crate::repo::log::unsigned(last))))
    }

    async fn log_nodes_at(
        &self,
        tenant: crate::ids::TenantId,
        indices: &[u64],
    ) -> crate::repo::RepoResult<std::collections::HashMap<u64, ::merklelog::mmr::Hash>> {
        let mut found = std::collections::HashMap::new();
        for batch in indices.chunks(500) {
            let select = format!(
                "SELECT mmr_index, hash FROM log_nodes WHERE tenant_id = $1 AND mmr_index IN ({})",
                numbered(2, batch.len())
            );
            let mut select = sqlx::query_as(&select).bind(tenant.0);
            for i in batch {
                select = select.bind(*i as i64);
            }
            let rows: Vec<(i64, Vec<u8>)> = select.fetch_all(&self.pool).await?;
            for (i, hash) in rows {
                found.insert(i as u64, crate::repo::log::node_hash(i, hash)?);
            }
        }
        Ok(found)
    }

    async fn log_node_range(
        &self,
        tenant: crate::ids::TenantId,
        range: std::ops::Range<u64>,
    ) -> crate::repo::RepoResult<Vec<::merklelog::mmr::Hash>> {
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
            nodes.push(crate::repo::log::node_hash(i, hash)?);
        }
        Ok(nodes)
    }

    async fn log_events(
        &self,
        tenant: crate::ids::TenantId,
        range: std::ops::Range<u64>,
    ) -> crate::repo::RepoResult<Vec<crate::repo::Event>> {
        Ok(sqlx::query_as(&format!(
            "{} WHERE tenant_id = $1 AND log_index >= $2 AND log_index < $3 ORDER BY log_index",
            crate::repo::sql::EVENT_COLUMNS
        ))
        .bind(tenant.0)
        .bind(range.start as i64)
        .bind(range.end as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn latest_seal(
        &self,
        tenant: crate::ids::TenantId,
    ) -> crate::repo::RepoResult<Option<crate::repo::StoredSeal>> {
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
        tenant: crate::ids::TenantId,
        massif: u64,
    ) -> crate::repo::RepoResult<Option<crate::repo::StoredSeal>> {
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
        tenant: crate::ids::TenantId,
        massif: u64,
        size: u64,
        seal: &[u8],
    ) -> crate::repo::RepoResult<()> {
        let only_larger = " WHERE log_seals.mmr_size < excluded.mmr_size";
        self.write_seal(tenant, massif, size, seal, only_larger).await
    }

    async fn log_tenants(&self) -> crate::repo::RepoResult<Vec<crate::ids::TenantId>> {
        let tenants: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT tenant_id FROM log_heads ORDER BY tenant_id")
            .fetch_all(&self.pool)
            .await?;
        Ok(tenants.into_iter().map(crate::ids::TenantId).collect())
    }

    async fn log_blobs(
        &self,
        tenant: crate::ids::TenantId,
        range: std::ops::Range<u64>,
    ) -> crate::repo::RepoResult<Vec<crate::repo::Blob>> {
        Ok(sqlx::query_as(&format!(
            "{} WHERE tenant_id = $1 AND log_index >= $2 AND log_index < $3 ORDER BY log_index",
            crate::repo::sql::SELECT_BLOBS
        ))
        .bind(tenant.0)
        .bind(range.start as i64)
        .bind(range.end as i64)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn backfill_log(&self) -> crate::repo::RepoResult<()> {
        self.backfill_events().await?;
        self.backfill_blobs().await
    }

    async fn unlogged(&self) -> crate::repo::RepoResult<Vec<(crate::ids::TenantId, i64, i64)>> {
        let rows: Vec<(uuid::Uuid, i64, i64)> = sqlx::query_as(
            "SELECT tenant_id, SUM(e), SUM(b) FROM ( \
               SELECT tenant_id, 1 AS e, 0 AS b FROM events WHERE log_index IS NULL \
               UNION ALL SELECT tenant_id, 0, 1 FROM blobs WHERE log_index IS NULL) u \
             GROUP BY tenant_id ORDER BY tenant_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant, events, blobs)| (crate::ids::TenantId(tenant), events, blobs))
            .collect())
    }

    async fn replace_seal(
        &self,
        tenant: crate::ids::TenantId,
        massif: u64,
        size: u64,
        seal: &[u8],
    ) -> crate::repo::RepoResult<()> {
        self.write_seal(tenant, massif, size, seal, "").await
    }

    async fn unsealed_tenants(&self) -> crate::repo::RepoResult<Vec<crate::ids::TenantId>> {
        let tenants: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT h.tenant_id FROM log_heads h WHERE h.size > \
             COALESCE((SELECT MAX(s.mmr_size) FROM log_seals s WHERE s.tenant_id = h.tenant_id), 0)",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(tenants.into_iter().map(crate::ids::TenantId).collect())
    }
}

/// A stored node, checked to be a hash.
pub fn node_hash(index: i64, bytes: Vec<u8>) -> RepoResult<Hash> {
    bytes
        .try_into()
        .map_err(|_| super::RepoError::Other(anyhow::anyhow!("log node {index} is not 32 bytes")))
}
