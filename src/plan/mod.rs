//! The functional core: the desired external state as pure functions of a spec and a few
//! observed facts. `connect-sso-operator plan` prints exactly this; the controllers diff it
//! against what they observe.

pub mod arn;
pub mod assess;
pub mod connect_user;
pub mod endpoints;
pub mod names;
pub mod onelogin_app;
pub mod ownership;
pub mod policies;
pub mod relay_state;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::api::{
    Access, ConnectSsoAppSpec, ConnectUserMappingSpec, ConnectUsersMode, DeletionPolicy, IdentifyBy, PhoneType,
    SignInEndpoint, Subject,
};
pub use arn::{InstanceArn, Partition};
pub use names::{IamNames, ResourceId};
pub use onelogin_app::AppBody;
pub use relay_state::InstanceDomain;

/// IAM's default, and ours: the role is only used to call GetFederationToken at sign-in.
pub const DEFAULT_MAX_SESSION_SECONDS: i32 = 3600;
pub const TAG_MANAGED_BY: &str = "connectsso.io/managed-by";
pub const TAG_OWNER: &str = "connectsso.io/owner";
pub const TAG_UID: &str = "connectsso.io/uid";
pub const MANAGER: &str = "connect-sso-operator";

/// Facts the plan needs that only the outside world knows. Offline, `plan` assumes defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// From DescribeInstance's access URL.
    pub instance_domain: InstanceDomain,
    /// `metadata.uid`, written into ownership markers when known.
    pub uid: Option<String>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            instance_domain: InstanceDomain::MyConnectAws,
            uid: None,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("spec.connect.instanceArn: {0}")]
    InstanceArn(#[from] arn::ArnError),
}

impl PlanError {
    /// Stable reason for conditions and events.
    pub fn reason(&self) -> &'static str {
        match self {
            PlanError::InstanceArn(_) => "InvalidSpec",
        }
    }
}

/// Everything the operator will create for one ConnectSsoApp.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppPlan {
    pub resource: String,
    pub access: Access,
    pub instance_arn: String,
    pub instance_domain: InstanceDomain,
    /// Where OneLogin posts the assertion; also the trust policy's `SAML:aud`.
    pub acs_url: String,
    pub audience: String,
    pub relay_state: String,
    pub subject: Subject,
    pub one_login_app: AppBody,
    /// The OneLogin role that grants this app to mapped users.
    pub one_login_role_name: String,
    pub iam: IamPlan,
    pub deletion_policy: DeletionPolicy,
    pub adopt: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IamPlan {
    pub names: IamNames,
    pub identity_provider_arn: String,
    pub policy_arn: String,
    pub role_arn: String,
    pub max_session_duration_seconds: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions_boundary_arn: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub permission_policy: Value,
    pub trust_policy: Value,
}

