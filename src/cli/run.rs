//! `connect-sso-operator run`: the controllers, until SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::core::PartialObjectMeta;
use thiserror::Error;

use crate::api::{ConnectSsoApp, ConnectUserMapping};
use crate::aws::Aws;
use crate::controller::{self, Context, OneLoginClients, Settings};
use crate::onelogin::{ClientOptions, RateBudget};

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
    /// Accept `http://` OneLogin URLs on loopback addresses. For tests only.
    #[arg(long, env = "CONNECT_SSO_ALLOW_LOOPBACK_HTTP", hide = true)]
    pub allow_loopback_http: bool,
    /// Log format: json (for log pipelines) or text.
    #[arg(long, env = "CONNECT_SSO_LOG_FORMAT", default_value = "json")]
    pub log_format: String,
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error("cannot reach the Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

pub fn run(args: &RunArgs) -> Result<(), RunError> {
    init_logging(&args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: &RunArgs) -> Result<(), RunError> {
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
        ..Settings::default()
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        aws,
        OneLoginClients::new(budget, options),
        settings,
    ));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting controllers");
    let apps: Api<ConnectSsoApp> = Api::all(client.clone());
    let secrets: Api<PartialObjectMeta<Secret>> = Api::all(client.clone());
    let mappings: Api<ConnectUserMapping> = Api::all(client);
    // Either controller ending (shutdown, or a fault) ends the process.
    tokio::select! {
        _ = controller::app::run(ctx.clone(), apps.clone(), secrets) => {}
        _ = controller::mapping::run(ctx, mappings, apps) => {}
    }
    tracing::info!("stopped");
    Ok(())
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
