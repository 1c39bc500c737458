//! First start on an empty database creates exactly one tenant and owner.

use crate::common;

use common::{Backend, TestDb, start, test_config};
use reqwest::StatusCode;
use switchboard::Application;
use switchboard::config::Secret;

async fn the_first_start_creates_exactly_one_owner_with_a_printed_password(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.bootstrap.owner_password = Secret::default();

    let app = Application::build(config.clone()).await.unwrap();
    let owner = app.first_owner().expect("an empty database gets an owner");
    assert!(owner.generated);
    assert_eq!(owner.tenant_slug, "default");
    assert_eq!(owner.email, common::OWNER_EMAIL);
    let password = owner.password.expose().to_owned();
    assert!(
        password.len() >= 32,
        "a generated password is long: {password}"
    );
    drop(app);

    // A restart finds the tenant and creates nothing.
    let again = Application::build(config).await.unwrap();
    assert!(again.first_owner().is_none());
    drop(again);

    let app = start(test_config(&db), db).await;
    let login = app.login("default", common::OWNER_EMAIL, &password).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let (token, _) = common::tokens(&login.body);
    let users = app.get("/api/v1/users", Some(&token)).await;
    let users = users.body["data"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["role"], "owner");
    let audit = app.get("/api/v1/audit-log", Some(&token)).await;
    let bootstrap: Vec<_> = audit.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "tenant.bootstrap")
        .collect();
    assert_eq!(bootstrap.len(), 1);
    assert_eq!(bootstrap[0]["actor"]["kind"], "system");
}

async fn two_nodes_starting_at_once_on_an_empty_database_create_one_owner(backend: Backend) {
    let db = TestDb::new(backend).await;
    let config = test_config(&db);
    let (a, b) = tokio::join!(
        Application::build(config.clone()),
        Application::build(config.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let created = [a.first_owner().is_some(), b.first_owner().is_some()];
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    drop((a, b));

    let app = start(config, db).await;
    let (token, _) = app.owner_session().await;
    let users = app.get("/api/v1/users", Some(&token)).await;
    assert_eq!(users.body["data"].as_array().unwrap().len(), 1);
}

async fn bootstrap_can_be_turned_off(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.bootstrap.enabled = false;
    let app = Application::build(config).await.unwrap();
    assert!(app.first_owner().is_none());
}

on_both_backends!(
    the_first_start_creates_exactly_one_owner_with_a_printed_password,
    two_nodes_starting_at_once_on_an_empty_database_create_one_owner,
    bootstrap_can_be_turned_off,
);
