//! The IAM calls the operator makes, returning plain observations. Policy documents come back
//! decoded (IAM percent-encodes them) as JSON.

use std::collections::BTreeMap;

use aws_sdk_iam::Client;
use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::error::{AwsError, AwsErrorKind, classify};
use crate::plan::policies::decode_document;

pub type Tags = BTreeMap<String, String>;

#[derive(Clone, Debug)]
pub struct ObservedProvider {
    pub metadata: String,
    /// Empty where the service does not return tags (some emulators).
    pub tags: Tags,
}

#[derive(Clone, Debug)]
pub struct ObservedPolicy {
    pub default_version: String,
    pub tags: Tags,
}

#[derive(Clone, Debug)]
pub struct PolicyVersion {
    pub id: String,
    pub is_default: bool,
    /// Seconds since the epoch; orders versions oldest first.
    pub created: i64,
}

#[derive(Clone, Debug)]
pub struct ObservedRole {
    pub arn: String,
    pub path: String,
    pub trust_policy: Value,
    pub max_session_duration: Option<i32>,
    pub permissions_boundary: Option<String>,
    pub tags: Tags,
}

/// Inputs of CreateRole.
pub struct NewRole<'a> {
    pub name: &'a str,
    pub path: &'a str,
    pub trust_policy: &'a Value,
    pub max_session_duration: i32,
    pub permissions_boundary: Option<&'a str>,
    pub tags: &'a Tags,
}

#[derive(Clone, Debug)]
pub struct Iam {
    client: Client,
}

fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn to_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

fn decode(operation: &'static str, raw: Option<&str>) -> Result<Value, AwsError> {
    decode_document(raw.unwrap_or_default()).map_err(|e| AwsError {
        service: "IAM",
        operation,
        kind: AwsErrorKind::Transient,
        code: None,
        message: e.to_string(),
        request_id: None,
    })
}

