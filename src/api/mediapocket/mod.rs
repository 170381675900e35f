//! Mediapocket-style attachments (seed 003) of assets and projects, authenticated by
//! `X-API-KEY` and answering errors as `{"error": "…"}`. An asset is a DataTrails asset; a
//! project is an asset-free event. Their attachments are the blobs their attributes
//! reference (read-only here, downloaded through `/archivist/v2/attachments`) and the
//! placeholders created here, which hold a title but no content yet.

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use super::{json_text, public_url, without_nul};
use crate::auth::Principal;
use crate::blob::find_references;
use crate::error::ApiError;
use crate::ids::{AssetId, EventId, TenantId};
use crate::repo::{NewRecord, Record, RecordField};
use crate::state::AppState;
use caller::ApiKeyCaller;
use errors::{unprocessable, Failure, MediapocketError, MediapocketErrors, MissingTitle};

mod caller;
mod errors;

pub fn routes() -> super::routes::Routes {
    super::routes::Routes::new()
        .get("/api/v2/assets/{asset}/attachments", asset_list)
        .post("/api/v2/assets/{asset}/attachments", asset_create)
        .get("/api/v2/projects/{project}/attachments", project_list)
        .post("/api/v2/projects/{project}/attachments", project_create)
}

#[derive(OpenApi)]
#[openapi(
    paths(asset_list, asset_create, project_list, project_create),
    components(schemas(MediapocketError))
)]
pub struct Doc;

const MAX_TITLE: usize = 255;
const MAX_DESCRIPTION: usize = 4096;
const MAX_TAGS: usize = 100;
/// Placeholders listed per asset or project at most.
const MAX_PLACEHOLDERS: i64 = 1000;

/// Mediapocket's attachment, with the SHA-256 and a download URL for content held here.
#[derive(Serialize, ToSchema)]
#[schema(as = mediapocketAttachment)]
struct Attachment {
    id: Uuid,
    external_id: Option<String>,
    /// The asset's or project's id.
    parent_id: Uuid,
    project_id: Option<Uuid>,
    owner: String,
    title: String,
    description: Option<String>,
    category: Option<String>,
    tags: Vec<String>,
    ai_tags: Vec<String>,
    status: &'static str,
    /// `placeholder` until content is attached, else the content's media type.
    media_type: String,
    original_filename: Option<String>,
    drop_folder_id: Option<String>,
    md5_sum: Option<String>,
    sha256_sum: Option<String>,
    /// Where the content can be downloaded with the same token, verified against `sha256_sum`.
    download_url: Option<String>,
    created_date: String,
    modification_date: String,
    deleted: Option<bool>,
}

