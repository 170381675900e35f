//! Authentication: the `Principal` extractor every tenant route takes.

pub mod apikeys;
pub mod jwt;
pub mod oidc;
pub mod page_keys;
pub mod secrets;
pub mod token_secret;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};

use crate::error::ApiError;
use crate::ids::{AppId, TenantId};
use crate::ratelimit::RateLimits;
use crate::repo::DynRepo;

/// What authenticating a caller needs of the application state (`FromRef` of it).
#[derive(Clone)]
pub struct AuthState {
    pub repo: DynRepo,
    pub keys: Arc<jwt::TokenKeys>,
    /// The external OpenID Connect issuer, when one is configured.
    pub oidc: Option<Arc<oidc::Oidc>>,
    /// `None` when rate limiting is off.
    pub rate_limits: Option<Arc<RateLimits>>,
}

/// The verified caller: tenant and subject come from the token, never the request body.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: TenantId,
    /// The app registration of one of attachd's own tokens; `None` for an external token.
    pub app: Option<AppId>,
    pub issuer: String,
    pub subject: String,
    /// May manage the tenant's app registrations.
    pub admin: bool,
}

impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    AuthState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = &AuthState::from_ref(state);
        let header = single_header(&parts.headers, AUTHORIZATION.as_str())?
            .ok_or_else(|| ApiError::Unauthenticated("missing Authorization: Bearer token".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthenticated("Authorization header is not a Bearer token".into()))?;
        Self::from_token(state, token).await
    }
}

/// The one value of credential header `name`, if sent. Sent twice is 400: which one to
/// believe would be a guess, and "valid, garbage" must not pass as valid.
pub fn single_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h HeaderValue>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!(
            "the {name} header was sent more than once: send one credential"
        )));
    }
    Ok(first)
}

impl Principal {
    /// 403 unless the caller is an administrator application; `what` says what it may not do.
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "only administrator applications may {what}"
            )))
        }
    }

    /// The caller an access token names, once verified.
    pub async fn from_token(state: &AuthState, token: &str) -> Result<Self, ApiError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::Unauthenticated("invalid or expired token".into()))?;
        // Each algorithm has one source of keys: our HMAC secret never checks an external
        // token, and the issuer's public keys never check an HMAC one.
        let principal = match (header.alg, &state.oidc) {
            (jsonwebtoken::Algorithm::HS256, _) => own_token(state, token).await?,
            (_, Some(oidc)) => {
                let identity = oidc.verify(token, &header).await?;
                if !state.repo.tenant_exists(identity.tenant).await? {
                    return Err(ApiError::Unauthenticated("the token's tenant does not exist".into()));
                }
                Self {
                    tenant: identity.tenant,
                    app: None,
                    issuer: identity.issuer,
                    subject: identity.subject,
                    admin: false,
                }
            }
            _ => return Err(ApiError::Unauthenticated("invalid or expired token".into())),
        };
        tracing::Span::current().record("tenant", tracing::field::display(&principal.tenant));
        if let Some(limits) = &state.rate_limits {
            limits.check_tenant(principal.tenant)?;
        }
        Ok(principal)
    }
}

/// A token attachd issued: HS256 with our key, naming a live app registration.
async fn own_token(state: &AuthState, token: &str) -> Result<Principal, ApiError> {
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
    Ok(Principal {
        tenant,
        app: Some(app),
        issuer: claims.iss,
        subject: claims.sub,
        admin: registration.admin,
    })
}
