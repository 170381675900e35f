//! `/archivist/v2/assets`: create, get, list (assetsv2).

use axum::extract::rejection::JsonRejection;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attachments::check_references;
use super::paging::{json_filter, next_page_token, total_headers, wants_total, ListParams};
use super::routes::Routes;
use super::{json_text, public_url, timestamp, PathParams};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::{AssetId, TenantId};
use crate::repo::{Asset, FilterField, NewAsset};
use crate::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .post("/archivist/v2/assets", create)
        .get("/archivist/v2/assets", list)
        // Also `{uuid}:publicurl`.
        .get("/archivist/v2/assets/{uuid}", get_one)
}

#[derive(Deserialize)]
struct CreateAsset {
    #[serde(default)]
    behaviours: Vec<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default)]
    public: bool,
}

/// DataTrails' `v2AssetResponse`.
#[derive(Serialize)]
pub struct AssetResponse {
    identity: String,
    behaviours: Value,
    attributes: Value,
    confirmation_status: &'static str,
    tracked: &'static str,
    owner: String,
    at_time: String,
    proof_mechanism: &'static str,
    chain_id: &'static str,
    public: bool,
    tenant_identity: String,
}

impl From<&Asset> for AssetResponse {
    fn from(asset: &Asset) -> Self {
        Self {
            identity: AssetId(asset.id).identity(),
            behaviours: json_text(&asset.behaviours),
            attributes: json_text(&asset.attributes),
            // Stored means committed: there is no ledger to wait for.
            confirmation_status: "CONFIRMED",
            tracked: "TRACKED",
            owner: asset.owner.clone(),
            at_time: timestamp(asset.updated_at),
            proof_mechanism: "MERKLE_LOG",
            chain_id: "",
            public: asset.public,
            tenant_identity: TenantId(asset.tenant_id).identity(),
        }
    }
}

#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<CreateAsset>, JsonRejection>,
) -> ApiResult<Json<AssetResponse>> {
    let Json(body) = body?;
    let attributes = Value::Object(body.attributes);
    check_references(&state, principal.tenant, &[("attributes", &attributes)]).await?;
    let asset = NewAsset {
        id: AssetId::new(),
        behaviours: serde_json::to_string(&body.behaviours).map_err(ApiError::internal)?,
        attributes: serde_json::to_string(&attributes).map_err(ApiError::internal)?,
        public: body.public,
        owner: principal.subject.clone(),
    };
    let stored = state.repo.create_asset(principal.tenant, &asset).await?;
    Ok(Json(AssetResponse::from(&stored)))
}

/// The asset, or for `{uuid}:publicurl` the address where it can be read without a token.
#[tracing::instrument(skip_all)]
async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let (uuid, want_url) = match uuid.strip_suffix(":publicurl") {
        Some(uuid) => (uuid, true),
        None => (uuid.as_str(), false),
    };
    let id = AssetId::parse_bare(uuid)?;
    let asset = state
        .repo
        .asset(principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("asset"))?;
    if want_url {
        if !asset.public {
            return Err(ApiError::not_found("public asset"));
        }
        let url = public_url(&headers, &format!("/archivist/v2/publicassets/{}", asset.id));
        return Ok(Json(serde_json::json!({ "publicurl": url })));
    }
    Ok(Json(
        serde_json::to_value(AssetResponse::from(&asset)).map_err(ApiError::internal)?,
    ))
}

/// `attributes.<name>=<value>`.
fn asset_filter(name: &str) -> Option<FilterField> {
    json_filter(name, "attributes.", "attributes")
}

#[derive(Serialize)]
struct AssetList {
    assets: Vec<AssetResponse>,
    next_page_token: String,
}

#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<(HeaderMap, Json<AssetList>)> {
    let params = ListParams::parse(raw.as_deref(), asset_filter)?;
    let assets = state.repo.list_assets(principal.tenant, &params.query).await?;
    let total = match wants_total(&headers) {
        true => Some(state.repo.count_assets(principal.tenant, &params.query).await?),
        false => None,
    };
    let next_page_token = next_page_token(assets.len(), params.query.limit, assets.last().map(|a| a.seq));
    Ok((
        total_headers(total),
        Json(AssetList {
            assets: assets.iter().map(AssetResponse::from).collect(),
            next_page_token,
        }),
    ))
}
