//! The IETF SCITT Reference API (draft-ietf-scitt-scrapi-09): the log's keys, registration
//! of signed statements and their receipts, in CBOR, with errors as concise problem details
//! (RFC 9290). Receipts are MMRIVER with `395: 3` and the proof as `bstr .cbor [index, path]`,
//! made from the same seals as DataTrails' form.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use coset::cbor::Value;
use merklelog::receipt::Form;
use merklelog::signing::key_id;
use utoipa::OpenApi;

use super::datatrails::scitt::{
    entry_id, event_receipt, read_statement, readable_event, record_statement, statement_slot,
};
use super::routes::Routes;
use super::PathParams;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

const COSE: &str = "application/cose";
const CBOR: &str = "application/cbor";
const PROBLEM: &str = "application/concise-problem-details+cbor";
/// What a client waits before asking again for a receipt not yet made.
const RETRY_SECONDS: &str = "1";

pub fn routes() -> Routes {
    Routes::new().post("/entries", register).merge(
        Routes::new()
            .get("/.well-known/scitt-keys", keys)
            .get("/.well-known/scitt-keys/{kid}", key)
            .get("/entries/{entry}", entry)
            .without_token(),
    )
}

#[derive(OpenApi)]
#[openapi(paths(keys, key, register, entry))]
pub struct Doc;

/// An error as SCRAPI answers one: `{-1: title, -2: detail}` in CBOR.
pub struct Problem {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl From<ApiError> for Problem {
    fn from(err: ApiError) -> Self {
        let status = err.status();
        let title = match status {
            StatusCode::BAD_REQUEST => "Malformed request",
            StatusCode::NOT_FOUND => "Not Found",
            _ => status.canonical_reason().unwrap_or("Error"),
        };
        let detail = match err {
            ApiError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        Self { status, title, detail }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = cbor(&Value::Map(vec![
            (Value::from(-1), Value::Text(self.title.into())),
            (Value::from(-2), Value::Text(self.detail)),
        ]));
        let mut response = (self.status, [(header::CONTENT_TYPE, PROBLEM)], body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE || self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_SECONDS));
        }
        response
    }
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec fails only on a value CBOR cannot hold, which none here is.
    let _ = coset::cbor::into_writer(value, &mut out);
    out
}

/// The log's keys as COSE_Keys (EC2, P-384, ES384), each named by attachd's key id.
fn cose_keys(state: &AppState) -> Vec<(String, Value)> {
    let mut keys = vec![*state.log.key.verifying()];
    keys.extend(state.log.trusted_keys().iter().cloned());
    keys.dedup();
    keys.iter()
        .map(|key| {
            let point = key.to_encoded_point(false);
            let coordinate = |c: Option<&p384::FieldBytes>| Value::Bytes(c.map(|b| b.to_vec()).unwrap_or_default());
            let kid = key_id(key);
            let cose = Value::Map(vec![
                (Value::from(1), Value::from(2)),
                (Value::from(2), Value::Bytes(kid.as_bytes().to_vec())),
                (Value::from(3), Value::from(-35)),
                (Value::from(-1), Value::from(2)),
                (Value::from(-2), coordinate(point.x())),
                (Value::from(-3), coordinate(point.y())),
            ]);
            (kid, cose)
        })
        .collect()
}

/// The keys that sign the log's receipts, current and trusted: a COSE_Key_Set.
#[utoipa::path(get, path = "/.well-known/scitt-keys", operation_id = "SCRAPI_Keys", tag = "scrapi", security(()),
    responses((status = 200, description = "A COSE_Key_Set.", content_type = "application/cbor", body = Vec<u8>)))]
async fn keys(State(state): State<AppState>) -> Response {
    let set = Value::Array(cose_keys(&state).into_iter().map(|(_, key)| key).collect());
    ([(header::CONTENT_TYPE, CBOR)], cbor(&set)).into_response()
}

/// One key, by its kid.
#[utoipa::path(get, path = "/.well-known/scitt-keys/{kid}", operation_id = "SCRAPI_Key", tag = "scrapi", security(()),
    params(("kid" = String, Path, description = "The key's id.")),
    responses((status = 200, description = "A COSE_Key.", content_type = "application/cbor", body = Vec<u8>),
        (status = 404, description = "No such key.", content_type = "application/concise-problem-details+cbor", body = Vec<u8>)))]
