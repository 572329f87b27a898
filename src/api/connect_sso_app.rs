//! `ConnectSsoApp`: one OneLogin SAML app plus the IAM identity provider, policy and role behind it.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::Condition;

/// Single sign-on from OneLogin into one Amazon Connect instance.
// Each printcolumn repeats `type_`/`priority` keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "connectsso.io",
    version = "v1alpha1",
    kind = "ConnectSsoApp",
    plural = "connectssoapps",
    singular = "connectssoapp",
    namespaced,
    status = "ConnectSsoAppStatus",
    shortname = "csapp",
    category = "connectsso",
    doc = "A OneLogin SAML app that signs people into an Amazon Connect instance, with the IAM identity provider, federation policy and role behind it.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#
    ),
    printcolumn(name = "Access", type_ = "string", json_path = ".spec.access"),
    printcolumn(
        name = "App ID",
        type_ = "integer",
        json_path = ".status.oneLoginAppId",
        priority = 1
    ),
    printcolumn(name = "Role ARN", type_ = "string", json_path = ".status.roleArn", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    cel
)]
#[x_kube(
    validation = Rule::new("self.access == 'Custom' ? has(self.destination) : !has(self.destination)")
        .message("destination is required when access is Custom, and not allowed otherwise")
        .field_path(".destination")
        .reason(Reason::FieldValueInvalid),
    validation = Rule::new("!has(self.signIn) || !has(self.signIn.sessionDurationSeconds) || self.signIn.sessionDurationSeconds <= (has(self.iam) && has(self.iam.maxSessionDurationSeconds) ? self.iam.maxSessionDurationSeconds : 3600)")
        .message("signIn.sessionDurationSeconds must not exceed the role's maximum session (iam.maxSessionDurationSeconds, 3600 when unset)")
        .field_path(".signIn.sessionDurationSeconds")
        .reason(Reason::FieldValueInvalid),
    validation = Rule::new("self.connect.instanceArn == oldSelf.connect.instanceArn")
        .message("connect.instanceArn is immutable: create a new ConnectSsoApp for another instance")
        .field_path(".connect.instanceArn"),
    validation = Rule::new("(has(self.iam) && has(self.iam.roleName) ? self.iam.roleName : '') == (has(oldSelf.iam) && has(oldSelf.iam.roleName) ? oldSelf.iam.roleName : '')")
        .message("iam.roleName is immutable: Amazon Connect rejects users whose federation role changes")
        .field_path(".iam.roleName"),
    validation = Rule::new("(has(self.iam) && has(self.iam.path) ? self.iam.path : '') == (has(oldSelf.iam) && has(oldSelf.iam.path) ? oldSelf.iam.path : '')")
        .message("iam.path is immutable: it is part of the role's ARN, which Amazon Connect users are bound to")
        .field_path(".iam.path"),
    validation = Rule::new("(has(self.iam) && has(self.iam.identityProviderName) ? self.iam.identityProviderName : '') == (has(oldSelf.iam) && has(oldSelf.iam.identityProviderName) ? oldSelf.iam.identityProviderName : '')")
        .message("iam.identityProviderName is immutable: users are bound to the provider they first federated through")
        .field_path(".iam.identityProviderName"),
    validation = Rule::new("(has(self.iam) && has(self.iam.policyName) ? self.iam.policyName : '') == (has(oldSelf.iam) && has(oldSelf.iam.policyName) ? oldSelf.iam.policyName : '')")
        .message("iam.policyName is immutable: create a new ConnectSsoApp to rename the policy")
        .field_path(".iam.policyName"),
)]
#[serde(rename_all = "camelCase")]
pub struct ConnectSsoAppSpec {
    /// Where people land: `Agent` (Contact Control Panel), `Admin` (admin website) or
    /// `Custom` (the page named by `destination`).
    pub access: Access,

