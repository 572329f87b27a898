//! Switchable failures and the rate-limit budget.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429; with `rate_limit_headers` the response carries `X-RateLimit-*` (Remaining 0).
    TooManyRequests { rate_limit_headers: bool, reset_secs: u64 },
    /// A bare error status such as 500, 502, 503 or 504.
    Status(u16),
    /// Answer normally, but only after this delay.
    Delay(Duration),
    /// 401 even though the token is valid (e.g. another replica revoked it).
    Unauthorized,
    /// Drop the connection with a TCP RST; `after_processing` applies the request first
    /// (the client cannot tell whether its write happened).
    ConnectionReset { after_processing: bool },
    /// Answer with this instead of the real response (the handler does not run).
    Serve(Canned),
    /// Let the handler run, then change its JSON body (answers that are not JSON pass through).
    EditJson(Vec<JsonEdit>),
    /// Let the handler run, then replace each `from` with `to` in its body (e.g. the metadata XML).
    EditText(Vec<(String, String)>),
    /// Let the handler run, then send an `After-Cursor`: always this one, or with `None` a new one
    /// on every answer (a listing that never ends).
    AfterCursor(Option<String>),
}

/// A hostile or broken answer: any status, content type and bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Canned {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
    /// Stream the body in chunks without a `Content-Length`.
    pub chunked: bool,
}

impl Canned {
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type: content_type.to_owned(),
            body: body.into(),
            chunked: false,
        }
    }

    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
}

/// One change to a JSON answer, at a JSON pointer (`""` is the whole body).
#[derive(Debug, Clone, PartialEq)]
pub enum JsonEdit {
    /// Replace the value (the parent must exist).
    Set(String, Value),
    /// Turn the value into a string of its JSON text (`12` becomes `"12"`).
    Stringify(String),
}

impl JsonEdit {
    pub fn apply(&self, body: &mut Value) {
        let (pointer, new) = match self {
            JsonEdit::Set(pointer, value) => (pointer, value.clone()),
            JsonEdit::Stringify(pointer) => match body.pointer(pointer) {
                Some(Value::String(_)) | None => return,
                Some(other) => (pointer, Value::String(other.to_string())),
            },
        };
        if let Some(slot) = body.pointer_mut(pointer) {
            *slot = new;
        }
    }
}

/// Which requests a fault may hit.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    All,
    /// `/api/2/*`.
    Api,
    /// `POST /auth/oauth2/v2/token`.
    Token,
    /// `GET /saml/metadata/{uuid}`.
    Metadata,
    /// Non-GET requests on `/api/2/*`.
    Writes,
    /// One route, as `"GET /api/2/apps/{id}"`.
    Route(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    Token,
    /// `/auth/*` other than the token endpoint (Bearer-protected, v1 error shape).
    AuthResource,
    Api,
    Metadata,
    Other,
}

pub fn classify(path: &str) -> RouteClass {
    if path == "/auth/oauth2/v2/token" {
        RouteClass::Token
    } else if path.starts_with("/auth/") {
        RouteClass::AuthResource
    } else if path.starts_with("/api/2/") || path == "/api/2" {
        RouteClass::Api
    } else if path.starts_with("/saml/metadata/") {
        RouteClass::Metadata
    } else {
        RouteClass::Other
    }
}

impl Scope {
    pub fn matches(&self, class: RouteClass, key: &str, write: bool) -> bool {
        match self {
            Scope::All => true,
            Scope::Api => class == RouteClass::Api,
            Scope::Token => class == RouteClass::Token,
            Scope::Metadata => class == RouteClass::Metadata,
            Scope::Writes => write,
            Scope::Route(route) => route == key,
        }
    }
}

#[derive(Debug, Default)]
pub struct FaultState {
    rules: Vec<(Fault, Scope, u32)>,
    /// Added to every request (benchmarks simulating WAN latency).
    pub latency: Duration,
}

impl FaultState {
    pub fn push(&mut self, fault: Fault, scope: Scope, times: u32) {
        if times > 0 {
            self.rules.push((fault, scope, times));
        }
    }

    pub fn clear(&mut self) {
        self.rules.clear();
        self.latency = Duration::ZERO;
    }

    pub fn pending(&self) -> u32 {
        self.rules.iter().map(|(_, _, n)| n).sum()
    }

    /// Consumes one use of the first rule matching this request, in the order rules were added.
    pub fn take(&mut self, class: RouteClass, key: &str, write: bool) -> Option<Fault> {
        let idx = self
            .rules
            .iter()
            .position(|(_, scope, _)| scope.matches(class, key, write))?;
        let fault = self.rules[idx].0.clone();
        self.rules[idx].2 -= 1;
        if self.rules[idx].2 == 0 {
            self.rules.remove(idx);
        }
        Some(fault)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub limit: u32,
    pub window: Duration,
    /// When false the headers still count down but nothing is refused.
    pub enforce: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            limit: 5000,
            window: Duration::from_secs(3600),
            enforce: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the budget resets (not an epoch).
    pub reset_secs: u64,
}

#[derive(Debug)]
pub struct RateBudget {
    config: RateLimitConfig,
    used: u32,
    window_start: Instant,
}

impl RateBudget {
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            used: 0,
            window_start: Instant::now(),
        }
    }

    pub fn reconfigure(&mut self, config: RateLimitConfig) {
        *self = Self::new(config);
    }

    fn roll(&mut self) {
        if self.window_start.elapsed() >= self.config.window {
            self.used = 0;
            self.window_start = Instant::now();
        }
    }

    pub fn status(&mut self) -> RateLimitStatus {
        self.roll();
        let left = self.config.window.saturating_sub(self.window_start.elapsed());
        RateLimitStatus {
            limit: self.config.limit,
            remaining: self.config.limit.saturating_sub(self.used),
            reset_secs: left.as_secs() + u64::from(left.subsec_nanos() > 0),
        }
    }

    /// Spends one call; `Err` (with Remaining 0) when the enforced budget is exhausted.
    pub fn spend(&mut self) -> Result<RateLimitStatus, RateLimitStatus> {
        self.roll();
        if self.config.enforce && self.used >= self.config.limit {
            return Err(self.status());
        }
        self.used = self.used.saturating_add(1);
        Ok(self.status())
    }
}
