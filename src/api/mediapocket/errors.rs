//! Mediapocket's errors: `{"error": "…"}` bodies, and their OpenAPI descriptions.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, RefOr};
use utoipa::{IntoResponses, PartialSchema, ToSchema};

use crate::error::ApiError;

/// Mediapocket's error body.
#[derive(Serialize, ToSchema)]
pub struct MediapocketError {
    error: String,
}

/// An `ApiError` answered in Mediapocket's shape, with the same status and headers.
pub struct Failure(ApiError);

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl From<crate::repo::RepoError> for Failure {
    fn from(err: crate::repo::RepoError) -> Self {
        Self(err.into())
    }
}

impl From<crate::blob::BlobError> for Failure {
    fn from(err: crate::blob::BlobError) -> Self {
        Self(err.into())
    }
}

impl From<crate::ids::IdError> for Failure {
    fn from(err: crate::ids::IdError) -> Self {
        Self(err.into())
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = MediapocketError {
            error: self.0.to_string(),
        };
        let (mut parts, _) = self.0.into_response().into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        let json = serde_json::to_vec(&body).unwrap_or_default();
        Response::from_parts(parts, Body::from(json))
    }
}

pub(super) fn unprocessable(message: &str) -> Response {
    (
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        Json(MediapocketError { error: message.into() }),
    )
        .into_response()
}

/// Mediapocket's errors, in its `{"error": "…"}` shape.
pub(super) struct MediapocketErrors;

impl IntoResponses for MediapocketErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        let body = || {
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("MediapocketError")))
                .build()
        };
        [
            ("400", "Malformed: a bad id, a title over 255 characters, a wrong type."),
            ("401", "No valid access token in X-API-KEY or Authorization."),
            ("404", "No such asset or project in the caller's tenant."),
            (
                "429",
                "Over the rate limit; `Archivist-Rate-Limit-Reset` says when to retry.",
            ),
            ("default", "Any other error, in the same shape."),
        ]
        .into_iter()
        .map(|(status, description)| {
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", body());
            (status.to_string(), response.build().into())
        })
        .collect()
    }
}

/// The create operations' 422.
pub(super) struct MissingTitle;

impl IntoResponses for MissingTitle {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        let response = ResponseBuilder::new()
            .description("`{\"error\": \"Missing parameter title\"}`.")
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(MediapocketError::schema())).build(),
            );
        BTreeMap::from([("422".to_string(), response.build().into())])
    }
}
