//! AWS: IAM for the identity provider, policy and role; Amazon Connect for the instance and users.
//! Credentials come from the SDK's default chain (IRSA, EKS Pod Identity, env) and refresh themselves;
//! `AWS_ENDPOINT_URL_IAM` / `AWS_ENDPOINT_URL_CONNECT` point the clients elsewhere (tests).

pub mod connect;
pub mod error;
pub mod iam;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use connect::Connect;
pub use error::{AwsError, AwsErrorKind};
pub use iam::Iam;

use crate::telemetry::aws_calls::CountCalls;

/// The SDK configuration, built once, and clients made from it.
#[derive(Clone, Debug)]
pub struct Aws {
    config: aws_config::SdkConfig,
    pub iam: Iam,
    /// Amazon Connect is regional: one client per instance region.
    connect: Arc<Mutex<HashMap<String, Connect>>>,
    connect_endpoint: Option<String>,
}

impl Aws {
    pub async fn from_env() -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Aws::from_config(config)
    }

    pub fn from_config(config: aws_config::SdkConfig) -> Self {
        // IAM is global; its endpoint lives in us-east-1 (or the partition's home region).
        let iam_config = aws_sdk_iam::config::Builder::from(&config)
            .interceptor(CountCalls)
            .build();
        Aws {
            iam: Iam::new(aws_sdk_iam::Client::from_conf(iam_config)),
            config,
            connect: Default::default(),
            connect_endpoint: None,
        }
    }

    /// Clients pointed at explicit endpoints, e.g. an emulator for IAM and another for Connect.
    pub fn with_endpoints(config: aws_config::SdkConfig, iam: &str, connect: &str) -> Self {
        let iam_config = aws_sdk_iam::config::Builder::from(&config)
            .endpoint_url(iam)
            .interceptor(CountCalls)
            .build();
        Aws {
            iam: Iam::new(aws_sdk_iam::Client::from_conf(iam_config)),
            config,
            connect: Default::default(),
            connect_endpoint: Some(connect.to_string()),
        }
    }

    /// The Connect client for `region`.
    pub fn connect(&self, region: &str) -> Connect {
        let mut clients = self.connect.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let mut builder = aws_sdk_connect::config::Builder::from(&self.config)
                    .region(aws_config::Region::new(region.to_string()))
                    .interceptor(CountCalls);
                if let Some(endpoint) = &self.connect_endpoint {
                    builder = builder.endpoint_url(endpoint);
                }
                let config = builder.build();
                Connect::new(aws_sdk_connect::Client::from_conf(config))
            })
            .clone()
    }
}
