//! The ConnectUserMapping controller: grants an app to OneLogin users through the app's role and
//! checks (or creates) their Amazon Connect users.

pub mod membership;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::conditions::{self, Conditions, READY, STALLED};
use super::{Context, MANAGER, PendingEvent, ReconcileError};
use crate::api::connect_user_mapping::MAX_ATTENTION;
use crate::api::{
    AttentionReason, ConditionStatus, ConnectSsoApp, ConnectUserMapping, ConnectUserMappingStatus, ConnectUsersMode,
    IdentifyBy, PhoneType, Subject, UserAttention,
};
use crate::aws::connect::{Connect, NewConnectUser};
use crate::onelogin::{LoginField, OneLoginClient, User};
use crate::plan::InstanceArn;
use crate::plan::assess::{self, ConnectIndex, UserIndex};

pub const FINALIZER: &str = "connectsso.io/membership";
/// Up to this many logins are looked up one by one; more are found in one listing.
pub const DIRECT_LOOKUP_MAX: usize = 10;

/// Why a mapping cannot proceed yet: its app is missing or not Ready.
struct NotReady(String);

pub async fn reconcile(
    mapping: Arc<ConnectUserMapping>,
    ctx: Arc<Context>,
) -> Result<Action, finalizer::Error<ReconcileError>> {
    let namespace = mapping.namespace().unwrap_or_default();
    let api: Api<ConnectUserMapping> = Api::namespaced(ctx.client.clone(), &namespace);
    let started = std::time::Instant::now();
    let result = finalizer(&api, FINALIZER, mapping, |event| async {
        match event {
            FinalizerEvent::Apply(m) => apply(&m, &ctx, &api).await,
            FinalizerEvent::Cleanup(m) => cleanup(&m, &ctx).await,
        }
    })
    .await;
    let reason = result.as_ref().err().map(super::app::finalizer_reason);
    crate::telemetry::metrics().reconciled("connectusermapping", started.elapsed(), reason);
    result
}

pub fn error_policy(m: Arc<ConnectUserMapping>, error: &finalizer::Error<ReconcileError>, ctx: Arc<Context>) -> Action {
    let key = format!("mapping {}/{}", m.namespace().unwrap_or_default(), m.name_any());
    match error {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) if e.is_terminal() => {
            tracing::warn!(mapping = %key, reason = e.reason(), error = %e, "needs a person; waiting for a change");
            Action::requeue(ctx.resync())
        }
        other => {
            let wait = ctx.next_backoff(&key, other);
            tracing::info!(mapping = %key, error = %other, retry_in_s = wait.as_secs(), "will retry");
            Action::requeue(wait)
        }
    }
}

