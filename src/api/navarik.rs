//! Navarik-style attachments (seed 004): files attached to a document of a workspace.
//! attachd keeps no workspaces or documents: their ids name a container in the caller's
//! tenant. The file is a blob like any other, and every download is checked against the
//! hash recorded when it was attached.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use super::docs::HashValue;
use super::docs::{Binary, Downloaded, Errors};
use super::routes::Routes;
use super::scan_gate::ScanGateQuery;
use super::upload_form::read_upload;
use super::{without_nul, PathParams, QueryParams};
use crate::api::content::verified_download;
use crate::auth::Principal;
use crate::blob::DownloadCheck;
use crate::blob::ScanGate;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::ids::{parse_uuid, BlobId};
use crate::repo::{NewRecord, Record, RecordField};
use crate::state::AppState;

const BASE: &str = "/v2/workspaces/{workspace}/documents/{document}/attachments";
const ENTITY_TYPE: &str = "navarik.bridge.attachment";
/// Optional details of an attachment, sent as query parameters or form parts.
const DETAILS: [&str; 3] = ["clientReferenceNumber", "vendorReferenceNumber", "description"];
/// The longest detail, in characters: three of them still fit a URL hyper accepts (64 KiB).
const MAX_DETAIL: usize = 1024;
const DEFAULT_LIMIT: i64 = 25;
const MAX_LIMIT: i64 = 1000;
const DEFAULT_SORT: &str = "created_at:desc,id:asc";

pub fn routes() -> Routes {
    let one = format!("{BASE}/{{attachment}}");
    Routes::new()
        .get(BASE, list)
        // The size limit is enforced on the streamed file itself (413), not on the body.
        .add(Method::POST, BASE, post(create).layer(DefaultBodyLimit::disable()))
        .get(&one, get_one)
        .delete(&one, delete)
        .get(&format!("{one}/content"), content)
}

#[derive(OpenApi)]
#[openapi(paths(list, create, get_one, delete, content))]
pub struct Doc;

/// Navarik's entity envelope around one attachment.
#[derive(Serialize, ToSchema)]
#[schema(as = navarikAttachmentEnvelope)]
struct Envelope {
    /// Always `navarik.bridge.attachment`.
    #[serde(rename = "type")]
    #[schema(pattern = "^navarik\\.bridge\\.attachment$")]
    entity_type: &'static str,
    body: AttachmentBody,
}

/// Navarik's attachment model, with the recorded hash and times added.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = navarikAttachment)]
struct AttachmentBody {
    id: Uuid,
    workspace: Uuid,
    document: Uuid,
    /// The file name.
    caption: String,
    size: i64,
    /// The blob holding the content, `blobs/<uuid>`: usable in DataTrails attachment attributes.
    location: String,
    /// The media type.
    format: String,
    client_reference_number: Option<String>,
    vendor_reference_number: Option<String>,
    description: Option<String>,
    /// The SHA-256 recorded when the file was attached; every download is checked against it.
    hash: HashValue,
    created_at: String,
    /// Only on the answer to DELETE.
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_at: Option<String>,
}

/// The document a request names, as a container of the caller's tenant.
struct Document {
    workspace: Uuid,
    document: Uuid,
}

impl Document {
    fn parse(workspace: &str, document: &str) -> ApiResult<Self> {
        Ok(Self {
            workspace: parse_uuid(workspace, "workspace")?,
            document: parse_uuid(document, "document")?,
        })
    }

    fn container(&self) -> String {
        format!("workspaces/{}/documents/{}", self.workspace, self.document)
    }

