//! kstatus-style conditions shared by both kinds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A standard Kubernetes condition (the shape of `metav1.Condition`).
///
/// Our own struct rather than k8s-openapi's so that `status` is a typed enum and the
/// schema carries the bounds the API server's CEL cost estimator wants.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Stalled`, or one per part (`OneLoginApp`, `IdentityProvider`, `Policy`, `Role`, ...).
    #[schemars(length(max = 64))]
    pub r#type: String,
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason; stable across releases (see the README's troubleshooting table).
    #[schemars(length(max = 64))]
    pub reason: String,
    /// What happened and what a person can do about it.
    #[schemars(length(max = 2048))]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// The `metadata.generation` this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}
