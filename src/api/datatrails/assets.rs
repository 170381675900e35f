//! `/archivist/v2/assets`: create, get, list (assetsv2).

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{OpenApi, ToSchema};

use super::access::Reading;
use crate::api::docs::{Errors, PublicUrl};
use crate::api::paging::{
    always_empty, confirmation_status, enum_value, order_by, proof_mechanism, term_filter, total_headers, wants_total,
    CountParams, ListParams, Meaning, PageParams,
};
use crate::api::routes::Routes;
use crate::api::{json_text, public_url, timestamp, JsonObject, PathParams};
use crate::auth::Principal;
use crate::blob::check_references;
use crate::error::{ApiError, ApiResult};
use crate::ids::{AssetId, TenantId};
use crate::repo::{Asset, Filter, FilterField, FilterValue, NewAsset, TermField};
use crate::sharing::policy::Grant;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .post("/archivist/v2/assets", create)
        .get("/archivist/v2/assets", list)
        .get("/archivist/v2/assets/{uuid}", get_one_or_url)
        .and_verb(":publicurl")
}

#[derive(OpenApi)]
#[openapi(paths(create, list, get_one, publicurl))]
pub struct Doc;

#[derive(Deserialize, ToSchema)]
#[schema(as = v2AssetRequest)]
struct CreateAsset {
    #[serde(default)]
    behaviours: Vec<String>,
    /// Any JSON; attachment attributes (`arc_attribute_type: arc_attachment`) must name a
    /// blob of this tenant with its hash.
    #[serde(default)]
    #[schema(value_type = HashMap<String, Value>)]
    attributes: Map<String, Value>,
    /// Readable by anyone, without a token, under `/archivist/v2/publicassets`.
    #[serde(default)]
    public: bool,
}

/// DataTrails' `v2AssetResponse`.
#[derive(Serialize, ToSchema)]
#[schema(as = v2AssetResponse)]
pub struct AssetResponse {
    /// `assets/<uuid>`.
    identity: String,
    #[schema(value_type = Vec<String>)]
    behaviours: Value,
    #[schema(value_type = HashMap<String, Value>)]
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

impl AssetResponse {
    /// Another tenant's asset, with only the attributes `grant` lets the reader see.
    fn shared(asset: &Asset, grant: &Grant) -> Self {
        let attributes: Map<String, Value> = serde_json::from_str(&asset.attributes).unwrap_or_default();
        Self {
            attributes: Value::Object(grant.reduce(&attributes)),
            ..Self::from(asset)
        }
    }
}

impl From<&Asset> for AssetResponse {
    fn from(asset: &Asset) -> Self {
        Self {
            identity: AssetId(asset.id).identity(),
            behaviours: json_text(&asset.behaviours),
            attributes: json_text(&asset.attributes),
            // Stored means committed: there is no ledger to wait for.
            confirmation_status: "CONFIRMED",
            tracked: if asset.tracked { "TRACKED" } else { "NOT_TRACKED" },
            owner: asset.owner.clone(),
            at_time: timestamp(asset.updated_at),
            proof_mechanism: "MERKLE_LOG",
            chain_id: "",
            public: asset.public,
            tenant_identity: TenantId(asset.tenant_id).identity(),
        }
    }
}

/// A new asset; attachment attributes are checked against the blobs they name.
#[utoipa::path(post, path = "/archivist/v2/assets", operation_id = "Assets_CreateAsset", tag = "assets",
    request_body = CreateAsset,
    responses((status = 200, description = "The stored asset.", body = AssetResponse), Errors))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<JsonObject<CreateAsset>, ApiError>,
) -> ApiResult<Json<AssetResponse>> {
    let JsonObject(body) = body?;
    let attributes = Value::Object(body.attributes);
    check_references(state.repo.as_ref(), principal.tenant, &[("attributes", &attributes)]).await?;
    let asset = NewAsset {
        id: AssetId::new(),
        behaviours: serde_json::to_string(&body.behaviours).map_err(ApiError::internal)?,
        attributes: serde_json::to_string(&attributes).map_err(ApiError::internal)?,
        public: body.public,
        owner: principal.subject.clone(),
        issuer: principal.issuer.clone(),
        subject: principal.subject.clone(),
    };
    let stored = state.repo.create_asset(principal.tenant, &asset).await?;
    Ok(Json(AssetResponse::from(&stored)))
}

/// The asset, or for `{uuid}:publicurl` the address where it can be read without a token.
#[tracing::instrument(skip_all)]
async fn get_one_or_url(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Response> {
    Ok(match uuid.strip_suffix(":publicurl") {
        Some(uuid) => publicurl(&state, &principal, &headers, uuid).await?.into_response(),
        None => get_one(&state, &principal, &uuid).await?.into_response(),
    })
}

async fn find(state: &AppState, principal: &Principal, uuid: &str) -> ApiResult<Asset> {
    let id = AssetId::parse_bare(uuid)?;
    state
        .repo
        .asset(principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("asset"))
}

#[utoipa::path(get, path = "/archivist/v2/assets/{uuid}", operation_id = "Assets_GetAsset", tag = "assets",
    params(("uuid" = uuid::Uuid, Path, description = "The asset's id.")),
    responses((status = 200, description = "The asset.", body = AssetResponse), Errors))]
