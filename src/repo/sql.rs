//! SQL shared by both backends (`$n` placeholders work on both) and the `Repo`
//! implementation written once for them; a backend file holds only what differs.

use sqlx::{Database, Transaction};
use tokio::sync::OwnedMutexGuard;

pub const INSERT_TENANT: &str = "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)";
pub const INSERT_APP: &str =
    "INSERT INTO apps (id, tenant_id, display_name, client_id, secret_hash, admin, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const COUNT_TENANTS: &str = "SELECT COUNT(*) FROM tenants";
pub const APP_BY_CLIENT_ID: &str =
    "SELECT id, tenant_id, secret_hash, admin, custom_claims FROM apps WHERE client_id = $1";
pub const APP_EXISTS: &str = "SELECT COUNT(*) FROM apps WHERE tenant_id = $1 AND id = $2";
pub const INSERT_SETTING: &str = "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
pub const SELECT_SETTING: &str = "SELECT value FROM settings WHERE key = $1";
pub const INSERT_CHUNK: &str = "INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)";
pub const INSERT_BLOB: &str = "INSERT INTO blobs (id, tenant_id, hash_sha256, size, chunk_bytes, mime_type, issuer, \
     subject, timestamp_accepted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
pub const SELECT_BLOB: &str = "SELECT id, tenant_id, hash_sha256, size, chunk_bytes, mime_type, issuer, subject, \
     timestamp_accepted, scanned_status, scanned_bad_reason, scanned_timestamp, tampered_at \
     FROM blobs WHERE tenant_id = $1 AND id = $2";
pub const SELECT_CHUNK: &str = "SELECT c.data FROM blob_chunks c JOIN blobs b ON b.id = c.blob_id \
     WHERE b.tenant_id = $1 AND c.blob_id = $2 AND c.seq = $3";
pub const MARK_TAMPERED: &str =
    "UPDATE blobs SET tampered_at = $3 WHERE tenant_id = $1 AND id = $2 AND tampered_at IS NULL";

pub const INSERT_ASSET: &str = "INSERT INTO assets (id, tenant_id, behaviours, attributes, public, owner, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
pub const ASSET_COLUMNS: &str =
    "SELECT seq, id, tenant_id, behaviours, attributes, public, owner, created_at, updated_at, version FROM assets";
pub const UPDATE_ASSET_ATTRIBUTES: &str = "UPDATE assets SET attributes = $3, updated_at = $4, version = version + 1 \
     WHERE tenant_id = $1 AND id = $2 AND version = $5";
pub const INSERT_EVENT: &str = "INSERT INTO events (id, tenant_id, asset_id, operation, behaviour, event_attributes, \
     asset_attributes, trails, timestamp_declared, principal_declared, issuer, subject, timestamp_accepted) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
pub const EVENT_COLUMNS: &str = "SELECT seq, id, tenant_id, asset_id, operation, behaviour, event_attributes, \
     asset_attributes, trails, timestamp_declared, principal_declared, issuer, subject, timestamp_accepted FROM events";

/// Attempts at an asset update that lost a race with another one.
pub const UPDATE_ATTEMPTS: usize = 8;

/// ` AND field = $n` for each filter, numbering parameters from `$first`, and the values to
/// bind in that order. `json(column, n)` is the backend's SQL for key `$n` of a JSON column;
/// `json_key` turns a key into what that SQL binds.
pub fn filter_sql(
    filters: &[super::Filter],
    first: usize,
    json: fn(&str, usize) -> String,
    json_key: fn(&str) -> String,
) -> (String, Vec<String>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    for filter in filters {
        let n = first + binds.len();
        match &filter.field {
            super::FilterField::Json { column, key } => {
                sql.push_str(&format!(" AND {} = ${}", json(column, n), n + 1));
                binds.push(json_key(key));
            }
            super::FilterField::Column(column) => sql.push_str(&format!(" AND {column} = ${n}")),
        }
        binds.push(filter.value.clone());
    }
    (sql, binds)
}

