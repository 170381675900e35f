//! `/archivist/iam/v1/access_policies` (accesspoliciesv1): which of the tenant's assets its
//! subjects may read, and which attributes of them, and the two views that match policies
//! and assets. Only administrators manage policies.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{OpenApi, ToSchema};

use super::assets::AssetResponse;
use super::subjects::{display_name, name_filter, sharing_event, sharing_param};
use crate::api::docs::AdminErrors;
use crate::api::paging::{total_headers, wants_total, CountParams, ListParams, PageParams};
use crate::api::routes::Routes;
use crate::api::{json_text, JsonObject, PathParams};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::{AssetId, TenantId};
use crate::repo::sharing::{AccessPolicy, PolicyFields, SharingPage};
use crate::repo::ListQuery;
use crate::sharing::policy::{Filters, OrList, Permission};
use crate::sharing::Sharing;
use crate::state::AppState;

const WHAT: &str = "manage access policies";

/// Assets read per step while matching a policy against the tenant's assets.
const SCAN_BATCH: i64 = 500;

pub fn routes() -> Routes {
    let one = "/archivist/iam/v1/access_policies/{uuid}";
    Routes::new()
        .post("/archivist/iam/v1/access_policies", create)
        .get("/archivist/iam/v1/access_policies", list)
        .get(one, get_one)
        .patch(one, update)
        .delete(one, delete)
        .get("/archivist/iam/v1/access_policies/{uuid}/assets", matching_assets)
        .get("/archivist/iam/v1/assets/{uuid}/access_policies", matching_policies)
}

#[derive(OpenApi)]
#[openapi(paths(create, list, get_one, update, delete, matching_assets, matching_policies))]
pub struct Doc;

/// DataTrails' `v1IAMAccessPolicy`.
#[derive(Serialize, ToSchema)]
#[schema(as = v1IAMAccessPolicy)]
struct PolicyResponse {
    /// `access_policies/<uuid>`.
    identity: String,
    display_name: String,
    description: String,
    #[schema(value_type = Vec<Object>)]
    filters: Value,
    #[schema(value_type = Vec<Object>)]
    access_permissions: Value,
    tenant: String,
}

impl From<&AccessPolicy> for PolicyResponse {
    fn from(policy: &AccessPolicy) -> Self {
        Self {
            identity: format!("access_policies/{}", policy.id),
            display_name: policy.display_name.clone(),
            description: policy.description.clone(),
            filters: json_text(&policy.filters),
            access_permissions: json_text(&policy.access_permissions),
            tenant: TenantId(policy.tenant_id).identity(),
        }
    }
}

/// The fields of a policy a request may send; a change leaves out those it keeps.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = v1UpdateAccessPolicyRequest)]
struct PolicyBody {
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    display_name: Option<String>,
    #[schema(max_length = 4096)]
    description: Option<String>,
    /// Every or-list must hold: `[{"or": ["attributes.<key>=<value>", …]}, …]`.
    #[schema(value_type = Option<Vec<FilterDoc>>, min_items = 1)]
    filters: Option<Value>,
    /// Who may read what: `subjects`, `behaviours`, `include_attributes`, ….
    #[schema(value_type = Option<Vec<PermissionDoc>>)]
    access_permissions: Option<Value>,
}

/// A new policy: its name, filters and permissions are required.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = v1CreateAccessPolicyRequest)]
struct CreatePolicy {
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    display_name: String,
    #[schema(max_length = 4096)]
    description: Option<String>,
    #[schema(value_type = Vec<FilterDoc>, min_items = 1)]
    filters: Value,
    #[schema(value_type = Vec<PermissionDoc>)]
    access_permissions: Value,
}

/// One or-list of a policy's filters (described only: `sharing::policy` reads them).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FilterDoc {
    /// `attributes.<key>=<value>`, `attributes.<key>!=<value>` (`*`: any value),
    /// `behaviours=<name>` or `public=true|false`.
    #[schema(min_items = 1)]
    or: Vec<FilterTerm>,
}

/// A filter term: the attribute key holds no `=` or `!`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[schema(pattern = "^(attributes\\.[^=!]+!?=.*|behaviours=.+|public=(true|false))$")]
struct FilterTerm(String);

