//! Tenants, their app registrations, quotas and the server's settings: the `Repo` trait's
//! own methods, written once for both backends.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, RowsAffected, SqlRepo};
use super::Repo;

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
    pub(super) async fn insert_app(
        tx: &mut crate::repo::tx::Tx<DB>,
        tenant: crate::ids::TenantId,
        app: &crate::repo::NewApp,
        now: chrono::DateTime<chrono::Utc>,
    ) -> crate::repo::RepoResult<()> {
        sqlx::query(crate::repo::sql::INSERT_APP)
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
            .map_err(|e| crate::repo::RepoError::from_insert(e, "application"))?;
        Ok(())
    }
}

#[async_trait]
impl<DB: Backend> Repo for SqlRepo<DB>
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
    fn backend(&self) -> &'static str {
        <DB as Backend>::NAME
    }

    fn data_dir(&self) -> Option<std::path::PathBuf> {
        self.dir.clone()
    }

    async fn ping(&self) -> crate::repo::RepoResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn reclaim_space(&self) -> crate::repo::RepoResult<()> {
        self.give_space_back().await
    }

    async fn create_tenant(
        &self,
        tenant: crate::ids::TenantId,
        name: &str,
        app: &crate::repo::NewApp,
    ) -> crate::repo::RepoResult<()> {
        let now = chrono::Utc::now();
        let mut write = self.begin_write().await?;
        sqlx::query(crate::repo::sql::INSERT_TENANT)
            .bind(tenant.0)
            .bind(name)
            .bind(now)
            .execute(&mut *write.tx)
            .await
            .map_err(|e| crate::repo::RepoError::from_insert(e, "tenant"))?;
        Self::insert_app(&mut write.tx, tenant, app, now).await?;
        write.tx.commit().await?;
        Ok(())
    }

    async fn tenant_ids(&self) -> crate::repo::RepoResult<Vec<crate::ids::TenantId>> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(ids.into_iter().map(crate::ids::TenantId).collect())
    }

    async fn tenant_exists(&self, tenant: crate::ids::TenantId) -> crate::repo::RepoResult<bool> {
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

    async fn verified_domain(&self, tenant: crate::ids::TenantId) -> crate::repo::RepoResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT verified_domain FROM tenants WHERE id = $1")
            .bind(tenant.0)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn set_verified_domain(&self, tenant: crate::ids::TenantId, domain: &str) -> crate::repo::RepoResult<bool> {
        let mut write = self.begin_write().await?;
        let updated = sqlx::query("UPDATE tenants SET verified_domain = $2 WHERE id = $1")
            .bind(tenant.0)
            .bind(domain)
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn tenant_count(&self) -> crate::repo::RepoResult<i64> {
        Ok(sqlx::query_scalar(crate::repo::sql::COUNT_TENANTS)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn app_by_client_id(&self, client_id: &str) -> crate::repo::RepoResult<Option<crate::repo::AppCredentials>> {
        Ok(sqlx::query_as(crate::repo::sql::APP_BY_CLIENT_ID)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn app(
        &self,
        tenant: crate::ids::TenantId,
        app: crate::ids::AppId,
    ) -> crate::repo::RepoResult<Option<crate::repo::App>> {
        use crate::repo::sql::*;
        let key = (tenant.0, app.0);
        if let Some(cached) = self.cache.apps.get(&key).await {
            return Ok(Some((*cached).clone()));
        }
        let found: Option<crate::repo::App> =
            sqlx::query_as(&format!("{APP_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant.0)
                .bind(app.0)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(found) = &found {
            self.cache.apps.insert(key, std::sync::Arc::new(found.clone())).await;
        }
        Ok(found)
    }

    async fn create_app(
        &self,
        tenant: crate::ids::TenantId,
        app: &crate::repo::NewApp,
    ) -> crate::repo::RepoResult<crate::repo::App> {
        use crate::repo::sql::*;
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

    async fn delete_setting(&self, key: &str) -> crate::repo::RepoResult<()> {
        let mut write = self.begin_write().await?;
        sqlx::query("DELETE FROM settings WHERE key = $1")
            .bind(key)
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await
    }

    async fn setting(&self, key: &str) -> crate::repo::RepoResult<Option<String>> {
        Ok(sqlx::query_scalar(crate::repo::sql::SELECT_SETTING)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list_apps(
        &self,
        tenant: crate::ids::TenantId,
        display_name: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> crate::repo::RepoResult<Vec<crate::repo::App>> {
        use crate::repo::sql::*;
        let by_name = if display_name.is_some() {
            " AND display_name = $4"
        } else {
            ""
        };
        let sql = format!("{APP_COLUMNS} WHERE tenant_id = $1{by_name} ORDER BY created_at, id LIMIT $2 OFFSET $3");
        let mut select = sqlx::query_as(&sql).bind(tenant.0).bind(limit).bind(offset);
        if let Some(name) = display_name {
            select = select.bind(name);
        }
        Ok(select.fetch_all(&self.pool).await?)
    }

    async fn update_app(
        &self,
        tenant: crate::ids::TenantId,
        app: crate::ids::AppId,
        display_name: Option<&str>,
        custom_claims: Option<&str>,
    ) -> crate::repo::RepoResult<Option<crate::repo::App>> {
        use crate::repo::sql::*;
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

    async fn delete_app(&self, tenant: crate::ids::TenantId, app: crate::ids::AppId) -> crate::repo::RepoResult<bool> {
        let mut write = self.begin_write().await?;
        let deleted = sqlx::query(crate::repo::sql::DELETE_APP)
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
        tenant: crate::ids::TenantId,
        app: crate::ids::AppId,
        secret_hash: &str,
    ) -> crate::repo::RepoResult<bool> {
        let mut write = self.begin_write().await?;
        let updated = sqlx::query(crate::repo::sql::SET_APP_SECRET)
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
        tenant: crate::ids::TenantId,
    ) -> crate::repo::RepoResult<Option<crate::repo::TenantUsage>> {
        Ok(sqlx::query_as(crate::repo::sql::TENANT_USAGE)
            .bind(tenant.0)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn all_tenant_usage(&self) -> crate::repo::RepoResult<Vec<crate::repo::TenantUsageRow>> {
        Ok(
            sqlx::query_as("SELECT id, max_blobs, max_bytes, max_blob_bytes, blob_count, bytes_used FROM tenants")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn set_quota(
        &self,
        tenant: crate::ids::TenantId,
        quota: &crate::repo::QuotaOverrides,
    ) -> crate::repo::RepoResult<bool> {
        let mut write = self.begin_write().await?;
        let updated = sqlx::query(crate::repo::sql::SET_QUOTA)
            .bind(tenant.0)
            .bind(quota.max_blobs)
            .bind(quota.max_bytes)
            .bind(quota.max_blob_bytes)
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        Ok(updated.rows_affected() > 0)
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> crate::repo::RepoResult<String> {
        let mut write = self.begin_write().await?;
        sqlx::query(crate::repo::sql::INSERT_SETTING)
            .bind(key)
            .bind(value)
            .execute(&mut *write.tx)
            .await?;
        let stored: String = sqlx::query_scalar(crate::repo::sql::SELECT_SETTING)
            .bind(key)
            .fetch_one(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        Ok(stored)
    }
}
