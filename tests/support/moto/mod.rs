//! A real `moto_server` child process (moto 5.2.5 from `tests/tools/requirements.txt`) for IAM tests,
//! plus real AWS SDK clients pointed at it.
//!
//! - [`MotoServer::start`] gives a test its own process; [`MotoServer::shared`] gives every test in the
//!   binary the same one (tests then use unique names instead of [`MotoServer::reset`]).
//! - moto infers the service from the SigV4 credential scope, so one endpoint serves IAM, STS, ...
//!
//! Pointing the operator binary (a separate process) at a test endpoint uses the SDK's standard
//! environment, read by `aws_config::load_defaults`:
//!
//! ```text
//! AWS_ENDPOINT_URL_IAM=http://127.0.0.1:PORT       # moto (service id `IAM`)
//! AWS_ENDPOINT_URL_CONNECT=http://127.0.0.1:PORT2  # ConnectServer (service id `Connect`)
//! AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
//! ```
//!
//! Service-specific variables beat `AWS_ENDPOINT_URL`; avoid the global one so credential providers'
//! STS calls are not redirected. Static keys keep the default chain from reaching IMDS.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";
/// moto's default account (no `MOTO_ACCOUNT_ID` set).
pub const ACCOUNT_ID: &str = "123456789012";

const START_TIMEOUT: Duration = Duration::from_secs(60);
const START_ATTEMPTS: usize = 3;
const TAIL_LINES: usize = 40;

pub struct MotoServer {
    child: Mutex<Child>,
    endpoint: String,
    log: File,
}

impl MotoServer {
    /// Starts a fresh `moto_server` on a free loopback port and waits until it answers HTTP.
    /// Blocks the calling thread (a few seconds at most once the venv exists).
    pub fn start() -> Result<Self, String> {
        let bin = moto_server_bin()?;
        let mut last_err = String::new();
        // The probe port is released before moto binds it, so another process can take it; retry.
        for _ in 0..START_ATTEMPTS {
            match Self::start_on(&bin, free_port()?) {
                Ok(server) => return Ok(server),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// One server per test binary, started on first use. Only the endpoint is shared: SDK clients
    /// hold connection pools bound to the tokio runtime that created them, and each `#[tokio::test]`
    /// has its own runtime.
    pub fn shared() -> String {
        static SHARED: OnceLock<Result<MotoServer, String>> = OnceLock::new();
        match SHARED.get_or_init(MotoServer::start) {
            Ok(server) => server.endpoint(),
            Err(e) => panic!("shared moto_server failed to start: {e}"),
        }
    }

    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).id()
    }

    /// Clears all moto state (every service, every account). Do not call on the shared server.
    pub async fn reset(&self) -> Result<(), String> {
        reset(&self.endpoint).await
    }

    /// The last lines moto wrote to stdout/stderr (werkzeug logs each request).
    pub fn output_tail(&self) -> String {
        tail(&self.log, TAIL_LINES)
    }

    fn start_on(bin: &Path, port: u16) -> Result<Self, String> {
        let log = tempfile::tempfile().map_err(|e| format!("moto log file: {e}"))?;
        let mut command = Command::new(bin);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log.try_clone().map_err(|e| e.to_string())?);
        die_with_parent(&mut command);
        let mut child = spawn_from_keeper(command).map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "moto_server exited with {status} before answering on {addr}; output:\n{}",
                    tail(&log, TAIL_LINES)
                ));
            }
            if answers_as_moto(addr) && matches!(child.try_wait(), Ok(None)) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "moto_server did not answer on {addr} within {START_TIMEOUT:?}; output:\n{}",
                    tail(&log, TAIL_LINES)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Self {
            child: Mutex::new(child),
            endpoint: format!("http://{addr}"),
            log,
        })
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `POST /moto-api/reset` on any moto endpoint.
pub async fn reset(endpoint: &str) -> Result<(), String> {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/moto-api/reset"))
        .send()
        .await
        .map_err(|e| format!("moto reset: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("moto reset: HTTP {}", response.status()))
    }
}

/// An IAM client for `endpoint` (moto): us-east-1, static test keys, standard retries.
pub fn iam_client(endpoint: &str) -> aws_sdk_iam::Client {
    use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "moto-test",
        ))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::standard())
        .build();
    aws_sdk_iam::Client::from_conf(config)
}

/// A Connect client for `endpoint` (moto for instances, or the in-process `ConnectServer`).
pub fn connect_client(endpoint: &str) -> aws_sdk_connect::Client {
    use aws_sdk_connect::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let config = aws_sdk_connect::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "moto-test",
        ))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::standard())
        .build();
    aws_sdk_connect::Client::from_conf(config)
}

/// `<venv>/bin/moto_server`, installing the venv on first use (once per test binary).
fn moto_server_bin() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/install-python.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}):\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let venv = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let bin = Path::new(&venv).join("bin/moto_server");
        if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("{} missing after {}", bin.display(), script.display()))
        }
    })
    .clone()
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("probe port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// moto's own API answers 200 from werkzeug. Checking both keeps another loopback server that
/// grabbed the probed port first (e.g. a parallel test's ConnectServer) from passing as moto.
fn answers_as_moto(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = "GET /moto-api/data.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    head.starts_with("http/1.1 200") && head.contains("server: werkzeug")
}

fn tail(log: &File, lines: usize) -> String {
    let mut bytes = Vec::new();
    let mut offset = 0u64;
    let mut buf = [0u8; 8192];
    // read_at ignores the shared file offset the child is writing through.
    while let Ok(n) = log.read_at(&mut buf, offset) {
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
        offset += n as u64;
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// SIGKILL the child when its parent goes away, even if the test binary is killed and Drop never runs.
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process. Test
/// threads end after each test (and the shared server outlives the test that started it), so all
/// children are forked from one thread that lives until the process exits.
fn spawn_from_keeper(command: Command) -> std::io::Result<Child> {
    type Job = (Command, mpsc::Sender<std::io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let sender = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("child-keeper".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
                // Never return: the sender lives in a static, so `rx` never closes.
            })
            .expect("spawn child-keeper thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    sender
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((command, reply_tx))
        .map_err(|_| std::io::Error::other("child-keeper thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("child-keeper thread dropped the request"))?
}
