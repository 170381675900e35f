//! `/console/`: the web console. Its files are embedded in the binary (debug builds read
//! `console/` from disk, so a page can be edited without a rebuild) and served with a strict
//! Content-Security-Policy: scripts and styles from attachd only, nothing inline, no frames.
//! Public assets' own addresses answer a browser with the console's public page.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa::OpenApi;

use super::routes::Routes;
use super::PathParams;
use crate::error::ApiError;

/// No inline script or style, no eval, no plugins, no framing; fetches go to attachd only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

#[derive(rust_embed::Embed)]
#[folder = "console/"]
#[exclude = "*.test.mjs"]
#[exclude = "*.sh"]
#[exclude = "tests/*"]
struct Files;

pub fn routes() -> Routes {
    Routes::new()
        .get("/console", redirect)
        .get("/console/", index)
        .get("/console/{file}", file)
        .without_token()
}

#[derive(OpenApi)]
#[openapi(paths(redirect, index, file))]
pub struct Doc;

/// To `/console/`.
#[utoipa::path(get, path = "/console", operation_id = "Console_Redirect", tag = "console", security(()),
    responses((status = 308, description = "To /console/.")))]
async fn redirect() -> Redirect {
    Redirect::permanent("/console/")
}

/// The console's page.
#[utoipa::path(get, path = "/console/", operation_id = "Console_Index", tag = "console", security(()),
    responses((status = 200, description = "The console.", content_type = "text/html", body = String)))]
async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// One of the console's files (scripts, styles).
#[utoipa::path(get, path = "/console/{file}", operation_id = "Console_File", tag = "console", security(()),
    params(("file" = String, Path, description = "The file's name.")),
    responses((status = 200, description = "The file.", content_type = "application/octet-stream", body = String),
        (status = 404, description = "No such file.", body = crate::error::ErrorBody)))]
async fn file(headers: HeaderMap, PathParams(name): PathParams<String>) -> Response {
    serve(&name, &headers)
}

/// The console's page, for a browser opening a public asset's or event's address.
pub fn page(headers: &HeaderMap) -> Response {
    let mut response = serve("index.html", headers);
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// Whether the client asked for HTML (a browser navigating), not JSON (an API client).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            range
                .split(';')
                .next()
                .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/html"))
        })
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Files::get(name) else {
        return ApiError::not_found("console file").into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = mime_guess::from_path(name).first_or_octet_stream();
        let text = mime.type_() == mime_guess::mime::TEXT || mime.subtype() == mime_guess::mime::JAVASCRIPT;
        let content_type = if text {
            format!("{}; charset=utf-8", mime.essence_str())
        } else {
            mime.essence_str().to_string()
        };
        ([(header::CONTENT_TYPE, content_type)], file.data.into_owned()).into_response()
    };
    let set = response.headers_mut();
    set.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    set.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // Revalidated each load (the ETag makes that a 304), so an upgrade shows at once.
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(tag) = HeaderValue::from_str(&etag) {
        set.insert(header::ETAG, tag);
    }
    response
}
