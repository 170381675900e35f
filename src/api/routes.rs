//! A router that knows its own routes: every (method, path) goes into axum and into a
//! table in the same call, so tests can walk the real route list.

use std::sync::Arc;

use axum::extract::{MatchedPath, State};
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::{self, MethodRouter};
use axum::Router;

use crate::state::AppState;

impl RouteEntry {
    /// The path a client sends, `:verb` included.
    pub fn client_path(&self) -> String {
        format!("{}{}", self.path, self.verb.unwrap_or_default())
    }
}

/// One route of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    pub method: Method,
    /// As the router has it.
    pub path: String,
    /// `:verb` when this entry is served only as `{path}:verb`.
    pub verb: Option<&'static str>,
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
            verb: None,
            public: false,
        });
        self
    }

    /// The route just added is served only as `{path}{verb}`: `{id}:verb` is one path
    /// segment to the router, so its handler checks the suffix.
    pub fn as_verb(mut self, verb: &'static str) -> Self {
        if let Some(last) = self.table.last_mut() {
            last.verb = Some(verb);
        }
        self
    }

    /// The route just added also serves `{path}{verb}`, through the same handler.
    pub fn and_verb(mut self, verb: &'static str) -> Self {
        if let Some(last) = self.table.last().cloned() {
            self.table.push(RouteEntry {
                verb: Some(verb),
                ..last
            });
        }
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

/// Answers 405, with the route's own `Allow`, for a method the matched route does not serve
/// on this path: `{id}` and `{id}:verb` are one route to the router, but not to clients.
pub async fn allow_methods(
    State(table): State<Arc<[RouteEntry]>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let Some(matched) = request.extensions().get::<MatchedPath>().cloned() else {
        return next.run(request).await;
    };
    let last = request.uri().path().rsplit('/').next().unwrap_or_default();
    let on_route = || table.iter().filter(|e| e.path == matched.as_str());
    let verb = on_route().filter_map(|e| e.verb).find(|verb| last.ends_with(verb));
    let mut methods: Vec<Method> = on_route()
        .filter(|e| e.verb == verb)
        .map(|e| e.method.clone())
        .collect();
    if methods.contains(&Method::GET) {
        methods.push(Method::HEAD);
    }
    if methods.is_empty() || methods.contains(request.method()) {
        return next.run(request).await;
    }
    method_not_allowed(&methods)
}

/// 405 naming the methods that are allowed.
pub fn method_not_allowed(methods: &[Method]) -> axum::response::Response {
    let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(",");
    let message = format!("method not allowed here; allowed: {allow}");
    let mut response = crate::error::ApiError::MethodNotAllowed(message).into_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
