//! The two custom resources, `connectsso.io/v1alpha1`.
//!
//! Optional fields are `Option<T>` and carry no schema default: the API server never writes a
//! value the user did not, so GitOps tools see no diff. Defaults are applied in `crate::plan`.

pub mod condition;
pub mod connect_sso_app;
pub mod connect_user_mapping;

pub use condition::{Condition, ConditionStatus};
pub use connect_sso_app::{
    Access, ConnectSpec, ConnectSsoApp, ConnectSsoAppSpec, ConnectSsoAppStatus, DeletionPolicy, IamSpec, OneLoginSpec,
    SecretRef, SignInEndpoint, SignInSpec, SigningCertificate, Subject,
};
pub use connect_user_mapping::{
    AppRef, AttentionReason, ConnectUserMapping, ConnectUserMappingSpec, ConnectUserMappingStatus, ConnectUsersMode,
    ConnectUsersSpec, IdentifyBy, PhoneType, UserAttention, UserCounts,
};

/// API group of both kinds.
pub const GROUP: &str = "connectsso.io";
/// The only served version.
pub const VERSION: &str = "v1alpha1";
/// `kubectl get connectsso` lists both kinds.
pub const CATEGORY: &str = "connectsso";
