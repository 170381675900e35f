//! Asset events (`/archivist/v2/assets/{uuid}/events`, assetsv2) and asset-free events
//! (`/archivist/v1/events`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::attachments::check_references;
use super::paging::{json_filter, next_page_token, total_headers, wants_total, ListParams};
use super::routes::Routes;
use super::{json_text, public_url, timestamp, PathParams};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::ids::{AssetId, EventId, TenantId};
use crate::repo::{Event, EventScope, FilterField, NewEvent};
use crate::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .post("/archivist/v2/assets/{uuid}/events", create)
        .get("/archivist/v2/assets/{uuid}/events", list)
        // Also `{event}:publicurl`.
        .get("/archivist/v2/assets/{uuid}/events/{event}", get_one)
        .post("/archivist/v1/events", create_free)
        .get("/archivist/v1/events/{uuid}", get_free)
}

#[derive(Deserialize)]
struct CreateEvent {
    operation: Option<String>,
    behaviour: Option<String>,
    #[serde(default)]
    event_attributes: Map<String, Value>,
    #[serde(default)]
    asset_attributes: Map<String, Value>,
    timestamp_declared: Option<String>,
    principal_declared: Option<Value>,
}

/// DataTrails' `v2EventResponse`.
#[derive(Serialize)]
pub struct EventResponse {
    identity: String,
    asset_identity: String,
    event_attributes: Value,
    asset_attributes: Value,
    operation: String,
    behaviour: String,
    timestamp_declared: String,
    timestamp_accepted: String,
    timestamp_committed: String,
    principal_declared: Value,
    principal_accepted: Value,
    confirmation_status: &'static str,
    transaction_id: &'static str,
    block_number: u64,
    transaction_index: u64,
    from: &'static str,
    tenant_identity: String,
}

impl EventResponse {
    pub fn new(event: &Event) -> Self {
        let asset = AssetId(event.asset_id.unwrap_or_default());
        let accepted = timestamp(event.timestamp_accepted);
        Self {
            identity: format!("{}/events/{}", asset.identity(), event.id),
            asset_identity: asset.identity(),
            event_attributes: json_text(&event.event_attributes),
            asset_attributes: json_text(&event.asset_attributes),
            operation: event.operation.clone(),
            behaviour: event.behaviour.clone(),
            timestamp_declared: event.timestamp_declared.clone(),
            timestamp_committed: accepted.clone(),
            timestamp_accepted: accepted,
            principal_declared: json_text(&event.principal_declared),
            principal_accepted: json!({
                "issuer": event.issuer, "subject": event.subject, "display_name": "", "email": ""
            }),
            confirmation_status: "CONFIRMED",
            transaction_id: "",
            block_number: 0,
            transaction_index: 0,
            from: "",
            tenant_identity: TenantId(event.tenant_id).identity(),
        }
    }
}

fn required(value: Option<String>, name: &str) -> ApiResult<String> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
    body: Result<Json<CreateEvent>, JsonRejection>,
) -> ApiResult<Json<EventResponse>> {
    let asset = AssetId::parse_bare(&uuid)?;
    // An unknown asset is 404 before anything about the body is judged.
    if state.repo.asset(principal.tenant, asset).await?.is_none() {
        return Err(ApiError::not_found("asset"));
    }
    let Json(body) = body?;
    let operation = required(body.operation, "operation")?;
    let behaviour = required(body.behaviour, "behaviour")?;
    let event_attributes = Value::Object(body.event_attributes);
    let asset_attributes = Value::Object(body.asset_attributes.clone());
    check_references(
        &state,
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
    let stored = state
        .repo
        .create_event(principal.tenant, &event)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::NotFound(_) => ApiError::not_found("asset"),
            other => other,
        })?;
    Ok(Json(EventResponse::new(&stored)))
}

