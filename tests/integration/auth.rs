//! Sign-up, sign-in, sessions and tokens, through the real server on both backends.

use crate::common;

use common::{Backend, JWT_SECRET, OWNER_EMAIL, OWNER_PASSWORD, TENANT, spawn_app, tokens};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::json;

async fn a_new_tenant_registers_signs_in_and_sees_itself(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "tenant_name": "Acme Widgets", "name": "Ada", "email": "Ada@Acme.test", "password": "a long passphrase" }),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
    assert_eq!(registered.body["tenant"]["slug"], "acme-widgets");
    assert_eq!(registered.body["session"]["user"]["role"], "owner");
    assert_eq!(registered.body["session"]["token_type"], "Bearer");
    assert_eq!(registered.body["session"]["expires_in"], 900);

    let login = app
        .login("acme-widgets", "ada@acme.test", "a long passphrase")
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let (access, _) = tokens(&login.body);
    let me = app.get("/api/v1/auth/me", Some(&access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["user"]["email"], "ada@acme.test");
    assert_eq!(me.body["user"]["name"], "Ada");
    assert_eq!(me.body["tenant"]["name"], "Acme Widgets");
    assert!(me.body["user"].get("password_hash").is_none());

    let taken = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "tenant_name": "Acme Widgets", "name": "Eve", "email": "eve@acme.test", "password": "a long passphrase" }),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error_code(), "conflict");
}

async fn a_wrong_password_unknown_email_or_unknown_tenant_all_get_the_same_401(backend: Backend) {
    let app = spawn_app(backend).await;
    for (tenant, email, password) in [
        (TENANT, OWNER_EMAIL, "not-the-password"),
        (TENANT, "nobody@example.com", OWNER_PASSWORD),
        ("no-such-tenant", OWNER_EMAIL, OWNER_PASSWORD),
    ] {
        let reply = app.login(tenant, email, password).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error_code(), "invalid_credentials");
        assert_eq!(
            reply.body["error"]["message"],
            "tenant, email or password is wrong"
        );
    }
    let (access, _) = app.owner_session().await;
    let audit = app.get("/api/v1/audit-log", Some(&access)).await;
    let actions = common::column(&audit.body, "action");
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "user.login_failed")
            .count(),
        2,
        "{actions:?}"
    );
    assert_eq!(actions[0], "user.login");
}

async fn a_refresh_token_rotates_and_a_replayed_one_revokes_the_whole_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = app.owner_session().await;

    let rotated = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": first }),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let (access, second) = tokens(&rotated.body);
    assert_ne!(second, first);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&access)).await.status,
        StatusCode::OK
    );

    // An attacker replays the spent token: refused, and the family dies with it.
    let replay = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": first }),
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.error_code(), "invalid_token");
    assert!(
        replay.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already used")
    );

    let legit = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": second }),
        )
        .await;
    assert_eq!(
        legit.status,
        StatusCode::UNAUTHORIZED,
        "the successor must be revoked too"
    );

    // A separate sign-in is a separate family and keeps working.
    let (_, other) = app.owner_session().await;
    assert_eq!(
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": other })
        )
        .await
        .status,
        StatusCode::OK
    );

    let (admin, _) = app.owner_session().await;
    let audit = app.get("/api/v1/audit-log", Some(&admin)).await;
    assert!(
        audit.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "session.refresh_reuse_detected")
    );
}

async fn logout_revokes_the_refresh_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (access, refresh) = app.owner_session().await;
    let out = app
        .post(
            "/api/v1/auth/logout",
            Some(&access),
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let again = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.error_code(), "invalid_token");
}

