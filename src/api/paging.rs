//! Lists: `page_size`/`page_token` in, `next_page_token` out, and the SDK's count request
//! (`X-Request-Total-Count: true` → `X-Total-Count`).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::page_keys::PageKeys;
use crate::error::{ApiError, ApiResult};
use crate::repo::{Filter, FilterField, FilterValue, ListQuery, TermField};

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
    /// The `next_page_token` of the page before. It carries the whole query (filters, page
    /// size, position) and is signed: send it alone, or with parameters it already holds.
    #[param(pattern = "^([A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)?$")]
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

/// What one query parameter of a list means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meaning {
    Filter(FilterField, FilterValue),
    /// Holds for everything attachd stores (e.g. `confirmation_status=CONFIRMED`).
    Everything,
    /// Holds for nothing attachd stores (e.g. `confirmation_status=PENDING`).
    Nothing,
}

/// The parameters one list understands: a parameter's meaning, or why it is refused.
pub type Vocabulary = fn(&str, &str) -> Result<Meaning, String>;

/// The query of a list request, from its query string or from the page token it sent.
pub struct ListParams {
    pub query: ListQuery,
    /// Which list the query is of, so a token cannot be replayed on another.
    list: String,
    /// Every parameter but `page_token`, as the first page had them: what the token carries.
    shape: Vec<(String, String)>,
}

impl ListParams {
    /// Reads the query of list `list`. A `page_token` brings the query it was made for;
    /// parameters sent beside it must be ones it holds.
    pub fn parse(raw: Option<&str>, list: String, vocabulary: Vocabulary, keys: &PageKeys) -> ApiResult<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
            .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
        let mut token = None;
        let mut shape = Vec::new();
        for (name, value) in pairs {
            super::without_nul(&name, "query parameters")?;
            super::without_nul(&value, "query parameters")?;
            if name == "page_token" {
                if token.replace(value).is_some() {
                    return Err(ApiError::bad_request("page_token was sent more than once"));
                }
            } else {
                shape.push((name, value));
            }
        }
        let mut before = None;
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            let page = open(keys, &token)?;
            if page.list != list {
                return Err(ApiError::bad_request("invalid page_token: it belongs to another list"));
            }
            if let Some((name, value)) = shape.iter().find(|pair| !page.shape.contains(pair)) {
                return Err(ApiError::bad_request(format!(
                    "{name}={value:?} contradicts the page_token, which carries the query of the first page: send the token alone"
                )));
            }
            shape = page.shape;
            before = Some(page.before);
        }
        let mut query = ListQuery {
            limit: DEFAULT_PAGE_SIZE,
            before,
            ..ListQuery::default()
        };
        for (name, value) in &shape {
            if name == "page_size" {
                query.limit = page_size(value)?;
                continue;
            }
            match vocabulary(name, value).map_err(ApiError::bad_request)? {
                Meaning::Filter(field, value) => query.filters.push(Filter { field, value }),
                Meaning::Everything => {}
                Meaning::Nothing => query.matches_nothing = true,
            }
        }
        Ok(Self { query, list, shape })
    }

    /// The token for the page after one of `page_len` items ending at `last_seq`; empty
    /// when the page was not full.
    /// Whether the query (as sent, or as its page token carries it) names parameter `name`.
    pub fn names(&self, name: &str) -> bool {
        self.shape.iter().any(|(n, _)| n == name)
    }

    pub fn next_page_token(&self, keys: &PageKeys, page_len: usize, last_seq: Option<i64>) -> String {
        match last_seq {
            Some(before) if page_len as i64 == self.query.limit => seal(
                keys,
                &PageToken {
                    list: self.list.clone(),
                    shape: self.shape.clone(),
                    before,
                },
            ),
            _ => String::new(),
        }
    }
}

/// `<prefix><key>=value` as a filter on key `<key>` of the JSON object `field`; as
/// DataTrails documents, `<prefix><key>=*` means set to any non-empty value and
/// `<prefix><key>!=*` (the query parameter `<prefix><key>!` with value `*`) missing or empty.
pub fn term_filter(name: &str, prefix: &str, field: TermField, value: &str) -> Option<Meaning> {
    let key = name.strip_prefix(prefix).filter(|key| !key.is_empty())?;
    Some(match presence(key, value) {
        Some((key, set)) => Meaning::Filter(
            FilterField::Presence {
                field,
                key: key.to_string(),
                set,
            },
            FilterValue::Bool(set),
        ),
        None => Meaning::Filter(
            FilterField::Term {
                field,
                key: key.to_string(),
            },
            FilterValue::Text(value.to_string()),
        ),
    })
}

