//! The Amazon Connect calls the operator makes.

use aws_sdk_connect::Client;

use super::error::{AwsError, AwsErrorKind, classify};

#[derive(Clone, Debug)]
pub struct ObservedInstance {
    /// `SAML`, `CONNECT_MANAGED` or `EXISTING_DIRECTORY`.
    pub identity_management_type: String,
    pub status: String,
    pub access_url: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Connect {
    client: Client,
}

impl Connect {
    pub fn new(client: Client) -> Self {
        Connect { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn describe_instance(&self, instance_id: &str) -> Result<Option<ObservedInstance>, AwsError> {
        let r = self.client.describe_instance().instance_id(instance_id).send().await;
        match r.map_err(|e| classify("Connect", "DescribeInstance", e)) {
            Ok(o) => Ok(o.instance().map(|i| ObservedInstance {
                identity_management_type: i
                    .identity_management_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                status: i.instance_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                access_url: i.instance_access_url().map(str::to_string),
            })),
            Err(e) if e.is(AwsErrorKind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
