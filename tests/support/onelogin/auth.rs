//! OAuth2 client-credentials token endpoint, Bearer checks and `GET /auth/rate_limit`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::errors::ApiError;
use super::format;
use super::query::Params;
use super::state::Shared;

#[derive(Debug, Clone)]
pub struct Token {
    pub value: String,
    /// Deprecated in v2 but still present in the response.
    pub refresh: String,
    pub created: SystemTime,
}

#[derive(Debug)]
pub struct AuthState {
    pub client_id: String,
    pub client_secret: String,
    pub ttl: Duration,
    /// The single valid token; a new credential pair or revocation clears it.
    pub token: Option<Token>,
    pub tokens_issued: u32,
}

impl AuthState {
    pub fn new(client_id: String, client_secret: String, ttl: Duration) -> Self {
        Self {
            client_id,
            client_secret,
            ttl,
            token: None,
            tokens_issued: 0,
        }
    }

    fn live_token(&self) -> Option<&Token> {
        self.token
            .as_ref()
            .filter(|t| t.created.elapsed().map(|age| age < self.ttl).unwrap_or(true))
    }

    /// Same token until it expires or is revoked (reference §1.2).
    fn issue(&mut self) -> Token {
        if let Some(t) = self.live_token() {
            return t.clone();
        }
        let token = Token {
            value: format::random_hex(32),
            refresh: format::random_hex(32),
            created: SystemTime::now(),
        };
        self.token = Some(token.clone());
        self.tokens_issued += 1;
        token
    }

    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let value = value.trim();
        // `Bearer <t>`, `bearer <t>` and the v1 `bearer:<t>` form.
        let presented = match value.get(..6) {
            Some(scheme) if scheme.eq_ignore_ascii_case("bearer") => value[6..].trim_start_matches(':').trim(),
            _ => return false,
        };
        self.live_token()
            .is_some_and(|t| !presented.is_empty() && t.value == presented)
    }
}

/// Credentials from Basic auth, the legacy `client_id:…, client_secret:…` header, or a form body.
fn presented_credentials(headers: &HeaderMap, form: &Params) -> Option<(String, String)> {
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let auth = auth.trim();
        if auth
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic "))
        {
            let decoded = STANDARD.decode(auth[6..].trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (id, secret) = decoded.split_once(':')?;
            return Some((id.to_owned(), secret.to_owned()));
        }
        let mut id = None;
        let mut secret = None;
        for part in auth.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("client_id:") {
                id = Some(v.trim().to_owned());
            } else if let Some(v) = part.strip_prefix("client_secret:") {
                secret = Some(v.trim().to_owned());
            }
        }
        if let (Some(id), Some(secret)) = (id, secret) {
            return Some((id, secret));
        }
    }
    Some((form.get("client_id")?.to_owned(), form.get("client_secret")?.to_owned()))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

pub async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let form = if is_form(&headers) {
        Params::parse(Some(&text))
    } else {
        Params::default()
    };
    let grant_type = if is_form(&headers) {
        form.get("grant_type").map(str::to_owned)
    } else {
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("grant_type").and_then(Value::as_str).map(str::to_owned))
    };

    let mut store = shared.lock();
    let ok = presented_credentials(&headers, &form)
        .is_some_and(|(id, secret)| id == store.auth.client_id && secret == store.auth.client_secret);
    if !ok {
        return ApiError::v1_unauthorized().into_response();
    }
    if grant_type.as_deref() != Some("client_credentials") {
        return ApiError::v1_bad_request("grant_type is incorrect/absent").into_response();
    }
    let account_id = store.account_id;
    let ttl = store.auth.ttl.as_secs();
    let t = store.auth.issue();
    axum::Json(json!({
        "access_token": t.value,
        "created_at": format::rfc3339_millis(t.created),
        "expires_in": ttl,
        "refresh_token": t.refresh,
        "token_type": "bearer",
        "account_id": account_id,
    }))
    .into_response()
}

pub async fn rate_limit(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.lock().rate.status();
    axum::Json(json!({
        "status": {"error": false, "code": 200, "type": "success", "message": "Success"},
        "data": {
            "X-RateLimit-Limit": status.limit,
            "X-RateLimit-Remaining": status.remaining,
            "X-RateLimit-Reset": status.reset_secs,
        }
    }))
    .into_response()
}
