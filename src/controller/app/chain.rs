//! One pass over the chain, in order: instance, OneLogin app, metadata, identity provider, policy,
//! role, app configuration, OneLogin role. Each step reads before it writes, so a pass can be
//! interrupted anywhere and the next one picks up where it stopped.

use std::future::Future;
use std::time::Instant;

use k8s_openapi::jiff::Timestamp;

use super::diff::app_diff;
use super::progress::{PART_IDENTITY_PROVIDER, PART_ONELOGIN_APP, PART_POLICY, PART_ROLE, Progress};
use crate::api::ConnectSsoApp;
use crate::aws::iam::{NewRole, Tags};
use crate::aws::{AwsError, AwsErrorKind};
use crate::controller::{Context, PendingEvent, ReconcileError};
use crate::onelogin::{App, OneLoginClient};
use crate::plan::ownership::{self, Ownership};
use crate::plan::{self, AppPlan, Facts, InstanceArn, InstanceDomain, ResourceId};
use crate::saml;

/// Where a failed pass stopped, for the part's condition.
pub struct Failure {
    pub error: ReconcileError,
    pub part: Option<&'static str>,
}

impl<E: Into<ReconcileError>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure {
            error: e.into(),
            part: None,
        }
    }
}

// A failure ends the pass: its size does not matter on the happy path.
#[allow(clippy::result_large_err)]
trait InPart<T> {
    fn in_part(self, part: &'static str) -> Result<T, Failure>;
}

impl<T, E: Into<ReconcileError>> InPart<T> for Result<T, E> {
    fn in_part(self, part: &'static str) -> Result<T, Failure> {
        self.map_err(|e| Failure {
            error: e.into(),
            part: Some(part),
        })
    }
}

/// A hook to save progress (the app id) as soon as it exists, before the pass goes on.
pub trait SaveProgress {
    fn save(&self, progress: &Progress) -> impl Future<Output = Result<(), ReconcileError>> + Send;
}

pub async fn run(
    app: &ConnectSsoApp,
    id: &ResourceId,
    ctx: &Context,
    one_login: &OneLoginClient,
    progress: &mut Progress,
    saver: &impl SaveProgress,
) -> Result<AppPlan, Failure> {
    let instance: InstanceArn = app.spec.connect.instance_arn.parse().map_err(plan::PlanError::from)?;
    let domain = check_instance(ctx, &instance, &app.spec.connect.instance_arn).await?;
    let facts = Facts {
        instance_domain: domain,
        uid: app.metadata.uid.clone(),
    };
    let plan = plan::plan_app(id, &app.spec, &facts)?;
    let owner = id.to_string();

    let one_login_app = ensure_app(one_login, &plan, &owner, progress, saver)
        .await
        .in_part(PART_ONELOGIN_APP)?;

    let metadata_url = one_login_app
        .sso
        .as_ref()
        .and_then(|s| s.metadata_url.clone())
        .ok_or_else(|| ReconcileError::NotPersisted {
            what: "the app's SAML metadata URL (sso.metadata_url)".into(),
        })
        .in_part(PART_IDENTITY_PROVIDER)?;
    let metadata_xml = one_login
        .fetch_public(&metadata_url, saml::MAX_METADATA_BYTES)
        .await
        .in_part(PART_IDENTITY_PROVIDER)?;
    let metadata = saml::parse(&metadata_xml).in_part(PART_IDENTITY_PROVIDER)?;
    note_certificate(ctx, &metadata, progress);
    progress.status.metadata_url = Some(metadata_url);

    ensure_provider(ctx, &plan, &owner, &metadata_xml, &metadata, progress)
        .await
        .in_part(PART_IDENTITY_PROVIDER)?;
    ensure_policy(ctx, &plan, &owner, progress).await.in_part(PART_POLICY)?;
    ensure_role(ctx, &plan, &owner, progress).await.in_part(PART_ROLE)?;
    let app_id = one_login_app.id;
    configure_app(one_login, &plan, one_login_app, progress)
        .await
        .in_part(PART_ONELOGIN_APP)?;
    ensure_role_grant(one_login, &plan, app_id, progress)
        .await
        .in_part(PART_ONELOGIN_APP)?;
    Ok(plan)
}

/// DescribeInstance: it must exist and use SAML; its access URL decides the relay-state form.
async fn check_instance(ctx: &Context, instance: &InstanceArn, arn: &str) -> Result<InstanceDomain, Failure> {
    let connect = ctx.aws.connect(&instance.region);
    let observed = connect
        .describe_instance(&instance.instance_id)
        .await?
        .ok_or_else(|| ReconcileError::InstanceNotFound { arn: arn.to_string() })?;
    if observed.identity_management_type != "SAML" {
        return Err(ReconcileError::InstanceNotSaml {
            arn: arn.to_string(),
            actual: observed.identity_management_type,
        }
        .into());
    }
    Ok(observed
        .access_url
        .as_deref()
        .map(InstanceDomain::from_access_url)
        .unwrap_or(InstanceDomain::MyConnectAws))
}

/// Finds the app by the id in status, else by name plus our marker in `notes` (so a crash
/// between create and status write never makes a second app), else creates it.
async fn ensure_app(
    ol: &OneLoginClient,
    plan: &AppPlan,
    owner: &str,
    progress: &mut Progress,
    saver: &impl SaveProgress,
) -> Result<App, ReconcileError> {
    if let Some(id) = progress.status.one_login_app_id
        && let Some(found) = ol.get_app(id).await?
    {
        return Ok(found);
    }
    let name = &plan.one_login_app.name;
    for summary in ol.find_apps(name, plan::onelogin_app::CONNECTOR_ID).await? {
        let Some(candidate) = ol.get_app(summary.id).await? else {
            continue;
        };
        let ownership = ownership::from_notes(&candidate.notes, owner);
        let how = if ownership == Ownership::Ours {
            "Found"
        } else {
            "Adopted"
        };
        require_ours(ownership, plan.adopt, "OneLogin app", name, "spec.oneLogin.appName")?;
        return adopt_app(candidate, progress, saver, how).await;
    }
    let created = ol.create_app(&plan.one_login_app).await?;
    // Two resources that create an app of the same name at the same moment (a GitOps sync of
    // both) both got past the search above: the older app wins, the newer is withdrawn.
    for summary in ol.find_apps(name, plan::onelogin_app::CONNECTOR_ID).await? {
        if summary.id >= created.id {
            continue;
        }
        let Some(earlier) = ol.get_app(summary.id).await? else {
            continue;
        };
        match ownership::from_notes(&earlier.notes, owner) {
            Ownership::Other(other) => {
                ol.delete_app(created.id).await?;
                return Err(ReconcileError::Conflict {
                    what: "OneLogin app",
                    name: name.clone(),
                    other,
                    field: "spec.oneLogin.appName",
                });
            }
            Ownership::Ours => {
                ol.delete_app(created.id).await?;
                return adopt_app(earlier, progress, saver, "Found").await;
            }
            Ownership::Unmarked => {}
        }
    }
    progress.event(PendingEvent::normal(
        "Created",
        "CreateOneLoginApp",
        format!("Created OneLogin app {:?} (id {})", name, created.id),
    ));
    adopt_app(created, progress, saver, "Created").await
}

async fn adopt_app(
    app: App,
    progress: &mut Progress,
    saver: &impl SaveProgress,
    how: &str,
) -> Result<App, ReconcileError> {
    if progress.status.one_login_app_id != Some(app.id) {
        progress.status.one_login_app_id = Some(app.id);
        saver.save(progress).await?;
        if how == "Adopted" {
            progress.event(PendingEvent::normal(
                "Adopted",
                "AdoptOneLoginApp",
                format!("Took over OneLogin app {}", app.id),
            ));
        }
    }
    Ok(app)
}

fn note_certificate(ctx: &Context, metadata: &saml::IdpMetadata, progress: &mut Progress) {
    let Some(cert) = metadata.try_signing_certificate() else {
        return;
    };
    progress.status.signing_certificate = Some(crate::api::SigningCertificate {
        sha256_fingerprint: cert.sha256_fingerprint.clone(),
        not_after: cert.not_after.to_string(),
    });
    if cert.expires_within(Timestamp::now(), ctx.settings.certificate_warning_days) {
        let message = format!(
            "The OneLogin signing certificate {} expires at {}; rotate it in OneLogin (the identity provider follows on its own)",
            cert.sha256_fingerprint, cert.not_after
        );
        progress.warning = Some(("CertificateExpiringSoon".to_string(), message));
    }
}

async fn ensure_provider(
    ctx: &Context,
    plan: &AppPlan,
    owner: &str,
    xml: &str,
    metadata: &saml::IdpMetadata,
    progress: &mut Progress,
) -> Result<(), ReconcileError> {
    let iam = &ctx.aws.iam;
    let arn = &plan.iam.identity_provider_arn;
    let name = &plan.iam.names.identity_provider;
    let existing = match iam.get_saml_provider(arn).await? {
        Some(found) => Some(found),
        None => {
            create_or_find(iam.create_saml_provider(name, xml, &plan.iam.tags), || {
                iam.get_saml_provider(arn)
            })
            .await?
        }
    };
    match existing {
        None => {
            progress.event(PendingEvent::normal(
                "Created",
                "CreateIdentityProvider",
                format!("Created IAM SAML provider {arn}"),
            ));
            progress.part_ok(
                PART_IDENTITY_PROVIDER,
                "InSync",
                format!("{arn} trusts the app's current metadata"),
            );
        }
        Some(existing) => {
            let stored = saml::parse(&existing.metadata).ok();
            // IAM returns the provider's tags; where a service does not, the entity id in the stored
            // metadata (unique to our OneLogin app) proves the provider is ours.
            let ours_by_entity = stored.as_ref().is_some_and(|s| s.entity_id == metadata.entity_id);
            let ownership = match ownership::from_tags(&existing.tags, owner) {
                Ownership::Unmarked
                    if ours_by_entity || progress.status.identity_provider_arn.as_deref() == Some(arn) =>
                {
                    Ownership::Ours
                }
                other => other,
            };
            require_ours(
                ownership,
                plan.adopt,
                "IAM SAML provider",
                name,
                "spec.iam.identityProviderName",
            )?;
            // Tags are kept current where the service reports them; one that reports none (an
            // emulator) cannot be told apart from a provider made without tags, so is left alone.
            if !existing.tags.is_empty() && missing_tags(&existing.tags, &plan.iam.tags) {
                iam.tag_saml_provider(arn, &plan.iam.tags).await?;
            }
            if stored.as_ref().is_some_and(|s| s.same_trust(metadata)) {
                progress.part_ok(
                    PART_IDENTITY_PROVIDER,
                    "InSync",
                    format!("{arn} trusts the app's current metadata"),
                );
            } else {
                iam.update_saml_provider(arn, xml).await?;
                let note = format!(
                    "Updated IAM SAML provider {arn} to OneLogin's current metadata (signing certificate {})",
                    metadata
                        .try_signing_certificate()
                        .map(|c| c.sha256_fingerprint.as_str())
                        .unwrap_or("none")
                );
                progress.event(PendingEvent::normal("Updated", "UpdateIdentityProvider", note));
                progress.part_ok(
                    PART_IDENTITY_PROVIDER,
                    "InSync",
                    format!("{arn} trusts the app's current metadata"),
                );
            }
        }
    }
    progress.status.identity_provider_arn = Some(arn.clone());
    Ok(())
}

async fn ensure_policy(
    ctx: &Context,
    plan: &AppPlan,
    owner: &str,
    progress: &mut Progress,
) -> Result<(), ReconcileError> {
    let iam = &ctx.aws.iam;
    let arn = &plan.iam.policy_arn;
    let name = &plan.iam.names.policy;
    let document = &plan.iam.permission_policy;
    let existing = match iam.get_policy(arn).await? {
        Some(found) => Some(found),
        None => {
            let create = iam.create_policy(name, &plan.iam.names.path, document, &plan.iam.tags);
            create_or_find(create, || iam.get_policy(arn)).await?
        }
    };
    match existing {
        None => {
            progress.event(PendingEvent::normal(
                "Created",
                "CreatePolicy",
                format!("Created IAM policy {arn}"),
            ));
            progress.part_ok(
                PART_POLICY,
                "InSync",
                format!("{arn} allows connect:GetFederationToken as planned"),
            );
        }
        Some(existing) => {
            let ownership = ownership::from_tags(&existing.tags, owner);
            require_ours(ownership, plan.adopt, "IAM policy", name, "spec.iam.policyName")?;
            if missing_tags(&existing.tags, &plan.iam.tags) {
                iam.tag_policy(arn, &plan.iam.tags).await?;
            }
            let current = iam.policy_document(arn, &existing.default_version).await?;
            if plan::policies::same_meaning(&current, document) {
                progress.part_ok(
                    PART_POLICY,
                    "InSync",
                    format!("{arn} allows connect:GetFederationToken as planned"),
                );
            } else {
                let versions = iam.policy_versions(arn).await?;
                // IAM keeps at most five versions: make room by dropping the oldest non-default one.
                if versions.len() >= 5
                    && let Some(oldest) = versions.iter().find(|v| !v.is_default)
                {
                    iam.delete_policy_version(arn, &oldest.id).await?;
                }
                iam.create_policy_version(arn, document).await?;
                let note = format!("Repaired IAM policy {arn}: its document differed from the plan");
                progress.event(PendingEvent::normal("Updated", "UpdatePolicy", note));
                progress.part_ok(
                    PART_POLICY,
                    "InSync",
                    format!("{arn} allows connect:GetFederationToken as planned"),
                );
            }
        }
    }
    progress.status.policy_arn = Some(arn.clone());
    Ok(())
}

async fn ensure_role(
    ctx: &Context,
    plan: &AppPlan,
    owner: &str,
    progress: &mut Progress,
) -> Result<(), ReconcileError> {
    let iam = &ctx.aws.iam;
    let name = &plan.iam.names.role;
    let arn = &plan.iam.role_arn;
    let mut changed = Vec::new();
    let mut created = false;
    let existing = match iam.get_role(name).await? {
        Some(found) => Some(found),
        None => {
            let new = NewRole {
                name,
                path: &plan.iam.names.path,
                trust_policy: &plan.iam.trust_policy,
                max_session_duration: plan.iam.max_session_duration_seconds,
                permissions_boundary: plan.iam.permissions_boundary_arn.as_deref(),
                tags: &plan.iam.tags,
            };
            create_or_find(settle(ctx, || iam.create_role(&new)), || iam.get_role(name)).await?
        }
    };
    match existing {
        None => {
            created = true;
            progress.event(PendingEvent::normal(
                "Created",
                "CreateRole",
                format!("Created IAM role {arn}"),
            ));
        }
        Some(role) => {
            let ownership = ownership::from_tags(&role.tags, owner);
            require_ours(ownership, plan.adopt, "IAM role", name, "spec.iam.roleName")?;
            if role.arn != *arn {
                return Err(ReconcileError::AlreadyExists {
                    what: "IAM role (at another path)",
                    name: role.arn,
                });
            }
            if !plan::policies::same_meaning(&role.trust_policy, &plan.iam.trust_policy) {
                settle(ctx, || iam.update_trust_policy(name, &plan.iam.trust_policy)).await?;
                changed.push("trust policy");
            }
            if role.max_session_duration != Some(plan.iam.max_session_duration_seconds) {
                iam.update_max_session(name, plan.iam.max_session_duration_seconds)
                    .await?;
                changed.push("maximum session duration");
            }
            if role.permissions_boundary != plan.iam.permissions_boundary_arn {
                iam.set_permissions_boundary(name, plan.iam.permissions_boundary_arn.as_deref())
                    .await?;
                changed.push("permissions boundary");
            }
            if missing_tags(&role.tags, &plan.iam.tags) {
                iam.tag_role(name, &plan.iam.tags).await?;
                changed.push("tags");
            }
        }
    }
    // A role this pass created has no policies yet: attach without asking (attaching is
    // idempotent, so a crash before it only means the next pass asks).
    let attached = !created && iam.attached_policies(name).await?.contains(&plan.iam.policy_arn);
    if !attached {
        settle(ctx, || iam.attach_policy(name, &plan.iam.policy_arn)).await?;
        if !created {
            changed.push("policy attachment");
        }
    }
    if !changed.is_empty() {
        let note = format!("Repaired IAM role {arn}: {}", changed.join(", "));
        progress.event(PendingEvent::normal("Updated", &action("UpdateRole", &changed), note));
    }
    progress.part_ok(
        PART_ROLE,
        "InSync",
        format!("{arn} trusts the provider and has the policy"),
    );
    progress.status.role_arn = Some(arn.clone());
    Ok(())
}

/// Writes the managed keys that differ and reads the app back to prove they stuck.
async fn configure_app(
    ol: &OneLoginClient,
    plan: &AppPlan,
    observed: App,
    progress: &mut Progress,
) -> Result<(), ReconcileError> {
    let id = observed.id;
    let diff = app_diff(&plan.one_login_app, &observed);
    let mut app = observed;
    if !diff.is_empty() {
        if let Some(patch) = &diff.patch {
            ol.update_app(id, patch).await?;
        }
        for (_, parameter_id) in &diff.remove_parameters {
            ol.delete_app_parameter(id, *parameter_id).await?;
        }
        app = ol.get_app(id).await?.ok_or_else(|| ReconcileError::NotPersisted {
            what: format!("OneLogin app {id}"),
        })?;
        let left = app_diff(&plan.one_login_app, &app);
        if !left.is_empty() {
            return Err(ReconcileError::NotPersisted {
                what: left.changed.join(", "),
            });
        }
        let note = format!("Set OneLogin app {id}: {}", diff.changed.join(", "));
        let changed: Vec<&str> = diff.changed.iter().map(String::as_str).collect();
        progress.event(PendingEvent::normal(
            "Updated",
            &action("ConfigureOneLoginApp", &changed),
            note,
        ));
    }
    progress.part_ok(
        PART_ONELOGIN_APP,
        "InSync",
        format!("OneLogin app {id} is configured as planned"),
    );
    progress.status.one_login_app_id = Some(app.id);
    progress.status.relay_state = Some(plan.relay_state.clone());
    progress.status.launch_url = Some(format!("{}/launch/{}", ol.base_url(), app.id));
    Ok(())
}

/// The operator-owned OneLogin role whose apps are exactly this app; mappings add its members.
async fn ensure_role_grant(
    ol: &OneLoginClient,
    plan: &AppPlan,
    app_id: i64,
    progress: &mut Progress,
) -> Result<(), ReconcileError> {
    let name = &plan.one_login_role_name;
    let known = match progress.status.one_login_role_id {
        Some(id) => ol.get_role(id).await?.map(|r| r.id),
        None => None,
    };
    let (role_id, created) = match known {
        Some(id) => (id, false),
        None => match ol.find_roles(name).await?.as_slice() {
            [one] => (one.id, false),
            [] => {
                let id = ol.create_role(name).await?;
                progress.event(PendingEvent::normal(
                    "Created",
                    "CreateOneLoginRole",
                    format!("Created OneLogin role {name:?} (id {id})"),
                ));
                (id, true)
            }
            _ => {
                return Err(ReconcileError::AlreadyExists {
                    what: "OneLogin role (more than one)",
                    name: name.clone(),
                });
            }
        },
    };
    progress.status.one_login_role_id = Some(role_id);
    // A role just made has no apps: no need to read them first.
    if created || ol.role_app_ids(role_id).await? != [app_id] {
        ol.set_role_apps(role_id, &[app_id]).await?;
    }
    Ok(())
}

/// An event action naming what changed: the recorder folds events with the same action into one
/// series keeping the first note, so different repairs need different actions.
fn action(base: &str, changed: &[&str]) -> String {
    let what: String = changed
        .join(",")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || ",._/".contains(*c))
        .collect();
    format!("{base}:{what}").chars().take(128).collect()
}

