//! The server's files are private to the user it runs as, from the first start and
//! after an older install left them readable by others.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use switchboard::Application;
use switchboard::config::{Config, Secret};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The files a running node keeps in its data directory. SQLite removes the WAL and
/// shared-memory files when its last connection closes, so they are checked while
/// the node runs.
const FILES: [&str; 6] = [
    "switchboard.db",
    "switchboard.db-wal",
    "switchboard.db-shm",
    "switchboard.db.open-lock",
    "jwt-secret",
    "channel-key",
];

/// Starts a node on `data` with generated secrets, checks every file's mode while it
/// runs, and stops it gracefully.
async fn run_and_check(data: &Path, when: &str) {
    let mut config = Config::default();
    config.server.port = 0;
    config.server.workers = 1;
    config.server.data_dir = data.to_owned();
    config.bootstrap.owner_password = Secret::new(common::OWNER_PASSWORD);
    let app = Application::build(config).await.expect("server starts");
    let handle = app.handle();
    let running = actix_rt::spawn(app.run_until_stopped());
    assert_eq!(mode(data), 0o700, "the data directory {when}");
    for file in FILES {
        assert_eq!(mode(&data.join(file)), 0o600, "{file} {when}");
    }
    handle.stop(true).await;
    running.await.unwrap().unwrap();
}

#[actix_rt::test]
async fn the_data_directory_the_database_and_the_keys_are_readable_by_the_server_user_only() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("var").join("data");
    run_and_check(&data, "at the first start").await;

    // As an older version (or a careless copy) left them.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in FILES {
        let path = data.join(file);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    run_and_check(&data, "after a restart").await;
}
