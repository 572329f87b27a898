//! How long to wait before retrying an object after a transient failure.
//!
//! The wait doubles while the *same* problem repeats (5 s up to 5 min) and starts over when a
//! pass fails somewhere new: a new problem means the last pass got past the old one, and under
//! a burst of unrelated faults an object that keeps making progress should not sit idle for
//! minutes. A success forgets the object.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

const FIRST: Duration = Duration::from_secs(5);
const LONGEST: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Backoff {
    /// Object key → (the problem it last failed with, failures with that problem in a row).
    failures: Mutex<HashMap<String, (String, u32)>>,
}

impl Backoff {
    /// The wait before the next try of `key`, which just failed with `problem`, without jitter.
    pub fn next(&self, key: &str, problem: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = failures.entry(key.to_string()).or_insert_with(|| (String::new(), 0));
        if entry.0 != problem {
            *entry = (problem.to_string(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
        FIRST.saturating_mul(1 << (entry.1 - 1).min(6)).min(LONGEST)
    }

    /// `key` succeeded: its next failure waits the shortest time again.
    pub fn reset(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}
