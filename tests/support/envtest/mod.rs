//! A real kube-apiserver (with etcd) for integration tests.
//!
//! ```ignore
//! #[path = "support/envtest/mod.rs"]
//! mod envtest;
//!
//! #[tokio::test]
//! async fn something() {
//!     let server = envtest::shared().await;          // one server per test binary, started lazily
//!     let ns = server.namespace("something").await;   // a fresh namespace for this test
//!     let admin = ns.admin();                         // system:masters, bound to this test's runtime
//!     let user = ns.restricted_user(RBAC_YAML).await.unwrap(); // only what RBAC_YAML grants
//!     let client = user.client().await;
//!     // user.kubeconfig_path() for a child process (KUBECONFIG=...)
//! }
//! ```
//!
//! Binaries: see [`assets`]. Every `crds/*.yaml` is installed and Established before the server
//! is handed out. Children die with the test process (see [`process`]).
#![allow(dead_code)]

pub mod assets;
pub mod certs;
pub mod crds;
pub mod kubeconfig;
pub mod process;
pub mod rbac;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

pub use kubeconfig::Identity;
pub use process::ManagedProcess;
pub use rbac::Applied;

/// Field manager of everything the harness itself applies.
pub const FIELD_MANAGER: &str = "envtest";
/// Static token users `envtest-user-0` .. handed out by [`TestNamespace::restricted_user`].
pub const RESTRICTED_USERS: usize = 64;
pub const ADMIN_USER: &str = "envtest-admin";
/// How long harness helpers wait for fresh RBAC bindings to take effect.
const RBAC_TIMEOUT: Duration = Duration::from_secs(20);

/// A harness failure, with enough context (binary, log tail) to act on.
#[derive(Debug, Clone)]
pub struct Error {
    message: String,
    /// Something did not become ready in time (as opposed to being refused).
    pub timed_out: bool,
    /// A child lost a race for its port: starting again on new ports may work.
    port_conflict: bool,
}

impl Error {
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            port_conflict: false,
            timed_out: false,
        }
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self {
            timed_out: true,
            ..Self::msg(message)
        }
    }
}

/// A kube error as one readable line: the server's own message for API errors.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({} {})", status.message, status.code, status.reason),
        other => other.to_string(),
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[derive(Debug, Clone)]
pub struct Options {
    /// CRD files to install and wait for. Default: this crate's `crds/*.yaml`.
    pub crd_files: Vec<PathBuf>,
    /// Appended to the kube-apiserver command line (later flags win).
    pub extra_apiserver_args: Vec<String>,
    /// Per process: etcd healthy, kube-apiserver ready, CRDs established.
    pub startup_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            crd_files: crds::default_files(),
            extra_apiserver_args: Vec::new(),
            startup_timeout: Duration::from_secs(90),
        }
    }
}

/// etcd plus kube-apiserver on loopback. Dropping it kills both and removes its directory.
pub struct Server {
    processes: Mutex<Vec<ManagedProcess>>,
    endpoint: String,
    etcd_endpoint: String,
    ca_pem: String,
    admin: Identity,
    users: Vec<Identity>,
    next_user: AtomicUsize,
    crds: Vec<String>,
    startup: Duration,
    dir: tempfile::TempDir,
}

/// A started server before it owns its directory.
struct Parts {
    processes: Vec<ManagedProcess>,
    endpoint: String,
    etcd_endpoint: String,
    ca_pem: String,
    admin: Identity,
    users: Vec<Identity>,
    crds: Vec<String>,
    startup: Duration,
}

impl Parts {
    fn into_server(self, dir: tempfile::TempDir) -> Server {
        Server {
            processes: Mutex::new(self.processes),
            endpoint: self.endpoint,
            etcd_endpoint: self.etcd_endpoint,
            ca_pem: self.ca_pem,
            admin: self.admin,
            users: self.users,
            next_user: AtomicUsize::new(0),
            crds: self.crds,
            startup: self.startup,
            dir,
        }
    }
}

/// The server shared by every test of this binary: started on first use, killed when the
/// process exits. Safe to call from tests running in parallel on separate runtimes.
///
/// Panics (in every test that calls it) if the server cannot start; the message names the binary
/// that failed and ends with its log.
pub async fn shared() -> &'static Server {
    static SHARED: OnceLock<Result<Server, Error>> = OnceLock::new();
    let result = tokio::task::spawn_blocking(|| SHARED.get_or_init(|| start_on_own_thread(Options::default())))
        .await
        .expect("envtest start-up thread");
    match result {
        Ok(server) => server,
        Err(e) => panic!("envtest: {e}"),
    }
}

