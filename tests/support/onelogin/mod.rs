//! In-process OneLogin API v2 test server (contract: shared/reference/onelogin-api.md).
//!
//! Start with [`OneLoginServer::start`]; point the client at [`OneLoginServer::base_url`].
//! The handle seeds and inspects tenant state, counts calls and switches faults at runtime.
#![allow(dead_code)]

mod accounting;
mod apps;
mod auth;
mod certs;
mod conn;
mod connectors;
mod errors;
mod faults;
mod format;
mod metadata;
mod middleware;
mod pagination;
mod query;
mod roles;
mod state;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::{delete, get, post};
use serde_json::Value;
use tokio::task::JoinHandle;

// Re-exports for tests; each test crate uses a different subset.
#[allow(unused_imports)]
pub use accounting::{CallRecord, CallStats};
#[allow(unused_imports)]
pub use certs::Certificate;
#[allow(unused_imports)]
pub use connectors::{AMAZON_CONNECT, AWS_MULTI_ROLE, SAML_CUSTOM_ADVANCED};
#[allow(unused_imports)]
pub use faults::{Canned, Fault, JsonEdit, RateLimitConfig, RateLimitStatus, Scope};
#[allow(unused_imports)]
pub use pagination::encode_cursor;
#[allow(unused_imports)]
pub use state::{App, NewUser, Parameter, User};

/// Called with `"METHOD /route"` after a mutating API call succeeded, before its answer is sent
/// (crash tests kill the operator here). Unset, nothing happens.
pub static AFTER_WRITE: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

use conn::{ConnHandle, ResettableListener};
use state::{Shared, Store};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub client_id: String,
    pub client_secret: String,
    pub account_id: i64,
    /// Token lifetime; `expires_in` reports it (36000 s like the real API).
    pub token_ttl: Duration,
    pub rate_limit: RateLimitConfig,
    /// Added to every request (benchmarks); see also [`OneLoginServer::set_latency`].
    pub latency: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            client_id: "test-client-id".into(),
            client_secret: "test-client-secret".into(),
            account_id: 555_555,
            token_ttl: Duration::from_secs(36_000),
            rate_limit: RateLimitConfig::default(),
            latency: Duration::ZERO,
        }
    }
}

/// A role's true (not lagged) state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub id: i64,
    pub name: String,
    pub apps: Vec<i64>,
    pub users: Vec<i64>,
    pub admins: Vec<i64>,
}

pub struct OneLoginServer {
    shared: Arc<Shared>,
    base_url: String,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for OneLoginServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/auth/oauth2/v2/token", post(auth::token))
        .route("/auth/rate_limit", get(auth::rate_limit))
        .route("/api/2/apps", get(apps::list).post(apps::create))
        .route(
            "/api/2/apps/{id}",
            get(apps::get).put(apps::update).delete(apps::delete),
        )
        .route(
            "/api/2/apps/{id}/parameters/{parameter_id}",
            delete(apps::delete_parameter),
        )
        .route("/api/2/apps/{id}/users", get(apps::users))
        .route("/api/2/connectors", get(apps::connectors))
        .route("/api/2/roles", get(roles::list).post(roles::create))
        .route(
            "/api/2/roles/{id}",
            get(roles::get).put(roles::update).delete(roles::delete),
        )
        .route("/api/2/roles/{id}/apps", get(roles::get_apps).put(roles::put_apps))
        .route(
            "/api/2/roles/{id}/users",
            get(roles::get_users).post(roles::add_users).delete(roles::remove_users),
        )
        .route("/api/2/users", get(users::list))
        .route("/api/2/users/{id}", get(users::get))
        .route("/api/2/users/{id}/apps", get(users::apps))
        .route("/saml/metadata/{uuid}", get(metadata::serve))
        .fallback(|| async { errors::ApiError::not_found() })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            middleware::pipeline,
        ))
        .with_state(shared)
}

