//! `/archivist/iam/v1/apikeys`: long-lived API keys for the Mediapocket routes' `X-API-KEY`,
//! managed by a tenant's administrators. A key is shown once, when it is made.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{OpenApi, ToSchema};

use crate::api::docs::AdminErrors;
use crate::api::routes::Routes;
use crate::api::{JsonObject, PathParams};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::ApiKeyId;
use crate::repo::ApiKey;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .post("/archivist/iam/v1/apikeys", create)
        .get("/archivist/iam/v1/apikeys", list)
        .delete("/archivist/iam/v1/apikeys/{uuid}", revoke)
}

#[derive(OpenApi)]
#[openapi(paths(create, list, revoke))]
pub struct Doc;

/// What a new key is for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    /// A name for people, up to 200 characters.
    #[schema(max_length = 200)]
    #[serde(default)]
    name: String,
}

/// A key as listed: never the key itself.
#[derive(Serialize, ToSchema)]
struct KeyResponse {
    /// `apikeys/<uuid>`.
    identity: String,
    name: String,
    /// The key's first characters, to tell keys apart.
    prefix: String,
    created: String,
    /// The key: only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl KeyResponse {
    fn new(stored: &ApiKey, key: Option<String>) -> Self {
        Self {
            identity: ApiKeyId(stored.id).identity(),
            name: stored.name.clone(),
            prefix: stored.prefix.clone(),
            created: crate::api::timestamp(stored.created_at),
            key,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct KeyList {
    apikeys: Vec<KeyResponse>,
}

/// Makes a key; the answer is the only place it is ever shown.
#[utoipa::path(post, path = "/archivist/iam/v1/apikeys", operation_id = "ApiKeys_Create", tag = "identity",
    request_body = NewKey,
    responses((status = 200, description = "The new key, with `key` shown this once.", body = KeyResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonObject(body): JsonObject<NewKey>,
) -> ApiResult<Json<KeyResponse>> {
    principal.require_admin("manage API keys")?;
    if body.name.chars().count() > 200 {
        return Err(ApiError::bad_request("name is longer than 200 characters"));
    }
    let (key, stored) = crate::auth::apikeys::create(state.repo.as_ref(), principal.tenant, &body.name).await?;
    Ok(Json(KeyResponse::new(&stored, Some(key))))
}

/// The tenant's keys, oldest first, without the keys themselves.
#[utoipa::path(get, path = "/archivist/iam/v1/apikeys", operation_id = "ApiKeys_List", tag = "identity",
    responses((status = 200, description = "The tenant's keys.", body = KeyList), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn list(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<KeyList>> {
    principal.require_admin("manage API keys")?;
    let keys = state.repo.list_api_keys(principal.tenant).await?;
    Ok(Json(KeyList {
        apikeys: keys.iter().map(|k| KeyResponse::new(k, None)).collect(),
    }))
}

/// Revokes a key: it stops working at once.
#[utoipa::path(delete, path = "/archivist/iam/v1/apikeys/{uuid}", operation_id = "ApiKeys_Revoke", tag = "identity",
    params(("uuid" = uuid::Uuid, Path, description = "The key's id.")),
    responses((status = 200, description = "Revoked: `{}`.", body = Object), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<Value>> {
    principal.require_admin("manage API keys")?;
    let id = ApiKeyId::parse_bare(&uuid)?;
    if !state.repo.delete_api_key(principal.tenant, id.0).await? {
        return Err(ApiError::not_found("API key"));
    }
    Ok(Json(Value::Object(Map::new())))
}
