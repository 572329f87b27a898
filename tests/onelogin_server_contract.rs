//! Checks the OneLogin test server against the official OneLogin Python SDK (onelogin==4.0.1):
//! tests/onelogin_sdk_contract.py drives every endpoint the operator uses and validates each
//! response with the SDK's models.

#[path = "support/onelogin/mod.rs"]
mod onelogin;

use std::path::{Path, PathBuf};
use std::process::Command;

use onelogin::{NewUser, OneLoginServer, ServerConfig};

/// The venv with the pinned SDK, created on first use by tests/tools/install-python.sh.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("tests/tools/install-python.sh"))
        .output()
        .expect("run tests/tools/install-python.sh");
    assert!(
        out.status.success(),
        "install-python.sh failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let venv = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
    PathBuf::from(venv).join("bin/python")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_accepts_every_response() {
    let server = OneLoginServer::start(ServerConfig::default()).await;
    let seeds = [
        ("ada@example.com", 1, 1),
        ("grace@example.com", 1, 1),
        ("linus@example.com", 2, 1),
        ("ken@other.example", 1, 3),
    ];
    let users: Vec<serde_json::Value> = seeds
        .iter()
        .map(|(email, status, state)| {
            let id = server.add_user(NewUser {
                status: *status,
                state: *state,
                ..NewUser::with_email(email)
            });
            serde_json::json!({"id": id, "email": email, "username": email, "status": status, "state": state})
        })
        .collect();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onelogin_sdk_contract.py");
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .env("ONELOGIN_BASE_URL", server.base_url())
        .env("ONELOGIN_CLIENT_ID", server.client_id())
        .env("ONELOGIN_CLIENT_SECRET", server.client_secret())
        .env("ONELOGIN_USERS", serde_json::Value::from(users).to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1");
    // Blocking wait on a worker thread so the server keeps serving the script.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK contract script failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    println!("{stdout}");
    // The script must actually have exercised the server.
    assert!(
        server.calls().total() > 40,
        "only {} requests reached the server",
        server.calls().total()
    );
}
