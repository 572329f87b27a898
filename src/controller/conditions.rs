//! Conditions, computed in one place: `Ready` first, `lastTransitionTime` kept unless the status
//! flips, `observedGeneration` on each.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::{Condition, ConditionStatus};

pub const READY: &str = "Ready";
pub const STALLED: &str = "Stalled";

/// Builds the next condition list from the previous one.
pub struct Conditions {
    previous: Vec<Condition>,
    next: Vec<Condition>,
    generation: Option<i64>,
    now: Timestamp,
}

impl Conditions {
    pub fn new(previous: &[Condition], generation: Option<i64>, now: Timestamp) -> Self {
        Conditions {
            previous: previous.to_vec(),
            next: Vec::new(),
            generation,
            now,
        }
    }

    pub fn set(&mut self, type_: &str, status: ConditionStatus, reason: &str, message: impl Into<String>) {
        let message: String = message.into();
        let last_transition_time = match self.previous.iter().find(|c| c.r#type == type_) {
            Some(old) if old.status == status => old.last_transition_time.clone(),
            _ => Time(self.now),
        };
        self.next.retain(|c| c.r#type != type_);
        self.next.push(Condition {
            r#type: type_.to_string(),
            status,
            reason: reason.to_string(),
            message: message.chars().take(2048).collect(),
            last_transition_time,
            observed_generation: self.generation,
        });
    }

    pub fn set_bool(&mut self, type_: &str, ok: bool, reason: &str, message: impl Into<String>) {
        let status = if ok {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        self.set(type_, status, reason, message);
    }

    /// Keeps a previous condition of this type as it was (a part this reconcile did not reach).
    pub fn keep(&mut self, type_: &str) {
        if self.next.iter().any(|c| c.r#type == type_) {
            return;
        }
        if let Some(old) = self.previous.iter().find(|c| c.r#type == type_) {
            self.next.push(old.clone());
        }
    }

    /// The list with `Ready` first, then `Stalled`, then parts in the order they were set.
    pub fn finish(mut self) -> Vec<Condition> {
        let rank = |c: &Condition| match c.r#type.as_str() {
            READY => 0,
            STALLED => 1,
            _ => 2,
        };
        self.next.sort_by_key(rank);
        self.next
    }
}

/// The condition of a type in a list.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.r#type == type_)
}

/// True when the two lists differ in anything but timestamps that were carried over.
pub fn changed(a: &[Condition], b: &[Condition]) -> bool {
    a != b
}