/// Starts a server on a thread with its own runtime, so that nothing it spawns is tied to a test's runtime.
fn start_on_own_thread(options: Options) -> Result<Server, Error> {
    std::thread::Builder::new()
        .name("envtest-start".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::msg(format!("tokio runtime: {e}")))?;
            runtime.block_on(Server::start(options))
        })
        .map_err(|e| Error::msg(format!("start-up thread: {e}")))?
        .join()
        .unwrap_or_else(|_| Err(Error::msg("envtest start-up panicked")))
}

impl Server {
    /// Starts a private server (prefer [`shared`]; start-up takes a few seconds).
    pub async fn start(options: Options) -> Result<Server, Error> {
        let assets = assets::find()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(&assets, &options).await {
                Err(e) if e.port_conflict && attempt < 3 => continue,
                other => return other,
            }
        }
    }

    async fn start_once(assets: &assets::Assets, options: &Options) -> Result<Server, Error> {
        let mut dir = process::temp_dir().map_err(|e| Error::msg(format!("temp dir: {e}")))?;
        // Kept if start-up fails, so the full logs can be read; the next run sweeps it.
        dir.disable_cleanup(true);
        process::forget_dir(dir.path());
        let result = Self::start_in(dir.path(), assets, options).await;
        match result {
            Ok(parts) => {
                dir.disable_cleanup(false);
                process::register_dir(dir.path());
                Ok(parts.into_server(dir))
            }
            Err(mut e) => {
                e.message += &format!("\n(all logs are in {})", dir.path().display());
                Err(e)
            }
        }
    }

    async fn start_in(dir: &Path, assets: &assets::Assets, options: &Options) -> Result<Parts, Error> {
        let started = Instant::now();
        let pki = certs::generate(dir)?;
        let ports = process::free_ports(3).map_err(|e| Error::msg(format!("free ports: {e}")))?;
        let (etcd_port, peer_port, api_port) = (ports[0], ports[1], ports[2]);
        let etcd_endpoint = format!("http://127.0.0.1:{etcd_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");

        // etcd: one member on loopback. Peer URLs are set too, or every etcd would try the
        // default :2380 and parallel test binaries would collide. No fsync: the data is throwaway.
        let mut etcd = Command::new(&assets.etcd);
        etcd.args(["--name", "envtest"])
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_endpoint}"))
            .arg(format!("--advertise-client-urls={etcd_endpoint}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=envtest={peer}"))
            .args(["--unsafe-no-fsync=true", "--log-level=warn"]);
        let mut etcd = spawn("etcd", etcd, &dir.join("etcd.log"))?;
        let http = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes())
                .map_err(|e| Error::msg(format!("CA for reqwest: {e}")))?])
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| Error::msg(format!("reqwest: {e}")))?;
        wait_until_ready(
            &mut etcd,
            &http,
            &format!("{etcd_endpoint}/health"),
            None,
            options.startup_timeout,
            |body| body.contains("\"health\":\"true\""),
        )
        .await?;

        let admin_token = certs::token();
        let user_tokens: Vec<String> = (0..RESTRICTED_USERS).map(|_| certs::token()).collect();
        let mut token_file = certs::token_line(&admin_token, ADMIN_USER, &["system:masters"]) + "\n";
        for (i, token) in user_tokens.iter().enumerate() {
            token_file += &(certs::token_line(token, &format!("envtest-user-{i}"), &[]) + "\n");
        }
        let token_path = dir.join("tokens.csv");
        certs::write(&token_path, &token_file)?;

        // kube-apiserver, flags checked against `kube-apiserver --help` (v1.37.2):
        // - loopback only; `--endpoint-reconciler-type=none` because the default (lease) reconciler
        //   refuses a loopback advertise address and the apiserver exits at start-up;
        // - our own serving certificate (CA in every kubeconfig, so TLS is verified for real);
        // - service-account issuer + keys: required flags, and they make TokenRequest work;
        // - RBAC only, identities from a static token file (admin in system:masters, restricted users);
        // - the ServiceAccount admission plugin off: no controller-manager creates `default`
        //   ServiceAccounts, so it would refuse pods (as controller-runtime's envtest does).
        let mut kas = Command::new(&assets.kube_apiserver);
        kas.arg(format!("--etcd-servers={etcd_endpoint}"))
            .arg(format!("--secure-port={api_port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
            ])
            .arg(format!("--tls-cert-file={}", pki.serving_cert.display()))
            .arg(format!("--tls-private-key-file={}", pki.serving_key.display()))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!("--service-account-key-file={}", pki.sa_public_key.display()))
            .arg(format!(
                "--service-account-signing-key-file={}",
                pki.sa_signing_key.display()
            ))
            .arg("--authorization-mode=RBAC")
            .arg(format!("--token-auth-file={}", token_path.display()))
            .args([
                "--service-cluster-ip-range=10.0.0.0/24",
                "--disable-admission-plugins=ServiceAccount",
            ])
            .arg("--profiling=false")
            .args(&options.extra_apiserver_args);
        let mut kas = spawn("kube-apiserver", kas, &dir.join("kube-apiserver.log"))?;
        let endpoint = format!("https://127.0.0.1:{api_port}");
        wait_until_ready(
            &mut kas,
            &http,
            &format!("{endpoint}/readyz"),
            Some(&admin_token),
            options.startup_timeout,
            |body| body.trim() == "ok",
        )
        .await?;

        let cluster = kubeconfig::Cluster {
            dir,
            server: &endpoint,
            ca_pem: &pki.ca_pem,
        };
        let admin = Identity::new(
            &cluster,
            "admin",
            ADMIN_USER,
            vec!["system:masters".into()],
            admin_token,
            None,
        )?;
        let users = user_tokens
            .into_iter()
            .enumerate()
            .map(|(i, token)| {
                let name = format!("envtest-user-{i}");
                Identity::new(&cluster, &name, &name, Vec::new(), token, None)
            })
            .collect::<Result<Vec<_>, _>>()?;

        let crds = {
            let client = kubeconfig::client_from_yaml(admin.kubeconfig()).await?;
            let definitions = crds::read(&options.crd_files)?;
            crds::install(&client, &definitions, options.startup_timeout)
                .await
                .map_err(|e| match e.timed_out {
                    // A rejection carries the server's reason; a timeout needs the log.
                    true => Error::msg(format!("{e}\n--- kube-apiserver log (tail) ---\n{}", kas.log_tail(30))),
                    false => e,
                })?
        };

        Ok(Parts {
            processes: vec![kas, etcd],
            endpoint,
            etcd_endpoint,
            ca_pem: pki.ca_pem,
            admin,
            users,
            crds,
            startup: started.elapsed(),
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn etcd_endpoint(&self) -> &str {
        &self.etcd_endpoint
    }

    /// PEM of the CA that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The `system:masters` identity (kubeconfig text and file).
    pub fn admin(&self) -> &Identity {
        &self.admin
    }

    /// A new admin Client bound to the calling runtime.
    pub async fn admin_client(&self) -> Client {
        self.admin.client().await
    }

    /// Names of the CRDs installed at start-up.
    pub fn crds(&self) -> &[String] {
        &self.crds
    }

    /// How long start-up took (both processes ready and CRDs established).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The server's working directory (data, certs, logs, kubeconfigs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// pids of kube-apiserver and etcd.
    pub fn pids(&self) -> Vec<u32> {
        self.processes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(ManagedProcess::pid)
            .collect()
    }

    /// The last `lines` lines of `kube-apiserver` or `etcd`'s log.
    pub fn log_tail(&self, binary: &str, lines: usize) -> String {
        process::log_tail(&self.dir.path().join(format!("{binary}.log")), lines)
    }

    /// A fresh namespace named after `hint` (plus a random suffix), with an admin Client for the
    /// calling runtime. Namespaces are not deleted (no namespace controller runs); the whole
    /// server goes away with the test binary.
    pub async fn namespace(&self, hint: &str) -> TestNamespace<'_> {
        let admin = self.admin_client().await;
        let mut base: String = hint
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(40)
            .collect();
        base = base.trim_matches('-').to_string();
        if base.is_empty() {
            base = "test".into();
        }
        let name = format!("{base}-{:08x}", rand::random::<u32>());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
        Api::<Namespace>::all(admin.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        TestNamespace {
            server: self,
            name,
            admin,
        }
    }

    /// Applies RBAC documents as they are (see [`rbac::apply`]), e.g. a Helm chart rendered to YAML;
    /// non-RBAC documents are skipped and listed in the result.
    pub async fn apply_rbac(&self, admin: &Client, yaml: &str, default_namespace: &str) -> Result<Applied, Error> {
        rbac::apply(admin, yaml, default_namespace, None).await
    }

    fn take_user(&self) -> Result<&Identity, Error> {
        let i = self.next_user.fetch_add(1, Ordering::SeqCst);
        self.users
            .get(i)
            .ok_or_else(|| Error::msg(format!("all {RESTRICTED_USERS} restricted envtest users are in use")))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        for p in processes.iter_mut() {
            p.kill();
        }
        process::forget_dir(self.dir.path());
        // `dir` (a TempDir) removes the directory when it is dropped right after this.
    }
}

/// A namespace of its own for one test.
pub struct TestNamespace<'a> {
    server: &'a Server,
    name: String,
    admin: Client,
}

