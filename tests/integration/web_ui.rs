//! The web inbox's files as a browser gets them: the page at `/`, its modules and
//! styles with the right types, revalidation by ETag, a strict Content-Security-
//! Policy, and nothing outside `static/`. (What the page does is tested in a real
//! browser: tests/browser.)

use crate::common;

use common::{Backend, spawn_app};
use reqwest::StatusCode;

fn header<'a>(reply: &'a common::Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[actix_rt::test]
async fn the_inbox_page_is_served_at_the_root_with_a_strict_content_security_policy() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = app.get("/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let html = page.body.as_str().unwrap();
    assert!(html.contains(r#"<script type="module" src="/js/main.js"></script>"#));
    let policy = header(&page, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            policy.contains(directive),
            "{directive} missing from {policy}"
        );
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
}

#[actix_rt::test]
async fn modules_and_styles_have_their_types_and_are_revalidated_by_etag() {
    let app = spawn_app(Backend::Sqlite).await;
    let module = app.get("/js/main.js", None).await;
    assert_eq!(module.status, StatusCode::OK);
    assert_eq!(
        header(&module, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&module, "cache-control"), "no-cache");
    let etag = header(&module, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");

    let again = app
        .send(
            app.http
                .get(app.url("/js/main.js"))
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.body, serde_json::Value::Null);
    assert_eq!(header(&again, "etag"), etag);

    let stale = app
        .send(
            app.http
                .get(app.url("/js/main.js"))
                .header("if-none-match", "\"something-else\""),
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);

    let styles = app.get("/app.css", None).await;
    assert_eq!(header(&styles, "content-type"), "text/css; charset=utf-8");
    let icon = app.get("/favicon.svg", None).await;
    assert_eq!(header(&icon, "content-type"), "image/svg+xml");
}

#[actix_rt::test]
async fn paths_outside_the_page_get_the_json_not_found_and_api_routes_are_untouched() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in [
        "/nothing.js",
        "/js/../Cargo.toml",
        "/js/%2e%2e/%2e%2e/Cargo.toml",
        "/.hidden",
        "/js//main.js",
    ] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.error_code(), "not_found", "{path}");
    }
    let posted = app
        .send(app.http.post(app.url("/index.html")).body("x"))
        .await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
    // API responses keep their own, stricter policy and are never cached.
    let api = app.get("/api/v1/auth/me", None).await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&api, "content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'"
    );
}
