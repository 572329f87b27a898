//! The controllers and what they share.

pub mod app;
pub mod backoff;
pub mod conditions;
pub mod credentials;
pub mod error;
pub mod mapping;

use std::time::Duration;

use futures::Stream;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{Predicate, WatchStreamExt, finalizer, predicates, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use crate::aws::Aws;
pub use credentials::OneLoginClients;
pub use error::ReconcileError;

/// Field manager of every status write and finalizer patch.
pub const MANAGER: &str = "connect-sso-operator";

#[derive(Clone, Debug)]
pub struct Settings {
    /// How often a Ready resource is compared with the outside world.
    pub resync: Duration,
    /// Reconciles running at once, per controller.
    pub concurrency: u16,
    /// Warn when the signing certificate expires within this many days.
    pub certificate_warning_days: i64,
    /// How long IAM's eventual consistency is waited out inside one reconcile.
    pub propagation_timeout: Duration,
    /// How long a listing of all OneLogin users is reused for resolving large mappings.
    pub users_cache_ttl: Duration,
    /// How often an app's OneLogin role is listed again to find members changed by hand.
    pub membership_verify: Duration,
    /// For apps that do not say: Delete (default) or Retain.
    pub default_deletion_policy: crate::api::DeletionPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            resync: Duration::from_secs(600),
            concurrency: 4,
            certificate_warning_days: 30,
            propagation_timeout: Duration::from_secs(60),
            users_cache_ttl: Duration::from_secs(300),
            membership_verify: Duration::from_secs(3600),
            default_deletion_policy: crate::api::DeletionPolicy::Delete,
        }
    }
}

/// What every reconcile needs.
pub struct Context {
    pub client: kube::Client,
    pub aws: Aws,
    pub onelogin: OneLoginClients,
    pub recorder: Recorder,
    pub settings: Settings,
    /// Role membership, user directory and per-app locks of the mapping controller.
    pub mapping: mapping::membership::Caches,
    backoff: backoff::Backoff,
}

impl Context {
    pub fn new(client: kube::Client, aws: Aws, onelogin: OneLoginClients, settings: Settings) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            onelogin,
            settings,
            mapping: Default::default(),
            backoff: backoff::Backoff::default(),
        }
    }

    /// The jittered wait before retrying `key` after a pass failed with `error`. The problem
    /// that counts as "the same" is the condition message; finalizer bookkeeping is one problem.
    pub fn next_backoff(&self, key: &str, error: &finalizer::Error<ReconcileError>) -> Duration {
        let problem = match error {
            finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.condition_message(),
            _ => "finalizer".to_string(),
        };
        jitter(self.backoff.next(key, &problem))
    }

    pub fn reset_backoff(&self, key: &str) {
        self.backoff.reset(key);
    }

    /// The resync interval with ±10% jitter, so many resources do not resync in lockstep.
    pub fn resync(&self) -> Duration {
        jitter(self.settings.resync)
    }
}

fn jitter(d: Duration) -> Duration {
    use rand::Rng;
    let factor = rand::rng().random_range(0.9..=1.1);
    d.mul_f64(factor)
}

/// An Event to publish once the reconcile is done.
#[derive(Clone, Debug)]
pub struct PendingEvent {
    pub warning: bool,
    pub reason: String,
    pub action: String,
    pub note: String,
}

impl PendingEvent {
    pub fn normal(reason: &str, action: &str, note: impl Into<String>) -> Self {
        PendingEvent {
            warning: false,
            reason: reason.into(),
            action: action.into(),
            note: note.into(),
        }
    }

    pub fn warning(reason: &str, action: &str, note: impl Into<String>) -> Self {
        PendingEvent {
            warning: true,
            reason: reason.into(),
            action: action.into(),
            note: note.into(),
        }
    }

    pub fn into_event(self) -> Event {
        Event {
            type_: if self.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: self.reason,
            note: Some(self.note.chars().take(1000).collect()),
            action: self.action,
            secondary: None,
        }
    }
}

impl Context {
    /// Publishes events about `obj`; a failure to record one is logged, never fatal.
    pub async fn publish<K: Resource<DynamicType = ()>>(&self, obj: &K, events: Vec<PendingEvent>) {
        let reference = obj.object_ref(&());
        for event in events {
            if let Err(e) = self.recorder.publish(&event.into_event(), &reference).await {
                tracing::warn!(error = %e, "could not record an Event");
            }
        }
    }
}

/// The objects a controller reconciles, and its cache. Only spec (generation) and finalizer
/// changes pass, so the operator's own status writes never start another pass; managedFields are
/// dropped from the cache, as they are large (one entry per user of a big mapping) and never read.
pub fn spec_changes<K>(api: Api<K>) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let changes = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|obj: &mut K| obj.meta_mut().managed_fields = None)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation.combine(predicates::finalizers),
            Default::default(),
        );
    (store, changes)
}
