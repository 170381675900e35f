//! Sharing, as DataTrails has it: a tenant's subjects (other tenants it knows, by their
//! keys) and access policies (which of its assets, and which attributes of them, a subject
//! may read), and each tenant's own keys, by which other tenants' subjects name it. Every
//! change is also an event in the owner's log, in the change's transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, RowsAffected, SqlRepo};
use super::tx::WriteTx;
use super::{NewEvent, RepoError, RepoResult};
use crate::ids::TenantId;

/// A tenant's own keys: another tenant's subject holding one of them stands for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelfKeys {
    /// Hex of an uncompressed public key (`04…`), as DataTrails' wallet keys are written.
    pub wallet_pub_key: String,
    /// Base64 of 32 bytes, as DataTrails' Tessera keys are written.
    pub tessera_pub_key: String,
}

/// A subject as stored; its keys are JSON arrays of strings.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Subject {
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub display_name: String,
    pub wallet_pub_key: String,
    pub tessera_pub_key: String,
    pub created_at: DateTime<Utc>,
}

/// A subject to store, or the fields of one to change (`None`: unchanged).
#[derive(Clone, Debug, Default)]
pub struct SubjectFields {
    pub display_name: Option<String>,
    /// JSON array text.
    pub wallet_pub_key: Option<String>,
    /// JSON array text.
    pub tessera_pub_key: Option<String>,
}

/// An access policy as stored; `filters` and `access_permissions` are JSON text.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AccessPolicy {
    pub seq: i64,
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub display_name: String,
    pub description: String,
    pub filters: String,
    pub access_permissions: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A policy's fields, all of them: a change replaces them all, as DataTrails' does.
#[derive(Clone, Debug)]
pub struct PolicyFields {
    pub display_name: String,
    pub description: String,
    /// JSON text.
    pub filters: String,
    /// JSON text.
    pub access_permissions: String,
}

/// Which page of a tenant's subjects or policies: newest first, optionally by display name.
#[derive(Clone, Debug)]
pub struct SharingPage<'a> {
    pub display_name: Option<&'a str>,
    /// Only rows older than this seq.
    pub before: Option<i64>,
    pub limit: i64,
}

/// What an owner shares, read in one go for the reader-side decision.
#[derive(Clone, Debug, Default)]
pub struct SharingSet {
    pub subjects: Vec<Subject>,
    pub policies: Vec<AccessPolicy>,
}

