//! `/archivist/iam/v1/subjects` (subjectsv1): the other tenants this tenant knows, by their
//! keys, and the self subject, which gives this tenant's own keys to hand to others.
//! Administrators manage subjects; any token may read its own tenant's self subject.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{OpenApi, ToSchema};

use crate::api::docs::AdminErrors;
use crate::api::paging::{total_headers, wants_total, CountParams, ListParams, Meaning, PageParams};
use crate::api::routes::Routes;
use crate::api::{timestamp, without_nul, JsonObject, PathParams};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::{EventId, TenantId};
use crate::repo::sharing::{SharingPage, Subject, SubjectFields};
use crate::repo::{FilterField, FilterValue, NewEvent};
use crate::sharing::SELF_SUBJECT;
use crate::state::AppState;

const WHAT: &str = "manage subjects";

pub fn routes() -> Routes {
    let one = "/archivist/iam/v1/subjects/{uuid}";
    Routes::new()
        .post("/archivist/iam/v1/subjects", create)
        .get("/archivist/iam/v1/subjects", list)
        .get(one, get_one)
        .patch(one, update)
        .delete(one, delete)
}

#[derive(OpenApi)]
#[openapi(paths(create, list, get_one, update, delete))]
pub struct Doc;

/// DataTrails' `v1IAMSubject`.
#[derive(Serialize, ToSchema)]
#[schema(as = v1IAMSubject)]
pub struct SubjectResponse {
    /// `subjects/<uuid>`.
    identity: String,
    display_name: String,
    wallet_pub_key: Vec<String>,
    /// Not derived by attachd: always empty.
    wallet_address: Vec<String>,
    tessera_pub_key: Vec<String>,
    tenant: String,
    /// Stored means confirmed: there is no ledger to wait for.
    confirmation_status: &'static str,
}

impl From<&Subject> for SubjectResponse {
    fn from(subject: &Subject) -> Self {
        Self {
            identity: format!("subjects/{}", subject.id),
            display_name: subject.display_name.clone(),
            wallet_pub_key: serde_json::from_str(&subject.wallet_pub_key).unwrap_or_default(),
            wallet_address: Vec::new(),
            tessera_pub_key: serde_json::from_str(&subject.tessera_pub_key).unwrap_or_default(),
            tenant: TenantId(subject.tenant_id).identity(),
            confirmation_status: "CONFIRMED",
        }
    }
}

/// The event that records a sharing change in the owner's log: an event of no asset whose
/// `arc_display_type` says what changed, naming the record and, unless it was deleted, its
/// new state.
pub fn sharing_event(principal: &Principal, change: &str, identity: &str, state: Option<Value>) -> NewEvent {
    let mut attributes = Map::new();
    attributes.insert("arc_display_type".into(), json!(change));
    attributes.insert("arc_sharing_record".into(), json!(identity));
    if let Some(state) = state {
        attributes.insert("arc_sharing_state".into(), state);
    }
    NewEvent {
        id: EventId::new(),
        asset: None,
        operation: String::new(),
        behaviour: String::new(),
        event_attributes: Value::Object(attributes).to_string(),
        asset_attributes: Map::new(),
        trails: "[]".into(),
        timestamp_declared: timestamp(chrono::Utc::now()),
        principal_declared: "{}".into(),
        issuer: principal.issuer.clone(),
        subject: principal.subject.clone(),
    }
}

/// A display name: 1 to 128 characters, as DataTrails allows.
pub fn display_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err(ApiError::bad_request("display_name must be 1 to 128 characters"));
    }
    without_nul(name, "display_name")?;
    Ok(name.to_string())
}

/// A list of keys as JSON text: each non-empty, at most 256 characters, hex (`wallet`) or
/// base64 (`tessera`).
fn keys(field: &str, keys: &[String], hex: bool) -> ApiResult<String> {
    for (i, key) in keys.iter().enumerate() {
        let valid = match hex {
            true => !key.is_empty() && key.len() % 2 == 0 && key.bytes().all(|b| b.is_ascii_hexdigit()),
            false => base64_key(key),
        };
        if !valid || key.len() > 256 {
            let form = if hex { "hex" } else { "base64" };
            return Err(ApiError::bad_request(format!(
                "{field}[{i}] must be a key in {form}, at most 256 characters"
            )));
        }
    }
    serde_json::to_string(keys).map_err(ApiError::internal)
}

/// Whether `key` is standard base64 with its padding, as the request schema describes it.
fn base64_key(key: &str) -> bool {
    use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    // Bits past the last byte are not judged: the schema's pattern cannot say them.
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    lenient.decode(key).is_ok_and(|k| !k.is_empty())
}