async fn get_one(state: &AppState, principal: &Principal, uuid: &str) -> ApiResult<Json<AssetResponse>> {
    let id = AssetId::parse_bare(uuid)?;
    // Another tenant's asset answers only as far as that tenant shares it with this one;
    // otherwise exactly as an unknown id does.
    Ok(Json(match Reading::asset(state, principal, id).await? {
        Reading::Owned(asset) => AssetResponse::from(&asset),
        Reading::Shared(asset, grant) => AssetResponse::shared(&asset, &grant),
    }))
}

/// Where a public asset can be read without a token.
#[utoipa::path(get, path = "/archivist/v2/assets/{uuid}:publicurl", operation_id = "Assets_GetAssetPublicURL", tag = "assets",
    params(("uuid" = uuid::Uuid, Path, description = "The asset's id.")),
    responses((status = 200, description = "The public address.", body = PublicUrl), Errors))]
async fn publicurl(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    uuid: &str,
) -> ApiResult<Json<PublicUrl>> {
    let asset = find(state, principal, uuid).await?;
    if !asset.public {
        return Err(ApiError::not_found("public asset"));
    }
    let path = format!("/archivist/v2/publicassets/{}", asset.id);
    Ok(Json(PublicUrl {
        publicurl: public_url(headers, &path),
    }))
}

/// Tracked assets only: what an asset list shows unless `tracked` says otherwise.
fn tracked_only() -> Filter {
    Filter {
        field: FilterField::Column("tracked"),
        value: FilterValue::Bool(true),
    }
}

/// The asset list's parameters, as DataTrails' assetsv2 names them (plus `public`).
fn asset_param(name: &str, value: &str) -> Result<Meaning, String> {
    use Meaning::Everything;
    if let Some(filter) = term_filter(name, "attributes.", TermField::AssetAttributes, value) {
        return Ok(filter);
    }
    let public = |flag: bool| Meaning::Filter(FilterField::Column("public"), FilterValue::Bool(flag));
    match name {
        "confirmation_status" => confirmation_status(value),
        "proof_mechanism" => proof_mechanism(value),
        "order_by" => order_by(value),
        "tracked" => enum_value(
            name,
            value,
            &[
                (
                    "TRACKED_STATUS_UNSPECIFIED",
                    Meaning::Filter(FilterField::Column("tracked"), FilterValue::Bool(true)),
                ),
                (
                    "TRACKED",
                    Meaning::Filter(FilterField::Column("tracked"), FilterValue::Bool(true)),
                ),
                ("ANY", Everything),
                (
                    "NOT_TRACKED",
                    Meaning::Filter(FilterField::Column("tracked"), FilterValue::Bool(false)),
                ),
            ],
        ),
        "privacy" => enum_value(
            name,
            value,
            &[
                ("PRIVACY_UNSPECIFIED", Everything),
                ("PUBLIC", public(true)),
                ("RESTRICTED", public(false)),
            ],
        ),
        // Python clients send `True` and `False`.
        "public" => enum_value(
            name,
            &value.to_ascii_lowercase(),
            &[("true", public(true)), ("false", public(false))],
        ),
        "behaviours" => Ok(Meaning::Filter(
            FilterField::ArrayHolds("behaviours"),
            FilterValue::Text(value.to_string()),
        )),
        "chain_id" => Ok(always_empty(value)),
        _ => Err(format!("unknown query parameter {name:?} for the asset list")),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = v2ListAssetsResponse)]
struct AssetList {
    assets: Vec<AssetResponse>,
    next_page_token: String,
}

/// The tenant's assets, newest first. `attributes.<name>=<value>` filters on an attribute.
#[utoipa::path(get, path = "/archivist/v2/assets", operation_id = "Assets_ListAssets", tag = "assets",
    params(PageParams, CountParams),
    responses((status = 200, description = "One page of assets.", body = AssetList,
        headers(("X-Total-Count" = i64, description = "The number of matching assets, when asked for."))), Errors))]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<(HeaderMap, Json<AssetList>)> {
    let mut params = ListParams::parse(raw.as_deref(), "assets".into(), asset_param, &state.page_keys)?;
    if !params.names("tracked") {
        // As DataTrails: a search that does not ask shows tracked assets only.
        params.query.filters.push(tracked_only());
    }
    let (query, reader) = (&params.query, principal.tenant);
    let nothing = query.matches_nothing;
    let (owned, shared) = match nothing {
        true => (Vec::new(), Vec::new()),
        false => (
            state.repo.list_assets(reader, query).await?,
            state.sharing.shared_page(reader, query).await?,
        ),
    };
    let total = match (wants_total(&headers)?, nothing) {
        (false, _) => None,
        (true, true) => Some(0),
        (true, false) => {
            Some(state.repo.count_assets(reader, query).await? + state.sharing.shared_count(reader, query).await?)
        }
    };
    // Own and shared assets in one order: `seq` is global.
    let mut page: Vec<(i64, AssetResponse)> = owned
        .iter()
        .map(|a| (a.seq, AssetResponse::from(a)))
        .chain(shared.iter().map(|(a, grant)| (a.seq, AssetResponse::shared(a, grant))))
        .collect();
    page.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    page.truncate(usize::try_from(query.limit).unwrap_or(0));
    let next_page_token = params.next_page_token(&state.page_keys, page.len(), page.last().map(|(seq, _)| *seq));
    Ok((
        total_headers(total),
        Json(AssetList {
            assets: page.into_iter().map(|(_, asset)| asset).collect(),
            next_page_token,
        }),
    ))
}
