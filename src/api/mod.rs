//! The HTTP API: one module per resource, merged here with the shared layers.

mod console;
mod content;
mod datatrails;
mod docs;
mod health;
mod mediapocket;
mod navarik;
mod openapi;
pub(crate) mod paging;
pub mod routes;
pub use openapi::{spec, spec_json};
mod multipart;
mod scan_gate;
mod scrapi;
mod seallog;
mod upload_form;

use std::time::Duration;

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection};
use axum::extract::MatchedPath;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use routes::Routes;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: every route, with request ids, tracing and JSON errors.
pub fn router(state: AppState) -> Router {
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_response(on_response)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    let (routes, table) = routes().into_parts();
    routes
        // A route layer sees the matched route, which labels the metrics.
        .route_layer(axum::middleware::from_fn(crate::metrics::track))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed("method not allowed on this route".into()) })
        // After the 405 fallback, which would otherwise replace this layer on it.
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::from(table),
            routes::allow_methods,
        ))
        .layer(layers)
        .layer(axum::middleware::from_fn(private_when_authenticated))
        .layer(axum::Extension(state.rate_limits.clone()))
        .with_state(state)
}

/// Every route attachd serves.
fn routes() -> Routes {
    Routes::new()
        .merge(health::routes())
        .merge(console::routes())
        .merge(openapi::routes())
        .merge(datatrails::token::routes().without_token())
        .merge(datatrails::applications::routes())
        .merge(datatrails::subjects::routes())
        .merge(datatrails::scitt::routes())
        .merge(datatrails::access_policies::routes())
        .merge(datatrails::apikeys::routes())
        .merge(datatrails::tenancies::routes())
        .merge(datatrails::blobs::routes())
        .merge(datatrails::lookup::routes())
        .merge(datatrails::assets::routes())
        .merge(datatrails::events::routes())
        .merge(datatrails::attachments::routes())
        .merge(navarik::routes())
        .merge(scrapi::routes())
        .merge(seallog::routes())
        .merge(mediapocket::routes())
        .merge(datatrails::public::routes())
        .merge(datatrails::attachments::public_routes())
        .merge(datatrails::merklelog::routes())
}

/// The (method, path) of every route, as the router has them.
pub fn route_table() -> Vec<routes::RouteEntry> {
    routes().into_parts().1
}

fn make_span<B>(request: &axum::http::Request<B>) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| request.uri().path().to_string(), |p| p.as_str().to_string());
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
        tenant = tracing::field::Empty,
    )
}

fn on_response<B>(response: &axum::http::Response<B>, latency: Duration, _span: &Span) {
    let status = response.status().as_u16();
    let ms = latency.as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::warn!(status, ms, "response");
    } else {
        tracing::info!(status, ms, "response");
    }
}

/// A response to a request carrying credentials is for that caller alone: no shared cache
/// may keep it.
async fn private_when_authenticated(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let authenticated =
        request.headers().contains_key(header::AUTHORIZATION) || request.headers().contains_key("x-api-key");
    let mut response = next.run(request).await;
    if authenticated {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    response
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            return Self::PayloadTooLarge(format!("JSON body too large: {}", rejection.body_text()));
        }
        Self::BadRequest(format!("invalid JSON body: {}", rejection.body_text()))
    }
}

impl From<FormRejection> for ApiError {
    fn from(rejection: FormRejection) -> Self {
        Self::BadRequest(format!("invalid form body: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest(format!("invalid path: {}", rejection.body_text()))
    }
}

/// `Path` whose rejection is our JSON 400.
pub struct PathParams<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for PathParams<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// `Query` whose rejection is our JSON 400.
pub struct QueryParams<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for QueryParams<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))
    }
}

/// A JSON body that must be an object: serde alone would read `[]` as a struct of defaults.
pub struct JsonObject<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for JsonObject<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if !value.is_object() {
            return Err(ApiError::bad_request("invalid JSON body: expected an object"));
        }
        json_without_nul(&value)?;
        serde_json::from_value(value)
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// PostgreSQL text cannot hold U+0000, so no backend accepts it: the same 400 on both.
pub fn without_nul(text: &str, what: &str) -> ApiResult<()> {
    if text.contains('\0') {
        return Err(ApiError::bad_request(format!("{what} may not contain U+0000")));
    }
    Ok(())
}

/// File names, display names and attribute keys hold no C0 control character and no DEL:
/// the same 400 on both backends and every route, before anything is stored.
pub fn plain_name(text: &str, what: &str) -> ApiResult<()> {
    match text.chars().find(char::is_ascii_control) {
        Some(c) => Err(ApiError::bad_request(format!(
            "{what} may not contain control characters (U+{:04X})",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

/// Attribute keys whose values are names a person or a file system reads.
pub const NAME_KEYS: [&str; 3] = ["arc_file_name", "arc_display_name", "display_name"];

/// The body fields that are maps of attributes: their keys are attribute names.
pub const ATTRIBUTE_MAPS: [&str; 4] = ["attributes", "event_attributes", "asset_attributes", "custom_claims"];

/// No string may hold U+0000; attribute names (the keys of `ATTRIBUTE_MAPS`) and the values
/// of `NAME_KEYS` at any depth hold no control character.
fn json_without_nul(value: &serde_json::Value) -> ApiResult<()> {
    if let Some(body) = value.as_object() {
        for field in ATTRIBUTE_MAPS {
            if let Some(map) = body.get(field).and_then(|v| v.as_object()) {
                map.keys().try_for_each(|key| plain_name(key, "attribute names"))?;
            }
        }
    }
    checked_json(value)
}

fn checked_json(value: &serde_json::Value) -> ApiResult<()> {
    use serde_json::Value;
    match value {
        Value::String(text) => without_nul(text, "JSON strings"),
        Value::Array(items) => items.iter().try_for_each(checked_json),
        Value::Object(map) => map.iter().try_for_each(|(key, value)| {
            without_nul(key, "JSON keys")?;
            match value {
                Value::String(name) if NAME_KEYS.contains(&key.as_str()) => plain_name(name, key),
                _ => checked_json(value),
            }
        }),
        _ => Ok(()),
    }
}

/// Times and stored JSON as responses show them (one rendering with the log's leaves).
pub use crate::repo::leaves::{json_text, timestamp};

/// An absolute URL of this server for `path`, as the client addressed it.
pub fn public_url(headers: &axum::http::HeaderMap, path: &str) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = header("x-forwarded-proto").unwrap_or("http");
    let host = header("x-forwarded-host").or(header("host")).unwrap_or("localhost");
    format!("{scheme}://{host}{path}")
}

/// A JSON response serialized into a buffer of `capacity` bytes: a page of events is tens
/// of KiB, and growing a buffer from axum's 128 bytes copies it about ten times.
pub struct SizedJson<T>(pub T, pub usize);

impl<T: serde::Serialize> IntoResponse for SizedJson<T> {
    fn into_response(self) -> axum::response::Response {
        let mut body = Vec::with_capacity(self.1);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            Err(err) => ApiError::internal(err).into_response(),
        }
    }
}
