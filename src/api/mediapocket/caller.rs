//! Who calls a Mediapocket route: an API key in `X-API-KEY` (or an access token there), or a
//! bearer token; when both are sent, both must hold and name the same caller.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::errors::Failure;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRef;

/// The caller, from `X-API-KEY` (an API key, or an access token) or `Authorization: Bearer`.
pub(super) struct ApiKeyCaller(pub(super) Principal);

impl FromRequestParts<AppState> for ApiKeyCaller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = crate::auth::single_header(&parts.headers, "x-api-key")?.cloned();
        let bearer = if parts.headers.contains_key(header::AUTHORIZATION) {
            Some(Principal::from_request_parts(parts, state).await?)
        } else {
            None
        };
        let Some(key) = key else {
            return bearer.map(Self).ok_or_else(|| {
                ApiError::Unauthenticated("missing X-API-KEY: send an API key (or an access token) in it".into()).into()
            });
        };
        let key = key
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::Unauthenticated("X-API-KEY is empty or not text".into()))?;
        let keyed = if crate::auth::apikeys::looks_like_key(key) {
            let peer = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip());
            crate::auth::apikeys::principal(&crate::auth::AuthState::from_ref(state), key, peer).await?
        } else {
            // An access token works here too.
            Principal::from_token(&crate::auth::AuthState::from_ref(state), key).await?
        };
        // Every credential sent must hold, and name the same caller.
        if bearer.is_some_and(|b| (b.tenant, &b.subject) != (keyed.tenant, &keyed.subject)) {
            return Err(ApiError::Unauthenticated("X-API-KEY and Authorization name different callers".into()).into());
        }
        Ok(Self(keyed))
    }
}
