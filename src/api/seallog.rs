//! The seal log over HTTP, without a token, as C2SP tlog-tiles v0.1.0 lays it out under
//! `/verifiabledata/seallog/v1/`: the latest checkpoint (a signed note), the hash tiles and
//! entry bundles it covers, and the verifier key its notes are signed with.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use crate::api::docs::PublicErrors;
use crate::api::routes::Routes;
use crate::api::PathParams;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use seallog::{entry_bundle, hash_tile, TilePath, TILE_WIDTH};

const PREFIX: &str = "/verifiabledata/seallog/v1";

pub fn routes() -> Routes {
    Routes::new()
        .get(&format!("{PREFIX}/checkpoint"), checkpoint)
        .get(&format!("{PREFIX}/vkey"), vkey)
        .get(&format!("{PREFIX}/tile/{{*path}}"), tile)
        .without_token()
}

#[derive(OpenApi)]
#[openapi(paths(checkpoint, vkey, tile))]
pub struct Doc;

fn text(body: Vec<u8>, content_type: &'static str, cache: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// The seal log's latest checkpoint (C2SP tlog-checkpoint, a signed note): origin, size and
/// base64 root, signed with the key at `vkey`.
#[utoipa::path(get, path = "/verifiabledata/seallog/v1/checkpoint", operation_id = "SealLog_Checkpoint", tag = "seallog", security(()),
    responses((status = 200, description = "The checkpoint note.", content_type = "text/plain", body = String), PublicErrors))]
async fn checkpoint(State(state): State<AppState>) -> ApiResult<Response> {
    let (_, note) = state
        .repo
        .seal_log_checkpoint()
        .await?
        .ok_or_else(|| ApiError::not_found("checkpoint"))?;
    Ok(text(note, "text/plain; charset=utf-8", "no-cache"))
}

/// The verifier key of the seal log's checkpoints (C2SP signed-note `<name>+<id>+<key>`).
#[utoipa::path(get, path = "/verifiabledata/seallog/v1/vkey", operation_id = "SealLog_VerifierKey", tag = "seallog", security(()),
    responses((status = 200, description = "The verifier key.", content_type = "text/plain", body = String), PublicErrors))]
async fn vkey(State(state): State<AppState>) -> ApiResult<Response> {
    let seal_log = state
        .log
        .seal_log
        .as_ref()
        .ok_or_else(|| ApiError::not_found("seal log"))?;
    Ok(text(
        format!("{}\n", seal_log.vkey).into_bytes(),
        "text/plain; charset=utf-8",
        "no-cache",
    ))
}

/// A tile the latest checkpoint covers: `tile/<L>/<N>[.p/<W>]` (hashes) or
/// `tile/entries/<N>[.p/<W>]` (entries, each behind its two-byte length). Full tiles never
/// change.
#[utoipa::path(get, path = "/verifiabledata/seallog/v1/tile/{path}", operation_id = "SealLog_Tile", tag = "seallog", security(()),
    params(("path" = String, Path, description = "`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, N in groups of three digits.")),
    responses((status = 200, description = "The tile.", content_type = "application/octet-stream", body = Vec<u8>), PublicErrors))]
async fn tile(State(state): State<AppState>, PathParams(path): PathParams<String>) -> ApiResult<Response> {
    let tile = TilePath::parse(&format!("tile/{path}")).ok_or_else(|| ApiError::not_found("tile"))?;
    let size = state.repo.seal_log_checkpoint().await?.map_or(0, |(size, _)| size);
    if !tile.within(size) {
        return Err(ApiError::not_found("tile"));
    }
    let bytes = match tile {
        TilePath::Hashes { .. } => hash_tile(&state.repo.seal_log_hashes(&tile.stored_indexes()).await?),
        TilePath::Entries { .. } => {
            let entries = state.repo.seal_log_entries(tile.entry_positions()).await?;
            entry_bundle(entries.iter().map(Vec::as_slice))
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a seal-log entry is too long")))?
        }
    };
    let full = match tile {
        TilePath::Hashes { width, .. } | TilePath::Entries { width, .. } => width == TILE_WIDTH,
    };
    let cache = match full {
        true => "public, max-age=31536000, immutable",
        false => "no-cache",
    };
    Ok(text(bytes, "application/octet-stream", cache))
}
