//! One test's world: a namespace on the real kube-apiserver, a OneLogin test server, the Amazon
//! Connect test server, moto for IAM, and the operator's controllers running in-process against
//! them, limited to the namespace so tests can run side by side.

#![allow(dead_code)]

#[path = "../connect/mod.rs"]
pub mod connect;
#[path = "../envtest/mod.rs"]
pub mod envtest;
#[path = "../moto/mod.rs"]
pub mod moto;
#[path = "../onelogin/mod.rs"]
pub mod onelogin;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use connect_sso_operator::api::{ConditionStatus, ConnectSsoApp, ConnectUserMapping};
use connect_sso_operator::aws::Aws;
use connect_sso_operator::cli::run::controller_tasks;
use connect_sso_operator::controller::{Context, OneLoginClients, Settings};
use connect_sso_operator::onelogin::{ClientOptions, RateBudget};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

pub const SECRET: &str = "onelogin-api";

pub struct World {
    pub ns: envtest::TestNamespace<'static>,
    pub namespace: String,
    pub kube: Client,
    pub onelogin: onelogin::OneLoginServer,
    pub connect: connect::ConnectServer,
    pub moto: String,
    pub instance_arn: String,
    pub iam: aws_sdk_iam::Client,
    controller: Option<tokio::task::JoinHandle<()>>,
    pub settings: Settings,
    /// The operator's OneLogin client options (tests of timeouts shorten `request_timeout`).
    pub onelogin_options: ClientOptions,
    /// Where the operator's IAM client goes instead of moto (e.g. a fault-injecting proxy in
    /// front of it). The test's own `iam` client always talks to moto directly.
    pub iam_endpoint: Option<String>,
}

impl World {
    /// Everything started; the controller is not (see `start_operator`).
    pub async fn new(hint: &str) -> World {
        let server = envtest::shared().await;
        let ns = server.namespace(hint).await;
        let onelogin = onelogin::OneLoginServer::start(onelogin::ServerConfig::default()).await;
        let connect = connect::ConnectServer::start().await;
        let instance = connect.add_instance(connect::InstanceSpec::saml("acme"));
        let moto = moto::MotoServer::shared();
        let world = World {
            namespace: ns.name().to_string(),
            kube: ns.admin().clone(),
            ns,
            iam: moto::iam_client(&moto),
            moto,
            instance_arn: instance.arn,
            onelogin,
            connect,
            controller: None,
            settings: Settings {
                resync: Duration::from_secs(3),
                concurrency: 2,
                certificate_warning_days: 30,
                propagation_timeout: Duration::from_secs(5),
                ..Settings::default()
            },
            onelogin_options: ClientOptions {
                allow_loopback_http: true,
                initial_backoff: Duration::from_millis(50),
                ..ClientOptions::default()
            },
            iam_endpoint: None,
        };
        world
            .put_secret(&world.onelogin.client_id(), &world.onelogin.client_secret())
            .await;
        world
    }

