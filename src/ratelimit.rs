//! Request rate limits: per tenant on authenticated routes, per client IP on the token
//! endpoint and public routes. Over the limit is 429 with `Archivist-Rate-Limit-Reset`,
//! the header the DataTrails SDK sleeps on before retrying.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;
use crate::ids::TenantId;

/// How often keys that have been quiet are forgotten, so memory stays bounded.
const FORGET_EVERY: Duration = Duration::from_secs(60);

pub struct RateLimits {
    tenants: DefaultKeyedRateLimiter<TenantId>,
    clients: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimits {
    /// `None` when no rate is configured: limits are off.
    pub fn new(per_second: Option<u32>, burst: Option<u32>) -> Option<Arc<Self>> {
        let rate = NonZeroU32::new(per_second?)?;
        let burst = burst.and_then(NonZeroU32::new).unwrap_or(rate);
        let quota = Quota::per_second(rate).allow_burst(burst);
        let limits = Arc::new(Self {
            tenants: DefaultKeyedRateLimiter::keyed(quota),
            clients: DefaultKeyedRateLimiter::keyed(quota),
        });
        let weak = Arc::downgrade(&limits);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(FORGET_EVERY);
            loop {
                every.tick().await;
                let Some(limits) = weak.upgrade() else { return };
                limits.tenants.retain_recent();
                limits.clients.retain_recent();
            }
        });
        Some(limits)
    }

    pub fn check_tenant(&self, tenant: TenantId) -> Result<(), ApiError> {
        check(&self.tenants, &tenant)
    }

    pub fn check_client(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.clients, &ip)
    }
}

fn check<K: Clone + Hash + Eq>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        // Whole seconds, rounded up and at least one: the SDK sleeps this long, then retries.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::RateLimited(seconds.max(1))
    })
}

/// Middleware for routes that need no token: limits by the client's address. The limits
/// come as a request extension, so the route table can be built without any state.
pub async fn limit_by_client(request: Request, next: Next) -> Response {
    let limits = request
        .extensions()
        .get::<Option<Arc<RateLimits>>>()
        .and_then(Option::as_ref);
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
    if let (Some(limits), Some(ConnectInfo(peer))) = (limits, peer) {
        if let Err(err) = limits.check_client(peer.ip()) {
            return err.into_response();
        }
    }
    next.run(request).await
}
