//! `GET /archivist/v1/blobs:lookup?hash=`: which of the caller's events record a file's
//! SHA-256 (the console's "verify a file": the browser hashes the file, only the hash is sent).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::event_views::{EventResponse, FreeEventResponse};
use crate::api::docs::{Errors, HashValue};
use crate::api::routes::Routes;
use crate::api::QueryParams;
use crate::auth::Principal;
use crate::blob::lookup::{events_recording, parse_sha256};
use crate::error::ApiResult;
use crate::log::state::SealedView;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new().get("/archivist/v1/blobs:lookup", lookup)
}

#[derive(OpenApi)]
#[openapi(paths(lookup))]
pub struct Doc;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LookupParams {
    /// The file's SHA-256, 64 hex digits.
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    hash: String,
}

/// The events that record a hash, newest first.
#[derive(Serialize, ToSchema)]
#[schema(as = attachdBlobLookup)]
struct LookupResponse {
    hash: HashValue,
    /// At most 100 events, newest first; the verdict is "recorded" when there is any.
    events: Vec<RecordingEvent>,
}

/// An event and the attachment attributes in it that record the hash.
#[derive(Serialize, ToSchema)]
struct RecordingEvent {
    event: AnyEvent,
    attachments: Vec<RecordingAttachment>,
}

/// An asset's event, or an asset-free one, each as its own routes answer it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum AnyEvent {
    Asset(Box<EventResponse>),
    Free(Box<FreeEventResponse>),
}

#[derive(Serialize, ToSchema)]
struct RecordingAttachment {
    /// Where in the event, e.g. `event_attributes.report`.
    attribute: String,
    blob_identity: String,
    file_name: Option<String>,
}

#[utoipa::path(get, path = "/archivist/v1/blobs:lookup", operation_id = "Blobs_Lookup", tag = "blobs",
    params(LookupParams),
    responses((status = 200, description = "The caller's events recording the hash (none: an empty list).", body = LookupResponse), Errors))]
#[tracing::instrument(skip_all)]
async fn lookup(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(params): QueryParams<LookupParams>,
) -> ApiResult<Json<LookupResponse>> {
    let hash = parse_sha256(&params.hash)?;
    let recorded = events_recording(state.repo.as_ref(), principal.tenant, &hash).await?;
    let sealed = SealedView::latest(&state.log, principal.tenant).await;
    let events = recorded
        .iter()
        .map(|found| RecordingEvent {
            event: match found.event.asset_id {
                Some(_) => AnyEvent::Asset(Box::new(EventResponse::new(&found.event, sealed.as_deref()))),
                None => AnyEvent::Free(Box::new(FreeEventResponse::new(&found.event))),
            },
            attachments: found
                .references
                .iter()
                .map(|r| RecordingAttachment {
                    attribute: r.attribute.clone(),
                    blob_identity: crate::ids::BlobId(r.blob.0).identity(),
                    file_name: r.file_name.clone(),
                })
                .collect(),
        })
        .collect();
    Ok(Json(LookupResponse {
        hash: HashValue {
            alg: "SHA256",
            value: hash,
        },
        events,
    }))
}
