//! The HTTP server: hyper with a real header-read timeout (plain `axum::serve` installs
//! no timer for it) and graceful shutdown that lets in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::state::AppState;

/// How long shutdown waits for in-flight requests before giving up on them.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Serves the API on `listener` until `shutdown` resolves, then drains open connections.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(crate::blob::sweep_uploads(
        state.repo.clone(),
        state.content.store.clone(),
        state.upload_limits.body_idle,
        state.orphan_age,
    ));
    let sealer = tokio::spawn(crate::log::sealer::run(state.repo.clone(), state.log.clone()));
    let app = crate::api::router(state);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors and the like: keep serving what is open.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::task::yield_now().await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = TowerToHyperService::new(tower::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        }));
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    sweeper.abort();
    sealer.abort();
    tracing::info!("shutting down: finishing in-flight requests");
    if tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown()).await.is_err() {
        tracing::warn!("gave up waiting for open connections");
    }
    Ok(())
}