/// Whether an object found under our name may be managed: it carries our marker, or it is
/// unmarked and the spec asks to adopt it.
fn require_ours(
    ownership: Ownership,
    adopt: bool,
    what: &'static str,
    name: &str,
    field: &'static str,
) -> Result<(), ReconcileError> {
    match ownership {
        Ownership::Ours => Ok(()),
        Ownership::Unmarked if adopt => Ok(()),
        Ownership::Other(other) => Err(ReconcileError::Conflict {
            what,
            name: name.to_string(),
            other,
            field,
        }),
        Ownership::Unmarked => Err(ReconcileError::AlreadyExists {
            what,
            name: name.to_string(),
        }),
    }
}

/// Creates an object; `None` when this call made it. When one of that name is already there,
/// most often our own earlier create whose answer was lost (and then retried by the SDK), it
/// is read back so the caller judges it like any object it finds.
async fn create_or_find<T, C, E, F>(
    create: impl Future<Output = Result<C, E>>,
    find: impl FnOnce() -> F,
) -> Result<Option<T>, ReconcileError>
where
    E: Into<ReconcileError>,
    F: Future<Output = Result<Option<T>, AwsError>>,
{
    let error: ReconcileError = match create.await {
        Ok(_) => return Ok(None),
        Err(e) => e.into(),
    };
    let already = matches!(&error, ReconcileError::Aws(e) if e.is(AwsErrorKind::AlreadyExists));
    if !already {
        return Err(error);
    }
    match find().await? {
        Some(found) => Ok(Some(found)),
        // Gone again, or not yet visible: the next pass looks afresh.
        None => Err(error),
    }
}

/// Whether `have` lacks any of `want`'s tags or has another value for one.
fn missing_tags(have: &Tags, want: &Tags) -> bool {
    want.iter().any(|(k, v)| have.get(k) != Some(v))
}

/// Runs an IAM call, waiting out eventual consistency for a bounded time: a principal or policy
/// created a moment ago may not be visible yet.
async fn settle<F, Fut>(ctx: &Context, call: F) -> Result<(), ReconcileError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), AwsError>>,
{
    let deadline = Instant::now() + ctx.settings.propagation_timeout;
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(e) if is_propagation(&e) => {
                if Instant::now() + delay > deadline {
                    return Err(ReconcileError::Propagating(e));
                }
                tracing::debug!(error = %e, "IAM has not caught up; waiting");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(8));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn is_propagation(e: &AwsError) -> bool {
    e.is(AwsErrorKind::NotFound)
        || (e.is(AwsErrorKind::MalformedPolicy) && e.message.to_lowercase().contains("principal"))
}
