//! The `connect-sso-operator run` binary as a process (built by `cargo bench`'s profile), its
//! `/metrics`, and what the OS says about it: peak RSS (`VmHWM`) and CPU time (`utime+stime`).

use std::path::Path;
use std::time::Duration;

use crate::world::World;
use crate::world::envtest::process::{ManagedProcess, free_ports};

pub struct Operator {
    pub process: ManagedProcess,
    pub metrics_port: u16,
}

pub struct Env<'a> {
    pub iam_endpoint: &'a str,
    pub concurrency: u16,
    pub onelogin_calls_per_hour: u64,
    pub resync_seconds: u64,
}

impl Operator {
    /// Starts the binary with the envtest admin kubeconfig, watching only the world's namespace,
    /// and waits for `/readyz`.
    pub async fn start(w: &World, env: &Env<'_>, log: &Path) -> Operator {
        let port = free_ports(1).expect("port")[0];
        let kubeconfig = w.ns.server().admin().kubeconfig_path().to_path_buf();
        let mut cmd = w.operator_command(&kubeconfig, env.iam_endpoint, port);
        cmd.env("CONNECT_SSO_RESYNC_SECONDS", env.resync_seconds.to_string())
            .env("CONNECT_SSO_CONCURRENCY", env.concurrency.to_string())
            .env(
                "CONNECT_SSO_ONELOGIN_CALLS_PER_HOUR",
                env.onelogin_calls_per_hour.to_string(),
            )
            .env(
                "RUST_LOG",
                std::env::var("BENCH_OPERATOR_LOG").unwrap_or_else(|_| "warn".into()),
            );
        let mut process = ManagedProcess::spawn("connect-sso-operator", cmd, log).expect("binary starts");
        process
            .wait_until_answers(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(60))
            .await;
        Operator {
            process,
            metrics_port: port,
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub async fn metrics(&self) -> String {
        match reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Peak resident set size in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        status_field(self.pid(), "VmHWM:")
    }

    /// Current resident set size in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        status_field(self.pid(), "VmRSS:")
    }

    /// User plus system CPU time so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // The command name (field 2) is in parentheses and may contain spaces: split after it.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After ")" field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
        let ticks: u64 = fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_secs_f64(ticks as f64 / hz as f64)
    }

    pub fn kill(&mut self) {
        self.process.kill();
    }
}

fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Sum of a metric's samples whose label set contains every one of `filters`.
pub fn counter(text: &str, name: &str, filters: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| filters.iter().all(|f| l.contains(f)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