    pub async fn put_secret(&self, client_id: &str, client_secret: &str) {
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": SECRET, "namespace": self.namespace},
            "stringData": {"clientId": client_id, "clientSecret": client_secret, "apiUrl": self.onelogin.base_url()},
        }))
        .expect("secret");
        Api::<Secret>::namespaced(self.kube.clone(), &self.namespace)
            .patch(SECRET, &PatchParams::apply("test").force(), &Patch::Apply(&secret))
            .await
            .expect("secret applied");
    }

    pub fn aws(&self) -> Aws {
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
                aws_sdk_iam::config::Credentials::new("testing", "testing", None, None, "test"),
            ))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let iam = self.iam_endpoint.as_deref().unwrap_or(&self.moto);
        Aws::with_endpoints(config, iam, &self.connect.endpoint())
    }

    /// Starts the ConnectSsoApp controller for this namespace.
    pub fn start_operator(&mut self) {
        let options = self.onelogin_options.clone();
        let clients = OneLoginClients::new(Arc::new(RateBudget::new(100_000, 1_000)), options);
        let ctx = Arc::new(Context::new(
            self.kube.clone(),
            self.aws(),
            clients,
            self.settings.clone(),
        ));
        let tasks = controller_tasks(&ctx, &self.kube, std::slice::from_ref(&self.namespace));
        self.controller = Some(tokio::spawn(async move {
            futures::future::select_all(tasks).await;
        }));
    }

    /// Stops the controller, as a crash would (mid-reconcile work is dropped).
    pub fn stop_operator(&mut self) {
        if let Some(handle) = self.controller.take() {
            handle.abort();
        }
    }

    pub fn mappings(&self) -> Api<ConnectUserMapping> {
        Api::namespaced(self.kube.clone(), &self.namespace)
    }

    pub async fn apply_mapping(&self, name: &str, spec: Value) -> ConnectUserMapping {
        let manifest = json!({
            "apiVersion": "connectsso.io/v1alpha1", "kind": "ConnectUserMapping",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        });
        self.mappings()
            .patch(name, &PatchParams::apply("test").force(), &Patch::Apply(&manifest))
            .await
            .unwrap_or_else(|e| panic!("apply mapping {name}: {e}"))
    }

    /// Waits until `done` holds for the mapping.
    pub async fn wait_mapping(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&ConnectUserMapping) -> bool,
    ) -> ConnectUserMapping {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let m = self.mappings().get_opt(name).await.expect("get mapping");
            if let Some(m) = &m
                && done(m)
            {
                return m.clone();
            }
            if Instant::now() > deadline {
                let status = m
                    .and_then(|m| m.status)
                    .map(|s| serde_json::to_string_pretty(&s).unwrap_or_default());
                panic!("mapping {name}: not {what}; status: {}", status.unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn apps(&self) -> Api<ConnectSsoApp> {
        Api::namespaced(self.kube.clone(), &self.namespace)
    }

    /// An app manifest for this world's instance, with `extra` merged into spec.
    pub fn app_manifest(&self, name: &str, extra: Value) -> Value {
        let mut spec = json!({
            "access": "Agent",
            "connect": {"instanceArn": self.instance_arn},
            "oneLogin": {"credentialsSecretRef": {"name": SECRET}},
        });
        merge(&mut spec, &extra);
        json!({
            "apiVersion": "connectsso.io/v1alpha1", "kind": "ConnectSsoApp",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": spec,
        })
    }

    pub async fn apply_app(&self, name: &str, extra: Value) -> ConnectSsoApp {
        let manifest = self.app_manifest(name, extra);
        self.apps()
            .patch(name, &PatchParams::apply("test").force(), &Patch::Apply(&manifest))
            .await
            .unwrap_or_else(|e| panic!("apply {name}: {e}"))
    }

    pub async fn create_app(&self, name: &str, extra: Value) -> ConnectSsoApp {
        let app: ConnectSsoApp = serde_json::from_value(self.app_manifest(name, extra)).expect("app");
        self.apps().create(&PostParams::default(), &app).await.expect("created")
    }

    /// Waits until `done` holds for the app, or panics with its last status after `timeout`.
    pub async fn wait_app(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(&ConnectSsoApp) -> bool,
    ) -> ConnectSsoApp {
        let deadline = Instant::now() + timeout;
        loop {
            let app = self.apps().get_opt(name).await.expect("get app");
            if let Some(app) = &app
                && done(app)
            {
                return app.clone();
            }
            if Instant::now() > deadline {
                panic!(
                    "{name}: not {what} after {timeout:?}; status: {}",
                    json_status(app.as_ref())
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn wait_ready(&self, name: &str) -> ConnectSsoApp {
        let gen_ready = |app: &ConnectSsoApp| {
            condition(app, "Ready").is_some_and(|c| c.0 == ConditionStatus::True)
                && app.status.as_ref().and_then(|s| s.observed_generation) == app.metadata.generation
        };
        self.wait_app(name, Duration::from_secs(60), "Ready", gen_ready).await
    }

    pub async fn wait_reason(&self, name: &str, type_: &str, reason: &str) -> ConnectSsoApp {
        self.wait_app(name, Duration::from_secs(60), &format!("{type_}={reason}"), |app| {
            condition(app, type_).is_some_and(|c| c.1 == reason)
        })
        .await
    }

    pub async fn wait_gone(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.apps().get_opt(name).await.expect("get").is_some() {
            assert!(Instant::now() < deadline, "{name} was not deleted within 60 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until an Event for `name` satisfies `matches` (Events are published just after the
    /// status they describe is written).
    pub async fn wait_event(&self, name: &str, what: &str, matches: impl Fn(&(String, String, String)) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let events = self.events(name).await;
            if events.iter().any(&matches) {
                return;
            }
            assert!(Instant::now() < deadline, "{name}: no {what} event; events: {events:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `connect-sso-operator run` against this world: `kubeconfig`'s identity, IAM at `iam`,
    /// only this namespace, loopback OneLogin allowed, a 10 s resync, JSON logs at `info`,
    /// `/metrics` on `metrics_port`. Callers add or override variables.
    pub fn operator_command(&self, kubeconfig: &Path, iam: &str, metrics_port: u16) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_connect-sso-operator"));
        cmd.arg("run")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KUBECONFIG", kubeconfig)
            .env("AWS_ENDPOINT_URL_IAM", iam)
            .env("AWS_ENDPOINT_URL_CONNECT", self.connect.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("CONNECT_SSO_ALLOW_LOOPBACK_HTTP", "true")
            .env("CONNECT_SSO_WATCH_NAMESPACES", &self.namespace)
            .env("CONNECT_SSO_RESYNC_SECONDS", "10")
            .env("CONNECT_SSO_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("CONNECT_SSO_LOG_FORMAT", "json")
            .env("RUST_LOG", "info");
        cmd
    }

    /// Events recorded for an object of this namespace: (type, reason, note).
    pub async fn events(&self, name: &str) -> Vec<(String, String, String)> {
        let api: Api<Event> = Api::namespaced(self.kube.clone(), &self.namespace);
        let list = api.list(&ListParams::default()).await.expect("events");
        list.items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| {
                (
                    e.type_.unwrap_or_default(),
                    e.reason.unwrap_or_default(),
                    e.note.unwrap_or_default(),
                )
            })
            .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop_operator();
    }
}

/// (status, reason, message) of a condition.
pub fn condition(app: &ConnectSsoApp, type_: &str) -> Option<(ConditionStatus, String, String)> {
    let c = app.status.as_ref()?.conditions.iter().find(|c| c.r#type == type_)?;
    Some((c.status, c.reason.clone(), c.message.clone()))
}

pub fn json_status(app: Option<&ConnectSsoApp>) -> String {
    app.and_then(|a| a.status.as_ref())
        .map(|s| serde_json::to_string_pretty(s).unwrap_or_default())
        .unwrap_or_else(|| "(none)".into())
}

pub fn merge(base: &mut Value, extra: &Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e.clone(),
    }
}
