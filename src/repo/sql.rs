//! SQL shared by both backends (`$n` placeholders work on both) and the `Repo`
//! implementation written once for them; a backend file holds only what differs.

pub const INSERT_TENANT: &str = "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)";
pub const INSERT_APP: &str = "INSERT INTO apps (id, tenant_id, display_name, client_id, secret_hash, admin, \
     custom_claims, created_at, secret_created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";
pub const APP_COLUMNS: &str =
    "SELECT id, tenant_id, display_name, client_id, admin, custom_claims, created_at, secret_created_at FROM apps";
pub const UPDATE_APP: &str = "UPDATE apps SET display_name = COALESCE($3, display_name), \
     custom_claims = COALESCE($4, custom_claims) WHERE tenant_id = $1 AND id = $2";
pub const DELETE_APP: &str = "DELETE FROM apps WHERE tenant_id = $1 AND id = $2";
pub const SET_APP_SECRET: &str =
    "UPDATE apps SET secret_hash = $3, secret_created_at = $4 WHERE tenant_id = $1 AND id = $2";
pub const TENANT_USAGE: &str =
    "SELECT max_blobs, max_bytes, max_blob_bytes, blob_count, bytes_used FROM tenants WHERE id = $1";
pub const SET_QUOTA: &str = "UPDATE tenants SET max_blobs = COALESCE($2, max_blobs), \
     max_bytes = COALESCE($3, max_bytes), max_blob_bytes = COALESCE($4, max_blob_bytes) WHERE id = $1";
pub const SCAN_CANDIDATES: &str = "SELECT id, tenant_id, size, chunk_bytes, hash_sha256 FROM blobs \
     WHERE scanned_status = 'NOT_SCANNED' AND scan_skipped = $1 AND (scan_claimed_at IS NULL OR scan_claimed_at < $2) \
     ORDER BY timestamp_accepted LIMIT $3";
/// Compare-and-set: of two scanners racing for a blob, one updates it and one finds it taken.
pub const CLAIM_SCAN: &str = "UPDATE blobs SET scan_claim = $2, scan_claimed_at = $3 WHERE id = $1 \
     AND scanned_status = 'NOT_SCANNED' AND (scan_claimed_at IS NULL OR scan_claimed_at < $4)";
pub const RECORD_SCAN: &str = "UPDATE blobs SET scanned_status = $4, scanned_bad_reason = $5, \
     scanned_timestamp = $6, scan_skipped = $7, scan_count = scan_count + 1, scan_claim = NULL, \
     scan_claimed_at = NULL WHERE tenant_id = $1 AND id = $2 AND scan_claim = $3";
pub const RELEASE_SCAN: &str =
    "UPDATE blobs SET scan_claim = NULL, scan_claimed_at = NULL WHERE id = $1 AND scan_claim = $2";

/// Counts a new blob against the tenant, only if that stays within both limits.
pub const RESERVE_QUOTA: &str = "UPDATE tenants SET blob_count = blob_count + 1, bytes_used = bytes_used + $2 \
     WHERE id = $1 AND blob_count + 1 <= $3 AND bytes_used + $2 <= $4";
pub const COUNT_TENANTS: &str = "SELECT COUNT(*) FROM tenants";
pub const APP_BY_CLIENT_ID: &str =
    "SELECT id, tenant_id, secret_hash, admin, custom_claims FROM apps WHERE client_id = $1";
pub const INSERT_SETTING: &str = "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
pub const SELECT_SETTING: &str = "SELECT value FROM settings WHERE key = $1";
pub const INSERT_CHUNK: &str = "INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3)";
/// Gives a published blob its place in the log.
pub const LOG_BLOB: &str = "UPDATE blobs SET log_index = $2, idtimestamp = $3 WHERE id = $1 AND log_index IS NULL";
/// A blob row's columns, as `Blob` reads them.
macro_rules! blob_columns {
    () => {
        "SELECT id, tenant_id, hash_sha256, size, chunk_bytes, mime_type, issuer, subject, \
         timestamp_accepted, scanned_status, scanned_bad_reason, scanned_timestamp, tampered_at, \
         chunk_mac_key, log_index, idtimestamp FROM blobs"
    };
}
pub const SELECT_BLOB: &str = concat!(blob_columns!(), " WHERE tenant_id = $1 AND id = $2");
/// Every blob row, to be filtered.
pub const SELECT_BLOBS: &str = blob_columns!();
pub const BLOBS_AFTER: &str = concat!(blob_columns!(), " WHERE id > $1 ORDER BY id LIMIT $2");
pub const BLOB_TOTALS: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs";
pub const SELECT_CHUNK: &str = "SELECT c.data FROM blob_chunks c JOIN blobs b ON b.id = c.blob_id \
     WHERE b.tenant_id = $1 AND c.blob_id = $2 AND c.seq = $3";