async fn signing_out_with_a_token_a_refresh_just_rotated_ends_the_successor_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let (access, spent) = app.owner_session().await;
    // The page's background refresh reaches the server first...
    let rotated = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": spent }),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let successor = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    // ...and the sign-out, sent with the token the page still held, follows it.
    let out = app
        .post(
            "/api/v1/auth/logout",
            Some(&access),
            json!({ "refresh_token": spent }),
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let revived = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": successor }),
        )
        .await;
    assert_eq!(revived.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revived.error_code(), "invalid_token");
    let me = app
        .get(
            "/api/v1/auth/me",
            Some(rotated.body["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

async fn changing_the_password_signs_out_other_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let (access, old_refresh) = app.owner_session().await;
    let wrong = app
        .post(
            "/api/v1/auth/password",
            Some(&access),
            json!({ "current_password": "nope", "new_password": "brand new password" }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error_code(), "invalid_credentials");
    let changed = app
        .post(
            "/api/v1/auth/password",
            Some(&access),
            json!({ "current_password": OWNER_PASSWORD, "new_password": "brand new password" }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let refused = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": old_refresh }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login(TENANT, OWNER_EMAIL, OWNER_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(TENANT, OWNER_EMAIL, "brand new password")
            .await
            .status,
        StatusCode::OK
    );
}

fn forge(claims: serde_json::Value, secret: &str, algorithm: Algorithm) -> String {
    encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn forged_expired_and_misaddressed_access_tokens_get_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let (access, _) = app.owner_session().await;
    let me = app.get("/api/v1/auth/me", Some(&access)).await;
    let (sub, tid) = (
        me.body["user"]["id"].clone(),
        me.body["tenant"]["id"].clone(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // The sign-in the real token was issued under.
    let sid = {
        use base64::Engine;
        let payload = access.split('.').nth(1).unwrap();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&payload).unwrap()["sid"].clone()
    };
    let claims = |exp: i64, iss: &str, aud: &str| json!({ "sub": sub, "tid": tid, "sid": sid, "iat": now, "exp": exp, "iss": iss, "aud": aud });

    // The control: a token we forge with the right key and claims is accepted, so the
    // refusals below are about the one thing each of them changes.
    let good = forge(
        claims(now + 600, "switchboard", "switchboard-api"),
        JWT_SECRET,
        Algorithm::HS256,
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&good)).await.status,
        StatusCode::OK
    );

    let header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64_url(
        claims(now + 600, "switchboard", "switchboard-api")
            .to_string()
            .as_bytes(),
    );
    let refused = [
        (
            "expired",
            forge(
                claims(now - 120, "switchboard", "switchboard-api"),
                JWT_SECRET,
                Algorithm::HS256,
            ),
        ),
        ("alg none", format!("{header}.{payload}.")),
        (
            "another key",
            forge(
                claims(now + 600, "switchboard", "switchboard-api"),
                "some-other-secret-of-32-bytes-or-more",
                Algorithm::HS256,
            ),
        ),
        (
            "HS512",
            forge(
                claims(now + 600, "switchboard", "switchboard-api"),
                JWT_SECRET,
                Algorithm::HS512,
            ),
        ),
        (
            "wrong audience",
            forge(
                claims(now + 600, "switchboard", "someone-else"),
                JWT_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "wrong issuer",
            forge(
                claims(now + 600, "evil", "switchboard-api"),
                JWT_SECRET,
                Algorithm::HS256,
            ),
        ),
        ("garbage", "not.a.token".to_owned()),
        (
            "no sign-in",
            forge(
                json!({ "sub": sub, "tid": tid, "iat": now, "exp": now + 600, "iss": "switchboard", "aud": "switchboard-api" }),
                JWT_SECRET,
                Algorithm::HS256,
            ),
        ),
        (
            "a sign-in that never happened",
            forge(
                json!({ "sub": sub, "tid": tid, "sid": uuid::Uuid::now_v7(), "iat": now, "exp": now + 600, "iss": "switchboard", "aud": "switchboard-api" }),
                JWT_SECRET,
                Algorithm::HS256,
            ),
        ),
    ];
    for (what, token) in refused {
        let reply = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{what} was accepted"
        );
        assert_eq!(reply.error_code(), "invalid_token", "{what}");
        assert_eq!(reply.headers.get("www-authenticate").unwrap(), "Bearer");
    }
    let missing = app.get("/api/v1/auth/me", None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.error_code(), "unauthenticated");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn registration_can_be_closed(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.auth.registration_open = false).await;
    let reply = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "tenant_name": "Acme", "name": "Ada", "email": "ada@acme.test", "password": "a long passphrase" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "registration_closed");
}

async fn common_and_personal_passwords_are_refused_wherever_a_password_is_set(backend: Backend) {
    let app = spawn_app(backend).await;
    let too_common = |reply: &common::Reply| {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.error_code(), "invalid_request");
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too common"),
            "{}",
            reply.body
        );
    };
    for password in ["password123", "qwertyuiop", "1q2w3e4r5t", "ada@example.com"] {
        let reply = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "tenant_name": "Acme", "tenant_slug": "acme", "name": "Ada", "email": "ada@example.com", "password": password }),
            )
            .await;
        too_common(&reply);
    }
    let (owner, _) = app.owner_session().await;
    let invited = app
        .post(
            "/api/v1/users",
            Some(&owner),
            json!({ "email": "bo@example.com", "name": "Bo", "role": "agent" }),
        )
        .await;
    let accept = app
        .post(
            "/api/v1/auth/accept-invite",
            None,
            json!({ "token": invited.body["invitation"]["token"], "password": "iloveyou123" }),
        )
        .await;
    too_common(&accept);
    let change = app
        .post(
            "/api/v1/auth/password",
            Some(&owner),
            json!({ "current_password": OWNER_PASSWORD, "new_password": OWNER_EMAIL }),
        )
        .await;
    too_common(&change);
    // A password nobody guesses goes through.
    let accept = app
        .post(
            "/api/v1/auth/accept-invite",
            None,
            json!({ "token": invited.body["invitation"]["token"], "password": "violet kettle harbour" }),
        )
        .await;
    assert_eq!(accept.status, StatusCode::OK, "{}", accept.body);
}

on_both_backends!(
    common_and_personal_passwords_are_refused_wherever_a_password_is_set,
    a_new_tenant_registers_signs_in_and_sees_itself,
    a_wrong_password_unknown_email_or_unknown_tenant_all_get_the_same_401,
    a_refresh_token_rotates_and_a_replayed_one_revokes_the_whole_family,
    logout_revokes_the_refresh_token,
    signing_out_with_a_token_a_refresh_just_rotated_ends_the_successor_too,
    changing_the_password_signs_out_other_sessions,
    forged_expired_and_misaddressed_access_tokens_get_401,
    registration_can_be_closed,
);
