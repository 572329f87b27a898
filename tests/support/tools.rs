//! The test tools the repo's scripts install into a cache outside the repo (Helm, Lua 5.1, the
//! kstatus checker), and the chart rendered with Helm.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

pub const CHART: &str = "charts/connect-sso-operator";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The binary that the install script `script` (relative to the repo) prints. The script builds
/// or downloads it on first use (minutes for Helm), so it runs once per test binary.
pub fn tool(script: &str) -> PathBuf {
    static FOUND: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let found = FOUND.get_or_init(Default::default);
    let mut found = found.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = found.get(script) {
        return path.clone();
    }
    let path = root().join(script);
    let out = Command::new("bash")
        .arg(&path)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(out.status.success(), "{script} failed");
    let tool = PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim());
    found.insert(script.to_string(), tool.clone());
    tool
}

pub fn helm() -> PathBuf {
    tool("tests/tools/install-helm.sh")
}

/// Runs helm with `args` in the repo; Ok(stdout) on success, Err(stderr) otherwise.
pub fn run_helm(args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm())
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("helm runs");
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).expect("utf-8"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `helm template <release> charts/connect-sso-operator --namespace <namespace> <extra>`.
pub fn helm_template(release: &str, namespace: &str, extra: &[&str]) -> Result<String, String> {
    let mut args = vec!["template", release, CHART, "--namespace", namespace];
    args.extend_from_slice(extra);
    run_helm(&args)
}
