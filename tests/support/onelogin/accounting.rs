//! Per-route call counts, so tests can assert how many requests (and writes) the client made.

use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub method: String,
    /// Route template, e.g. `/api/2/apps/{id}`.
    pub route: String,
    /// Non-GET request against `/api/2/*` (token requests are not writes).
    pub write: bool,
    /// `None` when the connection was reset instead of answered.
    pub status: Option<u16>,
}

impl CallRecord {
    /// `"GET /api/2/apps/{id}"`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.route)
    }
}

/// Most recent records kept for inspection; counts are never truncated (benchmarks make many calls).
const RECENT: usize = 10_000;

#[derive(Debug, Clone, Default)]
pub struct CallStats {
    /// `"METHOD /route"` → count.
    counts: BTreeMap<String, usize>,
    total: usize,
    writes: usize,
    recent: VecDeque<CallRecord>,
}

impl CallStats {
    pub(super) fn record(&mut self, record: CallRecord) {
        *self.counts.entry(record.key()).or_insert(0) += 1;
        self.total += 1;
        self.writes += usize::from(record.write);
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(record);
    }

    pub(super) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The last (up to 10 000) requests, oldest first.
    pub fn records(&self) -> &VecDeque<CallRecord> {
        &self.recent
    }

    /// Requests for `"METHOD /route/{template}"`.
    pub fn count(&self, key: &str) -> usize {
        self.counts.get(key).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.total
    }

    pub fn writes(&self) -> usize {
        self.writes
    }

    pub fn reads(&self) -> usize {
        self.total - self.writes
    }

    /// `"METHOD /route"` → count.
    pub fn by_route(&self) -> &BTreeMap<String, usize> {
        &self.counts
    }
}

/// Replaces ids in the path with placeholders: `/api/2/roles/7/users` → `/api/2/roles/{id}/users`.
pub fn route_template(path: &str) -> String {
    let mut out = Vec::new();
    let mut prev = "";
    for seg in path.split('/') {
        let templated = match prev {
            "apps" | "roles" | "users" if !seg.is_empty() && out.len() == 4 => "{id}",
            "parameters" if !seg.is_empty() => "{parameter_id}",
            "metadata" if !seg.is_empty() => "{uuid}",
            _ => seg,
        };
        out.push(templated);
        prev = seg;
    }
    out.join("/")
}