/// A wallet key: hex.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(pattern = "^([0-9A-Fa-f]{2}){1,128}$")]
struct HexKey(String);

/// A Tessera key: standard base64.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(pattern = "^([A-Za-z0-9+/]{4}){0,63}([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$")]
struct Base64Key(String);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = v1CreateSubjectRequest)]
struct CreateSubject {
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    display_name: String,
    /// Public keys in hex, as another tenant's self subject gives them.
    #[serde(default)]
    #[schema(value_type = Vec<HexKey>)]
    wallet_pub_key: Vec<String>,
    /// Keys in base64.
    #[serde(default)]
    #[schema(value_type = Vec<Base64Key>)]
    tessera_pub_key: Vec<String>,
}

/// Records another tenant (by its keys, from its self subject) as a subject.
#[utoipa::path(post, path = "/archivist/iam/v1/subjects", operation_id = "Subjects_CreateSubject", tag = "sharing",
    request_body = CreateSubject,
    responses((status = 200, description = "The subject.", body = SubjectResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<JsonObject<CreateSubject>, ApiError>,
) -> ApiResult<Json<SubjectResponse>> {
    principal.require_admin(WHAT)?;
    let JsonObject(body) = body?;
    let fields = SubjectFields {
        display_name: Some(display_name(&body.display_name)?),
        wallet_pub_key: Some(keys("wallet_pub_key", &body.wallet_pub_key, true)?),
        tessera_pub_key: Some(keys("tessera_pub_key", &body.tessera_pub_key, false)?),
    };
    let id = uuid::Uuid::new_v4();
    let identity = format!("subjects/{id}");
    let logged = sharing_event(&principal, "SubjectCreated", &identity, Some(fields_state(&fields)));
    let subject = state
        .repo
        .create_subject(principal.tenant, id, &fields, &logged)
        .await?;
    state.sharing.changed(principal.tenant).await;
    Ok(Json(SubjectResponse::from(&subject)))
}

/// A subject's fields as its change event records them.
fn fields_state(fields: &SubjectFields) -> Value {
    let list = |text: &Option<String>| text.as_deref().map(crate::api::json_text);
    json!({
        "display_name": fields.display_name,
        "wallet_pub_key": list(&fields.wallet_pub_key),
        "tessera_pub_key": list(&fields.tessera_pub_key),
    })
}

fn subject_id(uuid: &str) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(uuid)
        .ok()
        .filter(|_| uuid.len() == 36)
        .ok_or_else(|| ApiError::bad_request("the subject id must be a uuid"))
}

