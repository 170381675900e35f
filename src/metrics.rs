//! Prometheus metrics at `/metrics`: requests by route and status with latency, bytes
//! uploaded and downloaded, integrity failures, scan outcomes, and each tenant's quota use.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const UPLOADED_BYTES: &str = "attachd_uploaded_bytes_total";
pub const DOWNLOADED_BYTES: &str = "attachd_downloaded_bytes_total";
pub const INTEGRITY_FAILURES: &str = "attachd_integrity_failures_total";
pub const SCAN_OUTCOMES: &str = "attachd_scan_outcomes_total";
pub const TENANT_BLOBS: &str = "attachd_tenant_blobs";
pub const TENANT_BYTES: &str = "attachd_tenant_bytes";
pub const TENANT_MAX_BLOBS: &str = "attachd_tenant_max_blobs";
pub const TENANT_MAX_BYTES: &str = "attachd_tenant_max_bytes";

/// The process-wide recorder (a process has one, however many servers it runs).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0])
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder is installed already; ours then stays unused.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        handle
    })
}

/// Counts every request by its route template (never the raw path: bounded labels).
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
