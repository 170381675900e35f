//! Long-lived API keys (Mediapocket's `X-API-KEY`), stored as the SHA-256 of the key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, RowsAffected, SqlRepo};
use super::RepoResult;
use crate::ids::TenantId;

/// A key to store: its hash, never the key.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub id: Uuid,
    pub name: String,
    /// The start of the key, to tell keys apart in a list.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub key_hash: String,
}

/// A stored key, without its hash.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait ApiKeyRepo {
    async fn create_api_key(&self, tenant: TenantId, key: &NewApiKey) -> RepoResult<ApiKey>;
    /// The key with this hash, of any tenant: the key itself names its tenant.
    async fn api_key_by_hash(&self, key_hash: &str) -> RepoResult<Option<ApiKey>>;
    /// The tenant's keys, oldest first.
    async fn list_api_keys(&self, tenant: TenantId) -> RepoResult<Vec<ApiKey>>;
    /// Revokes a key at once; `false` if the tenant has no such key.
    async fn delete_api_key(&self, tenant: TenantId, id: Uuid) -> RepoResult<bool>;
}

pub const API_KEY_COLUMNS: &str = "SELECT id, tenant_id, name, prefix, created_at FROM api_keys";
pub const INSERT_API_KEY: &str =
    "INSERT INTO api_keys (id, tenant_id, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

#[async_trait]
impl<DB: Backend> ApiKeyRepo for SqlRepo<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    Uuid: Column<DB>,
    String: Column<DB>,
    DateTime<Utc>: Column<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    async fn create_api_key(
        &self,
        tenant: crate::ids::TenantId,
        key: &crate::repo::NewApiKey,
    ) -> crate::repo::RepoResult<crate::repo::ApiKey> {
        let mut write = self.begin_write().await?;
        sqlx::query(INSERT_API_KEY)
            .bind(key.id)
            .bind(tenant.0)
            .bind(&key.name)
            .bind(&key.prefix)
            .bind(&key.key_hash)
            .bind(chrono::Utc::now())
            .execute(&mut *write.tx)
            .await
            .map_err(|e| crate::repo::RepoError::from_insert(e, "API key"))?;
        let stored = sqlx::query_as(&format!("{API_KEY_COLUMNS} WHERE id = $1"))
            .bind(key.id)
            .fetch_one(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        Ok(stored)
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> crate::repo::RepoResult<Option<crate::repo::ApiKey>> {
        Ok(sqlx::query_as(&format!("{API_KEY_COLUMNS} WHERE key_hash = $1"))
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list_api_keys(&self, tenant: crate::ids::TenantId) -> crate::repo::RepoResult<Vec<crate::repo::ApiKey>> {
        Ok(sqlx::query_as(&format!(
            "{API_KEY_COLUMNS} WHERE tenant_id = $1 ORDER BY created_at, id"
        ))
        .bind(tenant.0)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_api_key(&self, tenant: crate::ids::TenantId, id: uuid::Uuid) -> crate::repo::RepoResult<bool> {
        let mut write = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(id)
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }
}
