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
                Ok(sqlx::query_as($crate::repo::sql::SELECT_BLOB)
                    .bind(tenant.0)
                    .bind(blob.0)
                    .fetch_optional(&self.pool)
                    .await?)
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
                Ok(())
            }
        }
    };
}

pub(crate) use impl_repo;
