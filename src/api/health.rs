//! Liveness and readiness for orchestrators.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::routes::Routes;
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub fn routes() -> Routes {
    Routes::new().get("/healthz", healthz).get("/readyz", readyz).probes()
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.repo.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "database not reachable");
        ApiError::Unavailable("database not reachable".into())
    })?;
    Ok(Json(json!({"status": "ready", "database": state.repo.backend()})))
}