pub fn plan_app(id: &ResourceId, spec: &ConnectSsoAppSpec, facts: &Facts) -> Result<AppPlan, PlanError> {
    let instance: InstanceArn = spec.connect.instance_arn.parse()?;
    let iam_spec = spec.iam.as_ref();
    let names = names::iam_names(id, iam_spec);
    let iam_arn = |kind: &str, path: &str, name: &str| {
        format!(
            "arn:{}:iam::{}:{kind}{path}{name}",
            instance.partition.as_str(),
            instance.account
        )
    };
    let identity_provider_arn = iam_arn("saml-provider/", "", &names.identity_provider);
    let role_arn = iam_arn("role", &names.path, &names.role);
    let policy_arn = iam_arn("policy", &names.path, &names.policy);

    let sign_in = spec.sign_in.clone().unwrap_or_default();
    let acs_url = endpoints::acs_url(&instance, sign_in.endpoint.unwrap_or(SignInEndpoint::Regional));
    let audience = endpoints::audience(instance.partition).to_string();
    let destination = relay_state::destination_path(spec.access, spec.destination.as_deref());
    let relay_state = relay_state::relay_state(&instance, facts.instance_domain, destination.as_deref());
    let subject = spec.one_login.subject.unwrap_or(Subject::Email);
    let app_name = spec
        .one_login
        .app_name
        .clone()
        .unwrap_or_else(|| names::app_name(id, spec.access));
    let owner = id.to_string();

    let one_login_app = onelogin_app::app_body(&onelogin_app::AppInputs {
        name: &app_name,
        visible: spec.one_login.visible.unwrap_or(true),
        subject,
        relay_state: &relay_state,
        acs_url: &acs_url,
        audience: &audience,
        role_arn: &role_arn,
        provider_arn: &identity_provider_arn,
        session_duration_seconds: sign_in.session_duration_seconds,
        owner: &owner,
        uid: facts.uid.as_deref(),
    });

    let mut tags: BTreeMap<String, String> = iam_spec.and_then(|i| i.tags.clone()).unwrap_or_default();
    tags.insert(TAG_MANAGED_BY.to_string(), MANAGER.to_string());
    tags.insert(TAG_OWNER.to_string(), owner.clone());
    if let Some(uid) = &facts.uid {
        tags.insert(TAG_UID.to_string(), uid.clone());
    }

    Ok(AppPlan {
        resource: owner,
        access: spec.access,
        instance_arn: instance.to_string(),
        instance_domain: facts.instance_domain,
        one_login_role_name: names::one_login_role_name(id),
        iam: IamPlan {
            permission_policy: policies::permission_policy(&instance),
            trust_policy: policies::trust_policy(&identity_provider_arn, &acs_url),
            names,
            identity_provider_arn,
            policy_arn,
            role_arn,
            max_session_duration_seconds: iam_spec
                .and_then(|i| i.max_session_duration_seconds)
                .unwrap_or(DEFAULT_MAX_SESSION_SECONDS),
            permissions_boundary_arn: iam_spec.and_then(|i| i.permissions_boundary_arn.clone()),
            tags,
        },
        acs_url,
        audience,
        relay_state,
        subject,
        one_login_app,
        deletion_policy: spec.deletion_policy.unwrap_or(DeletionPolicy::Delete),
        adopt: spec.adopt.unwrap_or(false),
    })
}

/// What a ConnectUserMapping asks for, checked offline as far as the spec allows.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingPlan {
    pub resource: String,
    pub app: String,
    pub identify_by: IdentifyBy,
    pub users: usize,
    pub connect_users: ConnectUsersPlan,
    /// Logins that can never be Amazon Connect usernames, when the app's subject is known and
    /// matches `identifyBy` (so the login is what OneLogin will send).
    pub invalid_usernames: Vec<InvalidLogin>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectUsersPlan {
    pub mode: ConnectUsersMode,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_type: Option<PhoneType>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvalidLogin {
    pub login: String,
    pub problem: String,
}

/// `app_subject` is the referenced app's subject when known (e.g. from the same file).
pub fn plan_mapping(id: &ResourceId, spec: &ConnectUserMappingSpec, app_subject: Option<Subject>) -> MappingPlan {
    let identify_by = spec.identify_by.unwrap_or(IdentifyBy::Email);
    let connect = spec.connect_users.clone().unwrap_or_default();
    let mode = connect.mode.unwrap_or(ConnectUsersMode::Require);
    let login_is_session_name = matches!(
        (app_subject, identify_by),
        (Some(Subject::Email), IdentifyBy::Email) | (Some(Subject::Username), IdentifyBy::Username)
    );
    let invalid_usernames = if login_is_session_name && mode != ConnectUsersMode::Ignore {
        spec.users
            .iter()
            .filter_map(|login| {
                connect_user::username_problem(login).map(|problem| InvalidLogin {
                    login: login.clone(),
                    problem,
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    MappingPlan {
        resource: id.to_string(),
        app: spec.app_ref.name.clone(),
        identify_by,
        users: spec.users.len(),
        connect_users: ConnectUsersPlan {
            mode,
            security_profiles: connect.security_profiles.unwrap_or_default(),
            routing_profile: connect.routing_profile,
            phone_type: (mode == ConnectUsersMode::Create).then(|| connect.phone_type.unwrap_or(PhoneType::SoftPhone)),
        },
        invalid_usernames,
    }
}
