//! What every response looks like: errors, limits, headers, probes and metrics.

use crate::common;

use common::{Backend, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

async fn a_burst_over_the_address_limit_gets_429_with_retry_after(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.rate_limit.per_ip_per_second = 1;
        c.rate_limit.per_ip_burst = 5;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.get("/api/v1/auth/me", None).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(codes, vec![401, 401, 401, 401, 401, 429, 429, 429]);
    let limited = &statuses[5];
    assert_eq!(limited.error_code(), "rate_limited");
    let retry: u64 = limited
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Probes are outside the API budget: a load balancer keeps seeing the node.
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);
}

async fn sign_in_attempts_have_their_own_tighter_budget(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.rate_limit.auth_per_ip_per_minute = 3).await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(
            app.login("default", "owner@example.com", "wrong password")
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(codes, vec![401, 401, 401, 429, 429]);
}

async fn a_busy_tenant_is_limited_without_slowing_other_tenants(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.rate_limit.per_tenant_per_second = 1;
        c.rate_limit.per_tenant_burst = 3;
    })
    .await;
    let (busy, _) = app.owner_session().await;
    let (quiet, _) = app.register("quiet", "quiet@example.com").await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(
            app.get("/api/v1/auth/me", Some(&busy))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(codes, vec![200, 200, 200, 429, 429]);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&quiet)).await.status,
        StatusCode::OK
    );
}

async fn an_oversized_body_gets_413_and_malformed_json_gets_400(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.server.body_limit_bytes = 1024).await;
    let big = json!({ "tenant": "default", "email": "a@b.co", "password": "x".repeat(2000) });
    let reply = app.post("/api/v1/auth/login", None, big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "payload_too_large");

    let malformed = app
        .send(
            app.http
                .post(app.url("/api/v1/auth/login"))
                .header("content-type", "application/json")
                .body("{\"tenant\":"),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error_code(), "invalid_json");
    assert_eq!(malformed.body["error"]["details"], serde_json::Value::Null);

    let wrong_shape = app
        .post("/api/v1/auth/login", None, json!({ "tenant": "default" }))
        .await;
    assert_eq!(wrong_shape.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_shape.error_code(), "invalid_request");
    assert!(
        wrong_shape.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email")
    );

    let not_json = app
        .send(
            app.http
                .post(app.url("/api/v1/auth/login"))
                .body("tenant=default"),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(not_json.error_code(), "unsupported_media_type");
}

async fn unknown_routes_and_methods_answer_in_the_envelope(backend: Backend) {
    let app = spawn_app(backend).await;
    let missing = app.get("/api/v1/nothing-here", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "not_found");
    let method = app.send(app.http.put(app.url("/api/v1/users"))).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(method.error_code(), "method_not_allowed");
    let (owner, _) = app.owner_session().await;
    let bad_id = app.get("/api/v1/users/not-a-uuid", Some(&owner)).await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
    assert_eq!(bad_id.error_code(), "not_found");
}

async fn every_response_carries_the_security_headers_and_api_responses_are_not_cached(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    for path in ["/health", "/api/v1/auth/me", "/nowhere"] {
        let reply = app.get(path, None).await;
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            header("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert!(
            header("content-security-policy")
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert!(header("x-request-id").is_some(), "{path}");
    }
    let api = app.get("/api/v1/auth/me", None).await;
    assert_eq!(api.headers.get("cache-control").unwrap(), "no-store");
    let traced = app
        .send(
            app.http
                .get(app.url("/health"))
                .header("x-request-id", "lb-abc.123"),
        )
        .await;
    assert_eq!(traced.headers.get("x-request-id").unwrap(), "lb-abc.123");
}

async fn cors_admits_only_configured_origins(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.cors.allowed_origins = vec!["https://inbox.example".into()]
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
    };
    let allowed = app.send(preflight("https://inbox.example")).await;
    assert!(allowed.status.is_success(), "{}", allowed.status);
    assert_eq!(
        allowed.headers.get("access-control-allow-origin").unwrap(),
        "https://inbox.example"
    );
    let refused = app.send(preflight("https://evil.example")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code(), "invalid_request");
    assert!(refused.headers.get("access-control-allow-origin").is_none());
}

async fn probes_report_liveness_readiness_and_metrics(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.get("/health", None).await;
    assert_eq!(
        (health.status, health.body.clone()),
        (StatusCode::OK, json!({ "status": "ok" }))
    );
    let ready = app.get("/ready", None).await;
    let name = if backend == Backend::Sqlite {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(
        (ready.status, ready.body.clone()),
        (
            StatusCode::OK,
            json!({ "status": "ready", "database": name })
        )
    );

    app.get("/api/v1/auth/me", None).await;
    app.get("/api/v1/auth/me", None).await;
    let metrics = app.get("/metrics", None).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().unwrap();
    assert!(
        text.contains(
            r#"http_requests_total{method="GET",route="/api/v1/auth/me",status="401"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains(
        r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/auth/me",le="0.005"}"#
    ));
    assert!(text.contains(&format!(
        r#"db_pool_connections{{state="idle",backend="{name}"}}"#
    )));
    assert!(text.contains(r#"switchboard_build_info{version=""#));
    let heap = text
        .lines()
        .find_map(|line| line.strip_prefix("process_heap_bytes "))
        .and_then(|value| value.parse::<f64>().ok());
    assert!(heap.is_some_and(|bytes| bytes > 0.0), "{text}");
}

async fn metrics_can_have_an_internal_listener_of_their_own(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.metrics.listen = "127.0.0.1:0".into()).await;
    let internal = app.metrics_base.clone().unwrap();
    let public = app.get("/metrics", None).await;
    assert_eq!(public.status, StatusCode::NOT_FOUND);
    assert_eq!(public.error_code(), "not_found");
    let scraped = reqwest::get(format!("{internal}/metrics")).await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(
        scraped
            .text()
            .await
            .unwrap()
            .contains("switchboard_build_info")
    );
    for (path, status) in [
        ("/health", StatusCode::OK),
        ("/ready", StatusCode::OK),
        ("/api/v1/auth/me", StatusCode::NOT_FOUND),
        ("/", StatusCode::NOT_FOUND),
    ] {
        let reply = reqwest::get(format!("{internal}{path}")).await.unwrap();
        assert_eq!(reply.status(), status, "{path} on the internal listener");
    }
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);
}

async fn public_metrics_can_require_a_bearer_token(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.metrics.bearer_token = switchboard::config::Secret::new("scrape-token-7f3a9c2e1b");
    })
    .await;
    let scrape = |token: Option<&'static str>| {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        app.send(request)
    };
    for refused in [None, Some("wrong-token")] {
        let reply = scrape(refused).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error_code(), "unauthenticated");
    }
    let reply = scrape(Some("scrape-token-7f3a9c2e1b")).await;
    assert_eq!(reply.status, StatusCode::OK);
    // The probes stay open for load balancers.
    assert_eq!(app.get("/health", None).await.status, StatusCode::OK);
}

on_both_backends!(
    metrics_can_have_an_internal_listener_of_their_own,
    public_metrics_can_require_a_bearer_token,
    a_burst_over_the_address_limit_gets_429_with_retry_after,
    sign_in_attempts_have_their_own_tighter_budget,
    a_busy_tenant_is_limited_without_slowing_other_tenants,
    an_oversized_body_gets_413_and_malformed_json_gets_400,
    unknown_routes_and_methods_answer_in_the_envelope,
    every_response_carries_the_security_headers_and_api_responses_are_not_cached,
    cors_admits_only_configured_origins,
    probes_report_liveness_readiness_and_metrics,
);
