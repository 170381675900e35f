//! `/archivist/v2/attachments` (attachmentsv2, publicattachmentsv2): blobs served through
//! the asset or event that references them, verified against the referencing hash.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Json;
use serde_json::Value;
use utoipa::OpenApi;

use super::blobs::{BlobResponse, ScanGate, ScanGateQuery};
use super::events::{asset_event, free_event};
use super::openapi::{Downloaded, Errors, PublicErrors};
use super::routes::Routes;
use super::{json_text, PathParams};
use crate::auth::Principal;
use crate::blob::{find_references, verified_download, BlobReference, DownloadCheck};
use crate::error::{ApiError, ApiResult};
use crate::ids::{AssetId, BlobId, TenantId};
use crate::repo::{Asset, Blob, Event};
use crate::AppState;

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

/// Every attachment attribute under `roots` must name a blob of `tenant` whose stored hash
/// equals the attribute's `arc_blob_hash_value`; otherwise 400 naming the attribute.
pub async fn check_references(state: &AppState, tenant: TenantId, roots: &[(&str, &Value)]) -> ApiResult<()> {
    for (root, tree) in roots {
        for reference in find_references(root, tree).map_err(ApiError::BadRequest)? {
            let Some(blob) = state.repo.blob(tenant, reference.blob).await? else {
                return Err(ApiError::bad_request(format!(
                    "attachment attribute {}: {} does not exist",
                    reference.attribute, reference.blob
                )));
            };
            if !blob.hash_sha256.eq_ignore_ascii_case(&reference.hash) {
                return Err(ApiError::bad_request(format!(
                    "attachment attribute {}: arc_blob_hash_value does not match the SHA-256 of {}",
                    reference.attribute, reference.blob
                )));
            }
        }
    }
    Ok(())
}

/// The tenant owning the referencing resource and the attachment attributes it holds.
struct Referrer {
    tenant: TenantId,
    references: Vec<BlobReference>,
    route: &'static str,
}

impl Referrer {
    fn of_asset(asset: &Asset, route: &'static str) -> ApiResult<Self> {
        Self::from_trees(TenantId(asset.tenant_id), &[("attributes", &asset.attributes)], route)
    }

    fn of_event(event: &Event, route: &'static str) -> ApiResult<Self> {
        let trees: &[(&str, &str)] = if event.asset_id.is_some() {
            &[
                ("event_attributes", &event.event_attributes),
                ("asset_attributes", &event.asset_attributes),
            ]
        } else {
            &[("attributes", &event.event_attributes)]
        };
        Self::from_trees(TenantId(event.tenant_id), trees, route)
    }

    fn from_trees(tenant: TenantId, trees: &[(&str, &str)], route: &'static str) -> ApiResult<Self> {
        let mut references = Vec::new();
        for (root, text) in trees {
            // Stored attributes were checked on create; a malformed one now counts as no reference.
            references.extend(find_references(root, &json_text(text)).unwrap_or_default());
        }
        Ok(Self {
            tenant,
            references,
            route,
        })
    }

    /// The referenced blob and the references naming it, or 404.
    async fn blob(&self, state: &AppState, uuid: &str) -> ApiResult<(Blob, Vec<&BlobReference>)> {
        let id = BlobId::parse_bare(uuid)?;
        let naming: Vec<&BlobReference> = self.references.iter().filter(|r| r.blob == id).collect();
        if naming.is_empty() {
            return Err(ApiError::not_found("attachment"));
        }
        let blob = state
            .repo
            .blob(self.tenant, id)
            .await?
            .ok_or_else(|| ApiError::not_found("attachment"))?;
        Ok((blob, naming))
    }

    async fn download(
        &self,
        state: &AppState,
        uuid: &str,
        gate: &ScanGate,
        headers: &HeaderMap,
    ) -> ApiResult<Response> {
        let (blob, naming) = self.blob(state, uuid).await?;
        gate.check(&blob)?;
        let file_name = naming.iter().find_map(|r| r.file_name.clone());
        let check = DownloadCheck {
            route: self.route,
            expected: naming.iter().map(|r| r.hash.clone()).collect(),
            file_name: Some(file_name.unwrap_or_else(|| uuid.to_string())),
        };
        let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
        verified_download(state.repo.clone(), blob, check, range).await
    }

    async fn info(&self, state: &AppState, uuid: &str) -> ApiResult<Json<BlobResponse>> {
        let (blob, _) = self.blob(state, uuid).await?;
        Ok(Json(BlobResponse::new(&blob, format!("attachments/{}", blob.id))))
    }
}

async fn tenant_asset(state: &AppState, tenant: TenantId, uuid: &str) -> ApiResult<Asset> {
    let id = AssetId::parse_bare(uuid)?;
    state
        .repo
        .asset(tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("asset"))
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

async fn asset_referrer(state: &AppState, p: &Principal, asset: &str) -> ApiResult<Referrer> {
    Referrer::of_asset(&tenant_asset(state, p.tenant, asset).await?, "attachments/assets")
}

async fn asset_event_referrer(state: &AppState, p: &Principal, asset: &str, event: &str) -> ApiResult<Referrer> {
    // The event is looked up in the caller's tenant and must name this asset: that proves both.
    let event = asset_event(state, p.tenant, AssetId::parse_bare(asset)?, event).await?;
    Referrer::of_event(&event, "attachments/assets/events")
}

async fn free_event_referrer(state: &AppState, p: &Principal, event: &str) -> ApiResult<Referrer> {
    Referrer::of_event(&free_event(state, p.tenant, event).await?, "attachments/events")
}

async fn public_asset_referrer(state: &AppState, asset: &str) -> ApiResult<Referrer> {
    Referrer::of_asset(&public_asset(state, asset).await?, "attachments/publicassets")
}

async fn public_event_referrer(state: &AppState, asset: &str, event: &str) -> ApiResult<Referrer> {
    let asset = public_asset(state, asset).await?;
    let event = asset_event(state, TenantId(asset.tenant_id), AssetId(asset.id), event).await?;
    Referrer::of_event(&event, "attachments/publicassets/events")
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
    asset_referrer(&s, &p, &asset)
        .await?
        .download(&s, &uuid, &gate, &headers)
        .await
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
    asset_referrer(&s, &p, &asset).await?.info(&s, &uuid).await
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
    referrer.download(&s, &uuid, &gate, &headers).await
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
    asset_event_referrer(&s, &p, &asset, &event)
        .await?
        .info(&s, &uuid)
        .await
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
    free_event_referrer(&s, &p, &event)
        .await?
        .download(&s, &uuid, &gate, &headers)
        .await
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
    free_event_referrer(&s, &p, &event).await?.info(&s, &uuid).await
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
    public_asset_referrer(&s, &asset)
        .await?
        .download(&s, &uuid, &gate, &headers)
        .await
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
    public_asset_referrer(&s, &asset).await?.info(&s, &uuid).await
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
    referrer.download(&s, &uuid, &gate, &headers).await
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
    public_event_referrer(&s, &asset, &event).await?.info(&s, &uuid).await
}