    /// The page a `Custom` app opens, as a path on the instance, e.g. `/real-time-metrics`.
    /// Written in the form of instances on `*.my.connect.aws`; for instances still on
    /// `*.awsapps.com` the operator adds the `/connect` prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("self.startsWith('/') && !self.startsWith('//') && self.matches('^[A-Za-z0-9._~!$&()*+,;=:@%/?-]+$')")
        .message("destination must be a path on the instance starting with '/', such as /real-time-metrics (no scheme, host, spaces or '#')"))]
    pub destination: Option<String>,

    pub connect: ConnectSpec,

    pub one_login: OneLoginSpec,

    /// Names and settings of the IAM objects. Everything is optional: names are derived from the
    /// namespace and name of this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<IamSpec>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignInSpec>,

    /// `Delete` (default) removes the OneLogin app and IAM objects with this resource; `Retain` leaves them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Take over existing objects with the planned names that carry no owner marker.
    /// Without it such objects are left alone and the resource is Stalled with reason AlreadyExists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adopt: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Access {
    Agent,
    Admin,
    Custom,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectSpec {
    /// ARN of the Amazon Connect instance, `arn:<partition>:connect:<region>:<account>:instance/<id>`.
    /// The IAM objects are created in the same account. Immutable.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("self.matches('^arn:aws(-us-gov)?:connect:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:instance/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')")
        .message("instanceArn must look like arn:aws:connect:<region>:<12-digit account>:instance/<instance id> (partition aws or aws-us-gov)"))]
    pub instance_arn: String,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OneLoginSpec {
    /// A Secret in this resource's namespace with keys `clientId`, `clientSecret` and `apiUrl`
    /// (e.g. `https://acme.onelogin.com`). Other namespaces cannot be referenced.
    pub credentials_secret_ref: SecretRef,

    /// Display name of the OneLogin app. Default: `Amazon Connect <access> (<namespace>/<name>)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self.trim() == self && !self.contains('\\n')")
        .message("appName must not start or end with spaces or contain line breaks"))]
    pub app_name: Option<String>,

    /// Show the app's tile in the OneLogin portal. Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,

    /// What OneLogin sends as NameID and RoleSessionName, and so the Amazon Connect username
    /// each person needs: `Email` (default) or `Username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')")
        .message("name must be a Secret name (lower-case letters, digits, '-' and '.')"))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Subject {
    Email,
    Username,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IamSpec {
    /// Name of the IAM SAML identity provider. Default derived from namespace and name. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9._-]+$')")
        .message("identityProviderName may contain only letters, digits, '.', '_' and '-'"))]
    pub identity_provider_name: Option<String>,

    /// Name of the federation role. Default derived from namespace and name. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_+=,.@-]+$')")
        .message("roleName may contain only letters, digits and _+=,.@-"))]
    pub role_name: Option<String>,

    /// Name of the managed policy allowing connect:GetFederationToken. Default derived. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_+=,.@-]+$')")
        .message("policyName may contain only letters, digits and _+=,.@-"))]
    pub policy_name: Option<String>,

    /// IAM path of the role and policy. Default `/connect-sso/`, which the operator's own IAM
    /// policy can be scoped to. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    #[x_kube(validation = Rule::new("self.matches('^/([A-Za-z0-9_+=,.@-]+/)*$')")
        .message("path must start and end with '/', e.g. /connect-sso/"))]
    pub path: Option<String>,

    /// ARN of a managed policy used as the role's permissions boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.matches('^arn:aws(-us-gov)?:iam::([0-9]{12}|aws):policy/.+$')")
        .message("permissionsBoundaryArn must be an IAM policy ARN, arn:aws:iam::<account>:policy/<name>"))]
    pub permissions_boundary_arn: Option<String>,

    /// The role's maximum session duration, 3600-43200 seconds. Default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 3600, max = 43200))]
    pub max_session_duration_seconds: Option<i32>,

    /// Extra tags for the provider, policy and role. Keys under `connectsso.io/` are the operator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 40, "additionalProperties" = {"type": "string", "maxLength": 256}))]
    #[x_kube(validation = Rule::new("self.all(k, k.size() >= 1 && k.size() <= 128 && !k.startsWith('aws:') && !k.startsWith('connectsso.io/') && k.matches('^[\\\\p{L}\\\\p{Z}\\\\p{N}_.:/=+@-]+$'))")
        .message("tag keys must be 1-128 characters of letters, digits, spaces and _.:/=+-@, and must not start with aws: or connectsso.io/"))]
    #[x_kube(validation = Rule::new("self.all(k, self[k].size() <= 256 && self[k].matches('^[\\\\p{L}\\\\p{Z}\\\\p{N}_.:/=+@-]*$'))")
        .message("tag values must be at most 256 characters of letters, digits, spaces and _.:/=+-@"))]
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SignInSpec {
    /// AWS sign-in endpoint OneLogin posts the assertion to: `Regional` (default, the
    /// instance's region) or `Global` (`https://signin.aws.amazon.com/saml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<SignInEndpoint>,

    /// Console session length sent as the SessionDuration attribute, 900-43200 seconds.
    /// Not sent when unset (AWS then uses one hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 900, max = 43200))]
    pub session_duration_seconds: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SignInEndpoint {
    Regional,
    Global,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    Delete,
    Retain,
}

/// What exists outside the cluster, as last observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectSsoAppStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` first, then `Stalled` and one condition per part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"], "maxItems" = 16))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_login_app_id: Option<i64>,
    /// The operator-owned OneLogin role that grants this app to mapped users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_login_role_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_url: Option<String>,
    /// The URL that starts sign-in from OneLogin (what the portal tile opens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_certificate: Option<SigningCertificate>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningCertificate {
    /// Upper-case hex SHA-256 of the DER certificate, colon-separated.
    pub sha256_fingerprint: String,
    /// RFC 3339 expiry of the certificate.
    pub not_after: String,
}
