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
        super::datatrails::tenancies::Doc::openapi(),
        super::datatrails::blobs::Doc::openapi(),
        super::datatrails::assets::Doc::openapi(),
        super::datatrails::events::Doc::openapi(),
        super::datatrails::public::Doc::openapi(),
        super::datatrails::merklelog::Doc::openapi(),
        super::datatrails::attachments::Doc::openapi(),
        super::navarik::Doc::openapi(),
        super::mediapocket::Doc::openapi(),
    ] {
        doc.merge(part);
    }
    doc
}

/// The spec as the committed `openapi/attachd.json` holds it.
pub fn spec_json() -> String {
    let mut text = spec().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
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
