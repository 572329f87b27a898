//! `connect-sso-operator run`: the controllers, the health and metrics server, and leader
//! election, until SIGTERM. Any controller that stops ends the process, so a liveness probe
//! never sees a live process with a dead controller.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use clap::ArgAction;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::core::PartialObjectMeta;
use thiserror::Error;

use crate::api::{ConnectSsoApp, ConnectUserMapping, DeletionPolicy};
use crate::aws::Aws;
use crate::cli::leader;
use crate::controller::{self, Context, MANAGER, OneLoginClients, Settings};
use crate::onelogin::{ClientOptions, RateBudget};
use crate::telemetry::server::{self, Health};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Seconds between comparisons of a Ready resource with OneLogin and AWS (drift repair).
    #[arg(long, env = "CONNECT_SSO_RESYNC_SECONDS", default_value_t = 600)]
    pub resync_seconds: u64,
    /// Reconciles running at once per controller.
    #[arg(long, env = "CONNECT_SSO_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// OneLogin calls per hour for the whole process (OneLogin allows about 5,000 per account).
    #[arg(long, env = "CONNECT_SSO_ONELOGIN_CALLS_PER_HOUR", default_value_t = 3000)]
    pub onelogin_calls_per_hour: u32,
    /// Namespaces to watch, comma-separated; empty watches all.
    #[arg(
        long,
        env = "CONNECT_SSO_WATCH_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub watch_namespaces: Vec<String>,
    /// Run only while holding the `connect-sso-operator` Lease, so replicas never write at once.
    #[arg(long, env = "CONNECT_SSO_LEADER_ELECTION", action = ArgAction::Set, default_value_t = false)]
    pub leader_election: bool,
    /// Namespace of the Lease (the operator's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub pod_namespace: String,
    /// Identity in the Lease.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "CONNECT_SSO_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// What happens to the external objects of an app that does not set spec.deletionPolicy.
    #[arg(long, env = "CONNECT_SSO_DEFAULT_DELETION_POLICY", default_value = "Delete", value_parser = ["Delete", "Retain"])]
    pub default_deletion_policy: String,
    /// Accept `http://` OneLogin URLs on loopback addresses. For tests only.
    #[arg(long, env = "CONNECT_SSO_ALLOW_LOOPBACK_HTTP", hide = true)]
    pub allow_loopback_http: bool,
    /// Log format: json (for log pipelines) or text.
    #[arg(long, env = "CONNECT_SSO_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error("cannot reach the Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
    #[error("leader election failed: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("lost the leader Lease; exiting so a new leader can take over")]
    LostLease,
}

pub fn run(args: &RunArgs) -> Result<(), RunError> {
    super::memory::limit_arenas();
    init_logging(&args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

async fn serve(args: &RunArgs) -> Result<(), RunError> {
    let health = Arc::new(Health::default());
    let http = tokio::spawn(server::serve(args.metrics_addr, health.clone()));
    let client = kube::Client::try_default().await?;
    let aws = Aws::from_env().await;
    let options = ClientOptions {
        allow_loopback_http: args.allow_loopback_http,
        ..ClientOptions::default()
    };
    let budget = Arc::new(RateBudget::new(args.onelogin_calls_per_hour, 50));
    let settings = Settings {
        resync: Duration::from_secs(args.resync_seconds.max(10)),
        concurrency: args.concurrency.max(1),
        default_deletion_policy: if args.default_deletion_policy == "Retain" {
            DeletionPolicy::Retain
        } else {
            DeletionPolicy::Delete
        },
        ..Settings::default()
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        aws,
        OneLoginClients::new(budget, options),
        settings,
    ));
    let namespaces: Vec<String> = args
        .watch_namespaces
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();

    let lease = if args.leader_election {
        let identity = args
            .pod_name
            .clone()
            .unwrap_or_else(|| format!("{MANAGER}-{}", std::process::id()));
        let manager = leader::lease_manager(client.clone(), &args.pod_namespace, leader::LEASE_NAME, &identity).await?;
        // A standby is healthy and ready: it is doing its job by waiting.
        health.set_ready(true);
        let (mut leading, task) = manager.watch().await;
        tracing::info!("waiting for the leader Lease");
        while !*leading.borrow_and_update() {
            if leading.changed().await.is_err() {
                return Err(RunError::LostLease);
            }
        }
        tracing::info!("holding the leader Lease");
        Some((leading, task))
    } else {
        None
    };

    health.set_ready(true);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), namespaces = ?namespaces, "starting controllers");
    let controllers = futures::future::select_all(controller_tasks(&ctx, &client, &namespaces));
    let outcome = match lease {
        Some((mut leading, _task)) => {
            let lost = async move {
                loop {
                    if leading.changed().await.is_err() || !*leading.borrow() {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = controllers => Ok(()),
                _ = lost => Err(RunError::LostLease),
            }
        }
        None => {
            tokio::select! {
                _ = controllers => Ok(()),
                served = http => match served {
                    Ok(Err(e)) => Err(RunError::Io(e)),
                    _ => Ok(()),
                },
            }
        }
    };
    tracing::info!("stopped");
    outcome
}

/// Both controllers, once for the whole cluster or once per watched namespace. The tests run
/// these too, so they run what the binary runs.
pub fn controller_tasks(ctx: &Arc<Context>, client: &kube::Client, namespaces: &[String]) -> Vec<Task> {
    let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    let mut tasks: Vec<Task> = Vec::new();
    for scope in scopes {
        let apps: Api<ConnectSsoApp> = scoped(client, scope);
        let secrets: Api<PartialObjectMeta<Secret>> = scoped(client, scope);
        let mappings: Api<ConnectUserMapping> = scoped(client, scope);
        tasks.push(Box::pin(controller::app::run(ctx.clone(), apps, secrets)));
        let app_names: Api<PartialObjectMeta<ConnectSsoApp>> = scoped(client, scope);
        tasks.push(Box::pin(controller::mapping::run(ctx.clone(), mappings, app_names)));
    }
    tasks
}

fn scoped<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "text" {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}
