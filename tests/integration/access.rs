//! Roles, API key scopes and tenant isolation, through the real server on both backends.

use crate::common;

use common::{Backend, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

async fn each_role_gets_403_exactly_where_it_must(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let mut tokens = vec![("owner", owner.clone())];
    for role in ["admin", "manager", "agent", "viewer"] {
        let (_, token) = app
            .user_with_role(&owner, &format!("{role}@example.com"), role)
            .await;
        tokens.push((role, token));
    }
    // (route, method, roles allowed)
    let cases = [
        (
            "/api/v1/auth/me",
            "GET",
            vec!["owner", "admin", "manager", "agent", "viewer"],
        ),
        ("/api/v1/users", "GET", vec!["owner", "admin", "manager"]),
        ("/api/v1/api-keys", "GET", vec!["owner", "admin"]),
        ("/api/v1/audit-log", "GET", vec!["owner", "admin"]),
        ("/api/v1/users", "POST", vec!["owner", "admin"]),
    ];
    for (route, method, allowed) in cases {
        for (role, token) in &tokens {
            let reply = if method == "GET" {
                app.get(route, Some(token)).await
            } else {
                let body = json!({ "email": format!("new-{role}@example.com"), "name": "New", "role": "viewer" });
                app.post(route, Some(token), body).await
            };
            if allowed.contains(role) {
                assert!(
                    reply.status.is_success(),
                    "{role} {method} {route}: {} {}",
                    reply.status,
                    reply.body
                );
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {route}"
                );
                assert_eq!(reply.error_code(), "forbidden");
            }
        }
    }
}

async fn admins_manage_only_roles_below_their_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (admin_id, admin) = app
        .user_with_role(&owner, "admin@example.com", "admin")
        .await;
    let (agent_id, _) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let (other_admin_id, _) = app
        .user_with_role(&owner, "admin2@example.com", "admin")
        .await;

    let promote = app
        .patch(
            &format!("/api/v1/users/{agent_id}"),
            &admin,
            json!({ "role": "manager" }),
        )
        .await;
    assert_eq!(promote.status, StatusCode::OK, "{}", promote.body);
    assert_eq!(promote.body["role"], "manager");

    for (target, body) in [
        (&agent_id, json!({ "role": "admin" })),
        (&other_admin_id, json!({ "status": "deactivated" })),
        (&admin_id, json!({ "role": "owner" })),
    ] {
        let reply = app
            .patch(&format!("/api/v1/users/{target}"), &admin, body)
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    }
    let invite_admin = app
        .post(
            "/api/v1/users",
            Some(&admin),
            json!({ "email": "x@example.com", "name": "X", "role": "admin" }),
        )
        .await;
    assert_eq!(invite_admin.status, StatusCode::FORBIDDEN);
}