impl OneLoginServer {
    /// Binds 127.0.0.1 on a free port and serves until the handle is dropped.
    pub async fn start(config: ServerConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let base_url = format!("http://{addr}");
        let auth = auth::AuthState::new(config.client_id, config.client_secret, config.token_ttl);
        let store = Store::new(
            base_url.clone(),
            config.account_id,
            auth,
            faults::RateBudget::new(config.rate_limit),
        )
        .expect("generate account certificate");
        let shared = Arc::new(Shared::new(store));
        shared.lock().faults.latency = config.latency;
        let app = router(shared.clone()).into_make_service_with_connect_info::<ConnHandle>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(ResettableListener(listener), app).await;
        });
        Self {
            shared,
            base_url,
            addr,
            task,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn client_id(&self) -> String {
        self.shared.lock().auth.client_id.clone()
    }

    pub fn client_secret(&self) -> String {
        self.shared.lock().auth.client_secret.clone()
    }

    // ---- users -------------------------------------------------------------------------

    pub fn add_user(&self, user: NewUser) -> i64 {
        self.shared.lock().add_user(user)
    }

    pub fn users(&self) -> Vec<User> {
        self.shared.lock().users.values().cloned().collect()
    }

    pub fn modify_user(&self, id: i64, f: impl FnOnce(&mut User)) -> bool {
        let mut store = self.shared.lock();
        let Some(user) = store.users.get_mut(&id) else {
            return false;
        };
        let before = user.updated_at;
        f(user);
        // A test may set updated_at itself (to seed old users); otherwise the change is now.
        if user.updated_at == before {
            user.updated_at = std::time::SystemTime::now();
        }
        true
    }

    pub fn remove_user(&self, id: i64) -> bool {
        self.shared.lock().remove_user(id)
    }

    // ---- apps --------------------------------------------------------------------------

    /// Creates an app as `POST /api/2/apps` would (not counted); `Err` is the API error body.
    pub fn create_app(&self, body: Value) -> Result<i64, Value> {
        let Value::Object(body) = body else {
            return Err(serde_json::json!("body must be an object"));
        };
        apps::create_app(&mut self.shared.lock(), &body).map_err(|e| e.body())
    }

    pub fn apps(&self) -> Vec<App> {
        self.shared.lock().apps.values().cloned().collect()
    }

    pub fn app(&self, id: i64) -> Option<App> {
        self.shared.lock().apps.get(&id).cloned()
    }

    /// The app exactly as `GET /api/2/apps/{id}` renders it.
    pub fn app_json(&self, id: i64) -> Option<Value> {
        let store = self.shared.lock();
        store.apps.get(&id).map(|app| apps::app_json(&store, app))
    }

    /// Out-of-band `PUT /api/2/apps/{id}` (same merge rules and validation, not counted).
    pub fn update_app(&self, id: i64, body: Value) -> Result<(), Value> {
        let Value::Object(body) = body else {
            return Err(serde_json::json!("body must be an object"));
        };
        apps::update_app(&mut self.shared.lock(), id, &body).map_err(|e| e.body())
    }

    /// Out-of-band edit with no validation (drift the operator must repair).
    pub fn modify_app(&self, id: i64, f: impl FnOnce(&mut App)) -> bool {
        let mut store = self.shared.lock();
        let Some(app) = store.apps.get_mut(&id) else {
            return false;
        };
        f(app);
        app.updated_at = SystemTime::now();
        true
    }

    pub fn delete_app(&self, id: i64) -> bool {
        self.shared.lock().remove_app(id)
    }

    // ---- roles -------------------------------------------------------------------------

    pub fn create_role(&self, name: &str) -> i64 {
        self.shared.lock().add_role(name)
    }

    pub fn roles(&self) -> Vec<RoleInfo> {
        self.shared.lock().roles.values().map(role_info).collect()
    }

    pub fn role(&self, id: i64) -> Option<RoleInfo> {
        self.shared.lock().roles.get(&id).map(role_info)
    }

    /// True membership (ignores eventual-consistency lag).
    pub fn role_users(&self, id: i64) -> Option<Vec<i64>> {
        self.role(id).map(|r| r.users)
    }

    pub fn role_apps(&self, id: i64) -> Option<Vec<i64>> {
        self.role(id).map(|r| r.apps)
    }

    pub fn add_role_users(&self, id: i64, user_ids: &[i64]) -> bool {
        let mut store = self.shared.lock();
        let Some(role) = store.roles.get_mut(&id) else {
            return false;
        };
        for u in user_ids {
            role.members.users.entry(*u).or_insert_with(SystemTime::now);
        }
        true
    }

    pub fn remove_role_users(&self, id: i64, user_ids: &[i64]) -> bool {
        let mut store = self.shared.lock();
        let Some(role) = store.roles.get_mut(&id) else {
            return false;
        };
        for u in user_ids {
            role.members.users.remove(u);
        }
        true
    }

    pub fn set_role_apps(&self, id: i64, app_ids: &[i64]) -> bool {
        let mut store = self.shared.lock();
        let Some(role) = store.roles.get_mut(&id) else {
            return false;
        };
        role.members.apps = app_ids.iter().copied().collect();
        true
    }

    pub fn delete_role(&self, id: i64) -> bool {
        self.shared.lock().roles.remove(&id).is_some()
    }

    // ---- SAML metadata and certificates -----------------------------------------------

    pub fn metadata_xml(&self, app_id: i64) -> Option<String> {
        let store = self.shared.lock();
        store.apps.get(&app_id).and_then(|app| metadata::render(&store, app))
    }

    pub fn app_certificate(&self, app_id: i64) -> Option<Certificate> {
        let store = self.shared.lock();
        let cert_id = store.apps.get(&app_id)?.certificate_id()?;
        store.certs.get(&cert_id).cloned()
    }

    /// Gives the app a fresh certificate (new id, new key); returns its id.
    pub fn rotate_app_certificate(&self, app_id: i64) -> Option<i64> {
        self.replace_certificate(app_id, "Rotated", SystemTime::now() + certs::DEFAULT_VALIDITY)
    }

    /// Gives the app a fresh certificate expiring at `not_after`; returns its id.
    pub fn set_app_certificate_not_after(&self, app_id: i64, not_after: SystemTime) -> Option<i64> {
        self.replace_certificate(app_id, "Expiring", not_after)
    }

    fn replace_certificate(&self, app_id: i64, name: &str, not_after: SystemTime) -> Option<i64> {
        let mut store = self.shared.lock();
        if !store.apps.contains_key(&app_id) {
            return None;
        }
        let id = store.add_certificate(name, not_after).ok()?;
        let app = store.apps.get_mut(&app_id)?;
        app.configuration.insert("certificate_id".into(), Value::from(id));
        app.updated_at = SystemTime::now();
        Some(id)
    }

    // ---- call accounting ---------------------------------------------------------------

    pub fn calls(&self) -> CallStats {
        self.shared.lock().calls.clone()
    }

    /// Requests for `"METHOD /route/{template}"`, e.g. `"GET /api/2/apps/{id}"`.
    pub fn call_count(&self, key: &str) -> usize {
        self.shared.lock().calls.count(key)
    }

    pub fn reset_calls(&self) {
        self.shared.lock().calls.clear();
    }

    // ---- faults ------------------------------------------------------------------------

    /// The next `times` requests matching `scope` get `fault` (rules apply in insertion order).
    pub fn fail_next(&self, times: u32, fault: Fault, scope: Scope) {
        self.shared.lock().faults.push(fault, scope, times);
    }

    /// Fault uses not yet consumed.
    pub fn pending_faults(&self) -> u32 {
        self.shared.lock().faults.pending()
    }

    /// Removes pending faults and the added latency.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Added to every request (benchmarks).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().faults.latency = latency;
    }

    /// After each membership write, the next `reads` role apps/users reads still show the old state.
    pub fn set_membership_lag(&self, reads: u32) {
        self.shared.lock().membership_lag = reads;
    }

    /// Replaces the budget and starts a new window.
    pub fn set_rate_limit(&self, config: RateLimitConfig) {
        self.shared.lock().rate.reconfigure(config);
    }

    pub fn rate_limit_status(&self) -> RateLimitStatus {
        self.shared.lock().rate.status()
    }

    // ---- tokens ------------------------------------------------------------------------

    /// Invalidates the current token; the token endpoint mints a new one next time.
    pub fn revoke_token(&self) {
        self.shared.lock().auth.token = None;
    }

    /// Lets the current token expire now; the token endpoint mints a new one next time.
    pub fn expire_token(&self) {
        let mut store = self.shared.lock();
        let ttl = store.auth.ttl;
        if let Some(t) = store.auth.token.as_mut() {
            t.created = SystemTime::now().checked_sub(ttl).unwrap_or(SystemTime::UNIX_EPOCH);
        }
    }

    /// Replaces the credential pair; the old pair and its token stop working.
    pub fn set_credentials(&self, client_id: &str, client_secret: &str) {
        let mut store = self.shared.lock();
        store.auth.client_id = client_id.to_owned();
        store.auth.client_secret = client_secret.to_owned();
        store.auth.token = None;
    }

    pub fn tokens_issued(&self) -> u32 {
        self.shared.lock().auth.tokens_issued
    }
}

fn role_info(r: &state::Role) -> RoleInfo {
    RoleInfo {
        id: r.id,
        name: r.name.clone(),
        apps: r.members.apps.iter().copied().collect(),
        users: r.members.users.keys().copied().collect(),
        admins: r.admins.iter().copied().collect(),
    }
}