fn declared_principal(given: Option<Value>) -> Value {
    match given {
        Some(value @ Value::Object(_)) => value,
        _ => json!({"issuer": "", "subject": "", "display_name": "", "email": ""}),
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

#[tracing::instrument(skip_all)]
async fn get_one(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    PathParams((uuid, event)): PathParams<(String, String)>,
) -> ApiResult<Json<Value>> {
    let asset = AssetId::parse_bare(&uuid)?;
    let (event, want_url) = match event.strip_suffix(":publicurl") {
        Some(event) => (event, true),
        None => (event.as_str(), false),
    };
    let event = asset_event(&state, principal.tenant, asset, event).await?;
    if want_url {
        let public = state
            .repo
            .asset(principal.tenant, asset)
            .await?
            .is_some_and(|a| a.public);
        if !public {
            return Err(ApiError::not_found("public asset"));
        }
        let path = format!("/archivist/v2/publicassets/{}/events/{}", asset.0, event.id);
        return Ok(Json(json!({ "publicurl": public_url(&headers, &path) })));
    }
    Ok(Json(
        serde_json::to_value(EventResponse::new(&event)).map_err(ApiError::internal)?,
    ))
}

#[derive(Serialize)]
pub struct EventList {
    events: Vec<EventResponse>,
    next_page_token: String,
}

/// DataTrails' event list filters: `event_attributes.<name>`, `asset_attributes.<name>`,
/// `principal_declared.<field>`, `principal_accepted.issuer|subject`.
fn event_filter(name: &str) -> Option<FilterField> {
    match name {
        "principal_accepted.issuer" => Some(FilterField::Column("issuer")),
        "principal_accepted.subject" => Some(FilterField::Column("subject")),
        _ => json_filter(name, "event_attributes.", "event_attributes")
            .or_else(|| json_filter(name, "asset_attributes.", "asset_attributes"))
            .or_else(|| json_filter(name, "principal_declared.", "principal_declared")),
    }
}

/// One page of events in `scope`, with the total when asked for.
pub async fn list_page(
    state: &AppState,
    tenant: TenantId,
    scope: EventScope,
    headers: &HeaderMap,
    raw_query: Option<&str>,
) -> ApiResult<(HeaderMap, Json<EventList>)> {
    let params = ListParams::parse(raw_query, event_filter)?;
    let events = state.repo.list_events(tenant, scope, &params.query).await?;
    let total = match wants_total(headers) {
        true => Some(state.repo.count_events(tenant, scope, &params.query).await?),
        false => None,
    };
    let next_page_token = next_page_token(events.len(), params.query.limit, events.last().map(|e| e.seq));
    Ok((
        total_headers(total),
        Json(EventList {
            events: events.iter().map(EventResponse::new).collect(),
            next_page_token,
        }),
    ))
}

/// Events of one asset, or of every asset for `-`.
#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    PathParams(uuid): PathParams<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<(HeaderMap, Json<EventList>)> {
    let scope = if uuid == "-" {
        EventScope::AllAssets
    } else {
        let asset = AssetId::parse_bare(&uuid)?;
        state
            .repo
            .asset(principal.tenant, asset)
            .await?
            .ok_or_else(|| ApiError::not_found("asset"))?;
        EventScope::Asset(asset)
    };
    list_page(&state, principal.tenant, scope, &headers, raw.as_deref()).await
}

#[derive(Deserialize)]
struct CreateFreeEvent {
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default)]
    trails: Vec<String>,
}

/// DataTrails' `v1EventResponse` (asset-free events).
fn free_event_response(event: &Event) -> Value {
    json!({
        "identity": EventId(event.id).identity(),
        "attributes": json_text(&event.event_attributes),
        "trails": json_text(&event.trails),
        "origin_tenant": TenantId(event.tenant_id).identity(),
        "created_by": event.subject,
        "created_at": timestamp(event.timestamp_accepted),
        "confirmation_status": "CONFIRMED",
    })
}

#[tracing::instrument(skip_all)]
async fn create_free(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<CreateFreeEvent>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(body) = body?;
    let attributes = Value::Object(body.attributes);
    check_references(&state, principal.tenant, &[("attributes", &attributes)]).await?;
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
    Ok(Json(free_event_response(&stored)))
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

#[tracing::instrument(skip_all)]
async fn get_free(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(uuid): PathParams<String>,
) -> ApiResult<Json<Value>> {
    let event = free_event(&state, principal.tenant, &uuid).await?;
    Ok(Json(free_event_response(&event)))
}