/// A subject, or with the id `00000000-0000-0000-0000-000000000000` this tenant's own keys.
#[utoipa::path(get, path = "/archivist/iam/v1/subjects/{uuid}", operation_id = "Subjects_GetSubject", tag = "sharing",
    params(("uuid" = uuid::Uuid, Path, description = "The subject's id; all zeros for the self subject.")),
    responses((status = 200, description = "The subject.", body = SubjectResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<SubjectResponse>> {
    let id = subject_id(&uuid)?;
    if uuid == SELF_SUBJECT {
        let keys = state.sharing.self_keys(principal.tenant).await?;
        return Ok(Json(SubjectResponse {
            identity: format!("subjects/{SELF_SUBJECT}"),
            display_name: "Self".into(),
            wallet_pub_key: vec![keys.wallet_pub_key],
            wallet_address: Vec::new(),
            tessera_pub_key: vec![keys.tessera_pub_key],
            tenant: principal.tenant.identity(),
            confirmation_status: "CONFIRMED",
        }));
    }
    principal.require_admin(WHAT)?;
    let subject = state.repo.subject(principal.tenant, id).await?;
    Ok(Json(SubjectResponse::from(
        &subject.ok_or_else(|| ApiError::not_found("subject"))?,
    )))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PatchSubject {
    #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
    display_name: Option<String>,
    #[schema(value_type = Option<Vec<HexKey>>)]
    wallet_pub_key: Option<Vec<String>>,
    #[schema(value_type = Option<Vec<Base64Key>>)]
    tessera_pub_key: Option<Vec<String>>,
}

/// Changes the fields given; the self subject cannot be changed.
#[utoipa::path(patch, path = "/archivist/iam/v1/subjects/{uuid}", operation_id = "Subjects_UpdateSubject", tag = "sharing",
    params(("uuid" = uuid::Uuid, Path, description = "The subject's id.")),
    request_body = PatchSubject,
    responses((status = 200, description = "The subject as changed.", body = SubjectResponse), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
    body: Result<JsonObject<PatchSubject>, ApiError>,
) -> ApiResult<Json<SubjectResponse>> {
    principal.require_admin(WHAT)?;
    let id = subject_id(&uuid)?;
    if uuid == SELF_SUBJECT {
        return Err(ApiError::Forbidden("the self subject cannot be changed".into()));
    }
    let JsonObject(body) = body?;
    let fields = SubjectFields {
        display_name: body.display_name.as_deref().map(display_name).transpose()?,
        wallet_pub_key: body
            .wallet_pub_key
            .as_deref()
            .map(|k| keys("wallet_pub_key", k, true))
            .transpose()?,
        tessera_pub_key: body
            .tessera_pub_key
            .as_deref()
            .map(|k| keys("tessera_pub_key", k, false))
            .transpose()?,
    };
    let identity = format!("subjects/{id}");
    let logged = sharing_event(&principal, "SubjectUpdated", &identity, Some(fields_state(&fields)));
    let subject = state
        .repo
        .update_subject(principal.tenant, id, &fields, &logged)
        .await?
        .ok_or_else(|| ApiError::not_found("subject"))?;
    state.sharing.changed(principal.tenant).await;
    Ok(Json(SubjectResponse::from(&subject)))
}

/// Deletes a subject: the policies naming it grant it nothing more.
#[utoipa::path(delete, path = "/archivist/iam/v1/subjects/{uuid}", operation_id = "Subjects_DeleteSubject", tag = "sharing",
    params(("uuid" = uuid::Uuid, Path, description = "The subject's id.")),
    responses((status = 200, description = "Deleted: `{}`.", body = Object), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<Value>> {
    principal.require_admin(WHAT)?;
    let id = subject_id(&uuid)?;
    if uuid == SELF_SUBJECT {
        return Err(ApiError::Forbidden("the self subject cannot be deleted".into()));
    }
    let identity = format!("subjects/{id}");
    let logged = sharing_event(&principal, "SubjectDeleted", &identity, None);
    if !state.repo.delete_subject(principal.tenant, id, &logged).await? {
        return Err(ApiError::not_found("subject"));
    }
    state.sharing.changed(principal.tenant).await;
    Ok(Json(Value::Object(Map::new())))
}

/// The parameters of the subject and policy lists.
pub fn sharing_param(name: &str, value: &str) -> Result<Meaning, String> {
    match name {
        "display_name" => Ok(Meaning::Filter(
            FilterField::Column("display_name"),
            FilterValue::Text(value.to_string()),
        )),
        "order_by" if value == "DEFAULT" => Ok(Meaning::Everything),
        _ => Err(format!("unknown query parameter {name:?} for this list")),
    }
}

/// The display name a list's query filters on, if any.
pub fn name_filter(params: &ListParams) -> Option<&str> {
    params.query.filters.iter().find_map(|f| match &f.value {
        FilterValue::Text(name) => Some(name.as_str()),
        _ => None,
    })
}

#[derive(Serialize, ToSchema)]
#[schema(as = v1ListSubjectsResponse)]
struct SubjectList {
    subjects: Vec<SubjectResponse>,
    next_page_token: String,
}

/// The tenant's subjects, newest first; `display_name` filters on the name.
#[utoipa::path(get, path = "/archivist/iam/v1/subjects", operation_id = "Subjects_ListSubjects", tag = "sharing",
    params(PageParams, CountParams, ("display_name" = Option<String>, Query, description = "Only subjects of this name.")),
    responses((status = 200, description = "One page of subjects.", body = SubjectList,
        headers(("X-Total-Count" = i64, description = "The number of matching subjects, when asked for."))), AdminErrors))]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<(HeaderMap, Json<SubjectList>)> {
    principal.require_admin(WHAT)?;
    let params = ListParams::parse(raw.as_deref(), "subjects".into(), sharing_param, &state.page_keys)?;
    let page = SharingPage {
        display_name: name_filter(&params),
        before: params.query.before,
        limit: params.query.limit,
    };
    let subjects = state.repo.list_subjects(principal.tenant, &page).await?;
    let total = match wants_total(&headers)? {
        true => Some(state.repo.count_subjects(principal.tenant, page.display_name).await?),
        false => None,
    };
    let next_page_token = params.next_page_token(&state.page_keys, subjects.len(), subjects.last().map(|s| s.seq));
    Ok((
        total_headers(total),
        Json(SubjectList {
            subjects: subjects.iter().map(SubjectResponse::from).collect(),
            next_page_token,
        }),
    ))
}
