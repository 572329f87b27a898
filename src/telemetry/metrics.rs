//! The operator's Prometheus metrics. Labels are bounded: controller, reason, service,
//! operation and outcome — never an object's name.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub controller: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub service: String,
    pub operation: String,
    pub outcome: String,
}

pub struct Metrics {
    pub registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Family<ControllerLabels, Histogram>,
    calls: Family<CallLabels, Counter>,
    onelogin_remaining: Gauge,
}

/// The process-wide metrics (one registry, as one `/metrics` endpoint serves it).
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("connect_sso");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let duration = Family::<ControllerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        let calls = Family::<CallLabels, Counter>::default();
        let onelogin_remaining = Gauge::default();
        registry.register("reconciles", "Reconciles by controller and result", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciles by controller and reason",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration by controller",
            duration.clone(),
        );
        registry.register(
            "external_calls",
            "Calls to OneLogin and AWS by service, operation and outcome",
            calls.clone(),
        );
        registry.register(
            "onelogin_rate_limit_remaining",
            "OneLogin's X-RateLimit-Remaining as last seen",
            onelogin_remaining.clone(),
        );
        Metrics {
            registry,
            reconciles,
            errors,
            duration,
            calls,
            onelogin_remaining,
        }
    }

    /// One reconcile's outcome: `reason` is `None` on success.
    pub fn reconciled(&self, controller: &str, took: Duration, reason: Option<&str>) {
        let result = if reason.is_some() { "error" } else { "success" };
        self.reconciles
            .get_or_create(&ReconcileLabels {
                controller: controller.into(),
                result: result.into(),
            })
            .inc();
        if let Some(reason) = reason {
            self.errors
                .get_or_create(&ErrorLabels {
                    controller: controller.into(),
                    reason: reason.into(),
                })
                .inc();
        }
        self.duration
            .get_or_create(&ControllerLabels {
                controller: controller.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// One call to an external service; `operation` must be a template, not a concrete path.
    pub fn external_call(&self, service: &str, operation: &str, outcome: &str) {
        let labels = CallLabels {
            service: service.into(),
            operation: operation.into(),
            outcome: outcome.into(),
        };
        self.calls.get_or_create(&labels).inc();
    }

    pub fn onelogin_remaining(&self, remaining: u64) {
        self.onelogin_remaining
            .set(i64::try_from(remaining).unwrap_or(i64::MAX));
    }

    /// The registry in Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// `2xx` → ok, `429` → throttled, other `4xx` → client_error, `5xx` → server_error.
pub fn outcome_of(status: Option<u16>) -> &'static str {
    match status {
        None => "transport_error",
        Some(s) if (200..300).contains(&s) => "ok",
        Some(429) => "throttled",
        Some(s) if (400..500).contains(&s) => "client_error",
        Some(_) => "server_error",
    }
}

/// `/api/2/apps/123/parameters/9` → `/api/2/apps/{id}/parameters/{id}`: ids never become labels.
pub fn route_template(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
