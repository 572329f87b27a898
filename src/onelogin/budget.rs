//! One client-side call budget for every OneLogin call of the process, shared by both
//! controllers, plus the server's own rate-limit headers. When either says stop, callers wait.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket refilled evenly over the hour.
#[derive(Debug)]
pub struct RateBudget {
    per_hour: u32,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled: Instant,
    /// The server said the account's limit is used up until this instant.
    server_pause_until: Option<Instant>,
    /// Last `X-RateLimit-Remaining` seen, for metrics and tests.
    server_remaining: Option<u64>,
}

impl RateBudget {
    /// `per_hour` calls per hour, at most `burst` at once.
    pub fn new(per_hour: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateBudget {
            per_hour: per_hour.max(1),
            burst,
            state: Mutex::new(State {
                tokens: burst,
                refilled: Instant::now(),
                server_pause_until: None,
                server_remaining: None,
            }),
        }
    }

    /// Takes one call from the budget, or says how long to wait for it.
    pub fn try_take(&self) -> Result<(), Duration> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(until) = s.server_pause_until {
            if until > now {
                return Err(until - now);
            }
            s.server_pause_until = None;
        }
        let rate = f64::from(self.per_hour) / 3600.0;
        s.tokens = (s.tokens + now.duration_since(s.refilled).as_secs_f64() * rate).min(self.burst);
        s.refilled = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - s.tokens) / rate))
        }
    }

    /// Waits until a call may be made.
    pub async fn take(&self) {
        while let Err(wait) = self.try_take() {
            tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
        }
    }

    /// Records the server's `X-RateLimit-Remaining` / `X-RateLimit-Reset` (seconds to reset).
    pub fn note_server_limits(&self, remaining: Option<u64>, reset_seconds: Option<u64>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if remaining.is_some() {
            s.server_remaining = remaining;
        }
        if remaining == Some(0) {
            let wait = Duration::from_secs(reset_seconds.unwrap_or(60).clamp(1, 3600));
            s.server_pause_until = Some(Instant::now() + wait);
        }
    }

    /// Makes every caller wait `for_` (after a 429 whose reset we know).
    pub fn pause(&self, for_: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let until = Instant::now() + for_;
        if s.server_pause_until.is_none_or(|u| u < until) {
            s.server_pause_until = Some(until);
        }
    }

    pub fn server_remaining(&self) -> Option<u64> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).server_remaining
    }
}