/// `asset.attributes.<key>=value` (and `=*`, `!=*`) of an event list: on the current
/// attributes of the event's asset.
pub fn asset_attribute_filter(name: &str, value: &str) -> Option<Meaning> {
    let key = name.strip_prefix("asset.attributes.").filter(|key| !key.is_empty())?;
    Some(match presence(key, value) {
        Some((key, set)) => Meaning::Filter(
            FilterField::AssetAttributePresence {
                key: key.to_string(),
                set,
            },
            FilterValue::Bool(set),
        ),
        None => Meaning::Filter(
            FilterField::AssetAttribute(key.to_string()),
            FilterValue::Text(value.to_string()),
        ),
    })
}

/// `key=*` as (key, set) and `key!=*` as (key, not set); `None` for a value filter.
fn presence<'a>(key: &'a str, value: &str) -> Option<(&'a str, bool)> {
    if value != "*" {
        return None;
    }
    Some(match key.strip_suffix('!').filter(|k| !k.is_empty()) {
        Some(key) => (key, false),
        None => (key, true),
    })
}

/// One of an enum parameter's values, with what it means; any other is refused.
pub fn enum_value(name: &str, value: &str, values: &[(&str, Meaning)]) -> Result<Meaning, String> {
    values
        .iter()
        .find(|(known, _)| *known == value)
        .map(|(_, meaning)| meaning.clone())
        .ok_or_else(|| {
            let known: Vec<&str> = values.iter().map(|(known, _)| *known).collect();
            format!("{name} must be one of {known:?}, not {value:?}")
        })
}

/// `confirmation_status`: everything attachd stores is CONFIRMED.
pub fn confirmation_status(value: &str) -> Result<Meaning, String> {
    use Meaning::{Everything, Nothing};
    enum_value(
        "confirmation_status",
        value,
        &[
            ("CONFIRMATION_STATUS_UNSPECIFIED", Everything),
            ("CONFIRMED", Everything),
            ("PENDING", Nothing),
            ("FAILED", Nothing),
            ("STORED", Nothing),
            ("COMMITTED", Nothing),
            ("UNEQUIVOCAL", Nothing),
        ],
    )
}

/// `proof_mechanism`: everything is MERKLE_LOG.
pub fn proof_mechanism(value: &str) -> Result<Meaning, String> {
    use Meaning::{Everything, Nothing};
    enum_value(
        "proof_mechanism",
        value,
        &[
            ("PROOF_MECHANISM_UNSPECIFIED", Everything),
            ("MERKLE_LOG", Everything),
            ("SIMPLE_HASH", Nothing),
            ("RESERVED1", Nothing),
        ],
    )
}

/// `order_by`: lists are newest first whichever is asked.
pub fn order_by(value: &str) -> Result<Meaning, String> {
    use Meaning::Everything;
    enum_value(
        "order_by",
        value,
        &[
            ("DEFAULT", Everything),
            ("SIMPLEHASHV1", Everything),
            ("SIMPLEHASHV2", Everything),
        ],
    )
}

/// A field attachd always answers empty: an empty value matches everything, any other nothing.
pub fn always_empty(value: &str) -> Meaning {
    if value.is_empty() {
        Meaning::Everything
    } else {
        Meaning::Nothing
    }
}

/// An RFC 3339 time parameter.
pub fn time(name: &str, value: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| format!("{name} must be an RFC 3339 time such as 2025-01-31T12:00:00Z"))
}

/// What a page token holds.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PageToken {
    #[serde(rename = "l")]
    list: String,
    #[serde(rename = "q")]
    shape: Vec<(String, String)>,
    #[serde(rename = "b")]
    before: i64,
}

/// Seals a page token's JSON; the keys sign whatever bytes they are given.
fn seal(keys: &PageKeys, token: &PageToken) -> String {
    keys.seal(&serde_json::to_vec(token).unwrap_or_default())
}

/// Opens a page token this deployment sealed.
fn open(keys: &PageKeys, token: &str) -> ApiResult<PageToken> {
    let invalid = || ApiError::bad_request("invalid page_token: pass back a next_page_token unchanged");
    let body = keys.open(token).ok_or_else(invalid)?;
    serde_json::from_slice(&body).map_err(|_| invalid())
}

/// A `page_size`: 1 to `MAX_PAGE_SIZE`.
pub fn page_size(value: &str) -> ApiResult<i64> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| ApiError::bad_request(format!("page_size must be a number from 1 to {MAX_PAGE_SIZE}")))
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
