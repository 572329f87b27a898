//! OneLogin failures, parsed from any of the API's three error shapes, with the request id.

use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

#[derive(Clone, Debug, Error)]
pub enum OneLoginError {
    #[error("OneLogin apiUrl {url:?} {problem}")]
    InvalidApiUrl { url: String, problem: &'static str },
    #[error(
        "OneLogin refused the API credentials (HTTP {status}{}): {message}. Check clientId and clientSecret in the Secret",
        rid(.request_id)
    )]
    BadCredentials {
        status: u16,
        message: String,
        request_id: Option<String>,
    },
    #[error(
        "OneLogin denied {method} {path} (HTTP 403{}): {message}. The API credential needs the Manage All scope",
        rid(.request_id)
    )]
    Forbidden {
        method: &'static str,
        path: String,
        message: String,
        request_id: Option<String>,
    },
    #[error("OneLogin {method} {path} failed: HTTP {status} {name}: {message}{}", rid(.request_id))]
    Api {
        method: &'static str,
        path: String,
        status: u16,
        name: String,
        message: String,
        request_id: Option<String>,
    },
    #[error("OneLogin's rate limit is used up; calls resume when it resets")]
    RateLimited { retry_after: Duration },
    #[error("OneLogin did not answer {method} {path}: {detail}")]
    Transport {
        method: &'static str,
        path: String,
        detail: String,
    },
    #[error("OneLogin's answer to {method} {path} cannot be read: {detail}")]
    BadResponse {
        method: &'static str,
        path: String,
        detail: String,
    },
}

fn rid(request_id: &Option<String>) -> String {
    request_id
        .as_ref()
        .map(|r| format!(", request id {r}"))
        .unwrap_or_default()
}

impl OneLoginError {
    /// The message without the request id, which differs on every call: conditions must not
    /// change (and so trigger another reconcile) when nothing but the id changed.
    pub fn stable_message(&self) -> String {
        let mut e = self.clone();
        match &mut e {
            OneLoginError::BadCredentials { request_id, .. }
            | OneLoginError::Forbidden { request_id, .. }
            | OneLoginError::Api { request_id, .. } => *request_id = None,
            _ => {}
        }
        e.to_string()
    }

    /// Stable reason for conditions, events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            OneLoginError::InvalidApiUrl { .. } => "InvalidCredentialsSecret",
            OneLoginError::BadCredentials { .. } => "OneLoginUnauthorized",
            OneLoginError::Forbidden { .. } => "OneLoginForbidden",
            OneLoginError::Api { status, .. } if *status < 500 => "OneLoginRejected",
            OneLoginError::Api { .. } | OneLoginError::Transport { .. } => "OneLoginUnavailable",
            OneLoginError::RateLimited { .. } => "OneLoginRateLimited",
            OneLoginError::BadResponse { .. } => "OneLoginBadResponse",
        }
    }

    /// Errors that retrying cannot fix: they wait for a person to change the spec or Secret.
    pub fn is_terminal(&self) -> bool {
        match self {
            OneLoginError::InvalidApiUrl { .. } | OneLoginError::BadCredentials { .. } => true,
            OneLoginError::Forbidden { .. } => true,
            OneLoginError::Api { status, .. } => matches!(status, 400 | 422),
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, OneLoginError::Api { status: 404, .. })
    }
}

/// The `name` and `message` of a failure, from whichever shape the body has:
/// `{"message","statusCode","name"}`, `{"status":400,"error","description"}` or
/// `{"status":{"error":true,"code","type","message"}}`. Bodies that are not JSON (HTML error
/// pages from a proxy) are summarised, never echoed whole.
pub fn parse_error_body(status: u16, body: &str) -> (String, String) {
    let fallback_name = format!("HTTP{status}");
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        let snippet: String = body.chars().filter(|c| !c.is_control()).take(120).collect();
        let message = if snippet.trim().is_empty() {
            "no error text".to_string()
        } else {
            snippet
        };
        return (fallback_name, message);
    };
    let text = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => Some(
                o.get("description")
                    .or_else(|| o.get("message"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
            ),
            other => Some(other.to_string()),
        }
    };
    if let Some(status_obj) = v.get("status").filter(|s| s.is_object()) {
        let name = text(status_obj.get("type")).unwrap_or(fallback_name);
        let message = text(status_obj.get("message")).unwrap_or_default();
        return (name, message);
    }
    let name = text(v.get("name"))
        .or_else(|| text(v.get("error")))
        .unwrap_or(fallback_name);
    let message = text(v.get("message"))
        .or_else(|| text(v.get("description")))
        .unwrap_or_default();
    (name, message)
}
