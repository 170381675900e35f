//! DataTrails' SCITT routes (`/archivist/v1/publicscitt`), as its SCITT client
//! (datatrails-scitt-samples) calls them: a signed statement registered becomes an event on
//! a public asset of the caller's tenant, and any event's receipt is its signed peak with the
//! event's inclusion path, from the seal that covers it.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map};
use utoipa::{OpenApi, ToSchema};

use super::access::Reading;
use super::attachments::public_asset;
use super::events::asset_event;
use super::merklelog::proof_failure;
use crate::api::docs::Errors;
use crate::api::routes::Routes;
use crate::api::{timestamp, PathParams};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::{AssetId, EventId, TenantId};
use crate::log::prove::{prove_event, ProofError};
use crate::repo::{Event, Filter, FilterField, FilterValue, ListQuery, NewAsset, NewEvent, TermField};
use crate::scitt::{Statement, MAX_STATEMENT_BYTES};
use crate::state::AppState;
use merklelog::receipt::Form;

const BASE: &str = "/archivist/v1/publicscitt";

pub fn routes() -> Routes {
    Routes::new()
        .post(&format!("{BASE}/entries"), register)
        .get(&format!("{BASE}/operations/{{operation}}"), operation)
        .merge(
            Routes::new()
                .get(&format!("{BASE}/entries/{{entry}}/receipt"), receipt)
                .without_token(),
        )
}

#[derive(OpenApi)]
#[openapi(paths(register, operation, receipt))]
pub struct Doc;

/// The attribute naming the subject a public statement asset holds statements about.
const SUBJECT_ATTRIBUTE: &str = "scitt_subject";

#[derive(Serialize, ToSchema)]
struct Registered {
    #[serde(rename = "operationID")]
    operation_id: String,
}

#[derive(Serialize, ToSchema)]
struct OperationStatus {
    #[serde(rename = "operationID")]
    operation_id: String,
    /// `running` until a seal covers the event, then `succeeded`.
    status: &'static str,
    /// `assets_<uuid>_events_<uuid>`, once succeeded.
    #[serde(rename = "entryID", skip_serializing_if = "Option::is_none")]
    entry_id: Option<String>,
}

/// `assets_{A}_events_{E}`, DataTrails' entry id for an asset event.
pub fn entry_id(event: &Event) -> String {
    format!("assets_{}_events_{}", event.asset_id.unwrap_or_default(), event.id)
}

/// The asset and event an entry id names.
pub fn parse_entry(entry: &str) -> ApiResult<(AssetId, EventId)> {
    let bad = || ApiError::bad_request("an entry id is assets_<uuid>_events_<uuid>");
    let (asset, event) = entry
        .strip_prefix("assets_")
        .and_then(|rest| rest.split_once("_events_"))
        .ok_or_else(bad)?;
    Ok((
        AssetId::parse_bare(asset).map_err(|_| bad())?,
        EventId::parse_bare(event).map_err(|_| bad())?,
    ))
}

/// Registers a signed statement (the raw COSE Sign1, with its payload attached): checked
/// against the key its CWT claims name, then recorded as an event of the public asset of
/// its subject in the caller's tenant.
#[utoipa::path(post, path = "/archivist/v1/publicscitt/entries", operation_id = "SCITT_RegisterSignedStatement", tag = "scitt",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "A COSE Sign1 signed statement (sent with any content type, or none)."),
    responses((status = 200, description = "The registration's operation.", body = Registered), Errors))]
