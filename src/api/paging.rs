//! Lists: `page_size`/`page_token` in, `next_page_token` out, and the SDK's count request
//! (`X-Request-Total-Count: true` → `X-Total-Count`).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::{ApiError, ApiResult};
use crate::repo::{Filter, FilterField, ListQuery};

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 1000;

pub static REQUEST_TOTAL_COUNT: HeaderName = HeaderName::from_static("x-request-total-count");
pub static TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

/// The paging parameters every list takes, for the OpenAPI description.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageParams {
    /// Results per page: 1 to 1000, 50 when absent.
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<i64>,
    /// The `next_page_token` of the page before.
    #[param(pattern = "^[0-9]{0,18}$")]
    page_token: Option<String>,
}

/// The header asking a list for its total, for the OpenAPI description.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct CountParams {
    /// `true` to get the number of matching items in `X-Total-Count`.
    #[serde(rename = "X-Request-Total-Count")]
    #[param(nullable = false)]
    total: Option<bool>,
}

/// The query string of a list request. DataTrails' other list filters (`proof_mechanism`,
/// `tracked`, …) do not narrow anything here and are ignored.
pub struct ListParams {
    pub query: ListQuery,
}

impl ListParams {
    /// `filter_for` maps a query parameter other than paging to the filter it names.
    pub fn parse(raw: Option<&str>, filter_for: fn(&str) -> Option<FilterField>) -> ApiResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
        let mut query = ListQuery {
            limit: DEFAULT_PAGE_SIZE,
            ..ListQuery::default()
        };
        for (name, value) in pairs {
            super::without_nul(&name, "query parameters")?;
            super::without_nul(&value, "query parameters")?;
            match name.as_str() {
                "page_size" => query.limit = page_size(&value)?,
                "page_token" if value.is_empty() => {}
                "page_token" => query.before = Some(decode_token(&value)?),
                _ => {
                    if let Some(field) = filter_for(&name) {
                        query.filters.push(Filter { field, value });
                    }
                }
            }
        }
        Ok(Self { query })
    }
}

/// `<prefix><key>` as a filter on key `<key>` of JSON column `column`.
pub fn json_filter(name: &str, prefix: &str, column: &'static str) -> Option<FilterField> {
    let key = name.strip_prefix(prefix).filter(|key| !key.is_empty())?;
    Some(FilterField::Json {
        column,
        key: key.to_string(),
    })
}

/// The token for the page after one that ended at `last_seq`, if the page was full: a
/// cursor, so any number is a valid token (the page before that position).
pub fn next_page_token(page_len: usize, limit: i64, last_seq: Option<i64>) -> String {
    match last_seq {
        Some(seq) if page_len as i64 == limit => seq.to_string(),
        _ => String::new(),
    }
}

/// A `page_size`: 1 to `MAX_PAGE_SIZE`.
pub fn page_size(value: &str) -> ApiResult<i64> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| ApiError::bad_request(format!("page_size must be a number from 1 to {MAX_PAGE_SIZE}")))
}

/// A page token: a number, as `next_page_token` writes it.
pub fn decode_token(token: &str) -> ApiResult<i64> {
    token
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && token.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ApiError::bad_request("invalid page_token: pass back a next_page_token"))
}

/// Whether the client asked for the total count.
pub fn wants_total(headers: &HeaderMap) -> ApiResult<bool> {
    let Some(value) = headers.get(&REQUEST_TOTAL_COUNT) else {
        return Ok(false);
    };
    match value.as_bytes().to_ascii_lowercase().as_slice() {
        b"true" => Ok(true),
        b"false" => Ok(false),
        _ => Err(ApiError::bad_request("X-Request-Total-Count must be true or false")),
    }
}

/// Headers carrying `total`, when it was asked for.
pub fn total_headers(total: Option<i64>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(total) = total {
        headers.insert(TOTAL_COUNT.clone(), HeaderValue::from(total));
    }
    headers
}
