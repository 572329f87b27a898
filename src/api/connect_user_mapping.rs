//! `ConnectUserMapping`: which OneLogin users get a ConnectSsoApp, and their Amazon Connect users.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::Condition;

/// Most users a mapping may list. A 10,000-agent contact centre fits; etcd's object size is the limit.
pub const MAX_USERS: usize = 20_000;
/// Most users listed individually in status; the rest are counted.
pub const MAX_ATTENTION: usize = 50;

/// Gives OneLogin users a ConnectSsoApp and checks (or creates) their Amazon Connect users.
// Each printcolumn repeats `type_`/`priority` keys, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "connectsso.io",
    version = "v1alpha1",
    kind = "ConnectUserMapping",
    plural = "connectusermappings",
    singular = "connectusermapping",
    namespaced,
    status = "ConnectUserMappingStatus",
    shortname = "csmap",
    category = "connectsso",
    doc = "OneLogin users who get a ConnectSsoApp, and whether each has a matching Amazon Connect user.",
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
    printcolumn(name = "App", type_ = "string", json_path = ".spec.appRef.name"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".status.counts.desired"),
    printcolumn(name = "Assigned", type_ = "integer", json_path = ".status.counts.assigned"),
    printcolumn(
        name = "Missing in Connect",
        type_ = "integer",
        json_path = ".status.counts.missingInConnect",
        priority = 1
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    cel
)]
#[x_kube(
    validation = Rule::new("self.appRef.name == oldSelf.appRef.name")
        .message("appRef.name is immutable: create another ConnectUserMapping for another app")
        .field_path(".appRef.name"),
)]
#[serde(rename_all = "camelCase")]
pub struct ConnectUserMappingSpec {
    /// The ConnectSsoApp (in this namespace) these users get.
    pub app_ref: AppRef,

    /// How `users` are matched in OneLogin: `Email` (default) or `Username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identify_by: Option<IdentifyBy>,

    /// OneLogin logins (emails or usernames, per `identifyBy`). Each may appear once.
    #[schemars(extend("maxItems" = 20000, "x-kubernetes-list-type" = "set"))]
    #[schemars(inner(length(min = 1, max = 255)))]
    pub users: Vec<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_users: Option<ConnectUsersSpec>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppRef {
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')")
        .message("name must be the name of a ConnectSsoApp in this namespace"))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum IdentifyBy {
    Email,
    Username,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[x_kube(
    validation = Rule::new("!has(self.mode) || self.mode != 'Create' || (has(self.securityProfiles) && has(self.routingProfile))")
        .message("mode Create needs securityProfiles (1-10 names) and routingProfile")
        .field_path(".securityProfiles")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new("(has(self.mode) && self.mode == 'Create') || (!has(self.securityProfiles) && !has(self.routingProfile) && !has(self.phoneType))")
        .message("securityProfiles, routingProfile and phoneType are only used with mode Create")
        .field_path(".mode")
        .reason(Reason::FieldValueForbidden),
)]
#[serde(rename_all = "camelCase")]
pub struct ConnectUsersSpec {
    /// `Require` (default): report people with no Amazon Connect user of the expected name.
    /// `Create`: create those users. `Ignore`: do not look at Amazon Connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ConnectUsersMode>,

    /// Security profile names for created users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10), inner(length(min = 1, max = 127)))]
    pub security_profiles: Option<Vec<String>>,

    /// Routing profile name for created users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 127))]
    pub routing_profile: Option<String>,

    /// `SoftPhone` (default) or `DeskPhone` (uses the OneLogin user's phone number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_type: Option<PhoneType>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConnectUsersMode {
    Require,
    Create,
    Ignore,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PhoneType {
    SoftPhone,
    DeskPhone,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectUserMappingStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"], "maxItems" = 16))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<UserCounts>,
    /// Up to 50 users that need a person's attention; `counts` has the totals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("maxItems" = 50))]
    pub attention: Vec<UserAttention>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserCounts {
    pub desired: i64,
    pub assigned: i64,
    pub missing_in_one_login: i64,
    pub missing_in_connect: i64,
    pub invalid: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAttention {
    #[schemars(length(max = 255))]
    pub login: String,
    pub reason: AttentionReason,
    #[schemars(length(max = 512))]
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum AttentionReason {
    /// No OneLogin user with this login.
    NotFoundInOneLogin,
    /// The OneLogin user cannot sign in (suspended, locked, not activated...).
    InactiveInOneLogin,
    /// No Amazon Connect user with the username OneLogin will send.
    MissingInConnect,
    /// An Amazon Connect user exists whose username differs only in case.
    CaseMismatch,
    /// The login can never be an Amazon Connect username (e.g. contains '+', or too long).
    InvalidConnectUsername,
    /// Creating the Amazon Connect user failed.
    CreateFailed,
}
