//! `/archivist/v2/attachments` (attachmentsv2, publicattachmentsv2): blobs served through
//! the asset or event that references them, verified against the referencing hash.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Json;
use utoipa::OpenApi;

use super::access::Reading;
use super::blobs::BlobResponse;
use super::events::{asset_event, free_event};
use crate::api::docs::{Downloaded, Errors, PublicErrors};
use crate::api::routes::Routes;
use crate::api::scan_gate::ScanGateQuery;
use crate::api::PathParams;
use crate::auth::Principal;
use crate::blob::{Referrer, ScanGate};
use crate::error::{ApiError, ApiResult};
use crate::ids::{AssetId, TenantId};
use crate::repo::Asset;
use crate::state::AppState;

const BASE: &str = "/archivist/v2/attachments";

pub fn routes() -> Routes {
    let route = |path: &str| format!("{BASE}{path}");
    Routes::new()
        .get(&route("/assets/{asset}/{uuid}"), asset_download)
        .get(&route("/assets/{asset}/{uuid}/info"), asset_info)
        .get(&route("/assets/{asset}/events/{event}/{uuid}"), asset_event_download)
        .get(&route("/assets/{asset}/events/{event}/{uuid}/info"), asset_event_info)
        .get(&route("/events/{event}/{uuid}"), free_event_download)
        .get(&route("/events/{event}/{uuid}/info"), free_event_info)
}

#[derive(OpenApi)]
#[openapi(paths(
    asset_download,
    asset_info,
    asset_event_download,
    asset_event_info,
    free_event_download,
    free_event_info,
    public_asset_download,
    public_asset_info,
    public_event_download,
    public_event_info
))]
pub struct Doc;

/// The routes for public assets' attachments, which need no token.
pub fn public_routes() -> Routes {
    let route = |path: &str| format!("{BASE}{path}");
    Routes::new()
        .get(&route("/publicassets/{asset}/{uuid}"), public_asset_download)
        .get(&route("/publicassets/{asset}/{uuid}/info"), public_asset_info)
        .get(
            &route("/publicassets/{asset}/events/{event}/{uuid}"),
            public_event_download,
        )
        .get(
            &route("/publicassets/{asset}/events/{event}/{uuid}/info"),
            public_event_info,
        )
        .without_token()
}

/// A referrer's attachment's metadata, named `attachments/<uuid>`.
async fn info(referrer: &Referrer, state: &AppState, uuid: &str) -> ApiResult<Json<BlobResponse>> {
    let (blob, _) = referrer.blob(state.repo.as_ref(), uuid).await?;
    crate::blob::prove_record(&state.repo, &state.content, &blob, "attachments_info").await?;
    Ok(Json(BlobResponse::new(&blob, format!("attachments/{}", blob.id))))
}

/// A referrer's attachment's content, verified.
async fn download(
    referrer: &Referrer,
    state: &AppState,
    uuid: &str,
    gate: ScanGate,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let download = referrer
        .download(state.repo.clone(), &state.content, &state.log, uuid, gate, range)
        .await?;
    crate::api::content::response(download)
}

/// A public asset, or 404 for unknown and non-public ones alike.
pub async fn public_asset(state: &AppState, uuid: &str) -> ApiResult<Asset> {
    let id = AssetId::parse_bare(uuid)?;
    state
        .repo
        .public_asset(id)
        .await?
        .ok_or_else(|| ApiError::not_found("public asset"))
}

/// The asset's attachments the caller may read: all its own, and of a shared asset those in
/// the attributes it is granted.
async fn asset_referrer(state: &AppState, p: &Principal, asset: &str) -> ApiResult<Referrer> {
    let route = "attachments/assets";
    Ok(match Reading::asset(state, p, AssetId::parse_bare(asset)?).await? {
        Reading::Owned(asset) => Referrer::of_asset(&asset, route),
        Reading::Shared(asset, grant) => Referrer::of_asset_seen(&asset, route, &|text| grant.reduce_text(text)),
    })
}

async fn asset_event_referrer(state: &AppState, p: &Principal, asset: &str, event: &str) -> ApiResult<Referrer> {
    let route = "attachments/assets/events";
    let asset = AssetId::parse_bare(asset)?;
    let reading = Reading::asset(state, p, asset).await?;
    // The event is looked up in the owner's tenant and must name this asset.
    let event = asset_event(state, reading.owner(), asset, event).await?;
    Ok(match reading.grant() {
        None => Referrer::of_event(&event, route),
        Some(grant) if grant.shows(&event) => Referrer::of_event_seen(&event, route, &|text| grant.reduce_text(text)),
        Some(_) => return Err(ApiError::not_found("event")),
    })
}