pub const DELETE_CHUNKS: &str = "DELETE FROM blob_chunks WHERE blob_id = $1";
pub const ORPHAN_CHUNK_OWNERS: &str = "SELECT DISTINCT c.blob_id FROM blob_chunks c \
     WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = c.blob_id) \
     AND NOT EXISTS (SELECT 1 FROM blob_uploads u WHERE u.blob_id = c.blob_id) LIMIT 1000";
/// Deletes one blob's chunks only if still unowned (an upload may have begun with that id).
pub const DELETE_ORPHAN_CHUNKS: &str = "DELETE FROM blob_chunks WHERE blob_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM blobs WHERE id = $1) \
     AND NOT EXISTS (SELECT 1 FROM blob_uploads WHERE blob_id = $1)";
/// A slice of a blob's chunk MACs: 1-based byte offset and length.
pub const SELECT_CHUNK_MACS: &str =
    "SELECT substr(macs, $2, $3) FROM blob_chunk_macs WHERE blob_id = $1 AND key_id = $4";
pub const MARK_TAMPERED: &str =
    "UPDATE blobs SET tampered_at = $3 WHERE tenant_id = $1 AND id = $2 AND tampered_at IS NULL";

pub const INSERT_ASSET: &str = "INSERT INTO assets (id, tenant_id, behaviours, attributes, public, owner, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
/// An asset's columns, qualified so they read the same in a join with its terms.
macro_rules! asset_fields {
    () => {
        "assets.seq, assets.id, assets.tenant_id, assets.behaviours, assets.attributes, assets.public, \
         assets.owner, assets.created_at, assets.updated_at, assets.version"
    };
}
pub const ASSET_FIELDS: &str = asset_fields!();
pub const ASSET_COLUMNS: &str = concat!("SELECT ", asset_fields!(), " FROM assets");
pub const UPDATE_ASSET_ATTRIBUTES: &str = "UPDATE assets SET attributes = $3, updated_at = $4, version = version + 1 \
     WHERE tenant_id = $1 AND id = $2 AND version = $5";
pub const INSERT_EVENT: &str = "INSERT INTO events (id, tenant_id, asset_id, operation, behaviour, event_attributes, \
     asset_attributes, trails, timestamp_declared, principal_declared, issuer, subject, timestamp_accepted, \
     log_index, idtimestamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
/// An event's columns, qualified so they read the same in a join with its terms.
macro_rules! event_fields {
    () => {
        "events.seq, events.id, events.tenant_id, events.asset_id, events.operation, events.behaviour, \
         events.event_attributes, events.asset_attributes, events.trails, events.timestamp_declared, \
         events.principal_declared, events.issuer, events.subject, events.timestamp_accepted, \
         events.log_index, events.idtimestamp"
    };
}
pub const EVENT_COLUMNS: &str = concat!("SELECT ", event_fields!(), " FROM events");

/// Binds an `Event`'s columns as `INSERT_EVENT` numbers them ($1 to $15).
macro_rules! bind_event_row {
    ($query:expr, $event:expr) => {{
        let event: &$crate::repo::Event = $event;
        $query
            .bind(event.id)
            .bind(event.tenant_id)
            .bind(event.asset_id)
            .bind(&event.operation)
            .bind(&event.behaviour)
            .bind(&event.event_attributes)
            .bind(&event.asset_attributes)
            .bind(&event.trails)
            .bind(&event.timestamp_declared)
            .bind(&event.principal_declared)
            .bind(&event.issuer)
            .bind(&event.subject)
            .bind(event.timestamp_accepted)
            .bind(event.log_index)
            .bind(event.idtimestamp)
    }};
}

pub(crate) use bind_event_row;

