//! Where the kube-apiserver and etcd binaries are.
//!
//! Order: `TEST_ASSET_KUBE_APISERVER` / `TEST_ASSET_ETCD` (one binary each, as in
//! controller-runtime's envtest), then `KUBEBUILDER_ASSETS`, then the directory that
//! `tests/envtest/build.sh` prints (it builds the binaries on first use and caches them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::Error;

#[derive(Debug, Clone)]
pub struct Assets {
    pub kube_apiserver: PathBuf,
    pub etcd: PathBuf,
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn find() -> Result<Assets, Error> {
    let from_env = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
    let (mut kas, mut etcd) = (from_env("TEST_ASSET_KUBE_APISERVER"), from_env("TEST_ASSET_ETCD"));
    if kas.is_none() || etcd.is_none() {
        let dir = match from_env("KUBEBUILDER_ASSETS") {
            Some(dir) if dir.join("kube-apiserver").is_file() && dir.join("etcd").is_file() => dir,
            _ => build_script_dir()?,
        };
        kas.get_or_insert_with(|| dir.join("kube-apiserver"));
        etcd.get_or_insert_with(|| dir.join("etcd"));
    }
    let assets = Assets {
        kube_apiserver: kas.unwrap_or_default(),
        etcd: etcd.unwrap_or_default(),
    };
    for path in [&assets.kube_apiserver, &assets.etcd] {
        if !is_executable(path) {
            return Err(Error::msg(format!(
                "envtest binary {} is missing or not executable",
                path.display()
            )));
        }
    }
    Ok(assets)
}

/// Runs `tests/envtest/build.sh` (which honours `KUBEBUILDER_ASSETS`); its progress goes to our stderr.
fn build_script_dir() -> Result<PathBuf, Error> {
    let script = manifest_dir().join("tests/envtest/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::msg(format!("running {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "{} failed ({}); set KUBEBUILDER_ASSETS to a directory with kube-apiserver and etcd",
            script.display(),
            out.status
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim();
    if dir.is_empty() {
        return Err(Error::msg(format!("{} printed no asset directory", script.display())));
    }
    Ok(PathBuf::from(dir))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