fn millis(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Attachment {
    fn placeholder(record: &Record, parent: Uuid) -> Self {
        Self {
            id: record.id,
            external_id: record.external_id.clone(),
            parent_id: parent,
            project_id: None,
            owner: record.owner.clone(),
            title: record.title.clone(),
            description: record.description.clone(),
            category: record.category.clone(),
            tags: serde_json::from_str(&record.tags).unwrap_or_default(),
            ai_tags: Vec::new(),
            status: "open",
            media_type: "placeholder".into(),
            original_filename: None,
            drop_folder_id: None,
            md5_sum: None,
            sha256_sum: None,
            download_url: None,
            created_date: millis(record.created_at),
            modification_date: millis(record.modified_at),
            deleted: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AttachmentList {
    attachments: Vec<Attachment>,
}

/// The answer to a create: Mediapocket names the attachment `asset`.
#[derive(Serialize, ToSchema)]
struct Created {
    asset: Attachment,
}

/// An asset or a project of the caller's tenant, with the attribute tree naming its blobs.
struct Parent {
    tenant: TenantId,
    id: Uuid,
    container: String,
    attributes: Value,
    /// The DataTrails attachment route for this parent, e.g. `/archivist/v2/attachments/assets/<a>`.
    download_base: String,
}

impl Parent {
    async fn asset(state: &AppState, tenant: TenantId, path: IdPath) -> Result<Self, Failure> {
        let id = AssetId::parse_bare(&path_id(path)?)?;
        let asset = state
            .repo
            .asset(tenant, id)
            .await?
            .ok_or_else(|| ApiError::not_found("asset"))?;
        Ok(Self {
            tenant,
            id: id.0,
            container: id.identity(),
            attributes: json_text(&asset.attributes),
            download_base: format!("/archivist/v2/attachments/assets/{}", id.0),
        })
    }

    async fn project(state: &AppState, tenant: TenantId, path: IdPath) -> Result<Self, Failure> {
        let id = path_id(path)?;
        let id =
            EventId::parse_bare(&id).map_err(|_| ApiError::bad_request(format!("malformed project id: {id:?}")))?;
        let event = state
            .repo
            .event(tenant, id)
            .await?
            .filter(|e| e.asset_id.is_none())
            .ok_or_else(|| ApiError::not_found("project"))?;
        Ok(Self {
            tenant,
            id: id.0,
            container: id.identity(),
            attributes: json_text(&event.event_attributes),
            download_base: format!("/archivist/v2/attachments/events/{}", id.0),
        })
    }

    /// Blobs the attributes reference, then placeholders, in creation order.
    async fn attachments(&self, state: &AppState, headers: &HeaderMap) -> Result<Vec<Attachment>, Failure> {
        // Each with the time it was made, for the order.
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        for reference in find_references("attributes", &self.attributes).unwrap_or_default() {
            if !seen.insert(reference.blob) {
                continue;
            }
            let Some(blob) = state.repo.blob(self.tenant, reference.blob).await? else {
                continue;
            };
            let download = format!("{}/{}", self.download_base, blob.id);
            found.push((
                blob.timestamp_accepted,
                Attachment {
                    id: blob.id,
                    external_id: None,
                    parent_id: self.id,
                    project_id: None,
                    owner: blob.subject.clone(),
                    title: reference.file_name.clone().unwrap_or_else(|| blob.id.to_string()),
                    description: None,
                    category: None,
                    tags: Vec::new(),
                    ai_tags: Vec::new(),
                    status: "open",
                    media_type: blob.mime_type.clone(),
                    original_filename: reference.file_name.clone(),
                    drop_folder_id: None,
                    md5_sum: None,
                    sha256_sum: Some(reference.hash.clone()),
                    download_url: Some(public_url(headers, &download)),
                    created_date: millis(blob.timestamp_accepted),
                    modification_date: millis(blob.timestamp_accepted),
                    deleted: None,
                },
            ));
        }
        let placeholders = state
            .repo
            .list_records(
                self.tenant,
                &self.container,
                &[(RecordField::Created, false)],
                0,
                MAX_PLACEHOLDERS,
            )
            .await?;
        found.extend(
            placeholders
                .iter()
                .map(|r| (r.created_at, Attachment::placeholder(r, self.id))),
        );
        found.sort_by_key(|(made, attachment)| (*made, attachment.id));
        Ok(found.into_iter().map(|(_, attachment)| attachment).collect())
    }

    async fn create(&self, state: &AppState, principal: &Principal, body: Result<Bytes, BytesRejection>) -> Response {
        match self.create_placeholder(state, principal, body).await {
            Ok(Ok(created)) => Json(created).into_response(),
            Ok(Err(missing)) => missing,
            Err(failure) => failure.into_response(),
        }
    }

    /// The created placeholder, a 422 for a missing title, or another failure.
    async fn create_placeholder(
        &self,
        state: &AppState,
        principal: &Principal,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Result<Created, Response>, Failure> {
        let body = body.map_err(|r| ApiError::bad_request(format!("unreadable body: {}", r.body_text())))?;
        let fields: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice(&body) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(ApiError::bad_request("invalid JSON body: expected an object").into()),
                Err(e) => return Err(ApiError::bad_request(format!("invalid JSON body: {e}")).into()),
            }
        };
        let Some(details) = Details::read(fields)? else {
            return Ok(Err(unprocessable("Missing parameter title")));
        };
        let record = NewRecord {
            id: Uuid::new_v4(),
            container: self.container.clone(),
            title: details.title,
            description: details.description,
            external_id: details.external_id,
            category: details.category,
            tags: serde_json::to_string(&details.tags).map_err(ApiError::internal)?,
            owner: principal.subject.clone(),
            ..NewRecord::default()
        };
        let stored = state.repo.create_record(self.tenant, &record).await?;
        Ok(Ok(Created {
            asset: Attachment::placeholder(&stored, self.id),
        }))
    }
}

/// What a placeholder may be created with.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NewPlaceholder {
    #[schema(min_length = 1, max_length = 255)]
    title: String,
    #[schema(max_length = 4096)]
    description: Option<String>,
    #[schema(max_length = 255)]
    external_id: Option<String>,
    #[schema(max_length = 255)]
    category: Option<String>,
    #[schema(max_items = 100)]
    tags: Option<Vec<String>>,
}

struct Details {
    title: String,
    description: Option<String>,
    external_id: Option<String>,
    category: Option<String>,
    tags: Vec<String>,
}

impl Details {
    /// The fields, checked as Mediapocket words its messages; `None` when the title is missing.
    fn read(mut fields: Map<String, Value>) -> Result<Option<Self>, ApiError> {
        let known = ["title", "description", "external_id", "category", "tags"];
        if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!("Unknown parameter {unknown}")));
        }
        let title = match fields.remove("title") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(title)) if title.is_empty() => return Ok(None),
            Some(Value::String(title)) => title,
            Some(_) => return Err(ApiError::bad_request("Title must be a String")),
        };
        crate::api::plain_name(&title, "Title")?;
        let title = checked("Title", title, MAX_TITLE)?;
        let mut text = |name: &str, label: &str, max: usize| match fields.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => checked(label, value, max).map(Some),
            Some(_) => Err(ApiError::bad_request(format!("{label} must be a String"))),
        };
        let description = text("description", "Description", MAX_DESCRIPTION)?;
        let external_id = text("external_id", "External id", MAX_TITLE)?;
        let category = text("category", "Category", MAX_TITLE)?;
        let tags = match fields.remove("tags") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_TAGS => items
                .into_iter()
                .map(|item| match item {
                    Value::String(tag) => checked("Tag", tag, MAX_TITLE),
                    _ => Err(ApiError::bad_request("Tags must be an Array of Strings")),
                })
                .collect::<Result<_, _>>()?,
            Some(Value::Array(_)) => {
                return Err(ApiError::bad_request(format!(
                    "Tags are too many (maximum is {MAX_TAGS})"
                )))
            }
            Some(_) => return Err(ApiError::bad_request("Tags must be an Array of Strings")),
        };
        Ok(Some(Self {
            title,
            description,
            external_id,
            category,
            tags,
        }))
    }
}

