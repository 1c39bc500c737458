//! The API contract: `/api/v1/openapi.json` covers every route of the README's table,
//! names only routes the server has, carries the error envelope with every code and
//! this server's limits; Swagger UI is served from the binary under a strict policy.
//! (schemathesis checks answers against the document in `.ci/run`.)

use crate::common;

use common::{Backend, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;
use switchboard::error::ErrorCode;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Every (method, path) the README's "API at a glance" table names. A span such as
/// `GET/POST /api/v1/tags?x=` names two; a span that is only a path takes the methods
/// of the span before it (`GET /health`, `/ready`).
fn readme_routes() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = readme
        .split("## API at a glance")
        .nth(1)
        .and_then(|rest| {
            rest.split("\n\n")
                .find(|block| block.starts_with("| Route |"))
        })
        .expect("the API table");
    let mut routes = BTreeSet::new();
    for row in table.lines().skip(2) {
        let route_cell = row.split(" | ").next().unwrap_or_default();
        let mut methods: Vec<String> = Vec::new();
        for span in route_cell.split('`').skip(1).step_by(2) {
            let (verbs, path) = match span.split_once(' ') {
                Some((verbs, path)) if verbs.split('/').all(|v| METHODS.contains(&v)) => {
                    (Some(verbs), path)
                }
                _ => (None, span),
            };
            if let Some(verbs) = verbs {
                methods = verbs.split('/').map(str::to_owned).collect();
            }
            if !path.starts_with('/') {
                continue;
            }
            let path = path.split('?').next().unwrap_or(path);
            // `/api/v1/docs/` is the reference's page, the `{file}` route with no file.
            let path = if path.ends_with('/') && path != "/" {
                format!("{path}{{file}}")
            } else {
                path.to_owned()
            };
            for method in &methods {
                routes.insert((method.clone(), path.clone()));
            }
        }
    }
    routes
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                routes.insert((method.to_owned(), path.clone()));
            }
        }
    }
    routes
}

async fn document(app: &common::TestApp) -> Value {
    let reply = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.headers["content-type"].to_str().unwrap(),
        "application/json"
    );
    reply.body
}

#[actix_rt::test]
async fn the_openapi_document_covers_every_route_in_the_readme_table() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let readme = readme_routes();
    assert!(readme.len() > 90, "the table parsed to {readme:?}");
    let documented = documented(&doc);
    let missing: Vec<_> = readme.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "in the README, not documented: {missing:?}"
    );
}

#[actix_rt::test]
async fn every_documented_operation_is_a_route_of_the_server() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let mut operation_ids = BTreeSet::new();
    for (method, path) in documented(&doc) {
        let operation = &doc["paths"][&path][method.to_lowercase()];
        let id = operation["operationId"].as_str().expect("operationId");
        assert!(operation_ids.insert(id.to_owned()), "{id} twice");
        assert!(
            operation["responses"]["4XX"].is_object(),
            "{method} {path} has no error answer"
        );
        // Every parameter filled with an id no tenant has: a route of the server
        // answers 401, 404 `not_found` of its own, or its probe answer; a route it
        // does not have answers "no such route" or 405.
        let url = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "0190c6f0-0000-7000-8000-000000000000"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        if path == "/ws" {
            continue;
        }
        let request = app.http.request(method.parse().unwrap(), app.url(&url));
        let reply = app.send(request).await;
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_ne!(
            reply.body["error"]["message"], "no such route",
            "{method} {path}"
        );
    }
    assert!(operation_ids.len() > 100, "{}", operation_ids.len());
}

#[actix_rt::test]
async fn the_document_holds_the_error_envelope_with_every_code_the_bearer_scheme_and_the_limits() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.server.body_limit_bytes = 262_144;
        config.rate_limit.per_ip_per_second = 37;
    })
    .await;
    let doc = document(&app).await;

    let codes: Vec<&str> =
        doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
            .as_array()
            .expect("the code enum")
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
    let table: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, table);

    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    assert_eq!(doc["security"][0]["bearer"], serde_json::json!([]));
    // Sign-in needs no token; the inbox does.
    assert_eq!(
        doc["paths"]["/api/v1/auth/login"]["post"]["security"],
        serde_json::json!([{}])
    );
    assert!(
        doc["paths"]["/api/v1/conversations"]["get"]
            .get("security")
            .is_none()
    );

    let description = doc["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("at most 262144 bytes"),
        "{description}"
    );
    assert!(
        description.contains("37/s per client address"),
        "{description}"
    );

    // Pages say how large they may be.
    let limit = doc["paths"]["/api/v1/audit-log"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("a limit parameter")
        .clone();
    assert!(limit["schema"]["maximum"].is_number(), "{limit}");
}

#[actix_rt::test]
async fn swagger_ui_is_served_from_the_binary_and_reads_this_servers_document() {
    let app = spawn_app(Backend::Sqlite).await;

    let bare = app
        .send(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(app.url("/api/v1/docs")),
        )
        .await;
    assert_eq!(bare.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare.headers["location"], "/api/v1/docs/");

    let page = app.get("/api/v1/docs/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.body.as_str().unwrap();
    assert!(
        html.contains(r#"<script src="./swagger-ui-bundle.js""#),
        "{html}"
    );
    assert!(
        !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("script-src 'self';"), "{policy}");
    assert!(policy.contains("connect-src 'self';"), "{policy}");

    let init = app.get("/api/v1/docs/swagger-initializer.js", None).await;
    assert_eq!(init.status, StatusCode::OK);
    assert!(
        init.body.as_str().unwrap().contains("/api/v1/openapi.json"),
        "{}",
        init.body
    );
    let bundle = app.get("/api/v1/docs/swagger-ui-bundle.js", None).await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert!(bundle.body.as_str().unwrap().len() > 100_000);

    let missing = app.get("/api/v1/docs/nothing.js", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "not_found");
}
