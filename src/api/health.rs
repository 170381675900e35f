//! Liveness and readiness for orchestrators.

use axum::extract::State;
use axum::Json;
use utoipa::OpenApi;

use super::routes::Routes;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", healthz)
        .get("/readyz", readyz)
        .get("/metrics", metrics)
        .probes()
}

#[derive(OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
pub struct Doc;

/// `{"status": "ok"}`, or with the database kind for readiness.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Status {
    status: &'static str,
    /// `postgres` or `sqlite`; readiness only.
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
    /// Readiness only: tenants whose log or content failed an integrity check since start
    /// (their evidence is refused; every other tenant is served as usual).
    #[serde(skip_serializing_if = "Option::is_none")]
    integrity_failures: Option<Vec<IntegrityFailure>>,
}

/// A tenant whose evidence failed a check.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct IntegrityFailure {
    /// `tenant/<uuid>`.
    tenant: String,
    /// What failed.
    reason: String,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", operation_id = "Operations_Healthz", tag = "operations", security(()),
    responses((status = 200, description = "Up.", body = Status)))]
async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok",
        database: None,
        integrity_failures: None,
    })
}

/// Prometheus text; tenant usage is read fresh from the database at each scrape.
#[utoipa::path(get, path = "/metrics", operation_id = "Operations_Metrics", tag = "operations", security(()),
    responses(
        (status = 200, description = "Prometheus text exposition format.", content_type = "text/plain", body = String),
        (status = "default", description = "The database did not answer.", body = ErrorBody),
    ))]
async fn metrics(State(state): State<AppState>) -> ApiResult<impl axum::response::IntoResponse> {
    use crate::metrics::{TENANT_BLOBS, TENANT_BYTES, TENANT_MAX_BLOBS, TENANT_MAX_BYTES};
    let limits = state.upload_limits;
    for row in state.repo.all_tenant_usage().await? {
        let tenant = crate::ids::TenantId(row.id).identity();
        let usage = row.usage;
        metrics::gauge!(TENANT_BLOBS, "tenant" => tenant.clone()).set(usage.blob_count as f64);
        metrics::gauge!(TENANT_BYTES, "tenant" => tenant.clone()).set(usage.bytes_used as f64);
        // Unlimited quotas have no gauge.
        let max_blobs = usage.max_blobs.unwrap_or(limits.default_max_blobs);
        if max_blobs < i64::MAX {
            metrics::gauge!(TENANT_MAX_BLOBS, "tenant" => tenant.clone()).set(max_blobs as f64);
        }
        let max_bytes = usage.max_bytes.unwrap_or(limits.default_max_bytes);
        if max_bytes < i64::MAX {
            metrics::gauge!(TENANT_MAX_BYTES, "tenant" => tenant).set(max_bytes as f64);
        }
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::handle().render(),
    ))
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", operation_id = "Operations_Readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready to serve.", body = Status),
        (status = 503, description = "The database did not answer (code 14).", body = ErrorBody),
    ))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Status>> {
    state.repo.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "database not reachable");
        ApiError::Unavailable("database not reachable".into())
    })?;
    let failures = state.log.trust.failures();
    Ok(Json(Status {
        status: "ready",
        database: Some(state.repo.backend()),
        integrity_failures: Some(
            failures
                .into_iter()
                .map(|(tenant, reason)| IntegrityFailure {
                    tenant: tenant.identity(),
                    reason,
                })
                .collect(),
        ),
    }))
}
