//! Response and body descriptions the resource modules share in their OpenAPI annotations:
//! a leaf, so no handler module imports the aggregator (`openapi.rs`) that imports them all.

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, KnownFormat, ObjectBuilder, Ref, RefOr, SchemaFormat, Type};
use utoipa::{IntoResponses, Modify, ToSchema};

/// `{"alg": "SHA256", "value": "<hex>"}`.
#[derive(serde::Serialize, ToSchema)]
pub struct HashValue {
    #[schema(pattern = "^SHA256$")]
    pub alg: &'static str,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub value: String,
}

/// Any content, as stored: downloads answer with the blob's own media type.
#[derive(serde::Deserialize, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(#[allow(dead_code)] Vec<u8>);

/// `{"publicurl": "…"}`: where a public asset or event can be read without a token.
#[derive(serde::Serialize, ToSchema)]
pub struct PublicUrl {
    pub publicurl: String,
}

/// The error responses, shared by name under `components/responses`.
const ERRORS: &[(&str, &str, &str)] = &[
    (
        "BadRequest",
        "400",
        "The request is malformed, or a string in it contains U+0000 (code 3).",
    ),
    ("Unauthenticated", "401", "No valid bearer token (code 16)."),
    (
        "NotAdministrator",
        "403",
        "The token is not an administrator application's (code 7).",
    ),
    (
        "ScannedBad",
        "403",
        "Scanned as SCANNED_BAD; add allow_insecure=true to download it anyway (code 7).",
    ),
    ("NotFound", "404", "Not found, or not this tenant's (code 5)."),
    ("RangeNotSatisfiable", "416", "The range is outside the blob (code 11)."),
    (
        "RateLimited",
        "429",
        "Over the rate limit (code 8); `Archivist-Rate-Limit-Reset` says when to retry.",
    ),
    (
        "DataLoss",
        "500",
        "The stored content no longer matches its recorded hash (code 15).",
    ),
    ("Other", "default", "Any other error, in the same shape."),
];

fn error_response(name: &str, description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if name == "RateLimited" {
        let seconds = ObjectBuilder::new().schema_type(Type::Integer).build();
        response = response.header(
            "Archivist-Rate-Limit-Reset",
            HeaderBuilder::new()
                .schema(seconds)
                .description(Some("Seconds until a retry can succeed."))
                .build(),
        );
    }
    response.build()
}

/// References to the named errors, by status.
fn errors(names: &[&str]) -> BTreeMap<String, RefOr<Response>> {
    ERRORS
        .iter()
        .filter(|(name, ..)| names.contains(name))
        .map(|(name, status, _)| (status.to_string(), Ref::from_response_name(*name).into()))
        .collect()
}

/// Adds the shared error responses to `components/responses`.
pub struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, _, description) in ERRORS {
            components
                .responses
                .insert(name.to_string(), error_response(name, description).into());
        }
    }
}

/// The errors of a route that needs a token.
pub struct Errors;

impl IntoResponses for Errors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        errors(&["BadRequest", "Unauthenticated", "NotFound", "RateLimited", "Other"])
    }
}

/// The errors of a route that needs an administrator's token.
pub struct AdminErrors;

impl IntoResponses for AdminErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        errors(&[
            "BadRequest",
            "Unauthenticated",
            "NotAdministrator",
            "NotFound",
            "RateLimited",
            "Other",
        ])
    }
}

/// The errors of a route that needs no token.
pub struct PublicErrors;

impl IntoResponses for PublicErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        errors(&["BadRequest", "NotFound", "RateLimited", "Other"])
    }
}

/// What a download route answers besides the common errors.
pub struct Downloaded;

impl IntoResponses for Downloaded {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let binary = || {
            ContentBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
                ))
                .build()
        };
        let text = || ObjectBuilder::new().schema_type(Type::String).build();
        let header = |description: &str| {
            HeaderBuilder::new()
                .schema(text())
                .description(Some(description))
                .build()
        };
        let whole = ResponseBuilder::new()
            .description(
                "The content in its own media type. Every byte sent is hashed; when the hash does not \
                 match the recorded one, a blob of one chunk answers 500 (code 15) instead, and a larger \
                 one has its connection cut before the last piece.",
            )
            .content("*/*", binary())
            .header(
                "Content-Disposition",
                header("On attachment routes: `attachment` with the attribute's file name."),
            )
            .build();
        let part = ResponseBuilder::new()
            .description("The requested byte range; the whole blob is still read and verified.")
            .content("*/*", binary())
            .header("Content-Range", header("The range sent."))
            .build();
        let mut responses = errors(&["ScannedBad", "RangeNotSatisfiable", "DataLoss"]);
        responses.insert("200".into(), whole.into());
        responses.insert("206".into(), part.into());
        responses
    }
}
