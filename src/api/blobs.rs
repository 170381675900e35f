//! `/archivist/v1/blobs`: streamed upload, verified download, info.

use axum::extract::multipart::Field;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::Method;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::routing::post;
use axum::Json;
use std::time::Duration;

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::openapi::{Binary, Downloaded, Errors};
use super::routes::Routes;
use super::PathParams;
use crate::auth::Principal;
use crate::blob::{store_upload, too_large, verified_download, DownloadCheck, UploadSource};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ids::{BlobId, TenantId};
use crate::repo::Blob;
use crate::AppState;

/// Multipart framing and other form parts a client may send around the file.
const MULTIPART_OVERHEAD: u64 = 1 << 20;

/// After refusing an upload, at most this much of the rest of its body is read and thrown
/// away, so a client still sending can finish and read the error instead of a broken pipe
/// (hyper has no lingering close). Clients sending `Expect: 100-continue` send nothing.
const DRAIN_BYTES: u64 = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

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

/// `{"alg": "SHA256", "value": "<hex>"}`.
#[derive(Serialize, ToSchema)]
pub struct HashValue {
    #[schema(pattern = "^SHA256$")]
    pub alg: &'static str,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub value: String,
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
    pub scanned_timestamp: String,
    /// Set once a download found the content altered; absent on intact blobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tampered_timestamp: Option<String>,
}

impl BlobResponse {
    /// The response for `blob`, named `identity` (`blobs/…` or `attachments/…`).
    pub fn new(blob: &Blob, identity: String) -> Self {
        let rfc3339 = super::timestamp;
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
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Json<BlobResponse>> {
    let limits = state.upload_limits;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut multipart =
        multipart.map_err(|r| ApiError::bad_request(format!("expected multipart/form-data: {}", r.body_text())))?;
    if let Some(len) = declared_length.filter(|len| *len > limits.max_blob_bytes.saturating_add(MULTIPART_OVERHEAD)) {
        let expects_continue = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !expects_continue && len <= DRAIN_BYTES {
            Drain::new().rest(&mut multipart).await;
        }
        return Err(too_large(limits.max_blob_bytes));
    }
    let malformed =
        |e: axum::extract::multipart::MultipartError| ApiError::bad_request(format!("malformed multipart body: {e}"));
    let Some(mut field) = multipart.next_field().await.map_err(malformed)? else {
        return Err(ApiError::bad_request("missing form part \"file\""));
    };
    if field.name() != Some("file") {
        let name = part_name(&field);
        drop(field);
        return Err(unexpected_part(name, &mut multipart).await);
    }
    let source = UploadSource {
        content_type: field.content_type().map(str::to_string),
        file_name: field.file_name().map(str::to_string),
    };
    let pending = match store_upload(state.repo.as_ref(), &principal, source, &mut field, limits).await {
        Ok(pending) => pending,
        Err(err @ ApiError::PayloadTooLarge(_)) => {
            let mut drain = Drain::new();
            if drain.field(&mut field).await {
                drop(field);
                drain.rest(&mut multipart).await;
            }
            return Err(err);
        }
        Err(err) => return Err(err),
    };
    drop(field);
    // The body must end after the file: a part the server would drop is refused, not lost,
    // and a body cut short stores nothing.
    match multipart.next_field().await {
        Ok(None) => {}
        Ok(Some(extra)) => {
            let name = part_name(&extra);
            drop(extra);
            pending.abort().await;
            return Err(unexpected_part(name, &mut multipart).await);
        }
        Err(err) => {
            pending.abort().await;
            return Err(malformed(err));
        }
    }
    let blob = pending.commit().await?;
    tracing::info!(blob = %BlobId(blob.id), size = blob.size, "blob stored");
    Ok(Json(BlobResponse::new(&blob, BlobId(blob.id).identity())))
}

fn part_name(field: &Field<'_>) -> String {
    field.name().unwrap_or_default().to_string()
}

/// The answer to a form part other than the one `file`, once the rest of the body is read.
async fn unexpected_part(name: String, multipart: &mut Multipart) -> ApiError {
    Drain::new().rest(multipart).await;
    ApiError::bad_request(format!(
        "unexpected form part {name:?}: send the file as the one part named \"file\""
    ))
}

/// Reads and discards what is left of a refused upload, within `DRAIN_BYTES` and `DRAIN_TIME`.
struct Drain {
    left: u64,
    deadline: tokio::time::Instant,
}

impl Drain {
    fn new() -> Self {
        Self {
            left: DRAIN_BYTES,
            deadline: tokio::time::Instant::now() + DRAIN_TIME,
        }
    }

    /// False once the budget is spent.
    async fn field(&mut self, field: &mut Field<'_>) -> bool {
        loop {
            match tokio::time::timeout_at(self.deadline, field.chunk()).await {
                Ok(Ok(Some(piece))) => match self.left.checked_sub(piece.len() as u64) {
                    Some(left) => self.left = left,
                    None => return false,
                },
                Ok(Ok(None)) => return true,
                Ok(Err(_)) | Err(_) => return false,
            }
        }
    }

    async fn rest(&mut self, multipart: &mut Multipart) {
        while let Ok(Ok(Some(mut field))) = tokio::time::timeout_at(self.deadline, multipart.next_field()).await {
            if !self.field(&mut field).await {
                return;
            }
        }
    }
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
    };
    verified_download(state.repo.clone(), blob, check, range).await
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
    Ok(Json(BlobResponse::new(&blob, BlobId(blob.id).identity())))
}

/// The query parameters of the scan gate.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanGateQuery {
    /// Serve only content scanned clean (`SCANNED_OK`); anything else is 400.
    #[param(value_type = Option<bool>)]
    strict: Option<String>,
    /// Serve content even when it was scanned as `SCANNED_BAD` (otherwise 403).
    #[param(value_type = Option<bool>)]
    allow_insecure: Option<String>,
}

/// The scan gate of every download: `strict=true` serves only `SCANNED_OK` content;
/// `SCANNED_BAD` content is refused unless `allow_insecure=true`.
#[derive(Debug, Default)]
pub struct ScanGate {
    strict: bool,
    allow_insecure: bool,
}

impl ScanGate {
    pub fn check(&self, blob: &Blob) -> ApiResult<()> {
        let status = blob.scanned_status.as_str();
        if status == "SCANNED_BAD" && !self.allow_insecure {
            return Err(ApiError::Forbidden(format!(
                "the content was scanned as SCANNED_BAD ({}); add allow_insecure=true to download it anyway",
                blob.scanned_bad_reason
            )));
        }
        if self.strict && status != "SCANNED_OK" {
            return Err(ApiError::bad_request(format!(
                "strict=true serves only SCANNED_OK content; this content is {status}"
            )));
        }
        Ok(())
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ScanGate {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw: ScanGateQuery = serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
        let flag = |value: Option<String>, name: &str| match value.as_deref() {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "{name} must be true or false, not {other:?}"
            ))),
        };
        Ok(Self {
            strict: flag(raw.strict, "strict")?,
            allow_insecure: flag(raw.allow_insecure, "allow_insecure")?,
        })
    }
}
