//! Switchable failures, artificial latency and eventual-consistency lag.

use std::time::Duration;

use super::errors::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 `ThrottlingException` (retried by the SDK).
    Throttling,
    /// 429 `LimitExceededException` (Connect's quota error; the SDK also retries it).
    LimitExceeded,
    /// 500 `InternalServiceException` (retried by the SDK as a transient error).
    Internal,
    /// 200 with a JSON body cut off half-way (a broken proxy): the SDK cannot read it.
    Truncated,
    /// 502 with an HTML page, as a load balancer or proxy in the way sends: no error code.
    HtmlBadGateway,
}

impl Fault {
    pub fn error(self) -> ApiError {
        match self {
            Fault::Throttling => ApiError::throttling(),
            Fault::LimitExceeded => ApiError::limit_exceeded("The allowed limit for the resource has been exceeded"),
            Fault::Internal => ApiError::internal(),
            // Not an API error; see `response`.
            Fault::Truncated | Fault::HtmlBadGateway => ApiError::internal(),
        }
    }

    /// What the server sends for this fault.
    pub fn response(self) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        match self {
            Fault::Truncated => (
                axum::http::StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                "{\"Instance\": {\"Id\": \"0f1e2d3c-",
            )
                .into_response(),
            Fault::HtmlBadGateway => (
                axum::http::StatusCode::BAD_GATEWAY,
                [(axum::http::header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response(),
            other => other.error().into_response(),
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    fault: Fault,
    /// `None`: any operation.
    operation: Option<String>,
    remaining: u32,
}

#[derive(Debug, Default)]
pub struct FaultState {
    rules: Vec<Rule>,
    /// Slept before answering every request (benchmarks).
    pub latency: Duration,
    /// Users created through CreateUser stay out of ListUsers/SearchUsers for this many reads.
    pub visibility_lag: u32,
}

impl FaultState {
    pub fn add(&mut self, fault: Fault, operation: Option<&str>, times: u32) {
        if times > 0 {
            self.rules.push(Rule {
                fault,
                operation: operation.map(str::to_owned),
                remaining: times,
            });
        }
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Consumes one shot of the first rule matching `operation`, oldest rule first.
    pub fn take(&mut self, operation: &str) -> Option<Fault> {
        let idx = self
            .rules
            .iter()
            .position(|r| r.operation.as_deref().is_none_or(|op| op == operation))?;
        let rule = &mut self.rules[idx];
        rule.remaining -= 1;
        let fault = rule.fault;
        if rule.remaining == 0 {
            self.rules.remove(idx);
        }
        Some(fault)
    }

    pub fn pending(&self) -> u32 {
        self.rules.iter().map(|r| r.remaining).sum()
    }
}
