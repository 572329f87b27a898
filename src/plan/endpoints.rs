//! Public AWS endpoints per partition: where OneLogin posts the assertion and where people land.

use super::arn::{InstanceArn, Partition};
use crate::api::SignInEndpoint;

/// The ACS URL: the AWS sign-in endpoint OneLogin posts the SAML response to. IAM fills the
/// trust policy's `SAML:aud` from the assertion's Recipient, which must be this URL.
pub fn acs_url(instance: &InstanceArn, endpoint: SignInEndpoint) -> String {
    let host = match instance.partition {
        Partition::Aws => "signin.aws.amazon.com",
        Partition::AwsUsGov => "signin.amazonaws-us-gov.com",
    };
    match endpoint {
        SignInEndpoint::Global => format!("https://{host}/saml"),
        SignInEndpoint::Regional => format!("https://{}.{host}/saml", instance.region),
    }
}

/// The assertion's `<Audience>`: AWS accepts this URN for every sign-in endpoint.
pub fn audience(partition: Partition) -> &'static str {
    match partition {
        Partition::Aws => "urn:amazon:webservices",
        Partition::AwsUsGov => "urn:amazon:webservices:govcloud",
    }
}

/// `https://<region>.console.aws.amazon.com`; GovCloud's console has no region prefix.
pub fn console_origin(instance: &InstanceArn) -> String {
    match instance.partition {
        Partition::Aws => format!("https://{}.console.aws.amazon.com", instance.region),
        Partition::AwsUsGov => "https://console.amazonaws-us-gov.com".to_string(),
    }
}