#[async_trait]
pub trait SharingRepo {
    /// The tenant's own keys, made and stored on first use.
    async fn self_keys(&self, tenant: TenantId, made: SelfKeys) -> RepoResult<SelfKeys>;
    /// Stores a subject, with `logged`, the event recording it, in one transaction.
    async fn create_subject(
        &self,
        tenant: TenantId,
        id: Uuid,
        subject: &SubjectFields,
        logged: &NewEvent,
    ) -> RepoResult<Subject>;
    async fn subject(&self, tenant: TenantId, id: Uuid) -> RepoResult<Option<Subject>>;
    /// Changes the fields given, with `logged`; `None` if there is no such subject.
    async fn update_subject(
        &self,
        tenant: TenantId,
        id: Uuid,
        fields: &SubjectFields,
        logged: &NewEvent,
    ) -> RepoResult<Option<Subject>>;
    /// `false` if there was no such subject.
    async fn delete_subject(&self, tenant: TenantId, id: Uuid, logged: &NewEvent) -> RepoResult<bool>;
    async fn list_subjects(&self, tenant: TenantId, page: &SharingPage<'_>) -> RepoResult<Vec<Subject>>;
    async fn count_subjects(&self, tenant: TenantId, display_name: Option<&str>) -> RepoResult<i64>;

    async fn create_policy(
        &self,
        tenant: TenantId,
        id: Uuid,
        policy: &PolicyFields,
        logged: &NewEvent,
    ) -> RepoResult<AccessPolicy>;
    async fn policy(&self, tenant: TenantId, id: Uuid) -> RepoResult<Option<AccessPolicy>>;
    async fn update_policy(
        &self,
        tenant: TenantId,
        id: Uuid,
        policy: &PolicyFields,
        logged: &NewEvent,
    ) -> RepoResult<Option<AccessPolicy>>;
    async fn delete_policy(&self, tenant: TenantId, id: Uuid, logged: &NewEvent) -> RepoResult<bool>;
    async fn list_policies(&self, tenant: TenantId, page: &SharingPage<'_>) -> RepoResult<Vec<AccessPolicy>>;
    async fn count_policies(&self, tenant: TenantId, display_name: Option<&str>) -> RepoResult<i64>;

    /// Everything `owner` shares: its subjects and policies.
    async fn sharing_set(&self, owner: TenantId) -> RepoResult<SharingSet>;
    /// The tenant an asset belongs to, whichever it is.
    /// The tenants with a subject that may hold one of `keys`: a superset, which the
    /// sharing core narrows by comparing the keys themselves.
    async fn owners_sharing_with(&self, keys: &SelfKeys) -> RepoResult<Vec<TenantId>>;
}

const SUBJECT_COLUMNS: &str =
    "SELECT seq, id, tenant_id, display_name, wallet_pub_key, tessera_pub_key, created_at FROM subjects";
/// The name filter of a list or count, at `$n`: none when it is null.
fn by_name(n: usize) -> String {
    format!(" AND (CAST(${n} AS TEXT) IS NULL OR display_name = ${n})")
}

const POLICY_COLUMNS: &str = "SELECT seq, id, tenant_id, display_name, description, filters, access_permissions, \
     created_at, updated_at FROM access_policies";

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
    /// Begins the write transaction of a change that `logged` records. The names of the
    /// event are stored first, as their own transaction: SQLite has one writer at a time.
    async fn begin_logged(&self, logged: &NewEvent) -> RepoResult<(WriteTx<DB>, (i32, i32))> {
        let names = self.event_name_ids(&logged.operation, &logged.behaviour).await?;
        Ok((self.begin_write().await?, names))
    }

    /// Logs `logged` in `write` and commits it: a sharing change and its event together.
    async fn commit_logged(
        &self,
        mut write: WriteTx<DB>,
        tenant: TenantId,
        logged: &NewEvent,
        names: (i32, i32),
    ) -> RepoResult<()> {
        let mut heads = HashMap::new();
        self.log_event(&mut write.tx, tenant.0, logged, names, &mut heads)
            .await?;
        self.heads.commit(write.tx, heads).await
    }

    /// Deletes the tenant's row `id` of `table` (subjects or policies) with the event that
    /// records it; `false` when there is none.
    async fn delete_logged(&self, table: &str, tenant: TenantId, id: Uuid, logged: &NewEvent) -> RepoResult<bool> {
        let (mut write, names) = self.begin_logged(logged).await?;
        let deleted = sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.0)
            .bind(id)
            .execute(&mut *write.tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        self.commit_logged(write, tenant, logged, names).await?;
        Ok(true)
    }

    /// A page of the tenant's rows of `columns` (subjects or policies), newest first, by
    /// name when one is given.
    async fn named_page<T>(&self, columns: &str, tenant: TenantId, page: &SharingPage<'_>) -> RepoResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, DB::Row> + Send + Unpin,
    {
        let sql = format!(
            "{columns} WHERE tenant_id = $1 AND seq < $2{} ORDER BY seq DESC LIMIT $3",
            by_name(4)
        );
        Ok(sqlx::query_as(&sql)
            .bind(tenant.0)
            .bind(page.before.unwrap_or(i64::MAX))
            .bind(page.limit)
            .bind(page.display_name)
            .fetch_all(&self.pool)
            .await?)
    }

    /// How many of the tenant's rows `table` holds, by name when one is given.
    async fn named_count(&self, table: &str, tenant: TenantId, display_name: Option<&str>) -> RepoResult<i64> {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1{}", by_name(2));
        Ok(sqlx::query_scalar(&sql)
            .bind(tenant.0)
            .bind(display_name)
            .fetch_one(&self.pool)
            .await?)
    }
}

#[async_trait]
impl<DB: Backend> SharingRepo for SqlRepo<DB>
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
    async fn self_keys(&self, tenant: TenantId, made: SelfKeys) -> RepoResult<SelfKeys> {
        let read = "SELECT wallet_pub_key, tessera_pub_key FROM tenants WHERE id = $1";
        let stored: Option<(Option<String>, Option<String>)> =
            sqlx::query_as(read).bind(tenant.0).fetch_optional(&self.pool).await?;
        if let Some((Some(wallet_pub_key), Some(tessera_pub_key))) = stored {
            return Ok(SelfKeys {
                wallet_pub_key,
                tessera_pub_key,
            });
        }
        let mut write = self.begin_write().await?;
        // Another process may have made them meanwhile: its keys stay.
        sqlx::query(
            "UPDATE tenants SET wallet_pub_key = $2, tessera_pub_key = $3 WHERE id = $1 AND wallet_pub_key IS NULL",
        )
        .bind(tenant.0)
        .bind(&made.wallet_pub_key)
        .bind(&made.tessera_pub_key)
        .execute(&mut *write.tx)
        .await?;
        let stored: Option<(Option<String>, Option<String>)> = sqlx::query_as(read)
            .bind(tenant.0)
            .fetch_optional(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        match stored {
            Some((Some(wallet_pub_key), Some(tessera_pub_key))) => Ok(SelfKeys {
                wallet_pub_key,
                tessera_pub_key,
            }),
            _ => Err(RepoError::NotFound),
        }
    }

    async fn create_subject(
        &self,
        tenant: TenantId,
        id: Uuid,
        subject: &SubjectFields,
        logged: &NewEvent,
    ) -> RepoResult<Subject> {
        let (mut write, names) = self.begin_logged(logged).await?;
        sqlx::query(
            "INSERT INTO subjects (id, tenant_id, display_name, wallet_pub_key, tessera_pub_key, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(tenant.0)
        .bind(subject.display_name.as_deref().unwrap_or_default())
        .bind(subject.wallet_pub_key.as_deref().unwrap_or("[]"))
        .bind(subject.tessera_pub_key.as_deref().unwrap_or("[]"))
        .bind(Utc::now())
        .execute(&mut *write.tx)
        .await?;
        let stored = sqlx::query_as(&format!("{SUBJECT_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *write.tx)
            .await?;
        self.commit_logged(write, tenant, logged, names).await?;
        Ok(stored)
    }

    async fn subject(&self, tenant: TenantId, id: Uuid) -> RepoResult<Option<Subject>> {
        Ok(
            sqlx::query_as(&format!("{SUBJECT_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant.0)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn update_subject(
        &self,
        tenant: TenantId,
        id: Uuid,
        fields: &SubjectFields,
        logged: &NewEvent,
    ) -> RepoResult<Option<Subject>> {
        let (mut write, names) = self.begin_logged(logged).await?;
        let updated = sqlx::query(
            "UPDATE subjects SET display_name = COALESCE($3, display_name), \
             wallet_pub_key = COALESCE($4, wallet_pub_key), tessera_pub_key = COALESCE($5, tessera_pub_key) \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(fields.display_name.as_deref())
        .bind(fields.wallet_pub_key.as_deref())
        .bind(fields.tessera_pub_key.as_deref())
        .execute(&mut *write.tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let stored = sqlx::query_as(&format!("{SUBJECT_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *write.tx)
            .await?;
        self.commit_logged(write, tenant, logged, names).await?;
        Ok(Some(stored))
    }

    async fn delete_subject(&self, tenant: TenantId, id: Uuid, logged: &NewEvent) -> RepoResult<bool> {
        self.delete_logged("subjects", tenant, id, logged).await
    }

    async fn list_subjects(&self, tenant: TenantId, page: &SharingPage<'_>) -> RepoResult<Vec<Subject>> {
        self.named_page(SUBJECT_COLUMNS, tenant, page).await
    }

    async fn count_subjects(&self, tenant: TenantId, display_name: Option<&str>) -> RepoResult<i64> {
        self.named_count("subjects", tenant, display_name).await
    }

    async fn create_policy(
        &self,
        tenant: TenantId,
        id: Uuid,
        policy: &PolicyFields,
        logged: &NewEvent,
    ) -> RepoResult<AccessPolicy> {
        let now = Utc::now();
        let (mut write, names) = self.begin_logged(logged).await?;
        sqlx::query(
            "INSERT INTO access_policies (id, tenant_id, display_name, description, filters, access_permissions, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(id)
        .bind(tenant.0)
        .bind(&policy.display_name)
        .bind(&policy.description)
        .bind(&policy.filters)
        .bind(&policy.access_permissions)
        .bind(now)
        .execute(&mut *write.tx)
        .await?;
        let stored = sqlx::query_as(&format!("{POLICY_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *write.tx)
            .await?;
        self.commit_logged(write, tenant, logged, names).await?;
        Ok(stored)
    }

    async fn policy(&self, tenant: TenantId, id: Uuid) -> RepoResult<Option<AccessPolicy>> {
        Ok(
            sqlx::query_as(&format!("{POLICY_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant.0)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn update_policy(
        &self,
        tenant: TenantId,
        id: Uuid,
        policy: &PolicyFields,
        logged: &NewEvent,
    ) -> RepoResult<Option<AccessPolicy>> {
        let (mut write, names) = self.begin_logged(logged).await?;
        let updated = sqlx::query(
            "UPDATE access_policies SET display_name = $3, description = $4, filters = $5, \
             access_permissions = $6, updated_at = $7 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(&policy.display_name)
        .bind(&policy.description)
        .bind(&policy.filters)
        .bind(&policy.access_permissions)
        .bind(Utc::now())
        .execute(&mut *write.tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let stored = sqlx::query_as(&format!("{POLICY_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *write.tx)
            .await?;
        self.commit_logged(write, tenant, logged, names).await?;
        Ok(Some(stored))
    }

    async fn delete_policy(&self, tenant: TenantId, id: Uuid, logged: &NewEvent) -> RepoResult<bool> {
        self.delete_logged("access_policies", tenant, id, logged).await
    }

    async fn list_policies(&self, tenant: TenantId, page: &SharingPage<'_>) -> RepoResult<Vec<AccessPolicy>> {
        self.named_page(POLICY_COLUMNS, tenant, page).await
    }

    async fn count_policies(&self, tenant: TenantId, display_name: Option<&str>) -> RepoResult<i64> {
        self.named_count("access_policies", tenant, display_name).await
    }

    async fn sharing_set(&self, owner: TenantId) -> RepoResult<SharingSet> {
        let subjects = sqlx::query_as(&format!("{SUBJECT_COLUMNS} WHERE tenant_id = $1 ORDER BY seq"))
            .bind(owner.0)
            .fetch_all(&self.pool)
            .await?;
        let policies = sqlx::query_as(&format!("{POLICY_COLUMNS} WHERE tenant_id = $1 ORDER BY seq"))
            .bind(owner.0)
            .fetch_all(&self.pool)
            .await?;
        Ok(SharingSet { subjects, policies })
    }

    async fn owners_sharing_with(&self, keys: &SelfKeys) -> RepoResult<Vec<TenantId>> {
        // Keys are kept as JSON arrays of strings: each stored key is `"<key>"` in them.
        let wallet = format!("%\"{}\"%", keys.wallet_pub_key);
        let tessera = format!("%\"{}\"%", keys.tessera_pub_key);
        let owners: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT tenant_id FROM subjects WHERE wallet_pub_key LIKE $1 OR wallet_pub_key LIKE $2 \
             OR tessera_pub_key LIKE $1 OR tessera_pub_key LIKE $2",
        )
        .bind(wallet)
        .bind(tessera)
        .fetch_all(&self.pool)
        .await?;
        Ok(owners.into_iter().map(TenantId).collect())
    }
}
