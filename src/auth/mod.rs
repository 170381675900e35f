//! Authentication: the `Principal` extractor every tenant route takes.

pub mod jwt;
pub mod secrets;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::ids::{AppId, TenantId};
use crate::AppState;

/// The verified caller: tenant and subject come from the token, never the request body.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: TenantId,
    pub app: AppId,
    pub issuer: String,
    pub subject: String,
    /// May manage the tenant's app registrations.
    pub admin: bool,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthenticated("missing Authorization: Bearer token".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthenticated("Authorization header is not a Bearer token".into()))?;
        let claims = state.keys.verify(token).map_err(|err| {
            tracing::debug!(error = %err, "token rejected");
            ApiError::Unauthenticated("invalid or expired token".into())
        })?;
        let (Some(tenant), Some(app)) = (
            TenantId::parse_identity(&claims.tenant),
            AppId::parse_identity(&claims.app),
        ) else {
            return Err(ApiError::Unauthenticated("token does not name a tenant".into()));
        };
        // A deleted registration's tokens stop working at once.
        let registration = state
            .repo
            .app(tenant, app)
            .await?
            .ok_or_else(|| ApiError::Unauthenticated("the application of this token no longer exists".into()))?;
        tracing::Span::current().record("tenant", tracing::field::display(&tenant));
        if let Some(limits) = &state.rate_limits {
            limits.check_tenant(tenant)?;
        }
        Ok(Self {
            tenant,
            app,
            issuer: claims.iss,
            subject: claims.sub,
            admin: registration.admin,
        })
    }
}
