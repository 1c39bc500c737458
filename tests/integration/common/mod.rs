//! The test harness: a real server on port 0 with its own fresh database, and a small
//! typed client. Postgres runs use `TEST_DATABASE_URL` and create (then drop) one
//! database per test.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod fake_files;
pub mod fake_graph;
pub mod fake_llm;
pub mod fake_whatsapp;
pub mod meta;
pub mod tcp_proxy;
pub mod wait;
pub mod ws;

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use switchboard::Application;
use switchboard::config::{Config, Secret};

pub const JWT_SECRET: &str = "integration-test-signing-secret-0123456789";
pub const OWNER_EMAIL: &str = "owner@example.com";
pub const OWNER_PASSWORD: &str = "first-owner-password";
pub const TENANT: &str = "default";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from `async fn name(backend: Backend)`. The
/// Postgres ones are ignored when the build saw no `TEST_DATABASE_URL` and no
/// `CI=true` (see build.rs), so a machine without Postgres lists them as ignored.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[actix_rt::test] async fn $name() { super::$name($crate::common::Backend::Sqlite).await })+
        }
        mod postgres {
            $(#[actix_rt::test]
            #[cfg_attr(not(postgres_suite), ignore = "set TEST_DATABASE_URL to run the Postgres suite")]
            async fn $name() { super::$name($crate::common::Backend::Postgres).await })+
        }
    };
}

/// `TEST_DATABASE_URL`. Tests that call this are ignored unless the build saw it (or
/// `CI=true`); when it is missing at run time anyway, the test fails, never passes.
pub fn postgres_url() -> String {
    service_url("TEST_DATABASE_URL", "Postgres")
}

fn service_url(var: &str, suite: &str) -> String {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!("{var} is not set: the {suite} suite cannot run"),
    }
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub data_dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let url = format!(
                    "sqlite://{}",
                    data_dir.path().join("switchboard.db").display()
                );
                TestDb {
                    url,
                    data_dir,
                    postgres: None,
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin_url = postgres_url();
                let name = format!("sb_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                let url = with_database(&admin_url, &name);
                TestDb {
                    url,
                    data_dir,
                    postgres: Some((admin_url, name)),
                }
            }
        }
    }
}

/// `TEST_REDIS_URL`, under the same rule as `postgres_url`.
pub fn redis_url() -> String {
    service_url("TEST_REDIS_URL", "Redis")
}

/// Two nodes on one fresh Postgres database joined by Redis: `a` owns the database
/// (dropped with it), `b` is the other node's base URL. Tests that use this carry
/// `#[cfg_attr(not(cluster_suite), ignore = ...)]`.
pub async fn two_nodes() -> (TestApp, String) {
    two_nodes_with(|_| {}).await
}

/// `two_nodes`, both configured with `tweak` as well.
pub async fn two_nodes_with(tweak: impl FnOnce(&mut Config)) -> (TestApp, String) {
    let redis = redis_url();
    two_nodes_on_postgres(|config| {
        config.bus.redis_url = Secret::new(redis);
        tweak(config);
    })
    .await
}

/// Two nodes on one fresh Postgres database with nothing else between them unless
/// `tweak` adds it: without a bus, neither hears of what the other writes. Tests
/// that use this alone carry `#[cfg_attr(not(postgres_suite), ignore = ...)]`.
pub async fn two_nodes_on_postgres(tweak: impl FnOnce(&mut Config)) -> (TestApp, String) {
    let db = TestDb::new(Backend::Postgres).await;
    let mut config = test_config(&db);
    tweak(&mut config);
    let other = config.clone();
    let a = start(config, db).await;
    let b = Application::build(other).await.expect("second node starts");
    let b_base = format!("http://127.0.0.1:{}", b.port());
    actix_rt::spawn(b.run_until_stopped());
    (a, b_base)
}

