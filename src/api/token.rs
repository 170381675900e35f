//! `POST /archivist/iam/v1/appidp/token`: client credentials → bearer token.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::{Form, Json};
use serde::{Deserialize, Serialize};

use super::routes::Routes;
use crate::auth::secrets::verify_secret;
use crate::error::{ApiError, ApiResult};
use crate::ids::{AppId, TenantId};
use crate::AppState;

pub fn routes() -> Routes {
    Routes::new().post("/archivist/iam/v1/appidp/token", issue_token)
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

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
