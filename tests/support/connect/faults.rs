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
}

impl Fault {
    pub fn error(self) -> ApiError {
        match self {
            Fault::Throttling => ApiError::throttling(),
            Fault::LimitExceeded => ApiError::limit_exceeded("The allowed limit for the resource has been exceeded"),
            Fault::Internal => ApiError::internal(),
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