/// The owner of `app`'s first tenant on a subscribed socket: (token, socket, the
/// stream offset the subscription started at).
pub async fn subscribed_owner(app: &TestApp) -> (String, ws::Agent, i64) {
    let (token, _) = app.owner_session().await;
    let mut agent = ws::Agent::connect(&app.base, &token).await;
    let start = agent.subscribe(None).await;
    let offset = start.last().unwrap()["offset"].as_i64().unwrap();
    (token, agent, offset)
}

/// The value of a counter (summed over its label sets that contain `labels`) in a
/// node's `/metrics`.
pub async fn metric(base: &str, name: &str, labels: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside any async context we could borrow; use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database was not dropped: {dropped:?}");
        }
    }
}

/// The configuration every test server starts from.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config::default();
    config.server.port = 0;
    config.server.workers = 1;
    config.server.data_dir = PathBuf::from(db.data_dir.path());
    config.database.url = Secret::new(db.url.clone());
    config.database.max_connections = 5;
    config.auth.jwt_secret = Secret::new(JWT_SECRET);
    config.bootstrap.owner_email = OWNER_EMAIL.into();
    config.bootstrap.owner_password = Secret::new(OWNER_PASSWORD);
    // Generous limits: only the rate-limit tests tighten them.
    config.rate_limit.per_ip_per_second = 10_000;
    config.rate_limit.per_ip_burst = 10_000;
    config.rate_limit.auth_per_ip_per_minute = 10_000;
    config.rate_limit.webhooks_per_ip_per_second = 100_000;
    config.rate_limit.webhooks_per_ip_burst = 100_000;
    config.rate_limit.socket_upgrades_per_ip_per_minute = 100_000;
    config
}

pub struct TestApp {
    pub base: String,
    /// The internal metrics listener's base URL, when `metrics.listen` is set.
    pub metrics_base: Option<String>,
    pub http: reqwest::Client,
    pub db: TestDb,
    /// Stops this server (see `stop`); `None` for a node the test runs elsewhere.
    handle: Option<actix_web::dev::ServerHandle>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    tweak(&mut config);
    start(config, db).await
}

/// Starts a server for an existing database (a restart, a second node).
pub async fn start(config: Config, db: TestDb) -> TestApp {
    start_with(config, db, None).await
}

/// `start`, with WhatsApp Web sessions on `driver` (a fake WhatsApp).
pub async fn start_with(
    config: Config,
    db: TestDb,
    driver: Option<std::sync::Arc<dyn switchboard_actors::session::driver::SessionDriver>>,
) -> TestApp {
    let app = Application::build_with(config, driver)
        .await
        .expect("server starts");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_base = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let handle = app.handle();
    actix_rt::spawn(app.run_until_stopped());
    TestApp {
        base,
        metrics_base,
        http: reqwest::Client::new(),
        db,
        handle: Some(handle),
    }
}

/// What a call returned: status, headers and the JSON body (`Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the error envelope and returns its code.
    pub fn error_code(&self) -> &str {
        let error = &self.body["error"];
        assert!(
            error["message"].is_string(),
            "no error envelope: {}",
            self.body
        );
        assert!(
            error["request_id"].is_string(),
            "no request id: {}",
            self.body
        );
        assert_eq!(
            error["request_id"].as_str(),
            self.headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
            "body and header request ids differ"
        );
        error["code"].as_str().unwrap()
    }
}

impl TestApp {
    /// A client of a node the test started otherwise (an `IsolatedNode`), on `db`.
    pub fn at(base: &str, db: TestDb) -> Self {
        Self {
            base: base.to_owned(),
            metrics_base: None,
            http: reqwest::Client::new(),
            db,
            handle: None,
        }
    }

