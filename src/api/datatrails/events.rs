//! Asset events (`/archivist/v2/assets/{uuid}/events`, assetsv2) and asset-free events
//! (`/archivist/v1/events`).

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{OpenApi, ToSchema};

use super::access::Reading;
use super::event_views::{EventResponse, FreeEventResponse};
use super::merklelog::{event_proof, EventProof};
use crate::api::docs::{Errors, PublicUrl};
use crate::api::paging::{
    always_empty, asset_attribute_filter, confirmation_status, enum_value, order_by, proof_mechanism, term_filter,
    time, total_headers, wants_total, CountParams, ListParams, Meaning, PageParams,
};
use crate::api::routes::Routes;
use crate::api::{public_url, timestamp, JsonObject, PathParams, SizedJson};
use crate::auth::Principal;
use crate::blob::check_references;
use crate::error::{ApiError, ApiResult};
use crate::ids::{AssetId, EventId, TenantId};
use crate::log::state::SealedView;
use crate::repo::{Event, EventScope, FilterField, FilterValue, NewEvent, TermField};
use crate::sharing::policy::Grant;
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .post("/archivist/v2/assets/{uuid}/events", create)
        .get("/archivist/v2/assets/{uuid}/events", list)
        .get("/archivist/v2/assets/{uuid}/events/{event}", get_one_or_url)
        .and_verb(":publicurl")
        .and_verb(":proof")
        .post("/archivist/v1/events", create_free)
        .get("/archivist/v1/events/{uuid}", get_free_or_proof)
        .and_verb(":proof")
}

#[derive(OpenApi)]
#[openapi(paths(create, list, get_one, publicurl, proof, create_free, get_free, free_proof))]
pub struct Doc;

#[derive(Deserialize, ToSchema)]
#[schema(as = v2EventRequest)]
struct CreateEvent {
    /// E.g. `Record`.
    #[schema(value_type = String, required = true, pattern = "\\S")]
    operation: Option<String>,
    /// E.g. `RecordEvidence`.
    #[schema(value_type = String, required = true, pattern = "\\S")]
    behaviour: Option<String>,
    #[serde(default)]
    #[schema(value_type = HashMap<String, Value>)]
    event_attributes: Map<String, Value>,
    /// Merged into the asset's attributes.
    #[serde(default)]
    #[schema(value_type = HashMap<String, Value>)]
    asset_attributes: Map<String, Value>,
    /// When the event happened, as the client says; the time accepted when absent.
    timestamp_declared: Option<String>,
    /// Who the client says acted: `issuer`, `subject`, `display_name`, `email`.
    #[schema(value_type = Option<HashMap<String, Value>>)]
    principal_declared: Option<Map<String, Value>>,
}

fn required(value: Option<String>, name: &str) -> ApiResult<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

/// The event a create request asks for, its body judged and its references checked.
async fn new_event(
    state: &AppState,
    principal: &Principal,
    asset: AssetId,
    body: Result<JsonObject<CreateEvent>, ApiError>,
) -> ApiResult<NewEvent> {
    let JsonObject(body) = body?;
    let operation = required(body.operation, "operation")?;
    let behaviour = required(body.behaviour, "behaviour")?;
    let event_attributes = Value::Object(body.event_attributes);
    let asset_attributes = Value::Object(body.asset_attributes.clone());
    check_references(
        state.repo.as_ref(),
        principal.tenant,
        &[
            ("event_attributes", &event_attributes),
            ("asset_attributes", &asset_attributes),
        ],
    )
    .await?;
    let accepted = timestamp(chrono::Utc::now());
    let event = NewEvent {
        id: EventId::new(),
        asset: Some(asset),
        operation,
        behaviour,
        event_attributes: event_attributes.to_string(),
        asset_attributes: body.asset_attributes,
        trails: "[]".into(),
        timestamp_declared: body.timestamp_declared.unwrap_or(accepted),
        principal_declared: declared_principal(body.principal_declared).to_string(),
        issuer: principal.issuer.clone(),
        subject: principal.subject.clone(),
    };
    Ok(event)
}