impl<'a> TestNamespace<'a> {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An admin Client bound to the runtime that created this namespace.
    pub fn admin(&self) -> &Client {
        &self.admin
    }

    pub fn server(&self) -> &'a Server {
        self.server
    }

    /// Applies RBAC documents as they are; namespaced ones without a namespace land here.
    pub async fn apply_rbac(&self, yaml: &str) -> Result<Applied, Error> {
        rbac::apply(&self.admin, yaml, &self.name, None).await
    }

    /// A fresh static-token user (`envtest-user-N`, no groups besides `system:authenticated`)
    /// that can do what `rbac_yaml` grants and nothing else: every binding in it is rewritten to
    /// name this user. Returns once the bindings are in effect.
    pub async fn restricted_user(&self, rbac_yaml: &str) -> Result<Identity, Error> {
        let user = self.server.take_user()?.clone();
        let subject = json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": user.username});
        let applied = rbac::apply(&self.admin, rbac_yaml, &self.name, Some(&subject)).await?;
        rbac::wait_effective(&self.admin, &applied, &user.username, &user.groups, RBAC_TIMEOUT).await?;
        Ok(user)
    }

    /// The ServiceAccount `name` in this namespace (created if missing) with a fresh token, after
    /// applying `rbac_yaml` as it is (its bindings should name this ServiceAccount, as a chart's do).
    pub async fn service_account(&self, name: &str, rbac_yaml: Option<&str>) -> Result<Identity, Error> {
        let api: Api<ServiceAccount> = Api::namespaced(self.admin.clone(), &self.name);
        let sa: ServiceAccount = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}
        }))
        .expect("service account");
        api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&sa))
            .await
            .map_err(|e| {
                Error::msg(format!(
                    "creating ServiceAccount {}/{name}: {}",
                    self.name,
                    describe(&e)
                ))
            })?;
        let request: TokenRequest =
            serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 86400}}))
                .expect("token request");
        let token = api
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .map_err(|e| Error::msg(format!("TokenRequest for {}/{name}: {}", self.name, describe(&e))))?
            .status
            .and_then(|s| s.token)
            .ok_or_else(|| Error::msg("TokenRequest returned no token"))?;
        let username = format!("system:serviceaccount:{}:{name}", self.name);
        let groups = vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{}", self.name),
        ];
        let cluster = kubeconfig::Cluster {
            dir: self.server.dir(),
            server: &self.server.endpoint,
            ca_pem: &self.server.ca_pem,
        };
        let identity = Identity::new(
            &cluster,
            &format!("sa-{}-{name}", self.name),
            &username,
            groups,
            token,
            Some(&self.name),
        )?;
        if let Some(yaml) = rbac_yaml {
            let applied = rbac::apply(&self.admin, yaml, &self.name, None).await?;
            rbac::wait_effective(
                &self.admin,
                &applied,
                &identity.username,
                &identity.groups,
                RBAC_TIMEOUT,
            )
            .await?;
        }
        Ok(identity)
    }
}