    /// Stops this server, as SIGTERM (`graceful`) or a crash of it would.
    pub async fn stop(&self, graceful: bool) {
        if let Some(handle) = &self.handle {
            handle.stop(graceful).await;
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(
            self.http
                .patch(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(self.http.put(self.url(path)).bearer_auth(token).json(&body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(self.http.delete(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "tenant": tenant, "email": email, "password": password }),
        )
        .await
    }

    /// A customer `from` writes `text` on the sandbox channel `demo`; returns the
    /// ingest's answer (`message`, `conversation`).
    pub async fn customer_says(&self, token: &str, from: &str, text: &str) -> Value {
        let reply = self
            .post(
                "/api/v1/sandbox/demo/inbound",
                Some(token),
                json!({ "from": from, "name": from, "text": text }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Signs in as the bootstrap owner; returns (access, refresh).
    pub async fn owner_session(&self) -> (String, String) {
        let reply = self.login(TENANT, OWNER_EMAIL, OWNER_PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        tokens(&reply.body)
    }

    /// Registers a new tenant; returns its owner's (access, refresh).
    pub async fn register(&self, slug: &str, email: &str) -> (String, String) {
        let reply = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "tenant_name": slug, "tenant_slug": slug, "name": "Owner", "email": email, "password": "registered-password" }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        tokens(&reply.body["session"])
    }

    /// Invites a user with `role` as `admin_token`, accepts the invitation and returns
    /// the new user's id and access token.
    pub async fn user_with_role(
        &self,
        admin_token: &str,
        email: &str,
        role: &str,
    ) -> (String, String) {
        let invited = self
            .post(
                "/api/v1/users",
                Some(admin_token),
                json!({ "email": email, "name": role, "role": role }),
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
        let accepted = self
            .post(
                "/api/v1/auth/accept-invite",
                None,
                json!({ "token": invited.body["invitation"]["token"], "password": "invited-password" }),
            )
            .await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
        (
            invited.body["user"]["id"].as_str().unwrap().to_owned(),
            tokens(&accepted.body).0,
        )
    }
}

/// The string values of `field` in each item of `body["data"]`, in order.
pub fn column(body: &Value, field: &str) -> Vec<String> {
    body["data"]
        .as_array()
        .expect("a data list")
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

pub fn tokens(session: &Value) -> (String, String) {
    (
        session["access_token"]
            .as_str()
            .expect("access token")
            .to_owned(),
        session["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    )
}

/// Makes every insert into `messages` fail (or work again), as a database that
/// refuses writes would, through the test's own connection to the app's database.
pub async fn fail_message_inserts(db: &TestDb, backend: Backend, fail: bool) {
    if fail {
        execute(
            db,
            backend,
            &["CREATE TRIGGER refuse_messages BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
            &[
                "CREATE FUNCTION refuse_messages() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_messages BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_messages()",
            ],
        )
        .await;
    } else {
        execute(
            db,
            backend,
            &["DROP TRIGGER refuse_messages"],
            &[
                "DROP TRIGGER refuse_messages ON messages",
                "DROP FUNCTION refuse_messages()",
            ],
        )
        .await;
    }
}

/// Makes every change of a WhatsApp session's state fail (or work again); leases
/// (claims, renewals, releases) still work.
pub async fn fail_session_state_updates(db: &TestDb, backend: Backend, fail: bool) {
    if fail {
        execute(
            db,
            backend,
            &["CREATE TRIGGER refuse_session_states BEFORE UPDATE OF state ON channel_sessions BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
            &[
                "CREATE FUNCTION refuse_session_states() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_session_states BEFORE UPDATE OF state ON channel_sessions FOR EACH ROW EXECUTE FUNCTION refuse_session_states()",
            ],
        )
        .await;
    } else {
        execute(
            db,
            backend,
            &["DROP TRIGGER refuse_session_states"],
            &[
                "DROP TRIGGER refuse_session_states ON channel_sessions",
                "DROP FUNCTION refuse_session_states()",
            ],
        )
        .await;
    }
}

/// Makes the database refuse to create (or create again) a contact named
/// "Stuck Row": a stand-in for a database that fails part-way through an import.
pub async fn refuse_stuck_row_contacts(db: &TestDb, backend: Backend, refuse: bool) {
    if refuse {
        execute(
            db,
            backend,
            &["CREATE TRIGGER refuse_stuck_row BEFORE INSERT ON contacts WHEN NEW.name = 'Stuck Row' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
            &[
                "CREATE FUNCTION refuse_stuck_row() RETURNS trigger AS $$ BEGIN IF NEW.name = 'Stuck Row' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_stuck_row BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION refuse_stuck_row()",
            ],
        )
        .await;
    } else {
        execute(
            db,
            backend,
            &["DROP TRIGGER refuse_stuck_row"],
            &[
                "DROP TRIGGER refuse_stuck_row ON contacts",
                "DROP FUNCTION refuse_stuck_row()",
            ],
        )
        .await;
    }
}

/// Makes the database refuse (or accept again) the pipeline's insight for any
/// message of `conversation`: a stand-in for a pipeline that stops part-way.
pub async fn refuse_insights_for(db: &TestDb, backend: Backend, conversation: &str, refuse: bool) {
    use sqlx::Connection;
    let id = uuid::Uuid::parse_str(conversation).unwrap();
    match (backend, refuse) {
        (Backend::Sqlite, true) => {
            let sql = format!(
                "CREATE TRIGGER refuse_insights BEFORE INSERT ON message_insights WHEN NEW.conversation_id = X'{}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
                id.simple()
            );
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            // Safe: the only input is a parsed UUID.
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        (Backend::Sqlite, false) => {
            execute(db, backend, &["DROP TRIGGER refuse_insights"], &[]).await
        }
        (Backend::Postgres, true) => {
            let function = format!(
                "CREATE FUNCTION refuse_insights() RETURNS trigger AS $$ BEGIN IF NEW.conversation_id = '{id}' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            );
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            // Safe: the only input is a parsed UUID.
            sqlx::query(sqlx::AssertSqlSafe(function))
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query("CREATE TRIGGER refuse_insights BEFORE INSERT ON message_insights FOR EACH ROW EXECUTE FUNCTION refuse_insights()")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        (Backend::Postgres, false) => {
            execute(
                db,
                backend,
                &[],
                &[
                    "DROP TRIGGER refuse_insights ON message_insights",
                    "DROP FUNCTION refuse_insights()",
                ],
            )
            .await
        }
    }
}

/// Makes the database refuse to store any message whose body is `poison`.
pub async fn refuse_poison_messages(db: &TestDb, backend: Backend) {
    execute(
        db,
        backend,
        &["CREATE TRIGGER refuse_body BEFORE INSERT ON messages WHEN NEW.body = 'poison' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"],
        &[
            "CREATE FUNCTION refuse_body() RETURNS trigger AS $$ BEGIN IF NEW.body = 'poison' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_body BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_body()",
        ],
    )
    .await;
}

/// Runs one statement with `$1` bound to the UUID `id`, on a connection of the
/// test's own: a change made outside the server.
pub async fn execute_on(db: &TestDb, backend: Backend, sql: &'static str, id: &str) {
    use sqlx::Connection;
    let id = uuid::Uuid::parse_str(id).unwrap();
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql).bind(id).execute(&mut conn).await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql).bind(id).execute(&mut conn).await.unwrap();
        }
    }
}

/// Runs the statements for `backend` on a connection of its own.
async fn execute(
    db: &TestDb,
    backend: Backend,
    sqlite: &[&'static str],
    postgres: &[&'static str],
) {
    use sqlx::Connection;
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            for sql in sqlite {
                sqlx::query(*sql).execute(&mut conn).await.unwrap();
            }
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            for sql in postgres {
                sqlx::query(*sql).execute(&mut conn).await.unwrap();
            }
        }
    }
}

/// Holds the write lock of every tenant's stream from outside the server, as a long
/// transaction would, until `release` is called.
pub struct WriteLock(WriteLockConn);

enum WriteLockConn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    pub async fn take(db: &TestDb, backend: Backend) -> Self {
        use sqlx::Connection;
        match backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Self(WriteLockConn::Sqlite(conn))
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query("SELECT 1 FROM tenant_streams FOR UPDATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                Self(WriteLockConn::Postgres(conn))
            }
        }
    }

    pub async fn release(self) {
        match self.0 {
            WriteLockConn::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
            WriteLockConn::Postgres(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
        }
    }
}

/// A tenant with its owner, made straight in a store (no server), under a slug of its own.
pub async fn store_tenant(
    store: &dyn switchboard_actors::store::Store,
) -> switchboard_actors::TenantId {
    use switchboard_actors::store::{Tenant, User};
    use switchboard_actors::{Email, Millis, Role, TenantId, UserId, UserStatus};
    let id = TenantId::new();
    let tenant = Tenant {
        id,
        slug: format!("t{}", &id.0.simple().to_string()[20..]),
        name: "Acme".into(),
        created_at: Millis(1_000),
    };
    let owner = User {
        tenant_id: tenant.id,
        id: UserId::new(),
        email: Email::parse(&format!("owner@{}.test", tenant.slug)).unwrap(),
        name: "Owner".into(),
        role: Role::Owner,
        status: UserStatus::Active,
        password_hash: None,
        created_at: Millis(1_000),
        updated_at: Millis(1_000),
    };
    store.create_tenant(&tenant, &owner).await.unwrap();
    tenant.id
}

/// A store opened directly (no server), on a fresh database of `backend`.
pub async fn open_store(
    backend: Backend,
) -> (std::sync::Arc<dyn switchboard_actors::store::Store>, TestDb) {
    let connections = match backend {
        Backend::Sqlite => 4,
        Backend::Postgres => 8,
    };
    open_store_with(backend, connections).await
}

/// `open_store` with `connections` in the pool (SQLite: readers).
pub async fn open_store_with(
    backend: Backend,
    connections: u32,
) -> (std::sync::Arc<dyn switchboard_actors::store::Store>, TestDb) {
    use switchboard::store::{PostgresStore, SqliteStore};
    let db = TestDb::new(backend).await;
    let store: std::sync::Arc<dyn switchboard_actors::store::Store> = match backend {
        Backend::Sqlite => std::sync::Arc::new(
            SqliteStore::open(&db.data_dir.path().join("store.db"), connections, true)
                .await
                .unwrap(),
        ),
        Backend::Postgres => {
            std::sync::Arc::new(PostgresStore::connect(&db.url, connections).await.unwrap())
        }
    };
    (store, db)
}

/// A channel's sealed credentials as stored, read with the test's own connection.
pub async fn raw_channel_credentials(db: &TestDb, backend: Backend, id: &str) -> Vec<u8> {
    use sqlx::Connection;
    let id = uuid::Uuid::parse_str(id).unwrap();
    let sql = "SELECT sealed_credentials FROM channels WHERE id = $1";
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    }
}

/// Overwrites a channel's sealed credentials, as an attacker with database access would.
pub async fn set_raw_channel_credentials(db: &TestDb, backend: Backend, id: &str, sealed: &[u8]) {
    use sqlx::Connection;
    let id = uuid::Uuid::parse_str(id).unwrap();
    let sql = "UPDATE channels SET sealed_credentials = $2 WHERE id = $1";
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql)
                .bind(id)
                .bind(sealed)
                .execute(&mut conn)
                .await
                .unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query(sql)
                .bind(id)
                .bind(sealed)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// A node on its own thread and actix system, so a test can kill it the way a crash
/// does: everything it runs stops at once, nothing is shut down or released.
pub struct IsolatedNode {
    pub base: String,
    system: actix_rt::System,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IsolatedNode {
    pub fn start(
        config: Config,
        driver: std::sync::Arc<dyn switchboard_actors::session::driver::SessionDriver>,
    ) -> Self {
        let (started, port) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_rt::System::new();
            let app = system
                .block_on(Application::build_with(config, Some(driver)))
                .expect("node starts");
            started
                .send((app.port(), actix_rt::System::current()))
                .unwrap();
            system.block_on(async move {
                actix_rt::spawn(app.run_until_stopped());
            });
            let _ = system.run();
        });
        let (port, system) = port.recv().unwrap();
        Self {
            base: format!("http://127.0.0.1:{port}"),
            system,
            thread: Some(thread),
        }
    }

    /// Stops everything the node runs at once, as SIGKILL would.
    pub fn kill(mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for IsolatedNode {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
