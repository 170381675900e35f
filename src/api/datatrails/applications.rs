//! `/archivist/iam/v1/applications` (appregistrationsv1): machine identities of a tenant.
//! Only administrator registrations may manage them.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{OpenApi, ToSchema};

use crate::api::docs::AdminErrors;
use crate::api::paging::{page_size, DEFAULT_PAGE_SIZE};
use crate::api::routes::Routes;
use crate::api::{json_text, timestamp, without_nul, JsonObject, PathParams};
use crate::auth::jwt::RESERVED_CLAIMS;
use crate::auth::secrets::{generate_secret, hash_secret};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ids::{AppId, TenantId};
use crate::repo::{App, NewApp};
use crate::state::AppState;

/// The role that makes a registration a tenant administrator.
pub const ADMIN_ROLE: &str = "archivist_administrator";

pub fn routes() -> Routes {
    let one = "/archivist/iam/v1/applications/{uuid}";
    Routes::new()
        .post("/archivist/iam/v1/applications", create)
        .get("/archivist/iam/v1/applications", list)
        .get(one, get_one)
        .patch(one, update)
        .delete(one, delete)
        .post(one, regenerate_secret)
        .as_verb(":regenerate-secret")
}

#[derive(OpenApi)]
#[openapi(paths(create, list, get_one, update, delete, regenerate_secret))]
pub struct Doc;

#[derive(Serialize, ToSchema)]
#[schema(as = v1Credential)]
struct Credential {
    /// Only in the answers that create a secret: it is stored as a hash alone.
    secret: String,
    valid_from: String,
    valid_until: String,
}

/// DataTrails' `v1Application`.
#[derive(Serialize, ToSchema)]
#[schema(as = v1Application)]
struct ApplicationResponse {
    identity: String,
    display_name: String,
    client_id: String,
    tenant_id: String,
    credentials: Vec<Credential>,
    /// Copied into every token issued to this registration.
    #[schema(value_type = HashMap<String, String>)]
    custom_claims: Value,
    /// `["archivist_administrator"]` for an administrator, else empty.
    roles: Vec<&'static str>,
}

impl ApplicationResponse {
    fn new(app: &App, secret: Option<String>) -> Self {
        let valid_from = app.secret_created_at.unwrap_or(app.created_at);
        Self {
            identity: AppId(app.id).identity(),
            display_name: app.display_name.clone(),
            client_id: app.client_id.clone(),
            tenant_id: TenantId(app.tenant_id).identity(),
            credentials: vec![Credential {
                secret: secret.unwrap_or_default(),
                valid_from: timestamp(valid_from),
                // Secrets do not expire; regenerate one to retire it.
                valid_until: String::new(),
            }],
            custom_claims: json_text(&app.custom_claims),
            roles: if app.admin { vec![ADMIN_ROLE] } else { Vec::new() },
        }
    }
}

/// Custom claims are strings (as DataTrails defines them) and may not shadow attachd's own.
fn claims_text(claims: &Map<String, Value>) -> ApiResult<String> {
    for (name, value) in claims {
        if RESERVED_CLAIMS.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!("custom claim {name:?} is reserved")));
        }
        if !value.is_string() {
            return Err(ApiError::bad_request(format!("custom claim {name:?} must be a string")));
        }
    }
    serde_json::to_string(claims).map_err(ApiError::internal)
}

fn display_name(name: Option<String>) -> ApiResult<String> {
    name.map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty() && n.len() <= 255)
        .ok_or_else(|| ApiError::bad_request("display_name is required (1 to 255 characters)"))
}

async fn new_secret() -> ApiResult<(String, String)> {
    let secret = generate_secret();
    let to_hash = secret.clone();
    let hash = tokio::task::spawn_blocking(move || hash_secret(&to_hash))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok((secret, hash))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = v1CreateApplicationRequest)]
struct CreateApplication {
    #[schema(value_type = String, required = true, min_length = 1, max_length = 255, pattern = "\\S")]
    display_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = HashMap<String, String>)]
    custom_claims: Map<String, Value>,
    /// `[]` or `["archivist_administrator"]`.
    #[serde(default)]
    #[schema(max_items = 1, inline)]
    roles: Vec<Role>,
}