/// `subjects/<uuid>`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[schema(pattern = "^subjects/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
struct SubjectIdentity(String);

/// One permission of a policy (described only: `sharing::policy` reads them).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PermissionDoc {
    #[serde(default)]
    subjects: Vec<SubjectIdentity>,
    #[serde(default)]
    behaviours: Vec<String>,
    /// The asset attributes the subjects may read.
    #[serde(default)]
    include_attributes: Vec<String>,
    #[serde(default)]
    asset_attributes_read: Vec<String>,
    #[serde(default)]
    asset_attributes_write: Vec<String>,
    #[serde(default)]
    event_arc_display_type_read: Vec<String>,
    #[serde(default)]
    event_arc_display_type_write: Vec<String>,
    /// OIDC claims a reader must hold: `[{"or": ["claim:value", …]}]`.
    #[serde(default)]
    user_attributes: Vec<ClaimsDoc>,
}

/// One or-list of claims.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ClaimsDoc {
    or: Vec<String>,
}

/// A policy's fields from a request, each checked; `current` supplies those left out.
fn fields(body: PolicyBody, current: Option<&AccessPolicy>) -> ApiResult<PolicyFields> {
    let name = match (body.display_name, current) {
        (Some(name), _) => display_name(&name)?,
        (None, Some(current)) => current.display_name.clone(),
        (None, None) => return Err(ApiError::bad_request("display_name is required")),
    };
    let description = match (body.description, current) {
        (Some(description), _) if description.chars().count() > 4096 => {
            return Err(ApiError::bad_request("description must be at most 4096 characters"))
        }
        (Some(description), _) => description,
        (None, Some(current)) => current.description.clone(),
        (None, None) => String::new(),
    };
    let filters = match (body.filters, current) {
        (Some(filters), _) => {
            let lists: Vec<OrList> = serde_json::from_value(filters).map_err(|e| {
                ApiError::bad_request(format!(
                    "filters must be [{{\"or\": [\"attributes.<key>=<value>\", …]}}, …]: {e}"
                ))
            })?;
            Filters::parse(&lists).map_err(ApiError::bad_request)?;
            serde_json::to_string(&lists).map_err(ApiError::internal)?
        }
        (None, Some(current)) => current.filters.clone(),
        (None, None) => return Err(ApiError::bad_request("filters is required")),
    };
    let access_permissions = match (body.access_permissions, current) {
        (Some(permissions), _) => {
            let permissions: Vec<Permission> = serde_json::from_value(permissions)
                .map_err(|e| ApiError::bad_request(format!("access_permissions: {e}")))?;
            for (i, permission) in permissions.iter().enumerate() {
                permission.check(i).map_err(ApiError::bad_request)?;
            }
            serde_json::to_string(&permissions).map_err(ApiError::internal)?
        }
        (None, Some(current)) => current.access_permissions.clone(),
        (None, None) => return Err(ApiError::bad_request("access_permissions is required")),
    };
    Ok(PolicyFields {
        display_name: name,
        description,
        filters,
        access_permissions,
    })
}

/// A policy's fields as its change event records them.
fn fields_state(fields: &PolicyFields) -> Value {
    json!({
        "display_name": fields.display_name,
        "description": fields.description,
        "filters": json_text(&fields.filters),
        "access_permissions": json_text(&fields.access_permissions),
    })
}

fn policy_id(uuid: &str) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(uuid)
        .ok()
        .filter(|_| uuid.len() == 36)
        .ok_or_else(|| ApiError::bad_request("the access policy id must be a uuid"))
}

