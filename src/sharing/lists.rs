//! Other tenants' assets in a reader's asset list. SQL narrows each owner's assets to those
//! its granting policies may select; the sharing decision then judges each row exactly, so
//! a page is filled from as many narrowed rows as it takes.

use super::policy::Grant;
use super::Sharing;
use crate::ids::TenantId;
use crate::repo::{Asset, ListQuery, RepoResult, SharedScope};

/// Rows read at a time when counting.
const COUNT_BATCH: i64 = 500;

impl Sharing {
    /// The newest `query.limit` assets shared with `reader` that meet `query`, newest first,
    /// each with what the reader may see of it.
    pub async fn shared_page(&self, reader: TenantId, query: &ListQuery) -> RepoResult<Vec<(Asset, Grant)>> {
        let mut page = Vec::new();
        for (owner, scope) in self.shared_with(reader).await? {
            page.extend(
                self.owner_rows(reader, owner, &scope, query, query.limit, false)
                    .await?,
            );
        }
        page.sort_by_key(|(asset, _)| std::cmp::Reverse(asset.seq));
        page.truncate(usize::try_from(query.limit).unwrap_or(0));
        Ok(page)
    }

    /// How many assets shared with `reader` meet `query`.
    pub async fn shared_count(&self, reader: TenantId, query: &ListQuery) -> RepoResult<i64> {
        let mut count = 0;
        for (owner, scope) in self.shared_with(reader).await? {
            let rows = self.owner_rows(reader, owner, &scope, query, COUNT_BATCH, true).await?;
            count += i64::try_from(rows.len()).unwrap_or(i64::MAX);
        }
        Ok(count)
    }

    /// `owner`'s assets shared with `reader` that meet `query`, newest first, reading
    /// `batch` rows at a time: up to `query.limit` of them, or all with `every`.
    async fn owner_rows(
        &self,
        reader: TenantId,
        owner: TenantId,
        scope: &SharedScope,
        query: &ListQuery,
        batch: i64,
        every: bool,
    ) -> RepoResult<Vec<(Asset, Grant)>> {
        let wanted = usize::try_from(query.limit).unwrap_or(0);
        if batch < 1 || (!every && wanted == 0) {
            return Ok(Vec::new());
        }
        let mut next = ListQuery {
            limit: batch,
            ..query.clone()
        };
        let mut found = Vec::new();
        loop {
            let rows = self.repo.list_shared_assets(owner, &next, scope).await?;
            let exhausted = i64::try_from(rows.len()).unwrap_or(0) < batch;
            next.before = rows.last().map(|asset| asset.seq);
            for asset in rows {
                if let Some(grant) = self.grant(reader, &asset).await? {
                    // Filtering on an attribute the reader may not see would reveal it.
                    if grant.sees_filters(&query.filters) {
                        found.push((asset, grant));
                    }
                }
            }
            if exhausted || (!every && found.len() >= wanted) {
                found.truncate(if every { found.len() } else { wanted });
                return Ok(found);
            }
        }
    }
}
