//! Everything a reconcile can fail with. Each error has a stable reason (condition reason,
//! event reason, metric label) and is terminal (a person must change something) or transient
//! (back off and retry).

use thiserror::Error;

use crate::aws::AwsError;
use crate::onelogin::OneLoginError;
use crate::plan::PlanError;
use crate::saml::MetadataError;

#[derive(Debug, Error)]
pub enum ReconcileError {
    #[error(transparent)]
    OneLogin(#[from] OneLoginError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("the SAML metadata OneLogin serves for the app is unusable: {0}")]
    Metadata(#[from] MetadataError),
    #[error("Secret {namespace}/{name} does not exist; create it with clientId, clientSecret and apiUrl")]
    SecretNotFound { namespace: String, name: String },
    #[error("Secret {namespace}/{name}: {problem}")]
    SecretInvalid {
        namespace: String,
        name: String,
        problem: String,
    },
    #[error(
        "Amazon Connect instance {arn} was not found; check spec.connect.instanceArn and the operator's AWS account and region"
    )]
    InstanceNotFound { arn: String },
    #[error(
        "Amazon Connect instance {arn} uses {actual} identity management, not SAML; it cannot be changed on an existing instance, so SAML sign-in needs an instance created with SAML"
    )]
    InstanceNotSaml { arn: String, actual: String },
    #[error(
        "{what} {name:?} already exists and was not created by this resource; set spec.adopt: true to take it over, or choose another name"
    )]
    AlreadyExists { what: &'static str, name: String },
    #[error("{what} {name:?} belongs to {other}; set another {field} on one of the two resources")]
    Conflict {
        what: &'static str,
        name: String,
        other: String,
        field: &'static str,
    },
    #[error("OneLogin did not keep {what} after the update; an admin policy or connector limit may be reverting it")]
    NotPersisted { what: String },
    #[error("IAM has not caught up with a change yet ({0}); retrying")]
    Propagating(AwsError),
    #[error(
        "{0}. Deleting waits until this is fixed; to delete without removing the OneLogin app and IAM objects, set spec.deletionPolicy: Retain"
    )]
    DeletionBlocked(Box<ReconcileError>),
    #[error("the operator's cache of ConnectUserMappings stopped; the process restarts it")]
    CacheClosed,
    #[error("no Amazon Connect {kind} is named {name:?}; check connectUsers in the spec against the instance")]
    ProfileNotFound { kind: &'static str, name: String },
    #[error(
        "{0}. The mapping's users stay in the app's OneLogin role until this is fixed (or until the finalizer connectsso.io/membership is removed by hand)"
    )]
    MappingDeletionBlocked(Box<ReconcileError>),
}

impl ReconcileError {
    /// What conditions and Events say: the error without per-call details (request ids), so
    /// a repeated failure leaves status unchanged and does not trigger itself again.
    pub fn condition_message(&self) -> String {
        match self {
            ReconcileError::OneLogin(e) => e.stable_message(),
            ReconcileError::Aws(e) => e.stable_message(),
            ReconcileError::Propagating(e) => {
                format!(
                    "IAM has not caught up with a change yet ({}); retrying",
                    e.stable_message()
                )
            }
            ReconcileError::DeletionBlocked(inner) => format!(
                "{}. Deleting waits until this is fixed; to delete without removing the OneLogin app and IAM objects, set spec.deletionPolicy: Retain",
                inner.condition_message()
            ),
            ReconcileError::MappingDeletionBlocked(inner) => format!(
                "{}. The mapping's users stay in the app's OneLogin role until this is fixed (or until the finalizer connectsso.io/membership is removed by hand)",
                inner.condition_message()
            ),
            other => other.to_string(),
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::OneLogin(e) => e.reason(),
            ReconcileError::Aws(e) => e.reason(),
            ReconcileError::Kube(_) | ReconcileError::CacheClosed => "KubernetesError",
            ReconcileError::Plan(e) => e.reason(),
            ReconcileError::Metadata(e) => e.reason(),
            ReconcileError::SecretNotFound { .. } => "CredentialsSecretNotFound",
            ReconcileError::SecretInvalid { .. } => "InvalidCredentialsSecret",
            ReconcileError::InstanceNotFound { .. } => "InstanceNotFound",
            ReconcileError::InstanceNotSaml { .. } => "InstanceNotSaml",
            ReconcileError::AlreadyExists { .. } => "AlreadyExists",
            ReconcileError::Conflict { .. } => "Conflict",
            ReconcileError::NotPersisted { .. } => "OneLoginDidNotPersist",
            ReconcileError::Propagating(_) => "IamPropagating",
            ReconcileError::DeletionBlocked(e) | ReconcileError::MappingDeletionBlocked(e) => e.reason(),
            ReconcileError::ProfileNotFound { .. } => "ProfileNotFound",
        }
    }

    /// Terminal errors set `Stalled` and wait for a change instead of retrying quickly.
    pub fn is_terminal(&self) -> bool {
        match self {
            ReconcileError::OneLogin(e) => e.is_terminal(),
            ReconcileError::Aws(e) => e.is_terminal(),
            ReconcileError::Plan(_)
            | ReconcileError::SecretNotFound { .. }
            | ReconcileError::SecretInvalid { .. }
            | ReconcileError::InstanceNotFound { .. }
            | ReconcileError::InstanceNotSaml { .. }
            | ReconcileError::AlreadyExists { .. }
            | ReconcileError::Conflict { .. }
            | ReconcileError::Metadata(_) => true,
            ReconcileError::DeletionBlocked(e) | ReconcileError::MappingDeletionBlocked(e) => e.is_terminal(),
            ReconcileError::ProfileNotFound { .. } => true,
            ReconcileError::Kube(_)
            | ReconcileError::CacheClosed
            | ReconcileError::NotPersisted { .. }
            | ReconcileError::Propagating(_) => false,
        }
    }
}