/// Records an event on an asset; `asset_attributes` are merged into the asset.
#[utoipa::path(post, path = "/archivist/v2/assets/{uuid}/events", operation_id = "Events_Create", tag = "events",
    params(("uuid" = uuid::Uuid, Path, description = "The asset's id.")),
    request_body = CreateEvent,
    responses((status = 200, description = "The stored event.", body = EventResponse), Errors))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
    body: Result<JsonObject<CreateEvent>, ApiError>,
) -> ApiResult<Json<EventResponse>> {
    let asset = AssetId::parse_bare(&uuid)?;
    let event = match new_event(&state, &principal, asset, body).await {
        Ok(event) => event,
        // An unknown asset is 404 (a shared one 403) whatever the body: the asset is read
        // only for a refused body, as the transaction storing the event reads it anyway.
        Err(err) => {
            Reading::owned(&state, &principal, asset).await?;
            return Err(err);
        }
    };
    let stored = match state
        .repo
        .create_event(principal.tenant, &event)
        .await
        .map_err(ApiError::from)
    {
        Ok(stored) => stored,
        Err(ApiError::NotFound(_)) => {
            Reading::owned(&state, &principal, asset).await?;
            return Err(ApiError::not_found("asset"));
        }
        Err(err) => return Err(err),
    };
    // Just appended: no seal covers it yet.
    Ok(Json(EventResponse::new(&stored, None)))
}

fn declared_principal(given: Option<Map<String, Value>>) -> Value {
    match given {
        Some(principal) => Value::Object(principal),
        None => json!({"issuer": "", "subject": "", "display_name": "", "email": ""}),
    }
}

/// The event `event` of asset `asset` in `tenant`, or 404.
pub async fn asset_event(state: &AppState, tenant: TenantId, asset: AssetId, event: &str) -> ApiResult<Event> {
    let id = EventId::parse_bare(event)?;
    state
        .repo
        .event(tenant, id)
        .await?
        .filter(|e| e.asset_id == Some(asset.0))
        .ok_or_else(|| ApiError::not_found("event"))
}

/// The event, or for `{event}:publicurl` the address where it can be read without a token.
#[tracing::instrument(skip_all)]
async fn get_one_or_url(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    PathParams((asset, event)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let asset = AssetId::parse_bare(&asset)?;
    if let Some(event) = event.strip_suffix(":proof") {
        return Ok(proof(&state, &principal, asset, event).await?.into_response());
    }
    Ok(match event.strip_suffix(":publicurl") {
        Some(event) => publicurl(&state, &principal, &headers, asset, event)
            .await?
            .into_response(),
        None => get_one(&state, &principal, asset, &event).await?.into_response(),
    })
}

/// The event's inclusion in the tenant's signed log: its leaf preimage, the path to a
/// sealed peak, the peaks and the seal, checked by the server first.
#[utoipa::path(get, path = "/archivist/v2/assets/{asset_uuid}/events/{uuid}:proof", operation_id = "Assets_GetEventProof", tag = "merklelog",
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("uuid" = uuid::Uuid, Path, description = "The event's id.")),
    responses((status = 200, description = "The inclusion proof.", body = EventProof), Errors))]
async fn proof(state: &AppState, principal: &Principal, asset: AssetId, event: &str) -> ApiResult<Json<EventProof>> {
    let event = asset_event(state, principal.tenant, asset, event).await?;
    event_proof(state, &event).await
}

#[utoipa::path(get, path = "/archivist/v2/assets/{asset_uuid}/events/{uuid}", operation_id = "Assets_GetEvent", tag = "events",
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("uuid" = uuid::Uuid, Path, description = "The event's id.")),
    responses((status = 200, description = "The event.", body = EventResponse), Errors))]