/// Replaces the asset's attributes named in `update`, keeping the others.
pub fn merge_attributes(
    current: &str,
    update: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, super::RepoError> {
    let mut attributes: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(current).map_err(|e| super::RepoError::Other(e.into()))?;
    for (key, value) in update {
        attributes.insert(key.clone(), value.clone());
    }
    serde_json::to_string(&attributes).map_err(|e| super::RepoError::Other(e.into()))
}

/// A write transaction; on SQLite it also holds the process-wide write gate, so writers
/// queue in order instead of failing with SQLITE_BUSY. Fields drop in order: the
/// transaction rolls back before the gate opens.
pub struct WriteTx<DB: Database> {
    pub tx: Transaction<'static, DB>,
    pub _gate: Option<OwnedMutexGuard<()>>,
}

/// Writes one blob's chunks inside its transaction.
pub struct SqlBlobWriter<DB: Database> {
    pub write: WriteTx<DB>,
    pub tenant: crate::ids::TenantId,
    pub blob: crate::ids::BlobId,
}

/// Implements `Repo` and `BlobWriter` for a backend struct with a `pool` field and a
/// `begin_write()` method, over the database type `$db`.
macro_rules! impl_repo {
    ($repo:ty, $db:ty, $backend:literal) => {
        #[async_trait::async_trait]
        impl $crate::repo::BlobWriter for $crate::repo::sql::SqlBlobWriter<$db> {
            async fn write_chunk(&mut self, seq: i64, data: &[u8]) -> $crate::repo::RepoResult<()> {
                sqlx::query($crate::repo::sql::INSERT_CHUNK)
                    .bind(self.blob.0)
                    .bind(seq)
                    .bind(data)
                    .execute(&mut *self.write.tx)
                    .await?;
                Ok(())
            }

            async fn commit(
                mut self: Box<Self>,
                blob: $crate::repo::NewBlob,
            ) -> $crate::repo::RepoResult<$crate::repo::Blob> {
                sqlx::query($crate::repo::sql::INSERT_BLOB)
                    .bind(self.blob.0)
                    .bind(self.tenant.0)
                    .bind(&blob.hash_sha256)
                    .bind(blob.size)
                    .bind(blob.chunk_bytes)
                    .bind(&blob.mime_type)
                    .bind(&blob.issuer)
                    .bind(&blob.subject)
                    .bind(blob.timestamp_accepted)
                    .execute(&mut *self.write.tx)
                    .await?;
                let stored: $crate::repo::Blob = sqlx::query_as($crate::repo::sql::SELECT_BLOB)
                    .bind(self.tenant.0)
                    .bind(self.blob.0)
                    .fetch_one(&mut *self.write.tx)
                    .await?;
                let this = *self;
                this.write.tx.commit().await?;
                Ok(stored)
            }

            async fn abort(self: Box<Self>) {
                let this = *self;
                if let Err(err) = this.write.tx.rollback().await {
                    tracing::warn!(error = %err, "rollback of an abandoned upload failed");
                }
            }
        }

        #[async_trait::async_trait]
        impl $crate::repo::Repo for $repo {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> $crate::repo::RepoResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_tenant(
                &self,
                tenant: $crate::ids::TenantId,
                name: &str,
                app: &$crate::repo::NewApp,
            ) -> $crate::repo::RepoResult<()> {
                let now = chrono::Utc::now();
                let mut write = self.begin_write().await?;
                sqlx::query($crate::repo::sql::INSERT_TENANT)
                    .bind(tenant.0)
                    .bind(name)
                    .bind(now)
                    .execute(&mut *write.tx)
                    .await
                    .map_err(|e| $crate::repo::RepoError::from_insert(e, "tenant"))?;
                sqlx::query($crate::repo::sql::INSERT_APP)
                    .bind(app.id.0)
                    .bind(tenant.0)
                    .bind(&app.display_name)
                    .bind(&app.client_id)
                    .bind(&app.secret_hash)
                    .bind(app.admin)
                    .bind(now)
                    .execute(&mut *write.tx)
                    .await
                    .map_err(|e| $crate::repo::RepoError::from_insert(e, "application"))?;
                write.tx.commit().await?;
                Ok(())
            }

            async fn tenant_count(&self) -> $crate::repo::RepoResult<i64> {
                Ok(sqlx::query_scalar($crate::repo::sql::COUNT_TENANTS)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn app_by_client_id(
                &self,
                client_id: &str,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::AppCredentials>> {
                Ok(sqlx::query_as($crate::repo::sql::APP_BY_CLIENT_ID)
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn app_exists(
                &self,
                tenant: $crate::ids::TenantId,
                app: $crate::ids::AppId,
            ) -> $crate::repo::RepoResult<bool> {
                let count: i64 = sqlx::query_scalar($crate::repo::sql::APP_EXISTS)
                    .bind(tenant.0)
                    .bind(app.0)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(count > 0)
            }

            async fn setting_or_insert(&self, key: &str, value: &str) -> $crate::repo::RepoResult<String> {
                let mut write = self.begin_write().await?;
                sqlx::query($crate::repo::sql::INSERT_SETTING)
                    .bind(key)
                    .bind(value)
                    .execute(&mut *write.tx)
                    .await?;
                let stored: String = sqlx::query_scalar($crate::repo::sql::SELECT_SETTING)
                    .bind(key)
                    .fetch_one(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                Ok(stored)
            }

            async fn begin_blob(
                &self,
                tenant: $crate::ids::TenantId,
                blob: $crate::ids::BlobId,
            ) -> $crate::repo::RepoResult<Box<dyn $crate::repo::BlobWriter>> {
                let write = self.begin_write().await?;
                Ok(Box::new($crate::repo::sql::SqlBlobWriter::<$db> { write, tenant, blob }))
            }

            async fn blob(
                &self,
                tenant: $crate::ids::TenantId,
                blob: $crate::ids::BlobId,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::Blob>> {
                let key = (tenant.0, blob.0);
                if let Some(cached) = self.cache.blobs.get(&key).await {
                    return Ok(Some((*cached).clone()));
                }
                let found: Option<$crate::repo::Blob> = sqlx::query_as($crate::repo::sql::SELECT_BLOB)
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
                tenant: $crate::ids::TenantId,
                blob: $crate::ids::BlobId,
                seq: i64,
            ) -> $crate::repo::RepoResult<Option<Vec<u8>>> {
                Ok(sqlx::query_scalar($crate::repo::sql::SELECT_CHUNK)
                    .bind(tenant.0)
                    .bind(blob.0)
                    .bind(seq)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn mark_tampered(
                &self,
                tenant: $crate::ids::TenantId,
                blob: $crate::ids::BlobId,
            ) -> $crate::repo::RepoResult<()> {
                let mut write = self.begin_write().await?;
                sqlx::query($crate::repo::sql::MARK_TAMPERED)
                    .bind(tenant.0)
                    .bind(blob.0)
                    .bind(chrono::Utc::now())
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                self.cache.blobs.invalidate(&(tenant.0, blob.0)).await;
                Ok(())
            }

            async fn create_asset(
                &self,
                tenant: $crate::ids::TenantId,
                asset: &$crate::repo::NewAsset,
            ) -> $crate::repo::RepoResult<$crate::repo::Asset> {
                use $crate::repo::sql::*;
                let mut write = self.begin_write().await?;
                sqlx::query(INSERT_ASSET)
                    .bind(asset.id.0)
                    .bind(tenant.0)
                    .bind(&asset.behaviours)
                    .bind(&asset.attributes)
                    .bind(asset.public)
                    .bind(&asset.owner)
                    .bind(chrono::Utc::now())
                    .execute(&mut *write.tx)
                    .await?;
                let stored = sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant.0)
                    .bind(asset.id.0)
                    .fetch_one(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                Ok(stored)
            }

            async fn asset(
                &self,
                tenant: $crate::ids::TenantId,
                asset: $crate::ids::AssetId,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::Asset>> {
                use $crate::repo::sql::*;
                Ok(sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant.0)
                    .bind(asset.0)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn public_asset(
                &self,
                asset: $crate::ids::AssetId,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::Asset>> {
                use $crate::repo::sql::*;
                Ok(sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE id = $1 AND public = $2"))
                    .bind(asset.0)
                    .bind(true)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_assets(
                &self,
                tenant: $crate::ids::TenantId,
                query: &$crate::repo::ListQuery,
            ) -> $crate::repo::RepoResult<Vec<$crate::repo::Asset>> {
                use $crate::repo::sql::*;
                let (filter, binds) = filter_sql(&query.filters, 4, Self::json_field, Self::json_key);
                let sql = format!("{ASSET_COLUMNS} WHERE tenant_id = $1 AND seq < $2{filter} ORDER BY seq DESC LIMIT $3");
                let mut select = sqlx::query_as(&sql)
                    .bind(tenant.0)
                    .bind(query.before.unwrap_or(i64::MAX))
                    .bind(query.limit);
                for value in binds {
                    select = select.bind(value);
                }
                Ok(select.fetch_all(&self.pool).await?)
            }

            async fn count_assets(
                &self,
                tenant: $crate::ids::TenantId,
                query: &$crate::repo::ListQuery,
            ) -> $crate::repo::RepoResult<i64> {
                use $crate::repo::sql::*;
                let (filter, binds) = filter_sql(&query.filters, 2, Self::json_field, Self::json_key);
                let sql = format!("SELECT COUNT(*) FROM assets WHERE tenant_id = $1{filter}");
                let mut select = sqlx::query_scalar(&sql).bind(tenant.0);
                for value in binds {
                    select = select.bind(value);
                }
                Ok(select.fetch_one(&self.pool).await?)
            }

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
                            let merged = merge_attributes(&asset.attributes, &event.asset_attributes)?;
                            let updated = sqlx::query(UPDATE_ASSET_ATTRIBUTES)
                                .bind(tenant.0)
                                .bind(asset_id.0)
                                .bind(merged)
                                .bind(chrono::Utc::now())
                                .bind(asset.version)
                                .execute(&mut *write.tx)
                                .await?;
                            if updated.rows_affected() == 0 {
                                // Another event updated the asset first: start over.
                                continue;
                            }
                        }
                    }
                    let asset_attributes = serde_json::to_string(&event.asset_attributes)
                        .map_err(|e| $crate::repo::RepoError::Other(e.into()))?;
                    sqlx::query(INSERT_EVENT)
                        .bind(event.id.0)
                        .bind(tenant.0)
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
                        .execute(&mut *write.tx)
                        .await?;
                    let stored = sqlx::query_as(&format!("{EVENT_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                        .bind(tenant.0)
                        .bind(event.id.0)
                        .fetch_one(&mut *write.tx)
                        .await?;
                    write.tx.commit().await?;
                    return Ok(stored);
                }
                Err($crate::repo::RepoError::Conflict("the asset is being updated too often; try again".into()))
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
                    self.cache.events.insert(key, std::sync::Arc::new(found.clone())).await;
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
                let (filter, binds) = filter_sql(&query.filters, first, Self::json_field, Self::json_key);
                let sql = format!(
                    "{EVENT_COLUMNS} WHERE tenant_id = $1 AND seq < $2{scope_sql}{filter} ORDER BY seq DESC LIMIT $3"
                );
                let mut select = sqlx::query_as(&sql)
                    .bind(tenant.0)
                    .bind(query.before.unwrap_or(i64::MAX))
                    .bind(query.limit);
                if let Some(asset) = asset {
                    select = select.bind(asset);
                }
                for value in binds {
                    select = select.bind(value);
                }
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
                let (filter, binds) = filter_sql(&query.filters, first, Self::json_field, Self::json_key);
                let sql = format!("SELECT COUNT(*) FROM events WHERE tenant_id = $1{scope_sql}{filter}");
                let mut select = sqlx::query_scalar(&sql).bind(tenant.0);
                if let Some(asset) = asset {
                    select = select.bind(asset);
                }
                for value in binds {
                    select = select.bind(value);
                }
                Ok(select.fetch_one(&self.pool).await?)
            }
        }
    };
}

pub(crate) use impl_repo;