async fn free_event_referrer(state: &AppState, p: &Principal, event: &str) -> ApiResult<Referrer> {
    Ok(Referrer::of_event(
        &free_event(state, p.tenant, event).await?,
        "attachments/events",
    ))
}

async fn public_asset_referrer(state: &AppState, asset: &str) -> ApiResult<Referrer> {
    Ok(Referrer::of_asset(
        &public_asset(state, asset).await?,
        "attachments/publicassets",
    ))
}

async fn public_event_referrer(state: &AppState, asset: &str, event: &str) -> ApiResult<Referrer> {
    let asset = public_asset(state, asset).await?;
    let event = asset_event(state, TenantId(asset.tenant_id), AssetId(asset.id), event).await?;
    Ok(Referrer::of_event(&event, "attachments/publicassets/events"))
}

type Pair = PathParams<(String, String)>;
type Triple = PathParams<(String, String, String)>;

/// An attachment of an asset, verified against the attribute's hash.
#[utoipa::path(get, path = "/archivist/v2/attachments/assets/{asset_uuid}/{uuid}", operation_id = "Attachments_Asset_Download", tag = "attachments",
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it."),
        ScanGateQuery,
        ("Range" = Option<String>, Header, nullable = false, description = "`bytes=<first>-<last>`: one range.")),
    responses(Downloaded, Errors))]
async fn asset_download(
    State(s): State<AppState>,
    p: Principal,
    PathParams((asset, uuid)): Pair,
    gate: ScanGate,
    headers: HeaderMap,
) -> ApiResult<Response> {
    download(&asset_referrer(&s, &p, &asset).await?, &s, &uuid, gate, &headers).await
}

/// The metadata of an asset's attachment.
#[utoipa::path(get, path = "/archivist/v2/attachments/assets/{asset_uuid}/{uuid}/info", operation_id = "Attachments_Asset_Info", tag = "attachments",
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it.")),
    responses((status = 200, description = "The blob's metadata, named `attachments/<uuid>`.", body = BlobResponse), Errors))]
async fn asset_info(
    State(s): State<AppState>,
    p: Principal,
    PathParams((asset, uuid)): Pair,
) -> ApiResult<Json<BlobResponse>> {
    info(&asset_referrer(&s, &p, &asset).await?, &s, &uuid).await
}

/// An attachment of an asset's event, verified against the attribute's hash.
#[utoipa::path(get, path = "/archivist/v2/attachments/assets/{asset_uuid}/events/{event_uuid}/{uuid}", operation_id = "Attachments_Event_Download", tag = "attachments",
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("event_uuid" = uuid::Uuid, Path, description = "The event's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it."),
        ScanGateQuery,
        ("Range" = Option<String>, Header, nullable = false, description = "`bytes=<first>-<last>`: one range.")),
    responses(Downloaded, Errors))]
async fn asset_event_download(
    State(s): State<AppState>,
    p: Principal,
    PathParams((asset, event, uuid)): Triple,
    gate: ScanGate,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let referrer = asset_event_referrer(&s, &p, &asset, &event).await?;
    download(&referrer, &s, &uuid, gate, &headers).await
}

/// The metadata of an event's attachment.
#[utoipa::path(get, path = "/archivist/v2/attachments/assets/{asset_uuid}/events/{event_uuid}/{uuid}/info", operation_id = "Attachments_Event_Info", tag = "attachments",
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("event_uuid" = uuid::Uuid, Path, description = "The event's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it.")),
    responses((status = 200, description = "The blob's metadata, named `attachments/<uuid>`.", body = BlobResponse), Errors))]
async fn asset_event_info(
    State(s): State<AppState>,
    p: Principal,
    PathParams((asset, event, uuid)): Triple,
) -> ApiResult<Json<BlobResponse>> {
    info(&asset_event_referrer(&s, &p, &asset, &event).await?, &s, &uuid).await
}

/// An attachment of an asset-free event (attachd's own route), verified against the attribute's hash.
#[utoipa::path(get, path = "/archivist/v2/attachments/events/{event_uuid}/{uuid}", operation_id = "Attachments_FreeEvent_Download", tag = "attachments",
    params(("event_uuid" = uuid::Uuid, Path, description = "The event's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it."),
        ScanGateQuery,
        ("Range" = Option<String>, Header, nullable = false, description = "`bytes=<first>-<last>`: one range.")),
    responses(Downloaded, Errors))]
