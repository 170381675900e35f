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
pub const EVENT_FIELDS: &str = event_fields!();
pub const EVENT_COLUMNS: &str = concat!("SELECT ", event_fields!(), " FROM events");

/// Attempts at an asset update that lost a race with another one.
pub const UPDATE_ATTEMPTS: usize = 8;

/// SQL a backend writes for the filters that differ between them.
pub struct FilterDialect {
    /// Whether JSON array text column `column` holds `$n`.
    pub array_holds: fn(&str, usize) -> String,
}

/// ` AND …` for each filter, numbering parameters from `$first`, and the values to bind in
/// that order. The query's `$1` is the tenant, and `row_seq` is the SQL of the listed row's
/// `seq`. Attribute filters read the tenant's terms (see `terms`).
pub fn filter_sql(
    filters: &[super::Filter],
    first: usize,
    dialect: &FilterDialect,
    row_seq: &str,
) -> (String, Vec<super::FilterValue>) {
    use super::FilterField;
    let mut sql = String::new();
    let mut binds = Vec::new();
    for filter in filters {
        let n = first + binds.len();
        match &filter.field {
            FilterField::Term { field, key } => {
                // A probe of the row's own term: cheap per row, and never a plan that
                // gathers every match of a common term first.
                let (table, seq) = term_table(*field);
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM {table} p WHERE p.tenant_id = $1 AND p.term = ${n} AND p.{seq} = {row_seq})"
                ));
                binds.push(term_of(*field, key, &filter.value));
                continue;
            }
            FilterField::AssetAttribute(key) => {
                sql.push_str(&format!(
                    " AND asset_id IN (SELECT a.id FROM asset_terms t JOIN assets a ON a.seq = t.asset_seq \
                     WHERE t.tenant_id = $1 AND t.term = ${n})"
                ));
                binds.push(term_of(super::terms::TermField::AssetAttributes, key, &filter.value));
                continue;
            }
            FilterField::Column(column) => sql.push_str(&format!(" AND {column} = ${n}")),
            FilterField::After(column) => sql.push_str(&format!(" AND {column} > ${n}")),
            FilterField::Before(column) => sql.push_str(&format!(" AND {column} < ${n}")),
            FilterField::ArrayHolds(column) => sql.push_str(&format!(" AND {}", (dialect.array_holds)(column, n))),
        }
        binds.push(filter.value.clone());
    }
    (sql, binds)
}

/// The table holding `field`'s terms and its row column.
pub fn term_table(field: super::terms::TermField) -> (&'static str, &'static str) {
    if field.of_asset() {
        ("asset_terms", "asset_seq")
    } else {
        ("event_terms", "event_seq")
    }
}

/// The term a filter on `key` of `field` looks up; only a text value can be one.
fn term_of(field: super::terms::TermField, key: &str, value: &super::FilterValue) -> super::FilterValue {
    let text = match value {
        super::FilterValue::Text(text) => text.as_str(),
        _ => "",
    };
    super::FilterValue::Bytes(super::terms::term(field, key, text))
}

/// How a list or count over `assets` or `events` reads its rows. With `$1` the tenant.
pub struct RowsSql {
    table: &'static str,
    /// The term whose index range drives (its table and row column), at parameter `$n`.
    driver: Option<(&'static str, &'static str, usize)>,
    /// ` AND …` for the other filters.
    filters: String,
    /// Whether a filter needs the row itself, not only terms.
    reads_rows: bool,
    pub binds: Vec<super::FilterValue>,
}

impl RowsSql {
    /// The rows of `table` the filters select, parameters numbered from `$first`. With
    /// `drive` (a scope that is the whole tenant, which terms imply) and an attribute
    /// filter of the table's own terms, that term's index range drives: its entries are in
    /// `seq` order, so a page reads as many entries as it shows, whether the term is rare
    /// or common.
    pub fn new(
        table: &'static str,
        filters: &[super::Filter],
        first: usize,
        dialect: &FilterDialect,
        drive: bool,
    ) -> Self {
        use super::FilterField;
        let terms = if table == "assets" {
            "asset_terms"
        } else {
            "event_terms"
        };
        let driver = filters.iter().enumerate().find_map(|(at, f)| match &f.field {
            FilterField::Term { field, key } if drive && term_table(*field).0 == terms => Some((at, *field, key)),
            _ => None,
        });
        let Some((at, field, key)) = driver else {
            let (filters, binds) = filter_sql(filters, first, dialect, &format!("{table}.seq"));
            return Self {
                table,
                driver: None,
                filters,
                reads_rows: true,
                binds,
            };
        };
        let seq = term_table(field).1;
        let rest: Vec<super::Filter> = filters
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, f)| f.clone())
            .collect();
        let (others, mut binds) = filter_sql(&rest, first + 1, dialect, &format!("d.{seq}"));
        binds.insert(0, term_of(field, key, &filters[at].value));
        Self {
            table,
            driver: Some((terms, seq, first)),
            filters: others,
            reads_rows: rest.iter().any(|f| !matches!(&f.field, FilterField::Term { .. })),
            binds,
        }
    }

    /// The SQL of the row's `seq`, which orders lists.
    fn seq(&self) -> String {
        match self.driver {
            Some((_, seq, _)) => format!("d.{seq}"),
            None => format!("{}.seq", self.table),
        }
    }

    /// The driving term's conditions, and its join to the row.
    fn drive(&self) -> String {
        match self.driver {
            Some((_, seq, n)) => format!(
                " AND d.tenant_id = $1 AND d.term = ${n} AND {}.seq = d.{seq}",
                self.table
            ),
            None => String::new(),
        }
    }

    /// A page: `fields` of rows `seq < $2` with scope condition `scope`, newest first,
    /// at most `$3`.
    pub fn list(&self, fields: &str, scope: &str) -> String {
        let (table, seq) = (self.table, self.seq());
        let from = match self.driver {
            // CROSS JOIN: SQLite keeps the terms as the outer loop.
            Some((terms, _, _)) => format!("{terms} d CROSS JOIN {table}"),
            None => table.to_string(),
        };
        format!(
            "SELECT {fields} FROM {from} WHERE {table}.tenant_id = $1 AND {seq} < $2{scope}{}{} ORDER BY {seq} DESC LIMIT $3",
            self.drive(),
            self.filters
        )
    }

    /// The count, with scope condition `scope`: from the terms alone when no filter needs
    /// the row.
    pub fn count(&self, scope: &str) -> String {
        let table = self.table;
        match self.driver {
            Some((terms, _, n)) if !self.reads_rows => format!(
                "SELECT COUNT(*) FROM {terms} d WHERE d.tenant_id = $1 AND d.term = ${n}{}",
                self.filters
            ),
            Some((terms, _, _)) => format!(
                "SELECT COUNT(*) FROM {terms} d CROSS JOIN {table} WHERE {table}.tenant_id = $1{scope}{}{}",
                self.drive(),
                self.filters
            ),
            None => format!(
                "SELECT COUNT(*) FROM {table} WHERE {table}.tenant_id = $1{scope}{}",
                self.filters
            ),
        }
    }
}

/// Binds filter values, each as its own type, to a query built with `filter_sql`.
macro_rules! bind_filters {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for value in $binds {
            query = match value {
                $crate::repo::FilterValue::Text(text) => query.bind(text),
                $crate::repo::FilterValue::Bool(flag) => query.bind(flag),
                $crate::repo::FilterValue::Time(time) => query.bind(time),
                $crate::repo::FilterValue::Bytes(bytes) => query.bind(bytes),
            };
        }
        query
    }};
}

pub(crate) use bind_filters;

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