/// A policy. Subjects it names need not exist yet.
#[utoipa::path(post, path = "/archivist/iam/v1/access_policies", operation_id = "AccessPolicies_CreateAccessPolicy", tag = "sharing",
    request_body = CreatePolicy,
    responses((status = 200, description = "The policy.", body = PolicyResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<JsonObject<CreatePolicy>, ApiError>,
) -> ApiResult<Json<PolicyResponse>> {
    principal.require_admin(WHAT)?;
    let JsonObject(body) = body?;
    let body = PolicyBody {
        display_name: Some(body.display_name),
        description: body.description,
        filters: Some(body.filters),
        access_permissions: Some(body.access_permissions),
    };
    let fields = fields(body, None)?;
    let id = uuid::Uuid::new_v4();
    let identity = format!("access_policies/{id}");
    let logged = sharing_event(
        &principal,
        "AccessPolicyCreated",
        &identity,
        Some(fields_state(&fields)),
    );
    let policy = state.repo.create_policy(principal.tenant, id, &fields, &logged).await?;
    state.sharing.changed(principal.tenant).await;
    Ok(Json(PolicyResponse::from(&policy)))
}

async fn find(state: &AppState, principal: &Principal, uuid: &str) -> ApiResult<AccessPolicy> {
    let id = policy_id(uuid)?;
    state
        .repo
        .policy(principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("access policy"))
}

#[utoipa::path(get, path = "/archivist/iam/v1/access_policies/{uuid}", operation_id = "AccessPolicies_GetAccessPolicy", tag = "sharing",
    params(("uuid" = uuid::Uuid, Path, description = "The policy's id.")),
    responses((status = 200, description = "The policy.", body = PolicyResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<PolicyResponse>> {
    principal.require_admin(WHAT)?;
    Ok(Json(PolicyResponse::from(&find(&state, &principal, &uuid).await?)))
}

/// Replaces the fields given (filters and permissions whole, as DataTrails does).
#[utoipa::path(patch, path = "/archivist/iam/v1/access_policies/{uuid}", operation_id = "AccessPolicies_UpdateAccessPolicy", tag = "sharing",
    params(("uuid" = uuid::Uuid, Path, description = "The policy's id.")),
    request_body = PolicyBody,
    responses((status = 200, description = "The policy as changed.", body = PolicyResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
    body: Result<JsonObject<PolicyBody>, ApiError>,
) -> ApiResult<Json<PolicyResponse>> {
    principal.require_admin(WHAT)?;
    let current = find(&state, &principal, &uuid).await?;
    let JsonObject(body) = body?;
    let fields = fields(body, Some(&current))?;
    let identity = format!("access_policies/{}", current.id);
    let logged = sharing_event(
        &principal,
        "AccessPolicyUpdated",
        &identity,
        Some(fields_state(&fields)),
    );
    let policy = state
        .repo
        .update_policy(principal.tenant, current.id, &fields, &logged)
        .await?
        .ok_or_else(|| ApiError::not_found("access policy"))?;
    state.sharing.changed(principal.tenant).await;
    Ok(Json(PolicyResponse::from(&policy)))
}

/// Deletes a policy: what it granted is no longer readable by others.
#[utoipa::path(delete, path = "/archivist/iam/v1/access_policies/{uuid}", operation_id = "AccessPolicies_DeleteAccessPolicy", tag = "sharing",
    params(("uuid" = uuid::Uuid, Path, description = "The policy's id.")),
    responses((status = 200, description = "Deleted: `{}`.", body = Object), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<Value>> {
    principal.require_admin(WHAT)?;
    let id = policy_id(&uuid)?;
    let identity = format!("access_policies/{id}");
    let logged = sharing_event(&principal, "AccessPolicyDeleted", &identity, None);
    if !state.repo.delete_policy(principal.tenant, id, &logged).await? {
        return Err(ApiError::not_found("access policy"));
    }
    state.sharing.changed(principal.tenant).await;
    Ok(Json(Value::Object(Map::new())))
}

#[derive(Serialize, ToSchema)]
#[schema(as = v1ListAccessPoliciesResponse)]
struct PolicyList {
    access_policies: Vec<PolicyResponse>,
    next_page_token: String,
}

/// The tenant's policies, newest first; `display_name` filters on the name.
#[utoipa::path(get, path = "/archivist/iam/v1/access_policies", operation_id = "AccessPolicies_ListAccessPolicies", tag = "sharing",
    params(PageParams, CountParams, ("display_name" = Option<String>, Query, description = "Only policies of this name.")),
    responses((status = 200, description = "One page of policies.", body = PolicyList,
        headers(("X-Total-Count" = i64, description = "The number of matching policies, when asked for."))), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<(HeaderMap, Json<PolicyList>)> {
    principal.require_admin(WHAT)?;
    let params = ListParams::parse(
        raw.as_deref(),
        "access_policies".into(),
        sharing_param,
        &state.page_keys,
    )?;
    let page = SharingPage {
        display_name: name_filter(&params),
        before: params.query.before,
        limit: params.query.limit,
    };
    let policies = state.repo.list_policies(principal.tenant, &page).await?;
    let total = match wants_total(&headers)? {
        true => Some(state.repo.count_policies(principal.tenant, page.display_name).await?),
        false => None,
    };
    let next_page_token = params.next_page_token(&state.page_keys, policies.len(), policies.last().map(|p| p.seq));
    Ok((
        total_headers(total),
        Json(PolicyList {
            access_policies: policies.iter().map(PolicyResponse::from).collect(),
            next_page_token,
        }),
    ))
}

/// Only paging: what the two matching views take.
fn paging_param(name: &str, value: &str) -> Result<crate::api::paging::Meaning, String> {
    match name {
        "order_by" if value == "DEFAULT" => Ok(crate::api::paging::Meaning::Everything),
        _ => Err(format!("unknown query parameter {name:?} for this list")),
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = v1ListAccessPolicyAssetsResponse)]
struct MatchedAssets {
    assets: Vec<AssetResponse>,
    next_page_token: String,
}

/// The tenant's own assets that the policy's filters match, newest first.
#[utoipa::path(get, path = "/archivist/iam/v1/access_policies/{uuid}/assets", operation_id = "AccessPolicies_ListAccessPolicyAssets", tag = "sharing",
    params(("uuid" = uuid::Uuid, Path, description = "The policy's id."), PageParams),
    responses((status = 200, description = "One page of matching assets.", body = MatchedAssets), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn matching_assets(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<MatchedAssets>> {
    principal.require_admin(WHAT)?;
    let policy = find(&state, &principal, &uuid).await?;
    let list = format!("access_policies/{}/assets", policy.id);
    let params = ListParams::parse(raw.as_deref(), list, paging_param, &state.page_keys)?;
    let filters: Vec<OrList> = serde_json::from_str(&policy.filters).unwrap_or_default();
    let mut matched = Vec::new();
    let mut before = params.query.before;
    // The tenant's assets, newest first, a batch at a time, until the page is full.
    'scan: loop {
        let batch = ListQuery {
            limit: SCAN_BATCH,
            before,
            ..ListQuery::default()
        };
        let assets = state.repo.list_assets(principal.tenant, &batch).await?;
        for asset in &assets {
            if Sharing::matches(&filters, asset) {
                matched.push(asset.clone());
                if matched.len() as i64 == params.query.limit {
                    break 'scan;
                }
            }
        }
        match assets.last() {
            Some(last) if assets.len() as i64 == SCAN_BATCH => before = Some(last.seq),
            _ => break,
        }
    }
    let next_page_token = params.next_page_token(&state.page_keys, matched.len(), matched.last().map(|a| a.seq));
    Ok(Json(MatchedAssets {
        assets: matched.iter().map(AssetResponse::from).collect(),
        next_page_token,
    }))
}

/// The tenant's policies whose filters match the asset.
#[utoipa::path(get, path = "/archivist/iam/v1/assets/{uuid}/access_policies", operation_id = "IAMAssets_ListAssetAccessPolicies", tag = "sharing",
    params(("uuid" = uuid::Uuid, Path, description = "The asset's id."), PageParams),
    responses((status = 200, description = "The matching policies.", body = PolicyList), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn matching_policies(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<PolicyList>> {
    principal.require_admin(WHAT)?;
    let asset = AssetId::parse_bare(&uuid)?;
    let asset = state
        .repo
        .asset(principal.tenant, asset)
        .await?
        .ok_or_else(|| ApiError::not_found("asset"))?;
    // Paging is accepted as the SDK sends it; a tenant's policies fit in one answer.
    let list = format!("assets/{}/access_policies", asset.id);
    ListParams::parse(raw.as_deref(), list, paging_param, &state.page_keys)?;
    let set = state.repo.sharing_set(principal.tenant).await?;
    let matching = set.policies.iter().filter(|policy| {
        let filters: Vec<OrList> = serde_json::from_str(&policy.filters).unwrap_or_default();
        Sharing::matches(&filters, &asset)
    });
    Ok(Json(PolicyList {
        access_policies: matching.map(PolicyResponse::from).collect(),
        next_page_token: String::new(),
    }))
}