async fn get_one(
    state: &AppState,
    principal: &Principal,
    asset: AssetId,
    event: &str,
) -> ApiResult<Json<EventResponse>> {
    let reading = Reading::asset(state, principal, asset).await?;
    let event = asset_event(state, reading.owner(), asset, event).await?;
    let event = reading.event(event).ok_or_else(|| ApiError::not_found("event"))?;
    let sealed = SealedView::latest(&state.log, reading.owner()).await;
    Ok(Json(EventResponse::new(&event, sealed.as_deref())))
}

/// Where an event of a public asset can be read without a token.
#[utoipa::path(get, path = "/archivist/v2/assets/{asset_uuid}/events/{uuid}:publicurl", operation_id = "Assets_GetEventPublicURL", tag = "events",
    params(("asset_uuid" = uuid::Uuid, Path, description = "The asset's id."),
        ("uuid" = uuid::Uuid, Path, description = "The event's id.")),
    responses((status = 200, description = "The public address.", body = PublicUrl), Errors))]
async fn publicurl(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    asset: AssetId,
    event: &str,
) -> ApiResult<Json<PublicUrl>> {
    let event = asset_event(state, principal.tenant, asset, event).await?;
    let public = state
        .repo
        .asset(principal.tenant, asset)
        .await?
        .is_some_and(|a| a.public);
    if !public {
        return Err(ApiError::not_found("public asset"));
    }
    let path = format!("/archivist/v2/publicassets/{}/events/{}", asset.0, event.id);
    Ok(Json(PublicUrl {
        publicurl: public_url(headers, &path),
    }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = v2ListEventsResponse)]
pub struct EventList {
    events: Vec<EventResponse>,
    next_page_token: String,
}

/// The event list's parameters, as DataTrails' events swagger names them.
fn event_param(name: &str, value: &str) -> Result<Meaning, String> {
    use Meaning::{Everything, Nothing};
    let text = || FilterValue::Text(value.to_string());
    if let Some(filter) = term_filter(name, "event_attributes.", TermField::EventAttributes, value)
        .or_else(|| term_filter(name, "asset_attributes.", TermField::EventAssetAttributes, value))
    {
        return Ok(filter);
    }
    if let Some(filter) = asset_attribute_filter(name, value) {
        return Ok(filter);
    }
    let since = |column| {
        Ok(Meaning::Filter(
            FilterField::After(column),
            FilterValue::Time(time(name, value)?),
        ))
    };
    let before = |column| {
        Ok(Meaning::Filter(
            FilterField::Before(column),
            FilterValue::Time(time(name, value)?),
        ))
    };
    // Declared times are kept as the client wrote them, compared as RFC 3339 UTC text.
    let declared = |field: fn(&'static str) -> FilterField| {
        let at = crate::api::timestamp(time(name, value)?);
        Ok(Meaning::Filter(field("timestamp_declared"), FilterValue::Text(at)))
    };
    match name {
        "principal_declared.issuer"
        | "principal_declared.subject"
        | "principal_declared.display_name"
        | "principal_declared.email" => {
            Ok(term_filter(name, "principal_declared.", TermField::PrincipalDeclared, value).unwrap_or(Nothing))
        }
        "principal_accepted.issuer" => Ok(Meaning::Filter(FilterField::Column("issuer"), text())),
        "principal_accepted.subject" => Ok(Meaning::Filter(FilterField::Column("subject"), text())),
        "principal_accepted.display_name" | "principal_accepted.email" => Ok(always_empty(value)),
        "operation" => Ok(Meaning::Filter(FilterField::Column("operation"), text())),
        "behaviour" => Ok(Meaning::Filter(FilterField::Column("behaviour"), text())),
        // Events are committed as they are accepted.
        "timestamp_accepted_since" | "timestamp_committed_since" => since("timestamp_accepted"),
        "timestamp_accepted_before" | "timestamp_committed_before" => before("timestamp_accepted"),
        "timestamp_declared_since" => declared(FilterField::After),
        "timestamp_declared_before" => declared(FilterField::Before),
        "confirmation_status" => confirmation_status(value),
        "minimum_trust" => enum_value(
            name,
            value,
            &[
                ("CONFIRMATION_STATUS_UNSPECIFIED", Everything),
                ("PENDING", Everything),
                ("STORED", Everything),
                ("COMMITTED", Everything),
                ("CONFIRMED", Everything),
                ("FAILED", Nothing),
                ("UNEQUIVOCAL", Nothing),
            ],
        ),
        "proof_mechanism" => proof_mechanism(value),
        "order_by" => order_by(value),
        "mmr_index" | "from" | "transaction_id" => Ok(always_empty(value)),
        _ => Err(format!("unknown query parameter {name:?} for the event list")),
    }
}

/// One page of events in `scope` of `tenant`'s, with the total when asked for; a partner's
/// `grant` leaves out what it may not see.
pub async fn list_page(
    state: &AppState,
    grant: Option<&Grant>,
    tenant: TenantId,
    scope: EventScope,
    headers: &HeaderMap,
    raw_query: Option<&str>,
) -> ApiResult<(HeaderMap, SizedJson<EventList>)> {
    let list = match scope {
        EventScope::Asset(asset) => format!("events:{asset}"),
        EventScope::AllAssets => "events:-".to_string(),
    };
    let params = ListParams::parse(raw_query, list, event_param, &state.page_keys)?;
    // A partner's filter on an attribute it may not see matches nothing, whatever the
    // value: answering it would reveal the value one guess at a time.
    let hidden = grant.is_some_and(|grant| !grant.sees_filters(&params.query.filters));
    let nothing = params.query.matches_nothing || hidden;
    let events = match nothing {
        true => Vec::new(),
        false => state.repo.list_events(tenant, scope, &params.query).await?,
    };
    let total = match (wants_total(headers)?, nothing) {
        (false, _) => None,
        (true, true) => Some(0),
        (true, false) => Some(super::access::count_seen(state, grant, tenant, scope, &params.query).await?),
    };
    let next_page_token = params.next_page_token(&state.page_keys, events.len(), events.last().map(|e| e.seq));
    // After the page's token: hidden events still take their place in the paging.
    let events: Vec<Event> = match grant {
        None => events,
        Some(grant) => events.into_iter().filter_map(|e| grant.event(e)).collect(),
    };
    let sealed = SealedView::latest(&state.log, tenant).await;
    // About 2 KiB an event with its seal.
    let capacity = 512 + events.len() * 2048;
    Ok((
        total_headers(total),
        SizedJson(
            EventList {
                events: events
                    .iter()
                    .map(|e| EventResponse::new(e, sealed.as_deref()))
                    .collect(),
                next_page_token,
            },
            capacity,
        ),
    ))
}

/// Events of one asset, or of every asset for `-`, newest first. Filters:
/// `event_attributes.<name>`, `asset_attributes.<name>`, `principal_declared.<field>`,
/// `principal_accepted.issuer|subject`.
#[utoipa::path(get, path = "/archivist/v2/assets/{uuid}/events", operation_id = "Assets_ListEvents", tag = "events",
    params(
        ("uuid" = String, Path, pattern = "^(-|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$",
            description = "The asset's id, or `-` for every asset."),
        PageParams,
        CountParams,
    ),
    responses((status = 200, description = "One page of events.", body = EventList,
        headers(("X-Total-Count" = i64, description = "The number of matching events, when asked for."))), Errors))]
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    PathParams(uuid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<(HeaderMap, SizedJson<EventList>)> {
    if uuid == "-" {
        let scope = EventScope::AllAssets;
        return list_page(&state, None, principal.tenant, scope, &headers, raw.as_deref()).await;
    }
    let asset = AssetId::parse_bare(&uuid)?;
    let reading = Reading::asset(&state, &principal, asset).await?;
    let scope = EventScope::Asset(asset);
    list_page(
        &state,
        reading.grant(),
        reading.owner(),
        scope,
        &headers,
        raw.as_deref(),
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[schema(as = v1EventRequest)]
struct CreateFreeEvent {
    #[serde(default)]
    #[schema(value_type = HashMap<String, Value>)]
    attributes: Map<String, Value>,
    #[serde(default)]
    trails: Vec<String>,
}

/// Records an event that belongs to no asset.
#[utoipa::path(post, path = "/archivist/v1/events", operation_id = "Events_CreateEvent", tag = "events",
    request_body = CreateFreeEvent,
    responses((status = 200, description = "The stored event.", body = FreeEventResponse), Errors))]
#[tracing::instrument(skip_all)]
async fn create_free(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<JsonObject<CreateFreeEvent>, ApiError>,
) -> ApiResult<Json<FreeEventResponse>> {
    let JsonObject(body) = body?;
    let attributes = Value::Object(body.attributes);
    check_references(state.repo.as_ref(), principal.tenant, &[("attributes", &attributes)]).await?;
    let event = NewEvent {
        id: EventId::new(),
        asset: None,
        operation: String::new(),
        behaviour: String::new(),
        event_attributes: attributes.to_string(),
        asset_attributes: Map::new(),
        trails: serde_json::to_string(&body.trails).map_err(ApiError::internal)?,
        timestamp_declared: timestamp(chrono::Utc::now()),
        principal_declared: "{}".into(),
        issuer: principal.issuer.clone(),
        subject: principal.subject.clone(),
    };
    let stored = state.repo.create_event(principal.tenant, &event).await?;
    Ok(Json(FreeEventResponse::new(&stored)))
}

/// An asset-free event of `tenant`, or 404.
pub async fn free_event(state: &AppState, tenant: TenantId, uuid: &str) -> ApiResult<Event> {
    let id = EventId::parse_bare(uuid)?;
    state
        .repo
        .event(tenant, id)
        .await?
        .filter(|e| e.asset_id.is_none())
        .ok_or_else(|| ApiError::not_found("event"))
}

#[utoipa::path(get, path = "/archivist/v1/events/{uuid}", operation_id = "Events_GetEvent", tag = "events",
    params(("uuid" = uuid::Uuid, Path, description = "The event's id.")),
    responses((status = 200, description = "The event.", body = FreeEventResponse), Errors))]
