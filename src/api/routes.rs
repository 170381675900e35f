//! A router that knows its own routes: every (method, path) goes into axum and into a
//! table in the same call, so tests can walk the real route list.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use axum::Router;

use crate::AppState;

/// One route of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    pub method: Method,
    pub path: String,
    /// Served without a token (public assets, the token endpoint, health).
    pub public: bool,
}

#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    table: Vec<RouteEntry>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `route`, which must answer `method` alone.
    pub fn add(mut self, method: Method, path: &str, route: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, route);
        self.table.push(RouteEntry {
            method,
            path: path.to_string(),
            public: false,
        });
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::GET, path, routing::get(handler))
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::POST, path, routing::post(handler))
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::PATCH, path, routing::patch(handler))
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &str, handler: H) -> Self {
        self.add(Method::DELETE, path, routing::delete(handler))
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// Marks these routes as needing no token and limits them by client address.
    pub fn without_token(mut self) -> Self {
        self.router = self
            .router
            .route_layer(axum::middleware::from_fn(crate::ratelimit::limit_by_client));
        self.probes()
    }

    /// Marks these routes as needing no token, with no rate limit: health probes.
    pub fn probes(mut self) -> Self {
        for entry in &mut self.table {
            entry.public = true;
        }
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteEntry>) {
        (self.router, self.table)
    }
}
