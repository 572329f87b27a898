//! In-process Amazon Connect test server speaking the REST-JSON protocol of `aws-sdk-connect`
//! (moto has no Connect user APIs). Covers DescribeInstance, ListUsers, SearchUsers, DescribeUser,
//! CreateUser, ListSecurityProfiles and ListRoutingProfiles.
//!
//! Start with [`ConnectServer::start`] inside a tokio runtime and point a Connect client at
//! [`ConnectServer::endpoint`]. The handle seeds and inspects state, counts calls and injects faults.
#![allow(dead_code)]

mod accounting;
mod auth;
mod errors;
mod faults;
mod instances;
mod middleware;
mod pagination;
mod profiles;
mod search;
mod state;
mod users;
mod validation;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::task::JoinHandle;

#[allow(unused_imports)]
pub use accounting::CallRecord;
#[allow(unused_imports)]
pub use faults::Fault;
#[allow(unused_imports)]
pub use state::{Created, IdentityManagementType, InstanceSpec, NewUser, User};

use state::{ProfileKind, Shared, Store, UserExtra, lock};

/// Called with the operation name (`CreateUser`) after a mutating call succeeded, before its answer
/// is sent (crash tests kill the operator here). Unset, nothing happens.
pub static AFTER_WRITE: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

pub struct ConnectServer {
    shared: Shared,
    endpoint: String,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for ConnectServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/instance/{InstanceId}", get(instances::describe))
        .route("/users-summary/{InstanceId}", get(users::list))
        .route("/search-users", post(search::search))
        .route("/users/{InstanceId}/{UserId}", get(users::describe))
        .route("/users/{InstanceId}", axum::routing::put(users::create))
        .route("/security-profiles-summary/{InstanceId}", get(profiles::list_security))
        .route("/routing-profiles-summary/{InstanceId}", get(profiles::list_routing))
        .fallback(|| async { errors::ApiError::unknown_operation() })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            middleware::pipeline,
        ))
        .with_state(shared)
}

impl ConnectServer {
    /// Binds 127.0.0.1 on a free port and serves on the current tokio runtime until dropped.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let shared: Shared = Arc::new(Mutex::new(Store::new()));
        let app = router(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            shared,
            endpoint: format!("http://{addr}"),
            addr,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    // ---- seeding and inspection ---------------------------------------------------------

    /// ARN `arn:aws:connect:<region>:<account>:instance/<uuid>`.
    pub fn add_instance(&self, spec: InstanceSpec) -> Created {
        lock(&self.shared).add_instance(spec)
    }

    pub fn add_security_profile(&self, instance: &str, name: &str) -> Created {
        lock(&self.shared)
            .add_profile(instance, ProfileKind::Security, name)
            .unwrap_or_else(|| panic!("no instance {instance}"))
    }

    pub fn add_routing_profile(&self, instance: &str, name: &str) -> Created {
        lock(&self.shared)
            .add_profile(instance, ProfileKind::Routing, name)
            .unwrap_or_else(|| panic!("no instance {instance}"))
    }

    /// Seeds a user without CreateUser's validation; immediately visible everywhere.
    pub fn add_user(&self, instance: &str, user: NewUser) -> Created {
        lock(&self.shared)
            .insert_user(instance, user, UserExtra::default(), 0)
            .unwrap_or_else(|| panic!("no instance {instance}"))
    }

    /// True state in creation order, including users still hidden by the visibility lag.
    pub fn users(&self, instance: &str) -> Vec<User> {
        lock(&self.shared)
            .instance(instance)
            .map(|i| i.users.clone())
            .unwrap_or_default()
    }

    /// Simulates a user deleted out of band (e.g. by an administrator).
    pub fn remove_user(&self, instance: &str, user_id: &str) -> bool {
        let mut store = lock(&self.shared);
        let Some(inst) = store.instance_mut(instance) else {
            return false;
        };
        let before = inst.users.len();
        inst.users.retain(|u| u.id != user_id);
        inst.users.len() != before
    }

    /// DescribeInstance answers `field` as `value` for this instance (`null` leaves it out), e.g.
    /// an `IdentityManagementType` this SDK version does not know.
    pub fn override_instance_field(&self, instance: &str, field: &str, value: serde_json::Value) {
        let mut store = lock(&self.shared);
        let Some(id) = store.instance(instance).map(|i| i.id.clone()) else {
            panic!("no instance {instance}");
        };
        store
            .instance_overrides
            .entry(id)
            .or_default()
            .insert(field.to_owned(), value);
    }

    // ---- call accounting ----------------------------------------------------------------

    /// Requests by operation name (`"ListUsers"`), including throttled and rejected ones.
    pub fn call_count(&self, operation: &str) -> usize {
        lock(&self.shared).calls.count(operation)
    }

    /// Requests to write operations (CreateUser).
    pub fn write_count(&self) -> usize {
        lock(&self.shared).calls.writes()
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        lock(&self.shared).calls.records()
    }

    pub fn reset_counts(&self) {
        lock(&self.shared).calls.clear();
    }

    // ---- faults and timing --------------------------------------------------------------

    /// The next `times` requests (any operation) get 429 `ThrottlingException`.
    pub fn throttle_next(&self, times: u32) {
        self.fail_next(Fault::Throttling, None, times);
    }

    /// The next `times` requests to `operation` (or any, with `None`) fail with `fault`.
    pub fn fail_next(&self, fault: Fault, operation: Option<&str>, times: u32) {
        lock(&self.shared).faults.add(fault, operation, times);
    }

    /// Injected failures not yet served.
    pub fn pending_faults(&self) -> u32 {
        lock(&self.shared).faults.pending()
    }

    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// Users created by CreateUser from now on are missing from ListUsers/SearchUsers on that
    /// instance for the next `reads` calls (each page is one read); DescribeUser sees them at once.
    pub fn set_visibility_lag(&self, reads: u32) {
        lock(&self.shared).faults.visibility_lag = reads;
    }

    /// Delay added to every request (benchmarks).
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared).faults.latency = latency;
    }

    /// CreateUser answers 429 `LimitExceededException` once an instance has this many users.
    pub fn set_user_quota(&self, quota: Option<usize>) {
        lock(&self.shared).user_quota = quota;
    }
}
