//! Attachments made through the other seed systems' routes (Navarik, Mediapocket): rows of
//! their own in a named container, which may hold a blob and the hash recorded when it
//! was attached.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, SqlRepo};
use super::RepoResult;
use crate::ids::{BlobId, TenantId};

/// An attachment record to store.
#[derive(Clone, Debug, Default)]
pub struct NewRecord {
    pub id: Uuid,
    /// What it hangs on: `workspaces/<w>/documents/<d>`, `assets/<a>` or `events/<e>`.
    pub container: String,
    /// The blob and the SHA-256 recorded for it now, which every download is checked against.
    pub blob: Option<(BlobId, String)>,
    pub title: String,
    pub description: Option<String>,
    pub client_reference: Option<String>,
    pub vendor_reference: Option<String>,
    pub external_id: Option<String>,
    pub category: Option<String>,
    /// JSON array text.
    pub tags: String,
    pub owner: String,
}

/// A stored record, with its blob's size and mime type when it has one.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Record {
    pub id: Uuid,
    pub container: String,
    pub blob_id: Option<Uuid>,
    pub hash_sha256: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub client_reference: Option<String>,
    pub vendor_reference: Option<String>,
    pub external_id: Option<String>,
    pub category: Option<String>,
    pub tags: String,
    pub owner: String,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub size: Option<i64>,
    pub mime_type: Option<String>,
}

/// What a list of records can be ordered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordField {
    Created,
    Id,
    Title,
    Size,
    MimeType,
}

impl RecordField {
    /// The SQL it orders by; `text_order` makes text compare by code point on every backend.
    fn sql(self, text_order: &str) -> String {
        match self {
            Self::Created => "r.seq".into(),
            Self::Id => "r.id".into(),
            Self::Title => format!("r.title{text_order}"),
            Self::Size => "b.size".into(),
            Self::MimeType => format!("b.mime_type{text_order}"),
        }
    }
}

/// `ORDER BY` for `order`, ending with creation order so every order is total.
pub fn order_sql(order: &[(RecordField, bool)], text_order: &str) -> String {
    let mut terms: Vec<String> = order
        .iter()
        .map(|(field, descending)| {
            let direction = if *descending { "DESC" } else { "ASC" };
            format!("{} {direction}", field.sql(text_order))
        })
        .collect();
    terms.push("r.seq ASC".into());
    format!(" ORDER BY {}", terms.join(", "))
}

#[async_trait]
pub trait RecordRepo {
    /// Stores a record without a blob (a blob's record is stored by `BlobWriter::commit`).
    async fn create_record(&self, tenant: TenantId, record: &NewRecord) -> RepoResult<Record>;
    /// A record of the container that is not deleted.
    async fn record(&self, tenant: TenantId, container: &str, id: Uuid) -> RepoResult<Option<Record>>;
    async fn list_records(
        &self,
        tenant: TenantId,
        container: &str,
        order: &[(RecordField, bool)],
        offset: i64,
        limit: i64,
    ) -> RepoResult<Vec<Record>>;
    /// Marks a record deleted and returns it as it was last.
    async fn delete_record(&self, tenant: TenantId, container: &str, id: Uuid) -> RepoResult<Option<Record>>;
}

pub const INSERT_RECORD: &str = "INSERT INTO dialect_attachments (id, tenant_id, container, blob_id, hash_sha256, \
     title, description, client_reference, vendor_reference, external_id, category, tags, owner, created_at, \
     modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)";
pub const RECORD_COLUMNS: &str = "SELECT r.id, r.container, r.blob_id, r.hash_sha256, r.title, r.description, \
     r.client_reference, r.vendor_reference, r.external_id, r.category, r.tags, r.owner, r.created_at, \
     r.modified_at, r.deleted_at, b.size, b.mime_type FROM dialect_attachments r LEFT JOIN blobs b ON b.id = r.blob_id";
