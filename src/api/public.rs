//! `/archivist/v2/publicassets` (publicassetsv2): public assets and their events, no token.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;

use super::assets::AssetResponse;
use super::attachments::public_asset;
use super::events::{asset_event, list_page, EventList, EventResponse};
use super::routes::Routes;
use super::PathParams;
use crate::error::ApiResult;
use crate::ids::{AssetId, TenantId};
use crate::repo::EventScope;
use crate::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/archivist/v2/publicassets/{uuid}", get_asset)
        .get("/archivist/v2/publicassets/{uuid}/events", list_events)
        .get("/archivist/v2/publicassets/{uuid}/events/{event}", get_event)
        .without_token()
}

async fn get_asset(
    State(state): State<AppState>,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<AssetResponse>> {
    Ok(Json(AssetResponse::from(&public_asset(&state, &uuid).await?)))
}

async fn list_events(
    State(state): State<AppState>,
    PathParams(uuid): PathParams<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<(HeaderMap, Json<EventList>)> {
    let asset = public_asset(&state, &uuid).await?;
    let scope = EventScope::Asset(AssetId(asset.id));
    list_page(&state, TenantId(asset.tenant_id), scope, &headers, raw.as_deref()).await
}

async fn get_event(
    State(state): State<AppState>,
    PathParams((uuid, event)): PathParams<(String, String)>,
) -> ApiResult<Json<EventResponse>> {
    let asset = public_asset(&state, &uuid).await?;
    let event = asset_event(&state, TenantId(asset.tenant_id), AssetId(asset.id), &event).await?;
    Ok(Json(EventResponse::new(&event)))
}