fn spawn(name: &str, command: Command, log: &Path) -> Result<ManagedProcess, Error> {
    ManagedProcess::spawn(name, command, log)
        .map_err(|e| Error::msg(format!("{name} could not be started ({}): {e}", log.display())))
}

/// Polls `url` until `ready(body)`; fails early with the log tail if the process exits.
async fn wait_until_ready(
    process: &mut ManagedProcess,
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    timeout: Duration,
    ready: impl Fn(&str) -> bool,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let mut last: String;
    loop {
        if let Some(status) = process.exited() {
            return Err(failed(process, &format!("exited ({status}) before it was ready")));
        }
        let mut request = http.get(url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                if status.is_success() && ready(&body) {
                    return Ok(());
                }
                last = format!("{status}: {}", body.chars().take(300).collect::<String>());
            }
            Err(e) => last = e.to_string(),
        }
        if Instant::now() > deadline {
            return Err(failed(
                process,
                &format!("not ready after {timeout:?} (last answer from {url}: {last})"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn failed(process: &ManagedProcess, what: &str) -> Error {
    let tail = process.log_tail(40);
    let port_conflict = tail.contains("address already in use");
    Error {
        message: format!(
            "{} {what}\n--- {} (tail) ---\n{tail}",
            process.name(),
            process.log_path().display()
        ),
        port_conflict,
        timed_out: false,
    }
}