/// `Ok(None)` for "not found".
fn found<T>(r: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is(AwsErrorKind::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// "Not found" counts as done.
fn gone(r: Result<(), AwsError>) -> Result<(), AwsError> {
    found(r).map(|_| ())
}

impl Iam {
    pub fn new(client: Client) -> Self {
        Iam { client }
    }

    pub async fn get_saml_provider(&self, arn: &str) -> Result<Option<ObservedProvider>, AwsError> {
        let r = self.client.get_saml_provider().saml_provider_arn(arn).send().await;
        found(
            r.map_err(|e| classify("IAM", "GetSAMLProvider", e))
                .map(|o| ObservedProvider {
                    metadata: o.saml_metadata_document().unwrap_or_default().to_string(),
                    tags: tags_of(o.tags()),
                }),
        )
    }

    pub async fn create_saml_provider(&self, name: &str, metadata: &str, tags: &Tags) -> Result<String, AwsError> {
        let o = self
            .client
            .create_saml_provider()
            .name(name)
            .saml_metadata_document(metadata)
            .set_tags(Some(to_tags(tags)))
            .send()
            .await
            .map_err(|e| classify("IAM", "CreateSAMLProvider", e))?;
        Ok(o.saml_provider_arn().unwrap_or_default().to_string())
    }

    pub async fn update_saml_provider(&self, arn: &str, metadata: &str) -> Result<(), AwsError> {
        self.client
            .update_saml_provider()
            .saml_provider_arn(arn)
            .saml_metadata_document(metadata)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "UpdateSAMLProvider", e))
    }

    pub async fn delete_saml_provider(&self, arn: &str) -> Result<(), AwsError> {
        let r = self.client.delete_saml_provider().saml_provider_arn(arn).send().await;
        gone(r.map(|_| ()).map_err(|e| classify("IAM", "DeleteSAMLProvider", e)))
    }

    pub async fn tag_saml_provider(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.client
            .tag_saml_provider()
            .saml_provider_arn(arn)
            .set_tags(Some(to_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "TagSAMLProvider", e))
    }

    pub async fn get_policy(&self, arn: &str) -> Result<Option<ObservedPolicy>, AwsError> {
        let r = self.client.get_policy().policy_arn(arn).send().await;
        found(r.map_err(|e| classify("IAM", "GetPolicy", e)).map(|o| {
            let p = o.policy();
            ObservedPolicy {
                default_version: p.and_then(|p| p.default_version_id()).unwrap_or("v1").to_string(),
                tags: p.map(|p| tags_of(p.tags())).unwrap_or_default(),
            }
        }))
    }

    pub async fn policy_document(&self, arn: &str, version: &str) -> Result<Value, AwsError> {
        let o = self
            .client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| classify("IAM", "GetPolicyVersion", e))?;
        decode("GetPolicyVersion", o.policy_version().and_then(|v| v.document()))
    }

    pub async fn policy_versions(&self, arn: &str) -> Result<Vec<PolicyVersion>, AwsError> {
        let o = self
            .client
            .list_policy_versions()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| classify("IAM", "ListPolicyVersions", e))?;
        let mut versions: Vec<PolicyVersion> = o
            .versions()
            .iter()
            .map(|v| PolicyVersion {
                id: v.version_id().unwrap_or_default().to_string(),
                is_default: v.is_default_version(),
                created: v.create_date().map(|d| d.secs()).unwrap_or_default(),
            })
            .collect();
        versions.sort_by_key(|v| (v.created, version_number(&v.id)));
        Ok(versions)
    }

    pub async fn create_policy(&self, name: &str, path: &str, document: &Value, tags: &Tags) -> Result<(), AwsError> {
        self.client
            .create_policy()
            .policy_name(name)
            .path(path)
            .policy_document(document.to_string())
            .description("Lets Amazon Connect federate OneLogin users; managed by connect-sso-operator")
            .set_tags(Some(to_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "CreatePolicy", e))
    }

    pub async fn create_policy_version(&self, arn: &str, document: &Value) -> Result<(), AwsError> {
        self.client
            .create_policy_version()
            .policy_arn(arn)
            .policy_document(document.to_string())
            .set_as_default(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "CreatePolicyVersion", e))
    }

    pub async fn delete_policy_version(&self, arn: &str, version: &str) -> Result<(), AwsError> {
        let r = self
            .client
            .delete_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await;
        gone(r.map(|_| ()).map_err(|e| classify("IAM", "DeletePolicyVersion", e)))
    }

    pub async fn delete_policy(&self, arn: &str) -> Result<(), AwsError> {
        let r = self.client.delete_policy().policy_arn(arn).send().await;
        gone(r.map(|_| ()).map_err(|e| classify("IAM", "DeletePolicy", e)))
    }

    pub async fn tag_policy(&self, arn: &str, tags: &Tags) -> Result<(), AwsError> {
        self.client
            .tag_policy()
            .policy_arn(arn)
            .set_tags(Some(to_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "TagPolicy", e))
    }

    pub async fn get_role(&self, name: &str) -> Result<Option<ObservedRole>, AwsError> {
        let r = self
            .client
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| classify("IAM", "GetRole", e));
        let Some(o) = found(r)? else { return Ok(None) };
        let Some(role) = o.role() else { return Ok(None) };
        Ok(Some(ObservedRole {
            arn: role.arn().to_string(),
            path: role.path().to_string(),
            trust_policy: decode("GetRole", role.assume_role_policy_document())?,
            max_session_duration: role.max_session_duration(),
            permissions_boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
            tags: tags_of(role.tags()),
        }))
    }

    pub async fn create_role(&self, r: &NewRole<'_>) -> Result<(), AwsError> {
        self.client
            .create_role()
            .role_name(r.name)
            .path(r.path)
            .assume_role_policy_document(r.trust_policy.to_string())
            .max_session_duration(r.max_session_duration)
            .set_permissions_boundary(r.permissions_boundary.map(str::to_string))
            .description("Amazon Connect single sign-on from OneLogin; managed by connect-sso-operator")
            .set_tags(Some(to_tags(r.tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "CreateRole", e))
    }

    pub async fn update_trust_policy(&self, name: &str, document: &Value) -> Result<(), AwsError> {
        self.client
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(document.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "UpdateAssumeRolePolicy", e))
    }

    pub async fn update_max_session(&self, name: &str, seconds: i32) -> Result<(), AwsError> {
        self.client
            .update_role()
            .role_name(name)
            .max_session_duration(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "UpdateRole", e))
    }

    pub async fn set_permissions_boundary(&self, name: &str, arn: Option<&str>) -> Result<(), AwsError> {
        match arn {
            Some(arn) => self
                .client
                .put_role_permissions_boundary()
                .role_name(name)
                .permissions_boundary(arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("IAM", "PutRolePermissionsBoundary", e)),
            None => gone(
                self.client
                    .delete_role_permissions_boundary()
                    .role_name(name)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("IAM", "DeleteRolePermissionsBoundary", e)),
            ),
        }
    }

    pub async fn tag_role(&self, name: &str, tags: &Tags) -> Result<(), AwsError> {
        self.client
            .tag_role()
            .role_name(name)
            .set_tags(Some(to_tags(tags)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "TagRole", e))
    }

    pub async fn attached_policies(&self, role: &str) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut marker = None;
        loop {
            let o = self
                .client
                .list_attached_role_policies()
                .role_name(role)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| classify("IAM", "ListAttachedRolePolicies", e))?;
            arns.extend(
                o.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn())
                    .map(str::to_string),
            );
            match o.marker().filter(|_| o.is_truncated()) {
                Some(m) => marker = Some(m.to_string()),
                None => return Ok(arns),
            }
        }
    }

    pub async fn attach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        self.client
            .attach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("IAM", "AttachRolePolicy", e))
    }

    pub async fn detach_policy(&self, role: &str, policy_arn: &str) -> Result<(), AwsError> {
        let r = self
            .client
            .detach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await;
        gone(r.map(|_| ()).map_err(|e| classify("IAM", "DetachRolePolicy", e)))
    }

    pub async fn delete_role(&self, name: &str) -> Result<(), AwsError> {
        let r = self.client.delete_role().role_name(name).send().await;
        gone(r.map(|_| ()).map_err(|e| classify("IAM", "DeleteRole", e)))
    }
}

/// `v12` → 12, so versions created in the same second still sort.
fn version_number(id: &str) -> u64 {
    id.trim_start_matches('v').parse().unwrap_or(0)
}
