//! The `switchboard` binary as a user runs it: no configuration, from an empty folder.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(30);

fn switchboard(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// Lines of a child's stream, delivered through a channel so a test can wait with a timeout.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(START_TIMEOUT)
            .unwrap_or_else(|_| panic!("no line containing {needle}"));
        if line.contains(needle) {
            return line;
        }
    }
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("the server did not exit after SIGTERM");
}

#[actix_rt::test]
async fn the_binary_starts_with_nothing_configured_lets_the_printed_owner_sign_in_and_stops_on_sigterm()
 {
    let dir = tempfile::tempdir().unwrap();
    let mut child = switchboard(dir.path())
        .env("SWITCHBOARD_SERVER__PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines(child.stdout.take().unwrap());
    let stderr = lines(child.stderr.take().unwrap());

    let password = wait_for(&stdout, "password:")
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    let listening: serde_json::Value =
        serde_json::from_str(&wait_for(&stderr, "switchboard listening")).unwrap();
    assert_eq!(listening["level"], "INFO", "logs are JSON lines");
    let base = format!("http://127.0.0.1:{}", listening["fields"]["port"]);

    let http = reqwest::Client::new();
    for probe in ["/health", "/ready", "/metrics"] {
        assert_eq!(
            http.get(format!("{base}{probe}"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{probe}"
        );
    }
    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({ "tenant": "default", "email": "owner@switchboard.local", "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(dir.path().join("data/switchboard.db").exists());
    assert!(dir.path().join("data/jwt-secret").exists());

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(wait_exit(&mut child).success(), "SIGTERM is a clean stop");
    wait_for(&stderr, "switchboard stopped");
    assert!(
        http.get(format!("{base}/health")).send().await.is_err(),
        "the port is closed"
    );
}

#[test]
fn an_unknown_configuration_key_stops_the_binary_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = switchboard(dir.path())
        .env("SWITCHBOARD_SERVER__PROT", "9000")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SWITCHBOARD_SERVER__PROT") && stderr.contains("server.prot"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[server]\nport = 0\nworkerz = 2\n",
    )
    .unwrap();
    let output = switchboard(dir.path())
        .args(["--config", "switchboard.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("workerz"));
}

#[test]
fn the_example_secrets_of_docker_example_env_stop_the_binary_outside_dev_mode() {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker/example.env"))
            .unwrap();
    let value = |name: &str| {
        example
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    for (var, key, value) in [
        (
            "SWITCHBOARD_AUTH__JWT_SECRET",
            "auth.jwt_secret",
            value("JWT_SECRET"),
        ),
        (
            "SWITCHBOARD_CHANNELS__CREDENTIALS_KEY",
            "channels.credentials_key",
            value("CREDENTIALS_KEY"),
        ),
        (
            "SWITCHBOARD_BOOTSTRAP__OWNER_PASSWORD",
            "bootstrap.owner_password",
            value("OWNER_PASSWORD"),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let output = switchboard(dir.path())
            .env("SWITCHBOARD_SERVER__PORT", "0")
            .env(var, &value)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(key) && stderr.contains("dev_mode"),
            "{var}: {stderr}"
        );
    }
}

#[actix_rt::test]
async fn a_customer_message_played_with_simulate_reaches_an_agent_connected_to_the_running_server()
{
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let mut child = switchboard(dir.path())
        .env("SWITCHBOARD_SERVER__PORT", "0")
        .env("SWITCHBOARD_BOOTSTRAP__OWNER_PASSWORD", "simulate-password")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = lines(child.stderr.take().unwrap());
    let listening: serde_json::Value =
        serde_json::from_str(&wait_for(&stderr, "switchboard listening")).unwrap();
    let port = listening["fields"]["port"].clone();
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .json(&serde_json::json!({ "tenant": "default", "email": "owner@switchboard.local", "password": "simulate-password" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws?access_token={token}"))
            .await
            .unwrap();
    ws.send(Message::text(r#"{"type":"subscribe"}"#))
        .await
        .unwrap();

    let output = switchboard(dir.path())
        .args([
            "simulate",
            "--from",
            "alice",
            "--name",
            "Alice",
            "--text",
            "Hello from the sandbox",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let played: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(played["conversation"]["contact"]["name"], "Alice");

    let frame = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "message.new" {
                    return frame;
                }
            }
        }
        panic!("socket ended");
    })
    .await
    .expect("the message reaches the socket");
    assert_eq!(frame["data"]["message"]["body"], "Hello from the sandbox");
    assert_eq!(frame["data"]["message"]["id"], played["message"]["id"]);
    child.kill().unwrap();
    child.wait().unwrap();
}