    fn envelope(&self, record: &Record) -> ApiResult<Envelope> {
        let (Some(blob), Some(hash)) = (record.blob_id, record.hash_sha256.clone()) else {
            return Err(ApiError::internal(anyhow::anyhow!(
                "attachment {} has no blob",
                record.id
            )));
        };
        let millis = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Ok(Envelope {
            entity_type: ENTITY_TYPE,
            body: AttachmentBody {
                id: record.id,
                workspace: self.workspace,
                document: self.document,
                caption: record.title.clone(),
                size: record.size.unwrap_or_default(),
                location: BlobId(blob).identity(),
                format: record.mime_type.clone().unwrap_or_default(),
                client_reference_number: record.client_reference.clone(),
                vendor_reference_number: record.vendor_reference.clone(),
                description: record.description.clone(),
                hash: HashValue {
                    alg: "SHA256",
                    value: hash,
                },
                created_at: millis(record.created_at),
                deleted_at: record.deleted_at.map(millis),
            },
        })
    }

    async fn record(&self, state: &AppState, principal: &Principal, attachment: &str) -> ApiResult<Record> {
        let id = parse_uuid(attachment, "attachment")?;
        state
            .repo
            .record(principal.tenant, &self.container(), id)
            .await?
            .ok_or_else(|| ApiError::not_found("attachment"))
    }
}

type DocumentPath = PathParams<(String, String)>;
type AttachmentPath = PathParams<(String, String, String)>;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// How many attachments to return, 1 to 1000.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000, default = 25)]
    limit: Option<String>,
    /// How many to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    offset: Option<String>,
    /// Comma-separated `field:asc|desc` terms; fields `created_at`, `id`, `caption`, `size`, `format`.
    #[param(
        default = "created_at:desc,id:asc",
        pattern = r"^[ \t]*(created_at|id|caption|size|format)(:(asc|desc))?[ \t]*(,[ \t]*(created_at|id|caption|size|format)(:(asc|desc))?[ \t]*)*$"
    )]
    sort: Option<String>,
}

fn number(value: Option<&str>, name: &str, default: i64, range: std::ops::RangeInclusive<i64>) -> ApiResult<i64> {
    let Some(text) = value else {
        return Ok(default);
    };
    text.parse::<i64>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{name} must be an integer from {} to {}, not {text:?}",
            range.start(),
            range.end()
        ))
    })
}

/// `created_at:desc, id:asc` → the fields and whether each is descending. Exactly what the
/// documented pattern matches, including the one final newline its `$` allows.
fn parse_sort(sort: &str) -> ApiResult<Vec<(RecordField, bool)>> {
    let sort = sort.strip_suffix('\n').unwrap_or(sort);
    let mut order = Vec::new();
    for term in sort.split(',').map(|t| t.trim_matches([' ', '\t'])) {
        let (name, direction) = term.split_once(':').unwrap_or((term, "asc"));
        let field = match name {
            "created_at" => RecordField::Created,
            "id" => RecordField::Id,
            "caption" => RecordField::Title,
            "size" => RecordField::Size,
            "format" => RecordField::MimeType,
            other => {
                return Err(ApiError::bad_request(format!(
                    "cannot sort by {other:?}: use created_at, id, caption, size or format"
                )))
            }
        };
        let descending = match direction {
            "asc" => false,
            "desc" => true,
            other => {
                return Err(ApiError::bad_request(format!(
                    "sort direction must be asc or desc, not {other:?}"
                )))
            }
        };
        order.push((field, descending));
    }
    Ok(order)
}

/// A document's attachments: an array of envelopes.
#[utoipa::path(get, path = "/v2/workspaces/{workspace_id}/documents/{document_id}/attachments",
    operation_id = "Navarik_ListAttachments", tag = "navarik",
    params(("workspace_id" = uuid::Uuid, Path, description = "The workspace's id."),
        ("document_id" = uuid::Uuid, Path, description = "The document's id."),
        ListQuery),
    responses((status = 200, description = "The attachments, empty for a document with none.", body = Vec<Envelope>), Errors))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((workspace, document)): DocumentPath,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<Envelope>>> {
    let doc = Document::parse(&workspace, &document)?;
    let limit = number(query.limit.as_deref(), "limit", DEFAULT_LIMIT, 1..=MAX_LIMIT)?;
    let offset = number(query.offset.as_deref(), "offset", 0, 0..=i64::MAX)?;
    let order = parse_sort(query.sort.as_deref().unwrap_or(DEFAULT_SORT))?;
    let records = state
        .repo
        .list_records(principal.tenant, &doc.container(), &order, offset, limit)
        .await?;
    records
        .iter()
        .map(|r| doc.envelope(r))
        .collect::<ApiResult<_>>()
        .map(Json)
}

