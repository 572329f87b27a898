//! Kubeconfig files for the admin and restricted identities, and kube Clients built from them.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::Error;
use super::certs;

/// Where kubeconfigs point (`server`, trusted CA) and where their files go (`dir`).
pub struct Cluster<'a> {
    pub dir: &'a Path,
    pub server: &'a str,
    pub ca_pem: &'a str,
}

/// Who a client acts as: a bearer token plus the kubeconfig that carries it.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user name the API server sees (`envtest-admin`, `envtest-user-3`,
    /// `system:serviceaccount:<ns>:<name>`).
    pub username: String,
    /// Groups as the authenticator reports them, without the implicit `system:authenticated`.
    pub groups: Vec<String>,
    pub token: String,
    kubeconfig: String,
    kubeconfig_path: PathBuf,
}

impl Identity {
    /// Writes `<cluster.dir>/kubeconfig-<file_stem>.yaml` for this identity.
    pub fn new(
        cluster: &Cluster<'_>,
        file_stem: &str,
        username: &str,
        groups: Vec<String>,
        token: String,
        namespace: Option<&str>,
    ) -> Result<Self, Error> {
        let kubeconfig = render(cluster.server, cluster.ca_pem, username, &token, namespace);
        let kubeconfig_path = cluster.dir.join(format!("kubeconfig-{file_stem}.yaml"));
        certs::write(&kubeconfig_path, &kubeconfig)?;
        Ok(Self {
            username: username.to_string(),
            groups,
            token,
            kubeconfig,
            kubeconfig_path,
        })
    }

    /// The kubeconfig YAML (one cluster, one user, one current context).
    pub fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }

    /// A file holding [`Identity::kubeconfig`], e.g. for `KUBECONFIG=` of a child process.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// A new Client bound to the calling tokio runtime. Create one per test/runtime.
    pub async fn client(&self) -> Client {
        client_from_yaml(&self.kubeconfig)
            .await
            .unwrap_or_else(|e| panic!("client for {}: {e}", self.username))
    }
}

fn render(server: &str, ca_pem: &str, user: &str, token: &str, namespace: Option<&str>) -> String {
    let ca = STANDARD.encode(ca_pem);
    let ns = namespace.map(|ns| format!("\n    namespace: {ns}")).unwrap_or_default();
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: envtest
  context:
    cluster: envtest
    user: {user}{ns}
current-context: envtest
preferences: {{}}
"
    )
}

pub async fn client_from_yaml(yaml: &str) -> Result<Client, Error> {
    let kubeconfig = Kubeconfig::from_yaml(yaml).map_err(|e| Error::msg(format!("kubeconfig: {e}")))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::msg(format!("kubeconfig: {e}")))?;
    Client::try_from(config).map_err(|e| Error::msg(format!("kube client: {e}")))
}