async fn a_deactivated_user_is_locked_out_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (agent_id, agent) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let session = app
        .login("default", "agent@example.com", "invited-password")
        .await;
    let refresh = session.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&agent)).await.status,
        StatusCode::OK
    );

    let off = app
        .patch(
            &format!("/api/v1/users/{agent_id}"),
            &owner,
            json!({ "status": "deactivated" }),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(off.body["status"], "deactivated");

    assert_eq!(
        app.get("/api/v1/auth/me", Some(&agent)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh })
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("default", "agent@example.com", "invited-password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    let audit = app.get("/api/v1/audit-log", Some(&owner)).await;
    let update = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.update")
        .unwrap()
        .clone();
    assert_eq!(update["target_id"], agent_id.as_str());
    assert_eq!(
        update["details"]["status"],
        json!({ "from": "active", "to": "deactivated" })
    );
    assert_eq!(update["ip"], "127.0.0.1");
    assert_eq!(update["actor"]["kind"], "user");
}

async fn the_last_owner_cannot_be_demoted_and_nobody_changes_their_own_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let me = app.get("/api/v1/auth/me", Some(&owner)).await;
    let owner_id = me.body["user"]["id"].as_str().unwrap().to_owned();
    let own = app
        .patch(
            &format!("/api/v1/users/{owner_id}"),
            &owner,
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);

    let (second_id, second) = app
        .user_with_role(&owner, "second@example.com", "owner")
        .await;
    let demote_first = app
        .patch(
            &format!("/api/v1/users/{owner_id}"),
            &second,
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(demote_first.status, StatusCode::OK, "{}", demote_first.body);
    // `second` is now the only owner; the demoted first owner (an admin) cannot touch it.
    let back = app
        .patch(
            &format!("/api/v1/users/{second_id}"),
            &owner,
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(back.status, StatusCode::FORBIDDEN);
}

async fn ids_of_another_tenant_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let (agent_id, _) = app
        .user_with_role(&owner, "agent@example.com", "agent")
        .await;
    let key = app
        .post(
            "/api/v1/api-keys",
            Some(&owner),
            json!({ "name": "crm", "scopes": ["users:read"] }),
        )
        .await;
    let key_id = key.body["api_key"]["id"].as_str().unwrap().to_owned();

    let (intruder, _) = app.register("intruder", "eve@intruder.test").await;
    for reply in [
        app.get(&format!("/api/v1/users/{agent_id}"), Some(&intruder))
            .await,
        app.patch(
            &format!("/api/v1/users/{agent_id}"),
            &intruder,
            json!({ "status": "deactivated" }),
        )
        .await,
        app.delete(&format!("/api/v1/api-keys/{key_id}"), &intruder)
            .await,
    ] {
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
        assert_eq!(reply.error_code(), "not_found");
    }
    let users = app.get("/api/v1/users", Some(&intruder)).await;
    let emails = common::column(&users.body, "email");
    assert_eq!(emails, vec!["eve@intruder.test"]);
    let audit = app.get("/api/v1/audit-log", Some(&intruder)).await;
    assert_eq!(
        audit.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        audit.body
    );
    // The agent is untouched in its own tenant.
    let agent = app
        .get(&format!("/api/v1/users/{agent_id}"), Some(&owner))
        .await;
    assert_eq!(agent.body["status"], "active");
}

async fn api_keys_are_shown_once_act_within_their_scopes_and_stop_when_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let created = app
        .post(
            "/api/v1/api-keys",
            Some(&owner),
            json!({ "name": "crm sync", "scopes": ["users:read", "users:read"] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    let id = created.body["api_key"]["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sbk_"));
    assert_eq!(created.body["api_key"]["scopes"], json!(["users:read"]));
    assert_eq!(
        created.body["api_key"]["hint"],
        format!("sbk_…{}", &key[key.len() - 6..])
    );

    let listed = app.get("/api/v1/api-keys", Some(&owner)).await;
    assert!(
        !listed.body.to_string().contains(&key),
        "the key must never be shown again"
    );

    assert_eq!(
        app.get("/api/v1/users", Some(&key)).await.status,
        StatusCode::OK
    );
    let invite = app
        .post(
            "/api/v1/users",
            Some(&key),
            json!({ "email": "a@example.com", "name": "A", "role": "agent" }),
        )
        .await;
    assert_eq!(invite.status, StatusCode::FORBIDDEN);
    assert!(
        invite.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("users:write")
    );
    assert_eq!(
        app.get("/api/v1/api-keys", Some(&key)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&key)).await.status,
        StatusCode::FORBIDDEN
    );

    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}"), &owner)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let revoked = app.get("/api/v1/users", Some(&key)).await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.error_code(), "invalid_token");
    assert_eq!(
        app.delete(&format!("/api/v1/api-keys/{id}"), &owner)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let bad_scope = app
        .post(
            "/api/v1/api-keys",
            Some(&owner),
            json!({ "name": "x", "scopes": ["root"] }),
        )
        .await;
    assert_eq!(bad_scope.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_scope.error_code(), "invalid_request");

    let audit = app.get("/api/v1/audit-log?limit=2", Some(&owner)).await;
    let actions = common::column(&audit.body, "action");
    assert_eq!(actions, vec!["api_key.revoke", "api_key.create"]);
    let cursor = audit.body["next_cursor"].as_str().unwrap();
    let older = app
        .get(
            &format!("/api/v1/audit-log?limit=2&before={cursor}"),
            Some(&owner),
        )
        .await;
    assert_eq!(older.body["data"][0]["action"], "user.login");
}

async fn an_invitation_works_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, _) = app.owner_session().await;
    let invited = app
        .post(
            "/api/v1/users",
            Some(&owner),
            json!({ "email": "Agent@Example.com", "name": "Agent", "role": "agent" }),
        )
        .await;
    assert_eq!(invited.body["user"]["status"], "invited");
    assert_eq!(invited.body["user"]["email"], "agent@example.com");
    let token = invited.body["invitation"]["token"].clone();
    assert_eq!(
        app.login("default", "agent@example.com", "invited-password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let accept = json!({ "token": token, "password": "invited-password" });
    assert_eq!(
        app.post("/api/v1/auth/accept-invite", None, accept.clone())
            .await
            .status,
        StatusCode::OK
    );
    let again = app.post("/api/v1/auth/accept-invite", None, accept).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert_eq!(again.error_code(), "invalid_token");
    let duplicate = app
        .post(
            "/api/v1/users",
            Some(&owner),
            json!({ "email": "agent@example.com", "name": "Again", "role": "agent" }),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
}

on_both_backends!(
    each_role_gets_403_exactly_where_it_must,
    admins_manage_only_roles_below_their_own,
    a_deactivated_user_is_locked_out_at_once,
    the_last_owner_cannot_be_demoted_and_nobody_changes_their_own_role,
    ids_of_another_tenant_are_404,
    api_keys_are_shown_once_act_within_their_scopes_and_stop_when_revoked,
    an_invitation_works_once,
);