/// Attempts at an asset update that lost a race with another one.
pub const UPDATE_ATTEMPTS: usize = 8;

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

/// Which quota a refused commit would have passed, for the 402 message.
pub fn quota_message(usage: &super::TenantUsage, limits: super::CommitLimits, size: i64) -> String {
    if usage.blob_count + 1 > limits.max_blobs {
        format!(
            "blob count quota exceeded: the tenant may store {} blobs",
            limits.max_blobs
        )
    } else {
        format!(
            "storage quota exceeded: {} of {} bytes used, this blob needs {size} more",
            usage.bytes_used, limits.max_bytes
        )
    }
}

/// Implements `Repo` for a backend struct with a `pool` field and a `begin_write()` method,
/// over the database type `$db`.
macro_rules! impl_repo {
    ($repo:ty, $db:ty, $backend:literal) => {
        impl $repo {
            async fn insert_app(
                tx: &mut $crate::repo::tx::Tx<$db>,
                tenant: $crate::ids::TenantId,
                app: &$crate::repo::NewApp,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::repo::RepoResult<()> {
                sqlx::query($crate::repo::sql::INSERT_APP)
                    .bind(app.id.0)
                    .bind(tenant.0)
                    .bind(&app.display_name)
                    .bind(&app.client_id)
                    .bind(&app.secret_hash)
                    .bind(app.admin)
                    .bind(&app.custom_claims)
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(|e| $crate::repo::RepoError::from_insert(e, "application"))?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::repo::Repo for $repo {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn data_dir(&self) -> Option<std::path::PathBuf> {
                self.data_directory()
            }

            async fn ping(&self) -> $crate::repo::RepoResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn reclaim_space(&self) -> $crate::repo::RepoResult<()> {
                self.give_space_back().await
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
                Self::insert_app(&mut write.tx, tenant, app, now).await?;
                write.tx.commit().await?;
                Ok(())
            }

            async fn tenant_exists(&self, tenant: $crate::ids::TenantId) -> $crate::repo::RepoResult<bool> {
                if self.cache.tenants.contains_key(&tenant.0) {
                    return Ok(true);
                }
                let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants WHERE id = $1")
                    .bind(tenant.0)
                    .fetch_one(&self.pool)
                    .await?;
                if count > 0 {
                    self.cache.tenants.insert(tenant.0, ()).await;
                }
                Ok(count > 0)
            }

            async fn verified_domain(&self, tenant: $crate::ids::TenantId) -> $crate::repo::RepoResult<Option<String>> {
                Ok(
                    sqlx::query_scalar("SELECT verified_domain FROM tenants WHERE id = $1")
                        .bind(tenant.0)
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn set_verified_domain(
                &self,
                tenant: $crate::ids::TenantId,
                domain: &str,
            ) -> $crate::repo::RepoResult<bool> {
                let mut write = self.begin_write().await?;
                let updated = sqlx::query("UPDATE tenants SET verified_domain = $2 WHERE id = $1")
                    .bind(tenant.0)
                    .bind(domain)
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                Ok(updated.rows_affected() > 0)
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

            async fn app(
                &self,
                tenant: $crate::ids::TenantId,
                app: $crate::ids::AppId,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::App>> {
                use $crate::repo::sql::*;
                let key = (tenant.0, app.0);
                if let Some(cached) = self.cache.apps.get(&key).await {
                    return Ok(Some((*cached).clone()));
                }
                let found: Option<$crate::repo::App> =
                    sqlx::query_as(&format!("{APP_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                        .bind(tenant.0)
                        .bind(app.0)
                        .fetch_optional(&self.pool)
                        .await?;
                if let Some(found) = &found {
                    self.cache
                        .apps
                        .insert(key, std::sync::Arc::new(found.clone()))
                        .await;
                }
                Ok(found)
            }

            async fn create_app(
                &self,
                tenant: $crate::ids::TenantId,
                app: &$crate::repo::NewApp,
            ) -> $crate::repo::RepoResult<$crate::repo::App> {
                use $crate::repo::sql::*;
                let mut write = self.begin_write().await?;
                Self::insert_app(&mut write.tx, tenant, app, chrono::Utc::now()).await?;
                let stored = sqlx::query_as(&format!("{APP_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant.0)
                    .bind(app.id.0)
                    .fetch_one(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                Ok(stored)
            }

            async fn delete_setting(&self, key: &str) -> $crate::repo::RepoResult<()> {
                let mut write = self.begin_write().await?;
                sqlx::query("DELETE FROM settings WHERE key = $1")
                    .bind(key)
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await
            }

            async fn setting(&self, key: &str) -> $crate::repo::RepoResult<Option<String>> {
                Ok(sqlx::query_scalar($crate::repo::sql::SELECT_SETTING)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_apps(
                &self,
                tenant: $crate::ids::TenantId,
                display_name: Option<&str>,
                offset: i64,
                limit: i64,
            ) -> $crate::repo::RepoResult<Vec<$crate::repo::App>> {
                use $crate::repo::sql::*;
                let by_name = if display_name.is_some() {
                    " AND display_name = $4"
                } else {
                    ""
                };
                let sql =
                    format!("{APP_COLUMNS} WHERE tenant_id = $1{by_name} ORDER BY created_at, id LIMIT $2 OFFSET $3");
                let mut select = sqlx::query_as(&sql).bind(tenant.0).bind(limit).bind(offset);
                if let Some(name) = display_name {
                    select = select.bind(name);
                }
                Ok(select.fetch_all(&self.pool).await?)
            }

            async fn update_app(
                &self,
                tenant: $crate::ids::TenantId,
                app: $crate::ids::AppId,
                display_name: Option<&str>,
                custom_claims: Option<&str>,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::App>> {
                use $crate::repo::sql::*;
                let mut write = self.begin_write().await?;
                sqlx::query(UPDATE_APP)
                    .bind(tenant.0)
                    .bind(app.0)
                    .bind(display_name)
                    .bind(custom_claims)
                    .execute(&mut *write.tx)
                    .await?;
                let stored = sqlx::query_as(&format!("{APP_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                    .bind(tenant.0)
                    .bind(app.0)
                    .fetch_optional(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                self.cache.apps.invalidate(&(tenant.0, app.0)).await;
                Ok(stored)
            }

            async fn delete_app(
                &self,
                tenant: $crate::ids::TenantId,
                app: $crate::ids::AppId,
            ) -> $crate::repo::RepoResult<bool> {
                let mut write = self.begin_write().await?;
                let deleted = sqlx::query($crate::repo::sql::DELETE_APP)
                    .bind(tenant.0)
                    .bind(app.0)
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                self.cache.apps.invalidate(&(tenant.0, app.0)).await;
                Ok(deleted.rows_affected() > 0)
            }

            async fn set_app_secret(
                &self,
                tenant: $crate::ids::TenantId,
                app: $crate::ids::AppId,
                secret_hash: &str,
            ) -> $crate::repo::RepoResult<bool> {
                let mut write = self.begin_write().await?;
                let updated = sqlx::query($crate::repo::sql::SET_APP_SECRET)
                    .bind(tenant.0)
                    .bind(app.0)
                    .bind(secret_hash)
                    .bind(chrono::Utc::now())
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                self.cache.apps.invalidate(&(tenant.0, app.0)).await;
                Ok(updated.rows_affected() > 0)
            }

            async fn tenant_usage(
                &self,
                tenant: $crate::ids::TenantId,
            ) -> $crate::repo::RepoResult<Option<$crate::repo::TenantUsage>> {
                Ok(sqlx::query_as($crate::repo::sql::TENANT_USAGE)
                    .bind(tenant.0)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn all_tenant_usage(&self) -> $crate::repo::RepoResult<Vec<$crate::repo::TenantUsageRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, max_blobs, max_bytes, max_blob_bytes, blob_count, bytes_used FROM tenants",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn set_quota(
                &self,
                tenant: $crate::ids::TenantId,
                quota: &$crate::repo::QuotaOverrides,
            ) -> $crate::repo::RepoResult<bool> {
                let mut write = self.begin_write().await?;
                let updated = sqlx::query($crate::repo::sql::SET_QUOTA)
                    .bind(tenant.0)
                    .bind(quota.max_blobs)
                    .bind(quota.max_bytes)
                    .bind(quota.max_blob_bytes)
                    .execute(&mut *write.tx)
                    .await?;
                write.tx.commit().await?;
                Ok(updated.rows_affected() > 0)
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
        }
    };
}

pub(crate) use impl_repo;
