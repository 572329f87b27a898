//! The ConnectSsoApp controller: observe → plan → execute → report, behind a finalizer.

pub mod chain;
pub mod cleanup;
pub mod diff;
pub mod progress;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{Context, MANAGER, PendingEvent, ReconcileError};
use crate::api::{ConnectSsoApp, ConnectSsoAppStatus, DeletionPolicy};
use crate::plan::ResourceId;
use crate::telemetry::metrics;
use chain::{Failure, SaveProgress};
use progress::{PART_ONELOGIN_APP, Progress};

/// Holds deletion until the OneLogin app and IAM objects are gone (or retained).
pub const FINALIZER: &str = "connectsso.io/cleanup";

pub async fn reconcile(app: Arc<ConnectSsoApp>, ctx: Arc<Context>) -> Result<Action, finalizer::Error<ReconcileError>> {
    let namespace = app.namespace().unwrap_or_default();
    let api: Api<ConnectSsoApp> = Api::namespaced(ctx.client.clone(), &namespace);
    let started = std::time::Instant::now();
    let result = finalizer(&api, FINALIZER, app, |event| async {
        match event {
            FinalizerEvent::Apply(app) => apply(&app, &ctx, &api).await,
            FinalizerEvent::Cleanup(app) => cleanup(&app, &ctx, &api).await,
        }
    })
    .await;
    metrics().reconciled(
        "connectssoapp",
        started.elapsed(),
        result.as_ref().err().map(finalizer_reason),
    );
    result
}

/// The stable reason of a finalizer-wrapped error, for metrics.
pub fn finalizer_reason(e: &finalizer::Error<ReconcileError>) -> &'static str {
    match e {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.reason(),
        _ => "FinalizerError",
    }
}

pub fn error_policy(app: Arc<ConnectSsoApp>, error: &finalizer::Error<ReconcileError>, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any());
    let inner = match error {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => Some(e),
        _ => None,
    };
    match inner {
        Some(e) if e.is_terminal() => {
            tracing::warn!(app = %key, reason = e.reason(), error = %e, "needs a person; waiting for a change");
            Action::requeue(ctx.resync())
        }
        Some(e) => {
            let wait = ctx.next_backoff(&key, error);
            tracing::info!(app = %key, reason = e.reason(), error = %e, retry_in_s = wait.as_secs(), "will retry");
            Action::requeue(wait)
        }
        None => {
            tracing::warn!(app = %key, error = %error, "finalizer bookkeeping failed; will retry");
            Action::requeue(ctx.next_backoff(&key, error))
        }
    }
}

fn resource_id(app: &ConnectSsoApp) -> ResourceId {
    ResourceId {
        namespace: app.namespace().unwrap_or_default(),
        name: app.name_any(),
    }
}

async fn apply(app: &ConnectSsoApp, ctx: &Context, api: &Api<ConnectSsoApp>) -> Result<Action, ReconcileError> {
    let id = resource_id(app);
    let generation = app.metadata.generation;
    let saver = StatusSaver { api, name: &id.name };
    if app
        .status
        .as_ref()
        .is_none_or(|s| super::conditions::find(&s.conditions, super::conditions::READY).is_none())
    {
        saver
            .write(&progress::reconciling(app.status.as_ref(), generation))
            .await?;
    }
    let mut progress = Progress::new(app.status.as_ref(), generation);
    let result = async {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &id.namespace);
        let secret = &app.spec.one_login.credentials_secret_ref.name;
        let one_login = ctx
            .onelogin
            .for_secret(&secrets, &id.namespace, secret)
            .await
            .map_err(|e| Failure {
                error: e,
                part: Some(PART_ONELOGIN_APP),
            })?;
        chain::run(app, &id, ctx, &one_login, &mut progress, &saver).await
    }
    .await;
    let (outcome, part) = match &result {
        Ok(_) => (Ok(()), None),
        Err(f) => (Err(&f.error), f.part),
    };
    let (status, events) = progress.finish(outcome, part);
    saver.write_if_changed(app.status.as_ref(), &status).await?;
    ctx.publish(app, events).await;
    match result {
        Ok(_) => {
            ctx.reset_backoff(&id.to_string());
            Ok(Action::requeue(ctx.resync()))
        }
        Err(f) => Err(f.error),
    }
}

