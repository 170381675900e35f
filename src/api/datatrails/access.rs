//! How a caller may read an asset and its events: as the owner, or as a partner that one of
//! the owner's access policies grants. Anything else answers exactly as an unknown id.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::{AssetId, TenantId};
use crate::repo::{Asset, Event, EventScope, ListQuery};
use crate::sharing::policy::Grant;
use crate::state::AppState;

/// An asset as the caller may read it.
pub enum Reading {
    Owned(Asset),
    /// Another tenant's, seen through what it grants.
    Shared(Asset, Grant),
}

impl Reading {
    /// The asset `id` as `principal` may read it, or 404 as for an unknown id.
    pub async fn asset(state: &AppState, principal: &Principal, id: AssetId) -> ApiResult<Self> {
        // One read, whoever owns it: a partner's read costs what the owner's does.
        let Some(asset) = state.repo.any_asset(id).await? else {
            return Err(ApiError::not_found("asset"));
        };
        if TenantId(asset.tenant_id) == principal.tenant {
            return Ok(Self::Owned(asset));
        }
        match state.sharing.grant(principal.tenant, &asset).await? {
            Some(grant) => Ok(Self::Shared(asset, grant)),
            None => Err(ApiError::not_found("asset")),
        }
    }

    /// The caller's own asset `id` to write to: 403 for one only shared with it, 404 as for
    /// an unknown id for any other.
    pub async fn owned(state: &AppState, principal: &Principal, id: AssetId) -> ApiResult<Asset> {
        match Self::asset(state, principal, id).await? {
            Self::Owned(asset) => Ok(asset),
            Self::Shared(..) => Err(ApiError::Forbidden("this asset is shared with you to read only".into())),
        }
    }

    /// The tenant whose asset it is, whose log holds its events.
    pub fn owner(&self) -> TenantId {
        TenantId(self.stored().tenant_id)
    }

    /// The asset as stored.
    pub fn stored(&self) -> &Asset {
        match self {
            Self::Owned(asset) | Self::Shared(asset, _) => asset,
        }
    }

    pub fn grant(&self) -> Option<&Grant> {
        match self {
            Self::Owned(_) => None,
            Self::Shared(_, grant) => Some(grant),
        }
    }

    /// The event as the caller may see it; `None` when a partner may not see it.
    pub fn event(&self, event: Event) -> Option<Event> {
        match self.grant() {
            None => Some(event),
            Some(grant) => grant.event(event),
        }
    }
}

/// How many events of `scope` meet `query` that `grant` (if any) lets the reader see.
pub async fn count_seen(
    state: &AppState,
    grant: Option<&Grant>,
    tenant: TenantId,
    scope: EventScope,
    query: &ListQuery,
) -> ApiResult<i64> {
    let Some(grant) = grant.filter(|g| g.event_types.is_some()) else {
        return Ok(state.repo.count_events(tenant, scope, query).await?);
    };
    // Only some events are shown: each is judged, a batch at a time.
    let mut batch = ListQuery {
        limit: 1000,
        ..query.clone()
    };
    let mut seen = 0;
    loop {
        let events = state.repo.list_events(tenant, scope, &batch).await?;
        let read = events.len();
        batch.before = events.last().map(|e| e.seq);
        seen += events.into_iter().filter_map(|e| grant.event(e)).count();
        if read < 1000 {
            return Ok(i64::try_from(seen).unwrap_or(i64::MAX));
        }
    }
}
