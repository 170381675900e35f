//! Liveness and readiness for orchestrators.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::routes::Routes;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", healthz)
        .get("/readyz", readyz)
        .get("/metrics", metrics)
        .probes()
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Prometheus text; tenant usage is read fresh from the database at each scrape.
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
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.repo.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "database not reachable");
        ApiError::Unavailable("database not reachable".into())
    })?;
    Ok(Json(json!({"status": "ready", "database": state.repo.backend()})))
}