/// The one role there is.
#[derive(Deserialize, ToSchema, PartialEq)]
enum Role {
    #[serde(rename = "archivist_administrator")]
    Administrator,
}

/// A new app registration, with its secret: shown this once, kept only as a hash.
#[utoipa::path(post, path = "/archivist/iam/v1/applications", operation_id = "AppRegistrations_CreateAppRegistration", tag = "identity",
    request_body = CreateApplication,
    responses((status = 200, description = "The registration and its secret.", body = ApplicationResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<JsonObject<CreateApplication>, ApiError>,
) -> ApiResult<Json<ApplicationResponse>> {
    principal.require_admin("manage app registrations")?;
    let JsonObject(body) = body?;
    let admin = match body.roles.as_slice() {
        [] => false,
        [Role::Administrator] => true,
        _ => return Err(ApiError::bad_request(format!("roles must be [] or [\"{ADMIN_ROLE}\"]"))),
    };
    let (secret, secret_hash) = new_secret().await?;
    let new = NewApp {
        id: AppId::new(),
        display_name: display_name(body.display_name)?,
        client_id: uuid::Uuid::new_v4().to_string(),
        secret_hash,
        admin,
        custom_claims: claims_text(&body.custom_claims)?,
    };
    let app = state.repo.create_app(principal.tenant, &new).await?;
    Ok(Json(ApplicationResponse::new(&app, Some(secret))))
}

#[derive(Serialize, ToSchema)]
#[schema(as = v1ListAppRegistrationsResponse)]
struct ApplicationList {
    applications: Vec<ApplicationResponse>,
    next_page_token: String,
}

#[derive(Deserialize)]
struct ListQuery {
    page_size: Option<String>,
    page_token: Option<String>,
    display_name: Option<String>,
}

/// The tenant's app registrations, newest first, without secrets.
#[utoipa::path(get, path = "/archivist/iam/v1/applications", operation_id = "AppRegistrations_ListAppRegistrations", tag = "identity",
    params(OffsetPageParams, ("display_name" = Option<String>, Query, description = "Only registrations of this name.")),
    responses((status = 200, description = "One page of registrations.", body = ApplicationList), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<ApplicationList>> {
    principal.require_admin("manage app registrations")?;
    let query: ListQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
    let limit = query.page_size.as_deref().map_or(Ok(DEFAULT_PAGE_SIZE), page_size)?;
    let offset = match query.page_token.as_deref() {
        None | Some("") => 0,
        Some(token) => decode_offset(token)?,
    };
    let display_name = query.display_name.as_deref().filter(|n| !n.is_empty());
    if let Some(name) = display_name {
        without_nul(name, "display_name")?;
    }
    let apps = state
        .repo
        .list_apps(principal.tenant, display_name, offset, limit)
        .await?;
    let next_page_token = if apps.len() as i64 == limit {
        (offset + limit).to_string()
    } else {
        String::new()
    };
    Ok(Json(ApplicationList {
        applications: apps.iter().map(|a| ApplicationResponse::new(a, None)).collect(),
        next_page_token,
    }))
}

async fn find(state: &AppState, principal: &Principal, uuid: &str) -> ApiResult<App> {
    let id = AppId::parse_bare(uuid)?;
    state
        .repo
        .app(principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("application"))
}

#[utoipa::path(get, path = "/archivist/iam/v1/applications/{uuid}", operation_id = "AppRegistrations_GetAppRegistration", tag = "identity",
    params(("uuid" = uuid::Uuid, Path, description = "The registration's id.")),
    responses((status = 200, description = "The registration, without its secret.", body = ApplicationResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<ApplicationResponse>> {
    principal.require_admin("manage app registrations")?;
    Ok(Json(ApplicationResponse::new(
        &find(&state, &principal, &uuid).await?,
        None,
    )))
}

#[derive(Deserialize, ToSchema)]
struct PatchApplication {
    #[schema(min_length = 1, max_length = 255, pattern = "\\S")]
    display_name: Option<String>,
    /// Replaces all custom claims.
    #[schema(value_type = Option<HashMap<String, String>>)]
    custom_claims: Option<Map<String, Value>>,
}

/// Renames a registration or replaces its custom claims; tokens issued later carry them.
#[utoipa::path(patch, path = "/archivist/iam/v1/applications/{uuid}", operation_id = "AppRegistrations_UpdateAppRegistration", tag = "identity",
    params(("uuid" = uuid::Uuid, Path, description = "The registration's id.")),
    request_body = PatchApplication,
    responses((status = 200, description = "The registration as changed.", body = ApplicationResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
    body: Result<JsonObject<PatchApplication>, ApiError>,
) -> ApiResult<Json<ApplicationResponse>> {
    principal.require_admin("manage app registrations")?;
    let id = AppId::parse_bare(&uuid)?;
    let JsonObject(body) = body?;
    let name = body.display_name.map(|n| display_name(Some(n))).transpose()?;
    let claims = body.custom_claims.as_ref().map(claims_text).transpose()?;
    let app = state
        .repo
        .update_app(principal.tenant, id, name.as_deref(), claims.as_deref())
        .await?
        .ok_or_else(|| ApiError::not_found("application"))?;
    Ok(Json(ApplicationResponse::new(&app, None)))
}

/// Deletes a registration; its tokens stop working at once.
#[utoipa::path(delete, path = "/archivist/iam/v1/applications/{uuid}", operation_id = "AppRegistrations_DeleteAppRegistration", tag = "identity",
    params(("uuid" = uuid::Uuid, Path, description = "The registration's id.")),
    responses(
        (status = 200, description = "Deleted: `{}`.", body = Object),
        (status = 409, description = "The token's own registration: it cannot delete itself (code 6).", body = ErrorBody),
        AdminErrors,
    ))]
#[tracing::instrument(skip_all)]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<Value>> {
    principal.require_admin("manage app registrations")?;
    let id = AppId::parse_bare(&uuid)?;
    // The last administrator deleting itself would lock the tenant out.
    if principal.app == Some(id) {
        return Err(ApiError::Conflict(
            "a registration cannot delete itself: use another administrator's token".into(),
        ));
    }
    if !state.repo.delete_app(principal.tenant, id).await? {
        return Err(ApiError::not_found("application"));
    }
    Ok(Json(Value::Object(Map::new())))
}

/// `POST /applications/{uuid}:regenerate-secret`: a new secret; the old one stops working.
#[utoipa::path(post, path = "/archivist/iam/v1/applications/{uuid}:regenerate-secret", operation_id = "AppRegistrations_RegenerateAppRegistrationSecret", tag = "identity",
    params(("uuid" = uuid::Uuid, Path, description = "The registration's id.")),
    responses((status = 200, description = "The registration and its new secret.", body = ApplicationResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn regenerate_secret(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<ApplicationResponse>> {
    // The route table answers a plain POST here with 405 before this runs.
    let uuid = uuid
        .strip_suffix(":regenerate-secret")
        .ok_or_else(|| ApiError::MethodNotAllowed("POST here is only :regenerate-secret".into()))?;
    principal.require_admin("manage app registrations")?;
    let app = find(&state, &principal, uuid).await?;
    let (secret, secret_hash) = new_secret().await?;
    if !state
        .repo
        .set_app_secret(principal.tenant, AppId(app.id), &secret_hash)
        .await?
    {
        return Err(ApiError::not_found("application"));
    }
    let app = find(&state, &principal, uuid).await?;
    Ok(Json(ApplicationResponse::new(&app, Some(secret))))
}

/// The paging parameters of the registration list, for the OpenAPI description.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct OffsetPageParams {
    /// Results per page: 1 to 1000, 50 when absent.
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<i64>,
    /// The `next_page_token` of the page before.
    #[param(pattern = "^[0-9]{0,18}$")]
    page_token: Option<String>,
}

/// A registration list's page token: the offset it starts at, as `next_page_token` writes it.
fn decode_offset(token: &str) -> ApiResult<i64> {
    token
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && token.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ApiError::bad_request("invalid page_token: pass back a next_page_token"))
}
