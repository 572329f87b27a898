//! Deleting what a ConnectSsoApp made, when its deletion policy says so. Only objects proven
//! ours (marker, tags, or recorded in status) are deleted; "not found" counts as done.

use super::progress::Progress;
use crate::api::{ConnectSsoApp, DeletionPolicy};
use crate::controller::{Context, PendingEvent, ReconcileError};
use crate::onelogin::OneLoginClient;
use crate::plan::ownership::{self, Ownership};
use crate::plan::{self, IamNames, InstanceArn, ResourceId, names};

/// The resource's own policy, else the operator's default (Delete unless configured).
pub fn policy(app: &ConnectSsoApp, default: DeletionPolicy) -> DeletionPolicy {
    app.spec.deletion_policy.unwrap_or(default)
}

/// Removes the OneLogin role and app, then the IAM role, policy and provider.
pub async fn delete_all(
    app: &ConnectSsoApp,
    id: &ResourceId,
    ctx: &Context,
    one_login: &OneLoginClient,
    progress: &mut Progress,
) -> Result<(), ReconcileError> {
    let owner = id.to_string();
    let status = app.status.clone().unwrap_or_default();
    let app_name = app
        .spec
        .one_login
        .app_name
        .clone()
        .unwrap_or_else(|| names::app_name(id, app.spec.access));

    // By the id in status, and by its name, which names this resource (a crash may have come
    // between creating the role and recording it).
    let mut role_ids: Vec<i64> = status.one_login_role_id.into_iter().collect();
    for role in one_login.find_roles(&names::one_login_role_name(id)).await? {
        if !role_ids.contains(&role.id) {
            role_ids.push(role.id);
        }
    }
    for role_id in role_ids {
        one_login.delete_role(role_id).await?;
    }
    let mut app_ids: Vec<i64> = status.one_login_app_id.into_iter().collect();
    for summary in one_login.find_apps(&app_name, plan::onelogin_app::CONNECTOR_ID).await? {
        if app_ids.contains(&summary.id) {
            continue;
        }
        if let Some(found) = one_login.get_app(summary.id).await?
            && ownership::from_notes(&found.notes, &owner) == Ownership::Ours
        {
            app_ids.push(found.id);
        }
    }
    for app_id in app_ids {
        one_login.delete_app(app_id).await?;
        progress.event(PendingEvent::normal(
            "Deleted",
            "DeleteOneLoginApp",
            format!("Deleted OneLogin app {app_id}"),
        ));
    }

    let instance: InstanceArn = app.spec.connect.instance_arn.parse().map_err(plan::PlanError::from)?;
    let names = names::iam_names(id, app.spec.iam.as_ref());
    delete_iam(ctx, &instance, &names, &owner, &status, progress).await
}

async fn delete_iam(
    ctx: &Context,
    instance: &InstanceArn,
    names: &IamNames,
    owner: &str,
    status: &crate::api::ConnectSsoAppStatus,
    progress: &mut Progress,
) -> Result<(), ReconcileError> {
    let iam = &ctx.aws.iam;
    let arn = |kind: &str, path: &str, name: &str| {
        format!(
            "arn:{}:iam::{}:{kind}{path}{name}",
            instance.partition.as_str(),
            instance.account
        )
    };
    let role_arn = arn("role", &names.path, &names.role);
    let policy_arn = arn("policy", &names.path, &names.policy);
    let provider_arn = arn("saml-provider/", "", &names.identity_provider);
    let recorded = |field: &Option<String>, arn: &str| field.as_deref() == Some(arn);

    if let Some(role) = iam.get_role(&names.role).await?
        && role.arn == role_arn
        && (ownership::from_tags(&role.tags, owner) == Ownership::Ours || recorded(&status.role_arn, &role_arn))
    {
        for attached in iam.attached_policies(&names.role).await? {
            iam.detach_policy(&names.role, &attached).await?;
        }
        iam.delete_role(&names.role).await?;
        progress.event(PendingEvent::normal(
            "Deleted",
            "DeleteRole",
            format!("Deleted IAM role {role_arn}"),
        ));
    }
    if let Some(policy) = iam.get_policy(&policy_arn).await?
        && (ownership::from_tags(&policy.tags, owner) == Ownership::Ours || recorded(&status.policy_arn, &policy_arn))
    {
        // IAM refuses to delete a policy that still has non-default versions.
        for version in iam.policy_versions(&policy_arn).await?.iter().filter(|v| !v.is_default) {
            iam.delete_policy_version(&policy_arn, &version.id).await?;
        }
        iam.delete_policy(&policy_arn).await?;
        progress.event(PendingEvent::normal(
            "Deleted",
            "DeletePolicy",
            format!("Deleted IAM policy {policy_arn}"),
        ));
    }
    if let Some(provider) = iam.get_saml_provider(&provider_arn).await?
        && (ownership::from_tags(&provider.tags, owner) == Ownership::Ours
            || recorded(&status.identity_provider_arn, &provider_arn))
    {
        iam.delete_saml_provider(&provider_arn).await?;
        progress.event(PendingEvent::normal(
            "Deleted",
            "DeleteIdentityProvider",
            format!("Deleted IAM SAML provider {provider_arn}"),
        ));
    }
    Ok(())
}
