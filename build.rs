//! Three jobs at build time:
//! - The web inbox's files (`static/`) are compiled into the binary by rust-embed, which
//!   tracks the files it saw but not new ones: rebuild whenever the folder changes.
//! - `sqlx::migrate!` embeds `migrations/`: rebuild when one is added.
//! - The integration tests that need Postgres or Redis are marked ignored when those
//!   services are not configured, so a machine without them shows the suites as
//!   skipped rather than passed. With `CI=true` they always run (and fail when the
//!   URL is missing): CI never skips them silently.
fn main() {
    println!("cargo::rerun-if-changed=static");
    // `sqlx::migrate!` embeds the migrations at compile time.
    println!("cargo::rerun-if-changed=migrations");
    for var in ["TEST_DATABASE_URL", "TEST_REDIS_URL", "CI"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rustc-check-cfg=cfg(postgres_suite)");
    println!("cargo::rustc-check-cfg=cfg(cluster_suite)");
    let set = |var: &str| std::env::var(var).is_ok_and(|v| !v.is_empty());
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if ci || set("TEST_DATABASE_URL") {
        println!("cargo::rustc-cfg=postgres_suite");
    }
    if ci || (set("TEST_DATABASE_URL") && set("TEST_REDIS_URL")) {
        println!("cargo::rustc-cfg=cluster_suite");
    }
}
