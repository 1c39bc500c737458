//! Per-address and per-tenant rate limits (GCRA, via governor).
//!
//! Keyed limiters keep one small state per key they have seen. `prune` forgets keys
//! whose state has fully refilled, and `Application` calls it every `PRUNE_INTERVAL`,
//! so memory is bounded by the clients seen within one refill period, not since start.

use crate::config::RateLimitConfig;
use crate::error::ApiError;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::Duration;
use switchboard_actors::TenantId;

pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

pub struct RateLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    auth_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    webhooks_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    upgrades_per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_tenant: DefaultKeyedRateLimiter<TenantId>,
    clock: DefaultClock,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        let per_second =
            |rate: u32, burst: u32| Quota::per_second(nonzero(rate)).allow_burst(nonzero(burst));
        Self {
            per_ip: DefaultKeyedRateLimiter::keyed(per_second(
                config.per_ip_per_second,
                config.per_ip_burst,
            )),
            auth_per_ip: DefaultKeyedRateLimiter::keyed(Quota::per_minute(nonzero(
                config.auth_per_ip_per_minute,
            ))),
            webhooks_per_ip: DefaultKeyedRateLimiter::keyed(per_second(
                config.webhooks_per_ip_per_second,
                config.webhooks_per_ip_burst,
            )),
            upgrades_per_ip: DefaultKeyedRateLimiter::keyed(Quota::per_minute(nonzero(
                config.socket_upgrades_per_ip_per_minute,
            ))),
            per_tenant: DefaultKeyedRateLimiter::keyed(per_second(
                config.per_tenant_per_second,
                config.per_tenant_burst,
            )),
            clock: DefaultClock::default(),
        }
    }

    pub fn check_tenant(&self, tenant: TenantId) -> Result<(), ApiError> {
        self.check(&self.per_tenant, &tenant)
    }

    fn check<K: Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
    ) -> Result<(), ApiError> {
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::rate_limited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }

    pub fn prune(&self) {
        for limiter in [
            &self.per_ip,
            &self.auth_per_ip,
            &self.webhooks_per_ip,
            &self.upgrades_per_ip,
        ] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.per_tenant.retain_recent();
        self.per_tenant.shrink_to_fit();
    }
}

/// Which per-address budget a scope draws from.
#[derive(Clone, Copy)]
pub enum Budget {
    Api,
    SignIn,
    Webhook,
    SocketUpgrade,
}

/// Middleware: refuses a request over its address's budget with 429 and `Retry-After`.
pub async fn limit_by_ip(
    budget: Budget,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        // Without a peer address (a unix socket, a test harness) all such callers share one key.
        let ip = state
            .client_addresses
            .client_ip(req.request())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let limiter = match budget {
            Budget::Api => &state.limits.per_ip,
            Budget::SignIn => &state.limits.auth_per_ip,
            Budget::Webhook => &state.limits.webhooks_per_ip,
            Budget::SocketUpgrade => &state.limits.upgrades_per_ip,
        };
        if let Err(err) = state.limits.check(limiter, &ip) {
            let response = HttpResponse::from_error(err);
            // `ServiceRequest::into_response` would drop the attached error on the way.
            let (request, _) = req.into_parts();
            return Ok(ServiceResponse::new(request, response).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