pub const LIVE_RECORD: &str = "WHERE r.tenant_id = $1 AND r.container = $2 AND r.id = $3 AND r.deleted_at IS NULL";
pub const DELETE_RECORD: &str = "UPDATE dialect_attachments SET deleted_at = $4, modified_at = $4 \
     WHERE tenant_id = $1 AND container = $2 AND id = $3 AND deleted_at IS NULL";

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
    pub(super) async fn insert_record(
        tx: &mut crate::repo::tx::Tx<DB>,
        tenant: crate::ids::TenantId,
        record: &crate::repo::NewRecord,
    ) -> crate::repo::RepoResult<()> {
        sqlx::query(crate::repo::records::INSERT_RECORD)
            .bind(record.id)
            .bind(tenant.0)
            .bind(&record.container)
            .bind(record.blob.as_ref().map(|(blob, _)| blob.0))
            .bind(record.blob.as_ref().map(|(_, hash)| hash.as_str()))
            .bind(&record.title)
            .bind(&record.description)
            .bind(&record.client_reference)
            .bind(&record.vendor_reference)
            .bind(&record.external_id)
            .bind(&record.category)
            .bind(&record.tags)
            .bind(&record.owner)
            .bind(chrono::Utc::now())
            .execute(&mut **tx)
            .await
            .map_err(|e| crate::repo::RepoError::from_insert(e, "attachment"))?;
        Ok(())
    }

    /// The container's record `id`, unless deleted, through a pool or a transaction.
    pub(super) async fn live_record<'c, E>(
        executor: E,
        tenant: crate::ids::TenantId,
        container: &str,
        id: uuid::Uuid,
    ) -> crate::repo::RepoResult<Option<crate::repo::Record>>
    where
        E: sqlx::Executor<'c, Database = DB>,
    {
        use crate::repo::records::*;
        Ok(sqlx::query_as(&format!("{RECORD_COLUMNS} {LIVE_RECORD}"))
            .bind(tenant.0)
            .bind(container)
            .bind(id)
            .fetch_optional(executor)
            .await?)
    }
}

#[async_trait]
impl<DB: Backend> RecordRepo for SqlRepo<DB>
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
    async fn create_record(
        &self,
        tenant: crate::ids::TenantId,
        record: &crate::repo::NewRecord,
    ) -> crate::repo::RepoResult<crate::repo::Record> {
        let mut write = self.begin_write().await?;
        Self::insert_record(&mut write.tx, tenant, record).await?;
        let stored = Self::live_record(&mut *write.tx, tenant, &record.container, record.id)
            .await?
            .ok_or(crate::repo::RepoError::NotFound)?;
        write.tx.commit().await?;
        Ok(stored)
    }

    async fn record(
        &self,
        tenant: crate::ids::TenantId,
        container: &str,
        id: uuid::Uuid,
    ) -> crate::repo::RepoResult<Option<crate::repo::Record>> {
        Self::live_record(&self.pool, tenant, container, id).await
    }

    async fn list_records(
        &self,
        tenant: crate::ids::TenantId,
        container: &str,
        order: &[(crate::repo::RecordField, bool)],
        offset: i64,
        limit: i64,
    ) -> crate::repo::RepoResult<Vec<crate::repo::Record>> {
        use crate::repo::records::*;
        let sql = format!(
            "{RECORD_COLUMNS} WHERE r.tenant_id = $1 AND r.container = $2 AND r.deleted_at IS NULL{} \
             LIMIT $3 OFFSET $4",
            order_sql(order, DB::BYTE_ORDER)
        );
        Ok(sqlx::query_as(&sql)
            .bind(tenant.0)
            .bind(container)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn delete_record(
        &self,
        tenant: crate::ids::TenantId,
        container: &str,
        id: uuid::Uuid,
    ) -> crate::repo::RepoResult<Option<crate::repo::Record>> {
        let mut write = self.begin_write().await?;
        let Some(mut found) = Self::live_record(&mut *write.tx, tenant, container, id).await? else {
            return Ok(None);
        };
        let now = chrono::Utc::now();
        sqlx::query(crate::repo::records::DELETE_RECORD)
            .bind(tenant.0)
            .bind(container)
            .bind(id)
            .bind(now)
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        found.deleted_at = Some(now);
        found.modified_at = now;
        Ok(Some(found))
    }
}
