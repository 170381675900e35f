//! `POST /archivist/iam/v1/appidp/token`: client credentials → bearer token.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::api::docs::PublicErrors;
use crate::api::routes::Routes;
use crate::auth::secrets::verify_secret;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ids::{AppId, TenantId};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().post("/archivist/iam/v1/appidp/token", issue_token)
}

#[derive(OpenApi)]
#[openapi(paths(issue_token))]
pub struct Doc;

/// OAuth 2 client credentials, form-encoded.
#[derive(Deserialize, ToSchema)]
struct TokenRequest {
    #[schema(value_type = String, required = true, pattern = "^client_credentials$")]
    grant_type: Option<String>,
    /// The `client_id` of an app registration.
    #[schema(value_type = String, required = true)]
    client_id: Option<String>,
    /// The secret given when the registration was created or its secret regenerated.
    #[schema(value_type = String, required = true)]
    client_secret: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// A bearer token for an app registration's client credentials.
#[utoipa::path(post, path = "/archivist/iam/v1/appidp/token", operation_id = "AppIdp_Token", tag = "identity", security(()),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A signed JWT for the registration.", body = TokenResponse),
        (status = 401, description = "Unknown client or wrong secret (code 16).", body = ErrorBody),
        PublicErrors,
    ))]
#[tracing::instrument(skip_all)]
async fn issue_token(
    State(state): State<AppState>,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> ApiResult<Json<TokenResponse>> {
    let Form(request) = form?;
    match request.grant_type.as_deref() {
        Some("client_credentials") => {}
        Some(other) => return Err(ApiError::bad_request(format!("unsupported grant_type {other:?}"))),
        None => return Err(ApiError::bad_request("missing grant_type=client_credentials")),
    }
    let (Some(client_id), Some(secret)) = (request.client_id, request.client_secret) else {
        return Err(ApiError::bad_request("missing client_id or client_secret"));
    };
    crate::api::without_nul(&client_id, "client_id")?;
    let app = state.repo.app_by_client_id(&client_id).await?;
    // Unknown client ids are checked against a decoy hash, so a miss costs as much as a hit.
    let phc = app
        .as_ref()
        .map_or_else(|| state.decoy_hash.to_string(), |a| a.secret_hash.clone());
    let valid = tokio::task::spawn_blocking(move || verify_secret(&secret, &phc))
        .await
        .map_err(ApiError::internal)?;
    let app = match app {
        Some(app) if valid => app,
        _ => return Err(ApiError::Unauthenticated("invalid client credentials".into())),
    };
    let custom = serde_json::from_str(&app.custom_claims).unwrap_or_default();
    let access_token = state
        .keys
        .issue(
            &TenantId(app.tenant_id).identity(),
            &AppId(app.id).identity(),
            &client_id,
            custom,
        )
        .map_err(ApiError::internal)?;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.keys.ttl().as_secs(),
    }))
}