/// The app, if it exists and is Ready with its OneLogin app and role.
async fn ready_app(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Result<ConnectSsoApp, NotReady>, ReconcileError> {
    let apps: Api<ConnectSsoApp> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(app) = apps.get_opt(name).await? else {
        return Ok(Err(NotReady(format!(
            "ConnectSsoApp {namespace}/{name} does not exist"
        ))));
    };
    let status = app.status.clone().unwrap_or_default();
    let ready = conditions::find(&status.conditions, READY).is_some_and(|c| c.status == ConditionStatus::True);
    if app.metadata.deletion_timestamp.is_some() || !ready || status.one_login_role_id.is_none() {
        return Ok(Err(NotReady(format!(
            "ConnectSsoApp {namespace}/{name} is not Ready yet"
        ))));
    }
    Ok(Ok(app))
}

async fn one_login_for(ctx: &Context, app: &ConnectSsoApp) -> Result<OneLoginClient, ReconcileError> {
    let namespace = app.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    ctx.onelogin
        .for_secret(&secrets, &namespace, &app.spec.one_login.credentials_secret_ref.name)
        .await
}

fn field_of(m: &ConnectUserMapping) -> IdentifyBy {
    m.spec.identify_by.unwrap_or(IdentifyBy::Email)
}

/// The users behind `logins`: exact searches for a handful, one (cached) listing for many.
async fn find_users(
    ctx: &Context,
    ol: &OneLoginClient,
    logins: &[(IdentifyBy, &str)],
) -> Result<UserIndex, ReconcileError> {
    if logins.len() > DIRECT_LOOKUP_MAX {
        let users = ctx
            .mapping
            .directory(ol, ctx.settings.users_cache_ttl, ctx.settings.membership_verify)
            .await?;
        return Ok(UserIndex::new(users));
    }
    let mut found: Vec<User> = Vec::new();
    for (by, login) in logins {
        let field = if *by == IdentifyBy::Email {
            LoginField::Email
        } else {
            LoginField::Username
        };
        found.extend(ol.find_user(field, login).await?);
    }
    Ok(UserIndex::new(Arc::new(found)))
}

/// Makes the app's role hold exactly the users of `mappings`.
async fn sync_role(
    ctx: &Context,
    ol: &OneLoginClient,
    role_id: i64,
    mappings: &[Arc<ConnectUserMapping>],
) -> Result<(membership::Changes, UserIndex), ReconcileError> {
    let logins: Vec<(IdentifyBy, &str)> = mappings
        .iter()
        .flat_map(|m| m.spec.users.iter().map(move |u| (field_of(m), u.as_str())))
        .collect();
    let index = find_users(ctx, ol, &logins).await?;
    let desired: BTreeSet<i64> = logins
        .iter()
        .filter_map(|(by, login)| index.get(*by, login).map(|u| u.id))
        .collect();
    let changes = ctx
        .mapping
        .sync(ol, role_id, &desired, ctx.settings.membership_verify)
        .await;
    if changes.is_err() {
        ctx.mapping.forget(role_id);
    }
    Ok((changes?, index))
}

async fn apply(m: &ConnectUserMapping, ctx: &Context, api: &Api<ConnectUserMapping>) -> Result<Action, ReconcileError> {
    let namespace = m.namespace().unwrap_or_default();
    let name = m.name_any();
    let mut events = Vec::new();
    let app = match ready_app(ctx, &namespace, &m.spec.app_ref.name).await? {
        Ok(app) => app,
        Err(NotReady(why)) => {
            let status = status_with(m, None, Err(("DependencyNotReady", why, false)));
            write_status(api, &name, m.status.as_ref(), &status).await?;
            ctx.publish(m, transition_events(m.status.as_ref(), &status)).await;
            return Ok(Action::requeue(Duration::from_secs(15)));
        }
    };
    let result = sync_and_check(m, &app, ctx, &mut events).await;
    let status = match &result {
        Ok(outcome) => status_with(m, Some(outcome), Ok(())),
        Err(e) => status_with(m, None, Err((e.reason(), e.condition_message(), e.is_terminal()))),
    };
    events.extend(transition_events(m.status.as_ref(), &status));
    write_status(api, &name, m.status.as_ref(), &status).await?;
    ctx.publish(m, events).await;
    result.map(|_| {
        ctx.reset_backoff(&format!("mapping {namespace}/{name}"));
        Action::requeue(ctx.resync())
    })
}

/// What one pass found for this mapping.
struct Outcome {
    assessment: assess::Assessment,
    assigned: i64,
}

async fn sync_and_check(
    m: &ConnectUserMapping,
    app: &ConnectSsoApp,
    ctx: &Context,
    events: &mut Vec<PendingEvent>,
) -> Result<Outcome, ReconcileError> {
    let app_status = app.status.clone().unwrap_or_default();
    let role_id = app_status.one_login_role_id.unwrap_or_default();
    let ol = one_login_for(ctx, app).await?;
    let lock = ctx
        .mapping
        .app_lock(&format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any()));
    let _guard = lock.lock().await;

    let holders = ctx.mapping.mappings_of_app(m, true).await?;
    let (changes, index) = sync_role(ctx, &ol, role_id, &holders).await?;
    if changes != membership::Changes::default() {
        events.push(PendingEvent::normal(
            "MembershipUpdated",
            "SyncRoleMembers",
            format!(
                "OneLogin role {role_id}: {} users added, {} removed",
                changes.added, changes.removed
            ),
        ));
    }

    let mode = m
        .spec
        .connect_users
        .as_ref()
        .and_then(|c| c.mode)
        .unwrap_or(ConnectUsersMode::Require);
    let instance: InstanceArn = app
        .spec
        .connect
        .instance_arn
        .parse()
        .map_err(crate::plan::PlanError::from)?;
    let connect = ctx.aws.connect(&instance.region);
    let connect_users = match mode {
        ConnectUsersMode::Ignore => None,
        _ => Some(connect.list_users(&instance.instance_id).await?),
    };
    let connect_index = connect_users
        .as_ref()
        .map(|u| ConnectIndex::new(u.iter().map(|c| c.username.as_str())));
    let mut assessment = assess::assess(&assess::Inputs {
        logins: &m.spec.users,
        identify_by: field_of(m),
        subject: app.spec.one_login.subject.unwrap_or(Subject::Email),
        mode,
        users: &index,
        connect: connect_index.as_ref(),
    });
    if !assessment.to_create.is_empty() {
        create_connect_users(m, &connect, &instance.instance_id, &mut assessment, events).await?;
    }
    let assigned = assessment.found as i64;
    Ok(Outcome { assessment, assigned })
}

