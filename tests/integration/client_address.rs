//! Client addresses behind proxies, and the sign-in throttle that holds whatever
//! addresses an attacker rotates through.

use crate::common;

use common::{Backend, OWNER_EMAIL, OWNER_PASSWORD, TENANT, TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

/// A sign-in attempt that arrived through our proxy with `forwarded` in the given
/// header (the proxy is this test client, on 127.0.0.1).
async fn sign_in_via(
    app: &TestApp,
    header: &str,
    forwarded: &str,
    email: &str,
    password: &str,
) -> common::Reply {
    app.send(
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header(header, forwarded)
            .json(&json!({ "tenant": TENANT, "email": email, "password": password })),
    )
    .await
}

/// The addresses the audit log recorded for failed sign-ins, newest first.
async fn failed_sign_in_addresses(app: &TestApp) -> Vec<String> {
    let (owner, _) = app.owner_session().await;
    let audit = app.get("/api/v1/audit-log", Some(&owner)).await;
    audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.login_failed")
        .map(|e| e["ip"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn behind_a_trusted_proxy_the_client_is_the_rightmost_address_not_of_a_proxy(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |config| {
        config.server.trusted_proxies = vec!["127.0.0.1".into()];
        config.rate_limit.auth_per_ip_per_minute = 3;
    })
    .await;
    // The attacker writes a new address in front each time; our proxy appends the
    // address it really saw.
    let mut codes = Vec::new();
    for n in 0..5 {
        let forged = format!("10.{n}.0.1, 203.0.113.7");
        let reply = sign_in_via(
            &app,
            "x-forwarded-for",
            &forged,
            &format!("nobody{n}@example.com"),
            "guess",
        )
        .await;
        codes.push(reply.status.as_u16());
    }
    assert_eq!(codes, [401, 401, 401, 429, 429]);
    // Another client behind the same proxy has its own budget.
    let other = sign_in_via(
        &app,
        "x-forwarded-for",
        "198.51.100.9",
        "nobody@example.com",
        "guess",
    )
    .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);

    let addresses = failed_sign_in_addresses(&app).await;
    assert!(!addresses.is_empty());
    assert_eq!(addresses[0], "198.51.100.9");
    assert!(
        addresses[1..].iter().all(|ip| ip == "203.0.113.7"),
        "{addresses:?}"
    );
}

async fn the_rfc_7239_forwarded_header_is_read_when_configured(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.server.trusted_proxies = vec!["127.0.0.0/8".into()];
        config.server.client_ip_header = switchboard::config::ClientIpHeader::Forwarded;
    })
    .await;
    let reply = sign_in_via(
        &app,
        "forwarded",
        "for=10.9.9.9, for=\"[2001:db8:cafe::17]:4711\";proto=https",
        OWNER_EMAIL,
        "wrong",
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(failed_sign_in_addresses(&app).await, ["2001:db8:cafe::17"]);
}

async fn without_trusted_proxies_forwarded_headers_are_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    sign_in_via(&app, "x-forwarded-for", "203.0.113.7", OWNER_EMAIL, "wrong").await;
    sign_in_via(&app, "forwarded", "for=203.0.113.7", OWNER_EMAIL, "wrong").await;
    assert_eq!(
        failed_sign_in_addresses(&app).await,
        ["127.0.0.1", "127.0.0.1"]
    );
}

async fn an_account_under_guessing_waits_after_five_failures_from_any_address_whether_or_not_it_exists(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |config| {
        config.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let (owner_token, _) = app.owner_session().await;
    app.user_with_role(&owner_token, "agent@example.com", "agent")
        .await;
    let mut attempt = 0;
    // Every attempt from another address: the per-address limit never sees two.
    let mut from_anywhere = |email: &'static str, password: &'static str| {
        attempt += 1;
        let address = format!("198.51.100.{attempt}");
        let app = &app;
        async move { sign_in_via(app, "x-forwarded-for", &address, email, password).await }
    };
    for account in [OWNER_EMAIL, "nobody@example.com"] {
        for _ in 0..5 {
            assert_eq!(
                from_anywhere(account, "not the password").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
    }
    let owner = from_anywhere(OWNER_EMAIL, OWNER_PASSWORD).await;
    let nobody = from_anywhere("nobody@example.com", "not the password").await;
    for reply in [&owner, &nobody] {
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.body
        );
        assert_eq!(reply.error_code(), "rate_limited");
        assert_eq!(reply.headers["retry-after"], "1");
    }
    // Nothing tells a real account from an unknown one.
    assert_eq!(
        owner.body["error"]["message"],
        nobody.body["error"]["message"]
    );
    // Another account of the tenant is not affected.
    assert_eq!(
        from_anywhere("agent@example.com", "invited-password")
            .await
            .status,
        StatusCode::OK
    );
    // Once the wait is over the right password works, and clears the count.
    common::wait::until_true("the owner's wait to end", || async {
        app.login(TENANT, OWNER_EMAIL, OWNER_PASSWORD).await.status == StatusCode::OK
    })
    .await;
    assert_eq!(
        app.login(TENANT, OWNER_EMAIL, "wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
}

on_both_backends!(
    behind_a_trusted_proxy_the_client_is_the_rightmost_address_not_of_a_proxy,
    the_rfc_7239_forwarded_header_is_read_when_configured,
    without_trusted_proxies_forwarded_headers_are_ignored,
    an_account_under_guessing_waits_after_five_failures_from_any_address_whether_or_not_it_exists,
);
