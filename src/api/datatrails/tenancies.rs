//! `/archivist/v1/tenancies` (tenanciesv1): what any caller may know about a tenant.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::api::docs::Errors;
use crate::api::routes::Routes;
use crate::api::PathParams;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::TenantId;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/archivist/v1/tenancies/{uuid}", public_info)
        .as_verb(":publicinfo")
}

#[derive(OpenApi)]
#[openapi(paths(public_info))]
pub struct Doc;

/// A tenant's public information, as DataTrails' `v1GetPublicTenantInfoResponse` writes it.
#[derive(Serialize, ToSchema)]
#[schema(as = v1GetPublicTenantInfoResponse)]
struct PublicInfo {
    /// `tenant/<uuid>`.
    identity: String,
    /// The domain the tenant has proved it owns; empty when none.
    verified_domain: String,
}

/// Any tenant's identity and verified domain: public by design, so another tenant's id
/// answers the same way as the caller's own.
#[utoipa::path(get, path = "/archivist/v1/tenancies/{uuid}:publicinfo", operation_id = "Tenancies_GetPublicTenantInfo", tag = "identity",
    params(("uuid" = uuid::Uuid, Path, description = "The tenant's id (`tenant/<uuid>` without the prefix).")),
    responses((status = 200, description = "The tenant's public information.", body = PublicInfo), Errors))]
#[tracing::instrument(skip_all)]
async fn public_info(
    State(state): State<AppState>,
    _caller: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<PublicInfo>> {
    let uuid = uuid
        .strip_suffix(":publicinfo")
        .ok_or_else(|| ApiError::not_found("tenancy route"))?;
    let tenant = TenantId::parse_bare(uuid)?;
    let verified_domain = state
        .repo
        .verified_domain(tenant)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(PublicInfo {
        identity: tenant.identity(),
        verified_domain,
    }))
}
