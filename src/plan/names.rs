//! Names of the external objects, derived deterministically from the resource so that a rebuilt
//! cluster finds its own objects again. Each rule lives here once.

use sha2::{Digest, Sha256};

use crate::api::{Access, IamSpec};

/// Prefix of every derived IAM name; the operator's IAM policy can be scoped to it.
pub const NAME_PREFIX: &str = "connect-sso";
/// Default IAM path of roles and policies.
pub const DEFAULT_PATH: &str = "/connect-sso/";

pub const ROLE_NAME_MAX: usize = 64;
pub const POLICY_NAME_MAX: usize = 128;
pub const PROVIDER_NAME_MAX: usize = 128;

/// Namespace and name of a resource. Namespaces cannot contain '.', so joining with '.'
/// never makes two resources collide (`a-b/c` and `a/b-c` stay apart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceId {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ResourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IamNames {
    pub identity_provider: String,
    pub role: String,
    pub policy: String,
    pub path: String,
}

pub fn iam_names(id: &ResourceId, iam: Option<&IamSpec>) -> IamNames {
    let iam = iam.cloned().unwrap_or_default();
    IamNames {
        identity_provider: iam
            .identity_provider_name
            .unwrap_or_else(|| derived(id, PROVIDER_NAME_MAX)),
        role: iam.role_name.unwrap_or_else(|| derived(id, ROLE_NAME_MAX)),
        policy: iam.policy_name.unwrap_or_else(|| derived(id, POLICY_NAME_MAX)),
        path: iam.path.unwrap_or_else(|| DEFAULT_PATH.to_string()),
    }
}

/// `connect-sso.<namespace>.<name>`, or when longer than `max`, its head plus a hash of the
/// whole so that long names stay distinct. Kubernetes names use only `[a-z0-9.-]`, which every
/// IAM name admits.
pub fn derived(id: &ResourceId, max: usize) -> String {
    let full = format!("{NAME_PREFIX}.{}.{}", id.namespace, id.name);
    if full.len() <= max {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let head = full[..max - hash.len() - 1].trim_end_matches(['.', '-']);
    format!("{head}-{hash}")
}

/// Default display name of the OneLogin app.
pub fn app_name(id: &ResourceId, access: Access) -> String {
    let what = match access {
        Access::Agent => "Agent",
        Access::Admin => "Admin",
        Access::Custom => "Custom",
    };
    let name = format!("Amazon Connect {what} ({id})");
    truncate_chars(&name, 128)
}

/// Name of the operator-owned OneLogin role that grants the app to mapped users. OneLogin
/// roles carry no notes for an owner marker, so the name itself names the resource: a role is
/// taken as ours only by this exact name.
pub fn one_login_role_name(id: &ResourceId) -> String {
    let full = format!("connect-sso {}/{}", id.namespace, id.name);
    if full.len() <= 128 {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}", &full[..119])
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