async fn free_event_download(
    State(s): State<AppState>,
    p: Principal,
    PathParams((event, uuid)): Pair,
    gate: ScanGate,
    headers: HeaderMap,
) -> ApiResult<Response> {
    download(&free_event_referrer(&s, &p, &event).await?, &s, &uuid, gate, &headers).await
}

/// The metadata of an asset-free event's attachment.
#[utoipa::path(get, path = "/archivist/v2/attachments/events/{event_uuid}/{uuid}/info", operation_id = "Attachments_FreeEvent_Info", tag = "attachments",
    params(("event_uuid" = uuid::Uuid, Path, description = "The event's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it.")),
    responses((status = 200, description = "The blob's metadata, named `attachments/<uuid>`.", body = BlobResponse), Errors))]
async fn free_event_info(
    State(s): State<AppState>,
    p: Principal,
    PathParams((event, uuid)): Pair,
) -> ApiResult<Json<BlobResponse>> {
    info(&free_event_referrer(&s, &p, &event).await?, &s, &uuid).await
}

/// An attachment of a public asset, for anyone, verified against the attribute's hash.
#[utoipa::path(get, path = "/archivist/v2/attachments/publicassets/{asset_uuid}/{uuid}", operation_id = "Attachments_PublicAsset_Download", tag = "attachments", security(()),
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it."),
        ScanGateQuery,
        ("Range" = Option<String>, Header, nullable = false, description = "`bytes=<first>-<last>`: one range.")),
    responses(Downloaded, PublicErrors))]
async fn public_asset_download(
    State(s): State<AppState>,
    PathParams((asset, uuid)): Pair,
    gate: ScanGate,
    headers: HeaderMap,
) -> ApiResult<Response> {
    download(&public_asset_referrer(&s, &asset).await?, &s, &uuid, gate, &headers).await
}

/// The metadata of a public asset's attachment.
#[utoipa::path(get, path = "/archivist/v2/attachments/publicassets/{asset_uuid}/{uuid}/info", operation_id = "Attachments_PublicAsset_Info", tag = "attachments", security(()),
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it.")),
    responses((status = 200, description = "The blob's metadata, named `attachments/<uuid>`.", body = BlobResponse), PublicErrors))]
async fn public_asset_info(
    State(s): State<AppState>,
    PathParams((asset, uuid)): Pair,
) -> ApiResult<Json<BlobResponse>> {
    info(&public_asset_referrer(&s, &asset).await?, &s, &uuid).await
}

/// An attachment of a public asset's event, for anyone, verified against the attribute's hash.
#[utoipa::path(get, path = "/archivist/v2/attachments/publicassets/{asset_uuid}/events/{event_uuid}/{uuid}", operation_id = "Attachments_PublicEvent_Download", tag = "attachments", security(()),
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("event_uuid" = uuid::Uuid, Path, description = "The event's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it."),
        ScanGateQuery,
        ("Range" = Option<String>, Header, nullable = false, description = "`bytes=<first>-<last>`: one range.")),
    responses(Downloaded, PublicErrors))]
async fn public_event_download(
    State(s): State<AppState>,
    PathParams((asset, event, uuid)): Triple,
    gate: ScanGate,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let referrer = public_event_referrer(&s, &asset, &event).await?;
    download(&referrer, &s, &uuid, gate, &headers).await
}

/// The metadata of a public asset's event's attachment.
#[utoipa::path(get, path = "/archivist/v2/attachments/publicassets/{asset_uuid}/events/{event_uuid}/{uuid}/info", operation_id = "Attachments_PublicEvent_Info", tag = "attachments", security(()),
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("event_uuid" = uuid::Uuid, Path, description = "The event's id."),
        ("uuid" = uuid::Uuid, Path, description = "The blob's id, as the attachment attribute names it.")),
    responses((status = 200, description = "The blob's metadata, named `attachments/<uuid>`.", body = BlobResponse), PublicErrors))]
async fn public_event_info(
    State(s): State<AppState>,
    PathParams((asset, event, uuid)): Triple,
) -> ApiResult<Json<BlobResponse>> {
    info(&public_event_referrer(&s, &asset, &event).await?, &s, &uuid).await
}