/// The upload form: the file. The details may come as form parts of the same names
/// instead of query parameters, but not both ways at once.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NavarikUploadForm {
    file: Binary,
}

/// The details, when sent as query parameters.
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
struct DetailsQuery {
    /// The client system's own id for the attachment.
    #[param(max_length = 1024)]
    client_reference_number: Option<String>,
    /// The vendor system's own id for the attachment.
    #[param(max_length = 1024)]
    vendor_reference_number: Option<String>,
    /// A description of the file.
    #[param(max_length = 1024)]
    description: Option<String>,
}

impl DetailsQuery {
    fn get(&self, name: &str) -> Option<&String> {
        match name {
            "clientReferenceNumber" => self.client_reference_number.as_ref(),
            "vendorReferenceNumber" => self.vendor_reference_number.as_ref(),
            _ => self.description.as_ref(),
        }
    }
}

fn check_detail(name: &str, value: &str) -> ApiResult<()> {
    without_nul(value, name)?;
    if value.chars().count() > MAX_DETAIL {
        return Err(ApiError::bad_request(format!(
            "{name} is longer than {MAX_DETAIL} characters"
        )));
    }
    Ok(())
}

/// Attaches a file to a document. It is stored as a blob and hashed as it streams in.
#[utoipa::path(post, path = "/v2/workspaces/{workspace_id}/documents/{document_id}/attachments",
    operation_id = "Navarik_CreateAttachment", tag = "navarik",
    params(("workspace_id" = uuid::Uuid, Path, description = "The workspace's id."),
        ("document_id" = uuid::Uuid, Path, description = "The document's id."),
        DetailsQuery),
    request_body(content = NavarikUploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Attached; `Location` is its descriptor.", body = Envelope),
        (status = 402, description = "Over a tenant quota; the message names it (code 8).", body = ErrorBody),
        (status = 413, description = "Larger than the server's blob size limit (code 8).", body = ErrorBody),
        Errors,
    ))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((workspace, document)): DocumentPath,
    QueryParams(details): QueryParams<DetailsQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let doc = Document::parse(&workspace, &document)?;
    for name in DETAILS {
        if let Some(value) = details.get(name) {
            check_detail(name, value)?;
        }
    }
    let mut upload = read_upload(&state, &principal, &headers, body, &DETAILS).await?;
    let mut detail = |name: &str| match (upload.text.remove(name), details.get(name)) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
            "{name} was sent both as a form part and in the query string"
        ))),
        (Some(from_form), None) => check_detail(name, &from_form).map(|()| Some(from_form)),
        (None, from_query) => Ok(from_query.cloned()),
    };
    let (client_reference, vendor_reference, description) =
        match (detail(DETAILS[0]), detail(DETAILS[1]), detail(DETAILS[2])) {
            (Ok(client), Ok(vendor), Ok(description)) => (client, vendor, description),
            (Err(err), ..) | (_, Err(err), _) | (.., Err(err)) => {
                upload.blob.abort().await;
                return Err(err);
            }
        };
    let id = Uuid::new_v4();
    let blob_id = upload.blob.id();
    let record = NewRecord {
        id,
        container: doc.container(),
        blob: Some((blob_id, upload.blob.hash().to_string())),
        title: upload.file_name.clone().unwrap_or_else(|| id.to_string()),
        description,
        client_reference,
        vendor_reference,
        tags: "[]".into(),
        owner: principal.subject.clone(),
        ..NewRecord::default()
    };
    upload.blob.commit_with(Some(&record)).await?;
    tracing::info!(attachment = %id, blob = %blob_id, "navarik attachment stored");
    let stored = doc.record(&state, &principal, &id.to_string()).await?;
    let location = format!(
        "/v2/workspaces/{}/documents/{}/attachments/{id}",
        doc.workspace, doc.document
    );
    let mut response = (StatusCode::CREATED, Json(doc.envelope(&stored)?)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// One attachment's descriptor.
#[utoipa::path(get, path = "/v2/workspaces/{workspace_id}/documents/{document_id}/attachments/{attachment_id}",
    operation_id = "Navarik_GetAttachment", tag = "navarik",
    params(("workspace_id" = uuid::Uuid, Path, description = "The workspace's id."),
        ("document_id" = uuid::Uuid, Path, description = "The document's id."),
        ("attachment_id" = uuid::Uuid, Path, description = "The attachment's id.")),
    responses((status = 200, description = "The attachment.", body = Envelope), Errors))]
