//! `/archivist/v2/publicassets` (publicassetsv2): public assets and their events, no token.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::OpenApi;

use super::assets::AssetResponse;
use super::attachments::public_asset;
use super::event_views::EventResponse;
use super::events::{asset_event, list_page, EventList};
use crate::api::console;
use crate::api::docs::PublicErrors;
use crate::api::paging::{CountParams, PageParams};
use crate::api::routes::Routes;
use crate::api::{PathParams, SizedJson};
use crate::error::ApiResult;
use crate::ids::{AssetId, TenantId};
use crate::log::state::SealedView;
use crate::repo::EventScope;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/archivist/v2/publicassets/{uuid}", get_asset)
        .get("/archivist/v2/publicassets/{uuid}/events", list_events)
        .get("/archivist/v2/publicassets/{uuid}/events/{event}", get_event)
        .without_token()
}

#[derive(OpenApi)]
#[openapi(paths(get_asset, list_events, get_event))]
pub struct Doc;

/// A public asset, for anyone.
#[utoipa::path(get, path = "/archivist/v2/publicassets/{uuid}", operation_id = "PublicAssets_GetPublicAsset", tag = "public", security(()),
    params(("uuid" = uuid::Uuid, Path, description = "The asset's id.")),
    responses((status = 200, description = "The asset.", body = AssetResponse), PublicErrors))]
async fn get_asset(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Response> {
    if console::wants_html(&headers) {
        return Ok(console::page(&headers));
    }
    let asset = Json(AssetResponse::from(&public_asset(&state, &uuid).await?));
    Ok(([(header::VARY, "Accept")], asset).into_response())
}

/// A public asset's events, newest first, with the same filters as the private list.
#[utoipa::path(get, path = "/archivist/v2/publicassets/{uuid}/events", operation_id = "PublicAssets_ListPublicEvents", tag = "public", security(()),
    params(("uuid" = uuid::Uuid, Path, description = "The asset's id."), PageParams, CountParams),
    responses((status = 200, description = "One page of events.", body = EventList,
        headers(("X-Total-Count" = i64, description = "The number of matching events, when asked for."))), PublicErrors))]
async fn list_events(
    State(state): State<AppState>,
    PathParams(uuid): PathParams<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<(HeaderMap, SizedJson<EventList>)> {
    let asset = public_asset(&state, &uuid).await?;
    let scope = EventScope::Asset(AssetId(asset.id));
    list_page(&state, None, TenantId(asset.tenant_id), scope, &headers, raw.as_deref()).await
}

#[utoipa::path(get, path = "/archivist/v2/publicassets/{asset_uuid}/events/{uuid}", operation_id = "PublicAssets_GetPublicEvent", tag = "public", security(()),
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("uuid" = uuid::Uuid, Path, description = "The event's id.")),
    responses((status = 200, description = "The event.", body = EventResponse), PublicErrors))]
async fn get_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParams((uuid, event)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    if console::wants_html(&headers) {
        return Ok(console::page(&headers));
    }
    let asset = public_asset(&state, &uuid).await?;
    let event = asset_event(&state, TenantId(asset.tenant_id), AssetId(asset.id), &event).await?;
    let sealed = SealedView::latest(&state.log, TenantId(asset.tenant_id)).await;
    let event = Json(EventResponse::new(&event, sealed.as_deref()));
    Ok(([(header::VARY, "Accept")], event).into_response())
}
