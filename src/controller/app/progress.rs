//! What one reconcile learned, turned into the next status: the parts' conditions, `Ready`,
//! `Stalled`, the ids and ARNs, and the events to publish.

use k8s_openapi::jiff::Timestamp;

use super::super::conditions::{self, Conditions, READY, STALLED};
use super::super::{PendingEvent, ReconcileError};
use crate::api::{ConditionStatus, ConnectSsoAppStatus};

pub const PART_ONELOGIN_APP: &str = "OneLoginApp";
pub const PART_IDENTITY_PROVIDER: &str = "IdentityProvider";
pub const PART_POLICY: &str = "Policy";
pub const PART_ROLE: &str = "Role";
pub const PARTS: [&str; 4] = [PART_ONELOGIN_APP, PART_IDENTITY_PROVIDER, PART_POLICY, PART_ROLE];

/// The status being built, starting from the last one written.
pub struct Progress {
    pub status: ConnectSsoAppStatus,
    previous: ConnectSsoAppStatus,
    parts: Vec<(&'static str, bool, String, String)>,
    pub events: Vec<PendingEvent>,
    /// A warning that does not stop Ready (the signing certificate expires soon).
    pub warning: Option<(String, String)>,
    generation: Option<i64>,
}

impl Progress {
    pub fn new(previous: Option<&ConnectSsoAppStatus>, generation: Option<i64>) -> Self {
        let previous = previous.cloned().unwrap_or_default();
        Progress {
            status: previous.clone(),
            previous,
            parts: Vec::new(),
            events: Vec::new(),
            warning: None,
            generation,
        }
    }

    pub fn part_ok(&mut self, part: &'static str, reason: &str, message: impl Into<String>) {
        self.parts.push((part, true, reason.to_string(), message.into()));
    }

    pub fn event(&mut self, event: PendingEvent) {
        self.events.push(event);
    }

    /// The status after a reconcile that ended with `outcome`, and the events of transitions.
    pub fn finish(
        mut self,
        outcome: Result<(), &ReconcileError>,
        failed_part: Option<&'static str>,
    ) -> (ConnectSsoAppStatus, Vec<PendingEvent>) {
        let mut c = Conditions::new(&self.previous.conditions, self.generation, Timestamp::now());
        for (part, ok, reason, message) in &self.parts {
            c.set_bool(part, *ok, reason, message.clone());
        }
        match outcome {
            Ok(()) => {
                let (reason, message) = self.warning.clone().unwrap_or_else(|| {
                    (
                        "Ready".to_string(),
                        "OneLogin app, identity provider, policy and role are in place".to_string(),
                    )
                });
                c.set_bool(READY, true, &reason, message);
                c.set_bool(STALLED, false, "Ready", "Nothing needs a person");
            }
            Err(err) => {
                let message = err.condition_message();
                if let Some(part) = failed_part {
                    c.set_bool(part, false, err.reason(), message.clone());
                }
                c.set_bool(READY, false, err.reason(), message.clone());
                if err.is_terminal() {
                    c.set_bool(STALLED, true, err.reason(), message);
                } else {
                    c.set_bool(STALLED, false, "Retrying", "The operator retries on its own");
                }
            }
        }
        for part in PARTS {
            c.keep(part);
        }
        self.status.conditions = c.finish();
        self.status.observed_generation = self.generation;
        self.events.extend(transition_events(&self.previous, &self.status));
        (self.status, self.events)
    }
}

/// Events for Ready and Stalled changes (and a new reason while not Ready), not for steady state.
fn transition_events(old: &ConnectSsoAppStatus, new: &ConnectSsoAppStatus) -> Vec<PendingEvent> {
    let mut out = Vec::new();
    let old_ready = conditions::find(&old.conditions, READY);
    let Some(new_ready) = conditions::find(&new.conditions, READY) else {
        return out;
    };
    let same = old_ready.is_some_and(|o| o.status == new_ready.status && o.reason == new_ready.reason);
    if same {
        return out;
    }
    if new_ready.status == ConditionStatus::True {
        if new_ready.reason == "Ready" {
            out.push(PendingEvent::normal("Ready", "Reconcile", new_ready.message.clone()));
        } else {
            out.push(PendingEvent::warning(
                &new_ready.reason,
                "Reconcile",
                new_ready.message.clone(),
            ));
        }
    } else if new_ready.reason != "Reconciling" {
        out.push(PendingEvent::warning(
            &new_ready.reason,
            "Reconcile",
            new_ready.message.clone(),
        ));
    }
    out
}

/// The status written before the first external call, so kstatus never sees a resource
/// without `Ready` and calls it done.
pub fn reconciling(previous: Option<&ConnectSsoAppStatus>, generation: Option<i64>) -> ConnectSsoAppStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let mut c = Conditions::new(&status.conditions, generation, Timestamp::now());
    c.set_bool(
        READY,
        false,
        "Reconciling",
        "Creating the OneLogin app, identity provider, policy and role",
    );
    for part in PARTS {
        c.keep(part);
    }
    status.conditions = c.finish();
    status.observed_generation = generation;
    status
}