fn checked(label: &str, value: String, max: usize) -> Result<String, ApiError> {
    without_nul(&value, label)?;
    if value.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{label} is too long (maximum is {max} characters)"
        )));
    }
    Ok(value)
}

/// The one path parameter, or a failure in Mediapocket's shape.
fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, Failure> {
    path.map(|Path(id)| id)
        .map_err(|r| ApiError::bad_request(format!("invalid path: {}", r.body_text())).into())
}

type IdPath = Result<Path<String>, PathRejection>;

/// A list handler's answer, once the path has named (or failed to name) the parent.
async fn list_of(
    state: &AppState,
    parent: Result<Parent, Failure>,
    headers: &HeaderMap,
) -> Result<Json<AttachmentList>, Failure> {
    let attachments = parent?.attachments(state, headers).await?;
    Ok(Json(AttachmentList { attachments }))
}

/// A create handler's answer, likewise.
async fn create_on(
    state: &AppState,
    caller: &Principal,
    parent: Result<Parent, Failure>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match parent {
        Ok(parent) => parent.create(state, caller, body).await,
        Err(failure) => failure.into_response(),
    }
}

/// An asset's attachments: the blobs its attributes reference, and placeholders.
#[utoipa::path(get, path = "/api/v2/assets/{asset_id}/attachments", operation_id = "Mediapocket_ListAssetAttachments",
    tag = "mediapocket", security(("api_key" = []), ("bearer" = [])),
    params(("asset_id" = uuid::Uuid, Path, description = "The DataTrails asset's id.")),
    responses((status = 200, description = "The attachments, oldest first.", body = AttachmentList), MediapocketErrors))]