async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((workspace, document, attachment)): AttachmentPath,
) -> ApiResult<Json<Envelope>> {
    let doc = Document::parse(&workspace, &document)?;
    let record = doc.record(&state, &principal, &attachment).await?;
    doc.envelope(&record).map(Json)
}

/// Removes an attachment from its document. The blob stays: other records may name it.
#[utoipa::path(delete, path = "/v2/workspaces/{workspace_id}/documents/{document_id}/attachments/{attachment_id}",
    operation_id = "Navarik_DeleteAttachment", tag = "navarik",
    params(("workspace_id" = uuid::Uuid, Path, description = "The workspace's id."),
        ("document_id" = uuid::Uuid, Path, description = "The document's id."),
        ("attachment_id" = uuid::Uuid, Path, description = "The attachment's id.")),
    responses((status = 200, description = "The attachment as it was last, with `deletedAt`.", body = Envelope), Errors))]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((workspace, document, attachment)): AttachmentPath,
) -> ApiResult<Json<Envelope>> {
    let doc = Document::parse(&workspace, &document)?;
    let id = parse_uuid(&attachment, "attachment")?;
    let record = state
        .repo
        .delete_record(principal.tenant, &doc.container(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("attachment"))?;
    doc.envelope(&record).map(Json)
}

/// The file, checked against the hash recorded when it was attached.
#[utoipa::path(get, path = "/v2/workspaces/{workspace_id}/documents/{document_id}/attachments/{attachment_id}/content",
    operation_id = "Navarik_DownloadAttachment", tag = "navarik",
    params(("workspace_id" = uuid::Uuid, Path, description = "The workspace's id."),
        ("document_id" = uuid::Uuid, Path, description = "The document's id."),
        ("attachment_id" = uuid::Uuid, Path, description = "The attachment's id."),
        ScanGateQuery,
        ("Range" = Option<String>, Header, nullable = false, description = "`bytes=<first>-<last>`: one range.")),
    responses(Downloaded, Errors))]
async fn content(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((workspace, document, attachment)): AttachmentPath,
    gate: ScanGate,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let doc = Document::parse(&workspace, &document)?;
    let record = doc.record(&state, &principal, &attachment).await?;
    let (Some(blob_id), Some(hash)) = (record.blob_id, record.hash_sha256) else {
        return Err(ApiError::not_found("attachment content"));
    };
    let blob = state
        .repo
        .blob(principal.tenant, BlobId(blob_id))
        .await?
        .ok_or_else(|| ApiError::not_found("attachment content"))?;
    gate.check(&blob)?;
    let check = DownloadCheck {
        route: "navarik/attachments",
        expected: vec![hash],
        file_name: Some(record.title.clone()),
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    verified_download(state.repo.clone(), &state.content, blob, check, range).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_parse_as_navarik_writes_them() {
        let order = parse_sort("created_at:desc, id:asc").map_err(|e| e.to_string());
        assert_eq!(order, Ok(vec![(RecordField::Created, true), (RecordField::Id, false)]));
        assert_eq!(
            parse_sort("size").map_err(|e| e.to_string()),
            Ok(vec![(RecordField::Size, false)])
        );
        assert!(parse_sort("owner:asc").is_err());
        assert!(parse_sort("size,").is_err());
        assert!(parse_sort("").is_err());
        assert!(parse_sort("size :asc").is_err());
        assert!(parse_sort("size:up").is_err());
    }
}
