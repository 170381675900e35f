//! `/archivist/v1/blobs`: streamed upload, verified download, info.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::post;
use axum::Json;

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::api::content::verified_download;
use crate::api::docs::HashValue;
use crate::api::docs::{Binary, Downloaded, Errors};
use crate::api::routes::Routes;
use crate::api::scan_gate::ScanGateQuery;
use crate::api::upload_form::read_upload;
use crate::api::PathParams;
use crate::auth::Principal;
use crate::blob::DownloadCheck;
use crate::blob::ScanGate;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ids::{BlobId, TenantId};
use crate::repo::Blob;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        // The size limit is enforced on the streamed file itself (413), not on the body.
        .add(
            Method::POST,
            "/archivist/v1/blobs",
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .get("/archivist/v1/blobs/{uuid}", download)
        .get("/archivist/v1/blobs/{uuid}/info", info)
}

#[derive(OpenApi)]
#[openapi(paths(upload, download, info))]
pub struct Doc;

/// The upload form: one part named `file`; its file name and Content-Type are kept.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UploadForm {
    file: Binary,
}

/// A blob's metadata as DataTrails' `v1BlobsResponse` writes it.
#[derive(Serialize, ToSchema)]
#[schema(as = v1BlobsResponse)]
pub struct BlobResponse {
    pub identity: String,
    pub hash: HashValue,
    pub mime_type: String,
    pub size: i64,
    pub tenantid: String,
    pub timestamp_accepted: String,
    pub issuer: String,
    pub subject: String,
    /// `NOT_SCANNED`, `SCANNED_OK` or `SCANNED_BAD`.
    pub scanned_status: String,
    pub scanned_bad_reason: String,
    /// The same as `scanned_bad_reason`, under the name DataTrails' own clients read.
    pub scanned_reason: String,
    pub scanned_timestamp: String,
    /// Set once a download found the content altered; absent on intact blobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tampered_timestamp: Option<String>,
}

impl BlobResponse {
    /// The response for `blob`, named `identity` (`blobs/…` or `attachments/…`).
    pub fn new(blob: &Blob, identity: String) -> Self {
        let rfc3339 = crate::api::timestamp;
        Self {
            identity,
            hash: HashValue {
                alg: "SHA256",
                value: blob.hash_sha256.clone(),
            },
            mime_type: blob.mime_type.clone(),
            size: blob.size,
            tenantid: TenantId(blob.tenant_id).identity(),
            timestamp_accepted: rfc3339(blob.timestamp_accepted),
            issuer: blob.issuer.clone(),
            subject: blob.subject.clone(),
            scanned_status: blob.scanned_status.clone(),
            scanned_bad_reason: blob.scanned_bad_reason.clone(),
            scanned_reason: blob.scanned_bad_reason.clone(),
            scanned_timestamp: blob.scanned_timestamp.map(rfc3339).unwrap_or_default(),
            tampered_timestamp: blob.tampered_at.map(rfc3339),
        }
    }
}

/// Stores a file. Its SHA-256 is computed as it streams in; it is visible only once complete.
#[utoipa::path(post, path = "/archivist/v1/blobs", operation_id = "Blobs_Upload", tag = "blobs",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Stored: the blob's identity and hash.", body = BlobResponse),
        (status = 402, description = "Over a tenant quota; the message names it (code 8).", body = ErrorBody),
        (status = 413, description = "Larger than the server's blob size limit (code 8).", body = ErrorBody),
        Errors,
    ))]
#[tracing::instrument(skip_all)]
async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<BlobResponse>> {
    let upload = read_upload(&state, &principal, &headers, body, &[]).await?;
    let blob = upload.blob.commit().await?;
    tracing::info!(blob = %BlobId(blob.id), size = blob.size, "blob stored");
    Ok(Json(BlobResponse::new(&blob, BlobId(blob.id).identity())))
}

async fn find_blob(state: &AppState, principal: &Principal, uuid: &str) -> ApiResult<Blob> {
    let id = BlobId::parse_bare(uuid)?;
    state
        .repo
        .blob(principal.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("blob"))
}

/// The content, hashed as it is sent and checked against the blob's recorded hash.
#[utoipa::path(get, path = "/archivist/v1/blobs/{uuid}", operation_id = "Blobs_Download", tag = "blobs",
    params(
        ("uuid" = uuid::Uuid, Path, description = "The blob's id."),
        ScanGateQuery,
        ("Range" = Option<String>, Header, nullable = false, description = "`bytes=<first>-<last>`: one range."),
    ),
    responses(Downloaded, Errors))]
#[tracing::instrument(skip_all)]
async fn download(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
    gate: ScanGate,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let blob = find_blob(&state, &principal, &uuid).await?;
    gate.check(&blob)?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let check = DownloadCheck {
        route: "blobs",
        expected: Vec::new(),
        // Blobs keep no file name: the client saves it under its id.
        file_name: Some(blob.id.to_string()),
    };
    verified_download(state.repo.clone(), &state.content, blob, check, range).await
}

#[utoipa::path(get, path = "/archivist/v1/blobs/{uuid}/info", operation_id = "Blobs_Info", tag = "blobs",
    params(("uuid" = uuid::Uuid, Path, description = "The blob's id.")),
    responses((status = 200, description = "The blob's metadata and scan state.", body = BlobResponse), Errors))]
#[tracing::instrument(skip_all)]
async fn info(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<BlobResponse>> {
    let blob = find_blob(&state, &principal, &uuid).await?;
    crate::blob::prove_record(&state.repo, &state.content, &blob, "blobs_info").await?;
    Ok(Json(BlobResponse::new(&blob, BlobId(blob.id).identity())))
}