async fn asset_list(
    State(state): State<AppState>,
    caller: ApiKeyCaller,
    path: IdPath,
    headers: HeaderMap,
) -> Result<Json<AttachmentList>, Failure> {
    list_of(&state, Parent::asset(&state, caller.0.tenant, path).await, &headers).await
}

/// Creates a placeholder attachment of an asset: a title, no content yet.
#[utoipa::path(post, path = "/api/v2/assets/{asset_id}/attachments", operation_id = "Mediapocket_CreateAssetAttachment",
    tag = "mediapocket", security(("api_key" = []), ("bearer" = [])),
    params(("asset_id" = uuid::Uuid, Path, description = "The DataTrails asset's id.")),
    request_body(content = NewPlaceholder, content_type = "application/json"),
    responses((status = 200, description = "The placeholder, under `asset`.", body = Created), MissingTitle, MediapocketErrors))]
async fn asset_create(
    State(state): State<AppState>,
    caller: ApiKeyCaller,
    path: IdPath,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let parent = Parent::asset(&state, caller.0.tenant, path).await;
    create_on(&state, &caller.0, parent, body).await
}

/// A project's attachments; a project is an asset-free event.
#[utoipa::path(get, path = "/api/v2/projects/{project_id}/attachments", operation_id = "Mediapocket_ListProjectAttachments",
    tag = "mediapocket", security(("api_key" = []), ("bearer" = [])),
    params(("project_id" = uuid::Uuid, Path, description = "The asset-free event's id.")),
    responses((status = 200, description = "The attachments, oldest first.", body = AttachmentList), MediapocketErrors))]
async fn project_list(
    State(state): State<AppState>,
    caller: ApiKeyCaller,
    path: IdPath,
    headers: HeaderMap,
) -> Result<Json<AttachmentList>, Failure> {
    list_of(&state, Parent::project(&state, caller.0.tenant, path).await, &headers).await
}

/// Creates a placeholder attachment of a project.
#[utoipa::path(post, path = "/api/v2/projects/{project_id}/attachments", operation_id = "Mediapocket_CreateProjectAttachment",
    tag = "mediapocket", security(("api_key" = []), ("bearer" = [])),
    params(("project_id" = uuid::Uuid, Path, description = "The asset-free event's id.")),
    request_body(content = NewPlaceholder, content_type = "application/json"),
    responses((status = 200, description = "The placeholder, under `asset`.", body = Created), MissingTitle, MediapocketErrors))]
async fn project_create(
    State(state): State<AppState>,
    caller: ApiKeyCaller,
    path: IdPath,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let parent = Parent::project(&state, caller.0.tenant, path).await;
    create_on(&state, &caller.0, parent, body).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: Value) -> Result<Option<String>, String> {
        let Value::Object(map) = body else {
            return Err("not an object".into());
        };
        Details::read(map)
            .map(|d| d.map(|d| d.title))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn titles_are_checked_as_mediapocket_words_it() {
        assert_eq!(
            read(json!({"title": "sample attachment"})),
            Ok(Some("sample attachment".into()))
        );
        assert_eq!(read(json!({})), Ok(None));
        assert_eq!(read(json!({"title": ""})), Ok(None));
        assert_eq!(read(json!({"title": "é".repeat(255)})), Ok(Some("é".repeat(255))));
        assert_eq!(
            read(json!({"title": "x".repeat(256)})),
            Err("Title is too long (maximum is 255 characters)".into())
        );
        assert_eq!(read(json!({"title": 7})), Err("Title must be a String".into()));
        assert_eq!(
            read(json!({"title": "t", "owner": "x"})),
            Err("Unknown parameter owner".into())
        );
    }
}
