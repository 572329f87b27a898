//! Child processes that cannot outlive the test binary, their logs, free ports and temp dirs.
//!
//! Three layers make sure etcd and kube-apiserver never linger:
//! 1. every child is started with `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it when the
//!    test process dies for any reason (panic=abort, SIGKILL, a crash). The signal follows the
//!    *thread* that forked the child, so all children are forked by one thread that never exits;
//! 2. [`ManagedProcess`] kills and reaps its child on `Drop` (a test that owns a server);
//! 3. an `atexit` handler kills whatever is still registered and removes the temp dirs, which
//!    covers the shared server living in a `static` that is never dropped.
//!
//! Temp dirs are named `connect-sso-envtest-<pid>-*`; a dir whose pid is gone (a run killed with
//! SIGKILL, where `atexit` could not run) is removed by the next run.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, Once, OnceLock};

pub const DIR_PREFIX: &str = "connect-sso-envtest-";

/// pids and temp dirs that the `atexit` handler cleans up.
struct Registry {
    pids: Vec<i32>,
    dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pids: Vec::new(),
    dirs: Vec::new(),
});

extern "C" fn cleanup_at_exit() {
    // try_lock: never block process exit on a lock held by a thread that is being torn down.
    let Ok(mut reg) = REGISTRY.try_lock() else { return };
    for pid in reg.pids.drain(..) {
        // SAFETY: plain syscalls on pids we spawned and have not reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
    for dir in reg.dirs.drain(..) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn with_registry(f: impl FnOnce(&mut Registry)) {
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn` that captures nothing.
        unsafe { libc::atexit(cleanup_at_exit) };
    });
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard);
}

/// Removes `dir` at process exit unless [`forget_dir`] is called first.
pub fn register_dir(dir: &Path) {
    with_registry(|r| r.dirs.push(dir.to_path_buf()));
}

pub fn forget_dir(dir: &Path) {
    with_registry(|r| r.dirs.retain(|d| d != dir));
}

/// A fresh temp dir for one server; also sweeps dirs left by test processes that no longer exist.
pub fn temp_dir() -> io::Result<tempfile::TempDir> {
    sweep_stale_dirs();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir()?;
    register_dir(dir.path());
    Ok(dir)
}

fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: signal 0 only checks whether the pid exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

type SpawnJob = Box<dyn FnOnce() + Send>;

/// Runs `job` on the one long-lived thread that forks every child (see the module docs).
fn on_spawner_thread(job: SpawnJob) {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        std::thread::Builder::new()
            .name("envtest-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                while let Ok(job) = rx.recv() {
                    job();
                }
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn the envtest-spawner thread");
        Mutex::new(tx)
    });
    sender
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job)
        .expect("envtest-spawner thread is alive");
}

/// A child process with its combined stdout/stderr in a log file; killed and reaped on drop.
#[derive(Debug)]
pub struct ManagedProcess {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ManagedProcess {
    /// Starts `command` (its stdio is replaced by `log`), tied to the lifetime of this process.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> io::Result<Self> {
        let out = File::create(log)?;
        let err = out.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the closure only makes async-signal-safe syscalls (prctl, getppid).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl; then nobody would signal us.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let (tx, rx) = mpsc::channel();
        on_spawner_thread(Box::new(move || {
            let _ = tx.send(command.spawn());
        }));
        let child = rx
            .recv()
            .map_err(|_| io::Error::other("envtest-spawner thread vanished"))??;
        let pid = child.id() as i32;
        with_registry(|r| r.pids.push(pid));
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Waits until `url` answers with a success status; panics with the log's tail if the
    /// process exits first or `within` passes.
    pub async fn wait_until_answers(&mut self, url: &str, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Ok(r) = reqwest::get(url).await
                && r.status().is_success()
            {
                return;
            }
            if let Some(status) = self.exited() {
                panic!("{} exited ({status}):\n{}", self.name, self.log_tail(40));
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{url} never answered:\n{}",
                self.log_tail(40)
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL and reap; idempotent.
    pub fn kill(&mut self) {
        let pid = self.child.id() as i32;
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        with_registry(|r| r.pids.retain(|p| *p != pid));
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `lines` lines of a file (reads at most the final 64 KiB).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_ok() {
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `n` distinct free TCP ports on 127.0.0.1. They are free when this returns; a process started
/// right after can still lose a race for one, which the caller handles by retrying.
pub fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<io::Result<_>>()?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

/// True when `pid` no longer exists (or is a zombie nobody will reap).
pub fn pid_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}
