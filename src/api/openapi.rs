//! The OpenAPI 3 description of every route, generated from the handlers' `#[utoipa::path]`
//! annotations; `attachd openapi` writes it to `openapi/attachd.json`.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::docs::ErrorResponses;
use super::routes::Routes;
use crate::error::ErrorBody;

pub fn routes() -> Routes {
    Routes::new().get("/openapi.json", openapi_json).without_token()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "attachd",
        description = "Self-hostable attachment server that speaks the DataTrails API. \
            Every download is hashed as it is sent and checked against the hash the referencing \
            attribute recorded. No string, anywhere in a request, may contain U+0000 (400): \
            PostgreSQL cannot store it, and both backends answer alike."
    ),
    paths(openapi_json),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth, &ErrorResponses),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// The whole spec: this module's document merged with each resource module's.
pub fn spec() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for part in [
        super::health::Doc::openapi(),
        super::datatrails::token::Doc::openapi(),
        super::datatrails::applications::Doc::openapi(),
        super::datatrails::apikeys::Doc::openapi(),
        super::datatrails::subjects::Doc::openapi(),
        super::datatrails::scitt::Doc::openapi(),
        super::datatrails::access_policies::Doc::openapi(),
        super::datatrails::tenancies::Doc::openapi(),
        super::datatrails::blobs::Doc::openapi(),
        super::datatrails::lookup::Doc::openapi(),
        super::console::Doc::openapi(),
        super::datatrails::assets::Doc::openapi(),
        super::datatrails::events::Doc::openapi(),
        super::datatrails::public::Doc::openapi(),
        super::datatrails::merklelog::Doc::openapi(),
        super::datatrails::attachments::Doc::openapi(),
        super::navarik::Doc::openapi(),
        super::scrapi::Doc::openapi(),
        super::seallog::Doc::openapi(),
        super::mediapocket::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}

/// The spec as the committed `openapi/attachd.json` holds it.
pub fn spec_json() -> String {
    let mut spec = serde_json::to_value(spec()).unwrap_or_default();
    forbid_control_characters(&mut spec);
    let mut text = serde_json::to_string_pretty(&spec).unwrap_or_default();
    text.push('\n');
    text
}

/// Properties that are maps of attributes (their keys are attribute names) or names.
use super::ATTRIBUTE_MAPS as MAP_PROPERTIES;
const NAME_PROPERTIES: [&str; 4] = ["display_name", "title", "arc_file_name", "arc_display_name"];
/// No C0 control character and no DEL (ECMA 262, as JSON Schema reads patterns).
const NO_CONTROLS: &str = "^[^\\u0000-\\u001F\\u007F]*$";
/// `NO_CONTROLS` for a name that must also not be blank (declared `\S`): at least one
/// character that is neither whitespace nor a control character.
const NO_CONTROLS_NOT_BLANK: &str =
    "^[^\\u0000-\\u001F\\u007F]*[^\\s\\u0000-\\u001F\\u007F][^\\u0000-\\u001F\\u007F]*$";

/// Says in the schemas what the server refuses (400): control characters in attribute
/// names and in names. utoipa has no attribute for `propertyNames`, so it is added here.
fn forbid_control_characters(node: &mut serde_json::Value) {
    use serde_json::{json, Value};
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for (name, schema) in properties.iter_mut() {
                    let Value::Object(schema) = schema else { continue };
                    let typed = |t: &str| {
                        schema
                            .get("type")
                            .is_some_and(|v| v == t || v.as_array().is_some_and(|a| a.contains(&json!(t))))
                    };
                    if MAP_PROPERTIES.contains(&name.as_str()) && typed("object") {
                        schema.insert("propertyNames".into(), json!({"pattern": NO_CONTROLS}));
                    } else if NAME_PROPERTIES.contains(&name.as_str()) && typed("string") {
                        // A name declared non-blank stays so.
                        let pattern = match schema.get("pattern") {
                            Some(declared) if declared == "\\S" => NO_CONTROLS_NOT_BLANK,
                            _ => NO_CONTROLS,
                        };
                        schema.insert("pattern".into(), json!(pattern));
                    }
                }
            }
            map.values_mut().for_each(forbid_control_characters);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_control_characters),
        _ => {}
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "Meta_OpenApi",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 description of every route.", body = Object))
)]
async fn openapi_json() -> impl IntoResponse {
    static SPEC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let spec = SPEC.get_or_init(spec_json).as_str();
    ([(header::CONTENT_TYPE, "application/json")], spec)
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "A token from `POST /archivist/iam/v1/appidp/token` (client credentials) or from \
                 the configured OIDC issuer.",
            ))
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        let api_key = ApiKeyValue::with_description(
            "X-API-KEY",
            "The Mediapocket routes' header: the same access token as the bearer one.",
        );
        components.add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(api_key)));
    }
}