/// Creates the missing Amazon Connect users with the requested profiles (resolved by name).
async fn create_connect_users(
    m: &ConnectUserMapping,
    connect: &Connect,
    instance_id: &str,
    assessment: &mut assess::Assessment,
    events: &mut Vec<PendingEvent>,
) -> Result<(), ReconcileError> {
    let spec = m.spec.connect_users.clone().unwrap_or_default();
    let profiles = connect.security_profiles(instance_id).await?;
    let routing = connect.routing_profiles(instance_id).await?;
    let mut security_ids = Vec::new();
    for wanted in spec.security_profiles.unwrap_or_default() {
        let found = profiles
            .iter()
            .find(|p| p.name == wanted)
            .ok_or_else(|| ReconcileError::ProfileNotFound {
                kind: "security profile",
                name: wanted.clone(),
            })?;
        security_ids.push(found.id.clone());
    }
    let routing_name = spec.routing_profile.unwrap_or_default();
    let routing_id = routing
        .iter()
        .find(|p| p.name == routing_name)
        .map(|p| p.id.clone())
        .ok_or(ReconcileError::ProfileNotFound {
            kind: "routing profile",
            name: routing_name,
        })?;
    let desk = spec.phone_type == Some(PhoneType::DeskPhone);
    let mut created = Vec::new();
    for want in std::mem::take(&mut assessment.to_create) {
        let first = want
            .user
            .firstname
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| want.username.clone());
        let last = want
            .user
            .lastname
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".to_string());
        let new = NewConnectUser {
            username: &want.username,
            first_name: &first,
            last_name: &last,
            secondary_email: want.user.email.as_deref(),
            security_profile_ids: &security_ids,
            routing_profile_id: &routing_id,
            desk_phone: if desk { want.user.phone.as_deref() } else { None },
        };
        match connect.create_user(instance_id, &new).await {
            Ok(_) => created.push(want.username.clone()),
            // Made meanwhile (by a person or an earlier pass): the user exists, which is the goal.
            Err(e) if e.is(crate::aws::AwsErrorKind::AlreadyExists) => {}
            Err(e) if e.is_terminal() || e.is(crate::aws::AwsErrorKind::Conflict) => {
                assessment.counts.missing_in_connect += 1;
                assessment.attention.push(UserAttention {
                    login: want.login.clone(),
                    reason: AttentionReason::CreateFailed,
                    message: e.stable_message(),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !created.is_empty() {
        let mut note = format!("Created {} Amazon Connect users", created.len());
        let shown: Vec<&str> = created.iter().take(10).map(String::as_str).collect();
        note.push_str(&format!(": {}", shown.join(", ")));
        if created.len() > shown.len() {
            note.push_str(", …");
        }
        events.push(PendingEvent::normal("CreatedConnectUsers", "CreateUser", note));
    }
    Ok(())
}

/// The next status: counts, at most `MAX_ATTENTION` users needing attention, conditions.
fn status_with(
    m: &ConnectUserMapping,
    outcome: Option<&Outcome>,
    result: Result<(), (&str, String, bool)>,
) -> ConnectUserMappingStatus {
    let previous = m.status.clone().unwrap_or_default();
    let generation = m.metadata.generation;
    let mut c = Conditions::new(&previous.conditions, generation, Timestamp::now());
    let mut status = ConnectUserMappingStatus {
        observed_generation: generation,
        ..previous.clone()
    };
    match (result, outcome) {
        (Ok(()), Some(o)) => {
            let mut counts = o.assessment.counts.clone();
            counts.assigned = o.assigned;
            let attention = o.assessment.attention.len();
            let (reason, message) = if attention == 0 {
                (
                    "Ready",
                    format!("All {} users have the app and can sign in", counts.desired),
                )
            } else {
                (
                    "UsersNeedAttention",
                    format!(
                        "{} of {} users have the app; {attention} need attention (see status.attention)",
                        counts.assigned, counts.desired
                    ),
                )
            };
            c.set_bool(READY, true, reason, message);
            c.set_bool(STALLED, false, "Ready", "Nothing blocks the mapping");
            status.counts = Some(counts);
            status.attention = o.assessment.attention.iter().take(MAX_ATTENTION).cloned().collect();
        }
        (Err((reason, message, terminal)), _) => {
            c.set_bool(READY, false, reason, message.clone());
            if terminal {
                c.set_bool(STALLED, true, reason, message);
            } else {
                c.set_bool(STALLED, false, "Retrying", "The operator retries on its own");
            }
        }
        (Ok(()), None) => {}
    }
    status.conditions = c.finish();
    status
}

fn transition_events(old: Option<&ConnectUserMappingStatus>, new: &ConnectUserMappingStatus) -> Vec<PendingEvent> {
    let old_ready = old.and_then(|o| conditions::find(&o.conditions, READY));
    let Some(ready) = conditions::find(&new.conditions, READY) else {
        return Vec::new();
    };
    if old_ready.is_some_and(|o| o.status == ready.status && o.reason == ready.reason) {
        return Vec::new();
    }
    let event = if ready.reason == "Ready" {
        PendingEvent::normal("Ready", "Reconcile", ready.message.clone())
    } else {
        PendingEvent::warning(&ready.reason, "Reconcile", ready.message.clone())
    };
    vec![event]
}

async fn write_status(
    api: &Api<ConnectUserMapping>,
    name: &str,
    old: Option<&ConnectUserMappingStatus>,
    new: &ConnectUserMappingStatus,
) -> Result<(), ReconcileError> {
    if old == Some(new) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": ConnectUserMapping::api_version(&()),
        "kind": ConnectUserMapping::kind(&()),
        "status": new,
    });
    api.patch_status(name, &PatchParams::apply(MANAGER), &Patch::Apply(&patch))
        .await?;
    Ok(())
}

/// Deleting a mapping removes only the users no other mapping of the app still lists.
async fn cleanup(m: &ConnectUserMapping, ctx: &Context) -> Result<Action, ReconcileError> {
    let namespace = m.namespace().unwrap_or_default();
    let Ok(app) = ready_app(ctx, &namespace, &m.spec.app_ref.name).await? else {
        // No app (or one being deleted): its role goes with it.
        return Ok(Action::await_change());
    };
    let role_id = app
        .status
        .as_ref()
        .and_then(|s| s.one_login_role_id)
        .unwrap_or_default();
    let result = async {
        let ol = one_login_for(ctx, &app).await?;
        let lock = ctx.mapping.app_lock(&format!("{namespace}/{}", app.name_any()));
        let _guard = lock.lock().await;
        let siblings = ctx.mapping.mappings_of_app(m, false).await?;
        sync_role(ctx, &ol, role_id, &siblings).await
    }
    .await;
    match result {
        Ok((changes, _)) => {
            let note = format!(
                "Removed {} users that no other mapping lists from OneLogin role {role_id}",
                changes.removed
            );
            ctx.publish(m, vec![PendingEvent::normal("MembershipUpdated", "Delete", note)])
                .await;
            Ok(Action::await_change())
        }
        Err(e) => Err(ReconcileError::MappingDeletionBlocked(Box::new(e))),
    }
}

/// Runs the controller until shutdown; a change to an app reconciles its mappings.
pub async fn run(ctx: Arc<Context>, mappings: Api<ConnectUserMapping>, apps: Api<PartialObjectMeta<ConnectSsoApp>>) {
    let (store, changes) = super::spec_changes(mappings);
    ctx.mapping.add_mapping_cache(store.clone());
    Controller::for_stream(changes, store.clone())
        // Only an app's name is needed to find its mappings: watch metadata, not whole apps.
        .watches_stream(
            watcher(apps, watcher::Config::default())
                .default_backoff()
                .touched_objects(),
            move |app| {
                let namespace = app.namespace();
                let name = app.name_any();
                let refs: HashMap<String, ObjectRef<ConnectUserMapping>> = store
                    .state()
                    .into_iter()
                    .filter(|m| m.namespace() == namespace && m.spec.app_ref.name == name)
                    .map(|m| (m.name_any(), ObjectRef::from_obj(&*m)))
                    .collect();
                refs.into_values()
            },
        )
        .with_config(ControllerConfig::default().concurrency(ctx.settings.concurrency))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "mapping reconcile did not complete");
            }
        })
        .await;
}