#[tracing::instrument(skip_all)]
async fn register(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Registered>> {
    // The slot first: a statement waiting for one is not yet read into memory.
    let _slot = statement_slot(&state).await?;
    let body = read_statement(&state, &headers, body).await?;
    let checked = crate::scitt::check(&body);
    drop(body);
    let statement = checked.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let stored = record_statement(&state, &principal, &statement).await?;
    Ok(Json(Registered {
        operation_id: entry_id(&stored),
    }))
}

/// A statement's body, read whole up to `MAX_STATEMENT_BYTES` (413 beyond, from its
/// declared length before anything is read), with the usual idle limit between pieces and
/// `STATEMENT_READ_LIMIT` in all (it holds one of the few statement slots meanwhile).
pub async fn read_statement(state: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<Bytes> {
    tokio::time::timeout(STATEMENT_READ_LIMIT, read_statement_within(state, headers, body))
        .await
        .map_err(|_| ApiError::RequestTimeout("the statement took too long to arrive".into()))?
}

/// How long a statement may take to arrive (1 MiB at 35 KB/s).
const STATEMENT_READ_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn read_statement_within(state: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<Bytes> {
    use futures::StreamExt;
    let too_large = || ApiError::PayloadTooLarge(format!("a signed statement is at most {MAX_STATEMENT_BYTES} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_STATEMENT_BYTES as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut read = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    let idle = state.upload_limits.body_idle;
    loop {
        let piece = tokio::time::timeout(idle, stream.next())
            .await
            .map_err(|_| ApiError::RequestTimeout("the statement stopped arriving".into()))?;
        match piece {
            None => return Ok(Bytes::from(read)),
            Some(Err(err)) => return Err(ApiError::bad_request(format!("the statement could not be read: {err}"))),
            Some(Ok(piece)) if read.len() + piece.len() > MAX_STATEMENT_BYTES => return Err(too_large()),
            Some(Ok(piece)) => read.extend_from_slice(&piece),
        }
    }
}

/// One of the few slots in which statements are read, checked and recorded: parsing and
/// recording take several copies of a statement, so memory is bounded by the slots, not by
/// how many clients send at once.
pub async fn statement_slot(state: &AppState) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
    state
        .statement_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Unavailable("attachd is stopping".into()))
}

/// Records a checked statement as an event of its subject's public asset.
pub async fn record_statement(state: &AppState, principal: &Principal, statement: &Statement) -> ApiResult<Event> {
    let asset = statement_asset(state, principal, &statement.subject).await?;
    let accepted = timestamp(chrono::Utc::now());
    let event_attributes = json!({
        "arc_display_type": "SCITT signed statement",
        "signed_statement": statement.base64,
        "scitt_issuer": statement.issuer,
        "scitt_subject": statement.subject,
        "scitt_content_type": statement.content_type,
        "scitt_algorithm": statement.algorithm,
        "scitt_payload_sha256": statement.payload_sha256,
    });
    let event = NewEvent {
        id: EventId::new(),
        asset: Some(asset),
        operation: "Record".into(),
        behaviour: "RecordEvidence".into(),
        event_attributes: event_attributes.to_string(),
        asset_attributes: Map::new(),
        trails: "[]".into(),
        timestamp_declared: accepted,
        principal_declared:
            json!({"issuer": statement.issuer, "subject": statement.subject, "display_name": "", "email": ""})
                .to_string(),
        issuer: principal.issuer.clone(),
        subject: principal.subject.clone(),
    };
    Ok(state.repo.create_event(principal.tenant, &event).await?)
}

/// The caller's public asset holding statements about `subject`, made on first use.
async fn statement_asset(state: &AppState, principal: &Principal, subject: &str) -> ApiResult<AssetId> {
    let query = ListQuery {
        limit: 1,
        filters: vec![
            Filter {
                field: FilterField::Term {
                    field: TermField::AssetAttributes,
                    key: SUBJECT_ATTRIBUTE.into(),
                },
                value: FilterValue::Text(subject.into()),
            },
            Filter {
                field: FilterField::Column("public"),
                value: FilterValue::Bool(true),
            },
        ],
        ..ListQuery::default()
    };
    // Two first registrations at once may each make one; either serves, and both stay.
    if let Some(asset) = state.repo.list_assets(principal.tenant, &query).await?.first() {
        return Ok(AssetId(asset.id));
    }
    let attributes = json!({
        "arc_display_name": subject,
        "arc_display_type": "SCITT subject",
        SUBJECT_ATTRIBUTE: subject,
    });
    let asset = NewAsset {
        id: AssetId::new(),
        behaviours: r#"["RecordEvidence"]"#.into(),
        attributes: attributes.to_string(),
        public: true,
        owner: principal.subject.clone(),
        issuer: principal.issuer.clone(),
        subject: principal.subject.clone(),
    };
    Ok(AssetId(state.repo.create_asset(principal.tenant, &asset).await?.id))
}

/// A registration's state: `succeeded` with its entry id once a seal covers its event
/// (asked for at once, so usually within a seal interval), `running` until then.
#[utoipa::path(get, path = "/archivist/v1/publicscitt/operations/{operation}", operation_id = "SCITT_GetOperation", tag = "scitt",
    params(("operation" = String, Path, pattern = "^assets_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}_events_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "The operation id registration answered.")),
    responses((status = 200, description = "The operation's state.", body = OperationStatus), Errors))]
async fn operation(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(operation): PathParams<String>,
) -> ApiResult<Json<OperationStatus>> {
    let (asset, event) = parse_entry(&operation)?;
    let event = asset_event(&state, principal.tenant, asset, &event.0.to_string()).await?;
    let (status, entry_id) = match prove_event(state.repo.as_ref(), &state.log, &event).await {
        Ok(_) => ("succeeded", Some(entry_id(&event))),
        Err(ProofError::Unavailable(_)) => ("running", None),
        Err(err) => return Err(proof_failure(err, "scitt_operation")),
    };
    Ok(Json(OperationStatus {
        operation_id: operation,
        status,
        entry_id,
    }))
}

/// The receipt of an event (`assets_<uuid>_events_<uuid>`): a COSE Sign1 over the peak of
/// the tenant's sealed log that the event's leaf and inclusion path (in the unprotected
/// header, label 396) lead to. Any event of a public asset, without a token; with one, any
/// event the caller may read.
#[utoipa::path(get, path = "/archivist/v1/publicscitt/entries/{entry}/receipt", operation_id = "SCITT_GetReceipt", tag = "scitt", security(()),
    params(("entry" = String, Path, pattern = "^assets_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}_events_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`assets_<uuid>_events_<uuid>`.")),
    responses((status = 200, description = "The receipt (MMRIVER, 395 = 2).", content_type = "application/cose", body = Vec<u8>), Errors))]
async fn receipt(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    PathParams(entry): PathParams<String>,
) -> ApiResult<Response> {
    let event = readable_event(&state, principal, &headers, &entry).await?;
    let receipt = event_receipt(&state, &event, Form::DataTrails).await?;
    Ok(([(header::CONTENT_TYPE, "application/cose")], receipt).into_response())
}

/// The event an entry id names, as the caller may read it: without a token an event of a
/// public asset; with one, any event the caller may read.
pub async fn readable_event(
    state: &AppState,
    principal: Result<Principal, ApiError>,
    headers: &HeaderMap,
    entry: &str,
) -> ApiResult<Event> {
    let (asset, event) = parse_entry(entry)?;
    let event = event.0.to_string();
    match principal {
        Ok(principal) => {
            let reading = Reading::asset(state, &principal, asset).await?;
            let event = asset_event(state, reading.owner(), asset, &event).await?;
            // A partner has receipts for the events it may read.
            match reading.event(event.clone()) {
                Some(_) => Ok(event),
                None => Err(ApiError::not_found("event")),
            }
        }
        // A token that fails is refused as usual.
        Err(_) if !headers.contains_key(header::AUTHORIZATION) => {
            let owner = TenantId(public_asset(state, &asset.0.to_string()).await?.tenant_id);
            asset_event(state, owner, asset, &event).await
        }
        Err(err) => Err(err),
    }
}

/// The receipt, in `form`, of `event` under the seal that covers it.
pub async fn event_receipt(state: &AppState, event: &Event, form: Form) -> ApiResult<Vec<u8>> {
    let inclusion = prove_event(state.repo.as_ref(), &state.log, event)
        .await
        .map_err(|err| proof_failure(err, "scitt_receipt"))?;
    merklelog::receipt::receipt(
        &inclusion.seal,
        form,
        inclusion.peak_index,
        inclusion.index,
        &inclusion.path,
    )
    .map_err(|e| ApiError::Unavailable(format!("{e}: the sealer signs its peaks in its next round")))
}