#[tracing::instrument(skip_all)]
async fn get_free(state: &AppState, principal: &Principal, uuid: &str) -> ApiResult<Json<FreeEventResponse>> {
    let event = free_event(state, principal.tenant, uuid).await?;
    Ok(Json(FreeEventResponse::new(&event)))
}

/// An asset-free event, or with `:proof` its inclusion in the signed log.
#[tracing::instrument(skip_all)]
async fn get_free_or_proof(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Response> {
    Ok(match uuid.strip_suffix(":proof") {
        Some(uuid) => free_proof(&state, &principal, uuid).await?.into_response(),
        None => get_free(&state, &principal, &uuid).await?.into_response(),
    })
}

/// An asset-free event's inclusion in the tenant's signed log (see the asset event proof).
#[utoipa::path(get, path = "/archivist/v1/events/{uuid}:proof", operation_id = "Events_GetEventProof", tag = "merklelog",
    params(("uuid" = uuid::Uuid, Path, description = "The event's id.")),
    responses((status = 200, description = "The inclusion proof.", body = EventProof), Errors))]
async fn free_proof(state: &AppState, principal: &Principal, uuid: &str) -> ApiResult<Json<EventProof>> {
    let event = free_event(state, principal.tenant, uuid).await?;
    event_proof(state, &event).await
}
