//! Assets: created, read (also the public ones of any tenant), listed and counted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, SqlRepo};
use super::{Asset, ListQuery, NewAsset, RepoResult, SharedScope};
use crate::ids::{AssetId, TenantId};

#[async_trait]
pub trait AssetRepo {
    async fn create_asset(&self, tenant: TenantId, asset: &NewAsset) -> RepoResult<Asset>;
    async fn asset(&self, tenant: TenantId, asset: AssetId) -> RepoResult<Option<Asset>>;
    /// A public asset of any tenant, for the routes that need no token.
    async fn public_asset(&self, asset: AssetId) -> RepoResult<Option<Asset>>;
    /// An asset of any tenant, for the sharing decision.
    async fn any_asset(&self, asset: AssetId) -> RepoResult<Option<Asset>>;
    async fn list_assets(&self, tenant: TenantId, query: &ListQuery) -> RepoResult<Vec<Asset>>;
    /// A page of `owner`'s assets that `scope` selects, none public, for another tenant's
    /// list: the query's filters read the owner's terms.
    async fn list_shared_assets(
        &self,
        owner: TenantId,
        query: &ListQuery,
        scope: &SharedScope,
    ) -> RepoResult<Vec<Asset>>;
    async fn count_assets(&self, tenant: TenantId, query: &ListQuery) -> RepoResult<i64>;
}

