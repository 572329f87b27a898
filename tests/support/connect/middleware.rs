//! Per-request pipeline: name the operation, add latency, check SigV4 scope, inject faults, record.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header::AUTHORIZATION};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::accounting::CallRecord;
use super::auth;
use super::state::{Shared, lock, new_id};

pub const UNKNOWN: &str = "Unknown";

/// (operation, is_write) from method and path, mirroring the routes in `mod.rs`. Parsed here
/// rather than taken from the router because axum's `matched-path` feature is not enabled.
fn operation_of(method: &Method, path: &str) -> (&'static str, bool) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let op = match (method.as_str(), segments.as_slice()) {
        ("GET", ["instance", _]) => "DescribeInstance",
        ("GET", ["users-summary", _]) => "ListUsers",
        ("POST", ["search-users"]) => "SearchUsers",
        ("GET", ["users", _, _]) => "DescribeUser",
        ("PUT", ["users", _]) => return ("CreateUser", true),
        ("GET", ["security-profiles-summary", _]) => "ListSecurityProfiles",
        ("GET", ["routing-profiles-summary", _]) => "ListRoutingProfiles",
        _ => return (UNKNOWN, *method != Method::GET),
    };
    (op, false)
}

pub async fn pipeline(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let (operation, write) = operation_of(request.method(), request.uri().path());
    let latency = lock(&shared).faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let authorization = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let mut response = match auth::check(authorization) {
        Err(e) => e.into_response(),
        Ok(_) => {
            let fault = (operation != UNKNOWN)
                .then(|| lock(&shared).faults.take(operation))
                .flatten();
            match fault {
                Some(f) => f.response(),
                None => next.run(request).await,
            }
        }
    };
    // The SDK surfaces this as the request id of outputs and errors.
    if let Ok(id) = HeaderValue::from_str(&new_id()) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    lock(&shared).calls.push(CallRecord {
        operation,
        write,
        status: response.status().as_u16(),
    });
    if write
        && response.status().is_success()
        && let Some(hook) = super::AFTER_WRITE.get()
    {
        hook(operation);
    }
    response
}