async fn cleanup(app: &ConnectSsoApp, ctx: &Context, api: &Api<ConnectSsoApp>) -> Result<Action, ReconcileError> {
    let id = resource_id(app);
    if cleanup::policy(app, ctx.settings.default_deletion_policy) == DeletionPolicy::Retain {
        let note = "deletionPolicy is Retain: the OneLogin app and IAM objects are left in place";
        ctx.publish(app, vec![PendingEvent::normal("Retained", "Delete", note)])
            .await;
        return Ok(Action::await_change());
    }
    let mut progress = Progress::new(app.status.as_ref(), app.metadata.generation);
    let result = async {
        let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &id.namespace);
        let secret = &app.spec.one_login.credentials_secret_ref.name;
        let one_login = ctx.onelogin.for_secret(&secrets, &id.namespace, secret).await?;
        cleanup::delete_all(app, &id, ctx, &one_login, &mut progress).await
    }
    .await;
    match result {
        Ok(()) => {
            ctx.publish(app, std::mem::take(&mut progress.events)).await;
            Ok(Action::await_change())
        }
        Err(e) => {
            let blocked = ReconcileError::DeletionBlocked(Box::new(e));
            let (status, events) = progress.finish(Err(&blocked), None);
            StatusSaver { api, name: &id.name }
                .write_if_changed(app.status.as_ref(), &status)
                .await?;
            ctx.publish(app, events).await;
            Err(blocked)
        }
    }
}

/// Writes status by server-side apply with one field manager.
struct StatusSaver<'a> {
    api: &'a Api<ConnectSsoApp>,
    name: &'a str,
}

impl StatusSaver<'_> {
    async fn write(&self, status: &ConnectSsoAppStatus) -> Result<(), ReconcileError> {
        let patch = json!({
            "apiVersion": ConnectSsoApp::api_version(&()),
            "kind": ConnectSsoApp::kind(&()),
            "status": status,
        });
        self.api
            .patch_status(self.name, &PatchParams::apply(MANAGER), &Patch::Apply(&patch))
            .await?;
        Ok(())
    }

    /// Skips the write when nothing changed, so a resync with no drift writes nothing.
    async fn write_if_changed(
        &self,
        old: Option<&ConnectSsoAppStatus>,
        new: &ConnectSsoAppStatus,
    ) -> Result<(), ReconcileError> {
        if old == Some(new) {
            return Ok(());
        }
        self.write(new).await
    }
}

impl SaveProgress for StatusSaver<'_> {
    async fn save(&self, progress: &Progress) -> Result<(), ReconcileError> {
        self.write(&progress.status).await
    }
}

/// Runs the controller until shutdown: watches the apps, and the Secrets they reference (by
/// metadata only, so Secret values are never cached), so a rotated Secret is used at once.
pub async fn run(ctx: Arc<Context>, apps: Api<ConnectSsoApp>, secrets: Api<PartialObjectMeta<Secret>>) {
    let (store, changes) = super::spec_changes(apps);
    Controller::for_stream(changes, store.clone())
        .watches(secrets, watcher::Config::default(), move |secret| {
            let namespace = secret.namespace();
            let name = secret.name_any();
            store
                .state()
                .into_iter()
                .filter(|app| app.namespace() == namespace && app.spec.one_login.credentials_secret_ref.name == name)
                .map(|app| ObjectRef::from_obj(&*app))
                .collect::<Vec<_>>()
        })
        .with_config(ControllerConfig::default().concurrency(ctx.settings.concurrency))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile did not complete");
            }
        })
        .await;
}