#[async_trait]
impl<DB: Backend> AssetRepo for SqlRepo<DB>
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
    async fn create_asset(
        &self,
        tenant: crate::ids::TenantId,
        asset: &crate::repo::NewAsset,
    ) -> crate::repo::RepoResult<crate::repo::Asset> {
        use crate::repo::sql::*;
        // As DataTrails does: the asset's creation is its first event, in the log.
        let names = self.event_name_ids("NewAsset", "AssetCreator").await?;
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
        let stored: crate::repo::Asset = sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.0)
            .bind(asset.id.0)
            .fetch_one(&mut *write.tx)
            .await?;
        let terms = crate::repo::terms::object_terms(crate::repo::TermField::AssetAttributes, &asset.attributes);
        let into = "asset_terms (tenant_id, term, asset_seq)";
        crate::repo::term_rows::insert_terms::<DB>(&mut *write.tx, into, tenant.0, stored.seq, &terms, None).await?;
        let attributes: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&asset.attributes).map_err(|e| crate::repo::RepoError::Other(e.into()))?;
        let created = crate::repo::NewEvent {
            id: crate::ids::EventId::new(),
            asset: Some(asset.id),
            operation: "NewAsset".into(),
            behaviour: "AssetCreator".into(),
            event_attributes: "{}".into(),
            asset_attributes: attributes,
            trails: "[]".into(),
            timestamp_declared: crate::repo::leaves::timestamp(stored.created_at),
            principal_declared: serde_json::json!({
                "issuer": asset.issuer, "subject": asset.subject, "display_name": "", "email": ""
            })
            .to_string(),
            issuer: asset.issuer.clone(),
            subject: asset.subject.clone(),
        };
        let mut heads = std::collections::HashMap::new();
        self.log_event(&mut write.tx, tenant.0, &created, names, &mut heads)
            .await?;
        self.heads.commit(write.tx, heads).await?;
        Ok(stored)
    }

    async fn asset(
        &self,
        tenant: crate::ids::TenantId,
        asset: crate::ids::AssetId,
    ) -> crate::repo::RepoResult<Option<crate::repo::Asset>> {
        use crate::repo::sql::*;
        Ok(
            sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE tenant_id = $1 AND id = $2"))
                .bind(tenant.0)
                .bind(asset.0)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn public_asset(&self, asset: crate::ids::AssetId) -> crate::repo::RepoResult<Option<crate::repo::Asset>> {
        use crate::repo::sql::*;
        Ok(
            sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE id = $1 AND public = $2"))
                .bind(asset.0)
                .bind(true)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn any_asset(&self, asset: AssetId) -> RepoResult<Option<Asset>> {
        use crate::repo::sql::*;
        Ok(sqlx::query_as(&format!("{ASSET_COLUMNS} WHERE id = $1"))
            .bind(asset.0)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn list_assets(
        &self,
        tenant: crate::ids::TenantId,
        query: &crate::repo::ListQuery,
    ) -> crate::repo::RepoResult<Vec<crate::repo::Asset>> {
        use crate::repo::sql::*;
        let lighter = without_needless_tracked(&self.pool, tenant.0, query).await?;
        let query = lighter.as_ref().unwrap_or(query);
        let rows = crate::repo::filters::RowsSql::new("assets", &query.filters, 4, &DB::FILTERS, true);
        let sql = rows.list(ASSET_FIELDS, "");
        let binds = rows.binds;
        let select = sqlx::query_as(&sql)
            .persistent(DB::LIST_STATEMENTS_CACHED || query.filters.is_empty())
            .bind(tenant.0)
            .bind(query.before.unwrap_or(i64::MAX))
            .bind(query.limit);
        let select = crate::repo::filters::bind_filters!(select, binds);
        Ok(select.fetch_all(&self.pool).await?)
    }

    async fn count_assets(
        &self,
        tenant: crate::ids::TenantId,
        query: &crate::repo::ListQuery,
    ) -> crate::repo::RepoResult<i64> {
        let lighter = without_needless_tracked(&self.pool, tenant.0, query).await?;
        let query = lighter.as_ref().unwrap_or(query);
        let rows = crate::repo::filters::RowsSql::new("assets", &query.filters, 2, &DB::FILTERS, true);
        let sql = rows.count("");
        let binds = rows.binds;
        let select = sqlx::query_scalar(&sql)
            .persistent(DB::LIST_STATEMENTS_CACHED || query.filters.is_empty())
            .bind(tenant.0);
        let select = crate::repo::filters::bind_filters!(select, binds);
        Ok(select.fetch_one(&self.pool).await?)
    }

    async fn list_shared_assets(
        &self,
        owner: TenantId,
        query: &ListQuery,
        scope: &SharedScope,
    ) -> RepoResult<Vec<Asset>> {
        use crate::repo::sql::*;
        let rows = crate::repo::filters::RowsSql::new("assets", &query.filters, 4, &DB::FILTERS, true);
        let first = 4 + rows.binds.len();
        let (shared, scope_binds) = crate::repo::filters::any_of_sql(scope, first + 1, &DB::FILTERS, "assets.seq");
        let sql = rows.list(ASSET_FIELDS, &format!(" AND assets.public = ${first}{shared}"));
        let select = sqlx::query_as(&sql)
            .persistent(DB::LIST_STATEMENTS_CACHED)
            .bind(owner.0)
            .bind(query.before.unwrap_or(i64::MAX))
            .bind(query.limit);
        let select = crate::repo::filters::bind_filters!(select, rows.binds);
        let select = select.bind(false);
        let select = crate::repo::filters::bind_filters!(select, scope_binds);
        Ok(select.fetch_all(&self.pool).await?)
    }
}

/// `query` without its `tracked = true` filter when the tenant has no untracked asset
/// (nearly always; a partial index answers): a list or count then reads terms alone, as
/// before tracking existed.
async fn without_needless_tracked<DB: Backend>(
    pool: &sqlx::Pool<DB>,
    tenant: Uuid,
    query: &ListQuery,
) -> RepoResult<Option<ListQuery>>
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
    use crate::repo::{Filter, FilterField, FilterValue};
    let tracked_only = |f: &Filter| f.field == FilterField::Column("tracked") && f.value == FilterValue::Bool(true);
    if !query.filters.iter().any(tracked_only) {
        return Ok(None);
    }
    let untracked: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM assets WHERE tenant_id = $1 AND NOT tracked LIMIT 1")
            .bind(tenant)
            .fetch_optional(pool)
            .await?;
    if untracked.is_some() {
        return Ok(None);
    }
    Ok(Some(ListQuery {
        filters: query.filters.iter().filter(|f| !tracked_only(f)).cloned().collect(),
        ..query.clone()
    }))
}
