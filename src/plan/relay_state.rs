//! The RelayState: where AWS sends the browser after sign-in, i.e. the Connect `federate` URL.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::arn::InstanceArn;
use super::endpoints::console_origin;
use crate::api::Access;

/// Which domain the instance's own website is on; decides the form of `destination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum InstanceDomain {
    /// `https://<alias>.my.connect.aws` (every instance created since 2021).
    MyConnectAws,
    /// `https://<alias>.awsapps.com/connect` (older instances not yet moved).
    AwsApps,
}

impl InstanceDomain {
    /// From DescribeInstance's `InstanceAccessUrl`.
    pub fn from_access_url(url: &str) -> Self {
        let host = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if host == "awsapps.com" || host.ends_with(".awsapps.com") {
            InstanceDomain::AwsApps
        } else {
            InstanceDomain::MyConnectAws
        }
    }
}

/// Everything but unreserved characters is encoded, so '/' becomes %2F as AWS documents.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The page inside the instance each access type opens, in the `my.connect.aws` form.
pub fn destination_path(access: Access, custom: Option<&str>) -> Option<String> {
    match access {
        Access::Agent => Some("/ccp-v2".to_string()),
        Access::Admin => None,
        Access::Custom => custom.map(str::to_string),
    }
}

/// `https://<region>.console.aws.amazon.com/connect/federate/<instance id>[?destination=<encoded>]`
///
/// Legacy `awsapps.com` instances keep the `/connect` prefix on their pages.
pub fn relay_state(instance: &InstanceArn, domain: InstanceDomain, destination: Option<&str>) -> String {
    let base = format!("{}/connect/federate/{}", console_origin(instance), instance.instance_id);
    let Some(path) = destination else { return base };
    let path = match domain {
        InstanceDomain::MyConnectAws => path.to_string(),
        InstanceDomain::AwsApps if path == "/connect" || path.starts_with("/connect/") => path.to_string(),
        InstanceDomain::AwsApps => format!("/connect{path}"),
    };
    format!("{base}?destination={}", utf8_percent_encode(&path, COMPONENT))
}