async fn key(State(state): State<AppState>, PathParams(kid): PathParams<String>) -> Result<Response, Problem> {
    let (_, key) = cose_keys(&state)
        .into_iter()
        .find(|(id, _)| *id == kid)
        .ok_or_else(|| Problem {
            status: StatusCode::NOT_FOUND,
            title: "No such key",
            detail: "No key could be found for this kid value".into(),
        })?;
    Ok(([(header::CONTENT_TYPE, CBOR)], cbor(&key)).into_response())
}

/// The entry's receipt, or where to ask again.
async fn receipt_or_redirect(
    state: &AppState,
    event: &crate::repo::Event,
    done: StatusCode,
) -> Result<Response, Problem> {
    let location = format!("/entries/{}", entry_id(event));
    match event_receipt(state, event, Form::Draft).await {
        Ok(receipt) => Ok((
            done,
            [(header::CONTENT_TYPE, COSE), (header::LOCATION, &location)],
            receipt,
        )
            .into_response()),
        Err(ApiError::Unavailable(_)) => {
            let status = match done {
                StatusCode::CREATED => StatusCode::SEE_OTHER,
                _ => StatusCode::FOUND,
            };
            let headers = [
                (header::LOCATION, location.as_str()),
                (header::RETRY_AFTER, RETRY_SECONDS),
            ];
            Ok((status, headers).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

/// Registers a signed statement (`application/cose`): 201 with its receipt once sealed
/// (usually within a seal interval), else 303 to the entry.
#[utoipa::path(post, path = "/entries", operation_id = "SCRAPI_Register", tag = "scrapi",
    request_body(content = Vec<u8>, content_type = "application/cose", description = "A COSE Sign1 signed statement."),
    responses((status = 201, description = "The receipt.", content_type = "application/cose", body = Vec<u8>),
        (status = 303, description = "Registered; the receipt will be at `Location`."),
        (status = 400, description = "Refused, with the reason.", content_type = "application/concise-problem-details+cbor", body = Vec<u8>),
        (status = 401, description = "No valid token.", content_type = "application/concise-problem-details+cbor", body = Vec<u8>),
        (status = 413, description = "Over the limit of a statement (1 MiB).", content_type = "application/concise-problem-details+cbor", body = Vec<u8>),
        (status = 415, description = "Not `application/cose`.", content_type = "application/concise-problem-details+cbor", body = Vec<u8>)))]
async fn register(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, Problem> {
    let principal = principal?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Media types are case-insensitive (RFC 9110 §8.3.1).
    if !media
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(COSE))
    {
        return Err(Problem {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            title: "Unsupported Media Type",
            detail: format!("a signed statement is sent as {COSE}"),
        });
    }
    // The slot first: a statement waiting for one is not yet read into memory.
    let _slot = statement_slot(&state).await?;
    let body = read_statement(&state, &headers, body).await?;
    let checked = crate::scitt::check(&body);
    drop(body);
    let statement = checked.map_err(|e| Problem {
        status: StatusCode::BAD_REQUEST,
        title: e.title(),
        detail: e.to_string(),
    })?;
    let event = record_statement(&state, &principal, &statement).await?;
    receipt_or_redirect(&state, &event, StatusCode::CREATED).await
}

/// An entry (`assets_<uuid>_events_<uuid>`, any event the caller may read; a public
/// asset's without a token): 200 with its receipt, or 302 while it waits for a seal.
#[utoipa::path(get, path = "/entries/{entry}", operation_id = "SCRAPI_Entry", tag = "scrapi", security(()),
    params(("entry" = String, Path, pattern = "^assets_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}_events_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "`assets_<uuid>_events_<uuid>`.")),
    responses((status = 200, description = "The receipt.", content_type = "application/cose", body = Vec<u8>),
        (status = 302, description = "Not sealed yet: ask `Location` again after `Retry-After`."),
        (status = 400, description = "Not an entry id.", content_type = "application/concise-problem-details+cbor", body = Vec<u8>),
        (status = 401, description = "A token that fails.", content_type = "application/concise-problem-details+cbor", body = Vec<u8>),
        (status = 404, description = "No such entry, or not one the caller may read.", content_type = "application/concise-problem-details+cbor", body = Vec<u8>)))]
async fn entry(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    headers: HeaderMap,
    PathParams(entry): PathParams<String>,
) -> Result<Response, Problem> {
    let event = readable_event(&state, principal, &headers, &entry).await?;
    receipt_or_redirect(&state, &event, StatusCode::OK).await
}
