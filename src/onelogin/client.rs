//! The HTTP core of the OneLogin client: base URL, token, retries, rate limits, pagination.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;

use super::budget::RateBudget;
use super::error::{OneLoginError, parse_error_body};
use crate::telemetry::metrics::{metrics, outcome_of, route_template};

/// What the credentials Secret holds. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub api_url: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("api_url", &self.api_url)
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Allow `http://` base URLs on loopback addresses. For tests only.
    pub allow_loopback_http: bool,
    pub request_timeout: Duration,
    /// Attempts for a call that fails with 429, 5xx or a transport error.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest a call waits on its own for a 429's reset before giving up to the reconciler.
    pub max_rate_limit_wait: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            allow_loopback_http: false,
            request_timeout: Duration::from_secs(30),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            max_rate_limit_wait: Duration::from_secs(60),
        }
    }
}

/// Most bytes read from any answer: bounds memory whatever a server sends.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Most pages followed in one listing: a cursor that never ends is an error, not a loop.
pub const MAX_PAGES: usize = 2_000;

struct Token {
    value: String,
    renew_after: Instant,
}

/// A OneLogin API client for one set of credentials. Cheap to clone; clones share the token.
#[derive(Clone)]
pub struct OneLoginClient {
    http: reqwest::Client,
    base: String,
    credentials: Arc<Credentials>,
    token: Arc<Mutex<Option<Token>>>,
    budget: Arc<RateBudget>,
    options: ClientOptions,
}

impl fmt::Debug for OneLoginClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneLoginClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A raw answer: status, headers and body, after retries.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl OneLoginClient {
    pub fn new(
        credentials: Credentials,
        options: ClientOptions,
        budget: Arc<RateBudget>,
    ) -> Result<Self, OneLoginError> {
        let base = validate_base_url(&credentials.api_url, options.allow_loopback_http)?;
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| OneLoginError::Transport {
                method: "INIT",
                path: String::new(),
                detail: e.to_string(),
            })?;
        Ok(OneLoginClient {
            http,
            base,
            credentials: Arc::new(credentials),
            token: Default::default(),
            budget,
            options,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Identifies the OneLogin account and credential (never the secret), for caches.
    pub fn account_key(&self) -> String {
        format!("{}#{}", self.base, self.credentials.client_id)
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// A JSON call to `/api/2/...`; 404 and other failures come back as errors.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, OneLoginError> {
        let answer = self.send(method.clone(), path, query, body).await?;
        decode(method_name(&method), path, &answer.body)
    }

    /// Like `call`, with 404 as `None`.
    pub async fn call_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, OneLoginError> {
        match self.call(Method::GET, path, &[], None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A call whose success has no body of interest (204 deletes). 404 counts as done when
    /// `missing_ok`.
    pub async fn call_empty(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        missing_ok: bool,
    ) -> Result<(), OneLoginError> {
        match self.send(method, path, &[], body).await {
            Ok(_) => Ok(()),
            Err(e) if missing_ok && e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every item of a list endpoint: the first page with `limit`, then only `cursor` (the API
    /// refuses both together), until `After-Cursor` is absent.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(&str, String)],
        limit: u32,
    ) -> Result<Vec<T>, OneLoginError> {
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.push(("limit", limit.to_string()));
        let mut out = Vec::new();
        let mut seen_cursors = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let answer = self.send(Method::GET, path, &query, None).await?;
            let page: Vec<T> = decode("GET", path, &answer.body)?;
            out.extend(page);
            let cursor = header_str(&answer.headers, "after-cursor").filter(|c| !c.is_empty());
            let Some(cursor) = cursor else { return Ok(out) };
            if !seen_cursors.insert(cursor.clone()) {
                return Err(bad_response("GET", path, "the same page cursor came back twice"));
            }
            query = filters.to_vec();
            query.push(("cursor", cursor));
        }
        Err(bad_response("GET", path, &format!("more than {MAX_PAGES} pages")))
    }

    /// The app's SAML metadata: public, fetched without credentials, size-limited.
    pub async fn fetch_public(&self, url: &str, max_bytes: usize) -> Result<String, OneLoginError> {
        // The URL comes from OneLogin's answer, not from the Secret: a bad one is a bad answer.
        // (`InvalidApiUrl` would blame the Secret's apiUrl and stall the resource.)
        validate_base_url(url, self.options.allow_loopback_http).map_err(|e| match e {
            OneLoginError::InvalidApiUrl { url: shown, problem } => bad_response(
                "GET",
                "sso.metadata_url",
                &format!("the metadata URL {shown:?} {problem}"),
            ),
            other => other,
        })?;
        let path = url.to_string();
        let transport = |e: reqwest::Error| OneLoginError::Transport {
            method: "GET",
            path: path.clone(),
            detail: e.to_string(),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.http.get(url).send().await;
            let retry = match &result {
                Ok(r) => is_retryable(r.status()),
                Err(_) => true,
            };
            if retry && attempt < self.options.max_attempts {
                tokio::time::sleep(self.backoff(attempt)).await;
                continue;
            }
            let response = result.map_err(transport)?;
            let status = response.status();
            let body = read_limited(response, max_bytes)
                .await
                .map_err(|detail| bad_response("GET", url, &detail))?;
            if !status.is_success() {
                let (name, message) = parse_error_body(status.as_u16(), &String::from_utf8_lossy(&body));
                return Err(OneLoginError::Api {
                    method: "GET",
                    path,
                    status: status.as_u16(),
                    name,
                    message,
                    request_id: None,
                });
            }
            return String::from_utf8(body).map_err(|_| bad_response("GET", url, "not UTF-8"));
        }
    }

    /// Sends one logical call: budget, token, retries with backoff and jitter, one token renewal
    /// on 401, rate-limit headers noted.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, OneLoginError> {
        let name = method_name(&method);
        let url = format!("{}{path}", self.base);
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.budget.take().await;
            let token = self.token(false).await?;
            let mut request = self.http.request(method.clone(), &url).bearer_auth(&token).query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            let operation = format!("{name} {}", route_template(path));
            let response = match request.send().await {
                Ok(r) => {
                    metrics().external_call("onelogin", &operation, outcome_of(Some(r.status().as_u16())));
                    r
                }
                // A POST that may have reached the server (timeout, reset) is not sent again: it
                // could create a second app or role. The reconciler reads before it writes, so its
                // next pass finds what this one made.
                Err(e) if attempt < self.options.max_attempts && (method != Method::POST || e.is_connect()) => {
                    metrics().external_call("onelogin", &operation, outcome_of(None));
                    tracing::debug!(method = name, path, error = %e, "OneLogin call failed; retrying");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
                Err(e) => {
                    return Err(OneLoginError::Transport {
                        method: name,
                        path: path.to_string(),
                        detail: e.to_string(),
                    });
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            self.note_limits(&headers);
            let body = read_limited(response, MAX_RESPONSE_BYTES)
                .await
                .map_err(|d| bad_response(name, path, &d))?;
            if status.is_success() {
                return Ok(Answer { status, headers, body });
            }
            let request_id = header_str(&headers, "x-request-id");
            if status == StatusCode::UNAUTHORIZED && !renewed {
                // A revoked or expired token: renew once, then believe the server.
                renewed = true;
                self.token(true).await?;
                continue;
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                let reset = header_u64(&headers, "x-ratelimit-reset").map(Duration::from_secs);
                let wait = reset.unwrap_or_else(|| self.backoff(attempt));
                if attempt >= self.options.max_attempts || wait > self.options.max_rate_limit_wait {
                    self.budget.pause(wait);
                    return Err(OneLoginError::RateLimited { retry_after: wait });
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            // Likewise a POST answered 500, 502 or 504 may have been carried out; 503 means it was not.
            let may_have_happened = method == Method::POST && status != StatusCode::SERVICE_UNAVAILABLE;
            if is_retryable(status) && !may_have_happened && attempt < self.options.max_attempts {
                tokio::time::sleep(self.backoff(attempt)).await;
                continue;
            }
            let (err_name, message) = parse_error_body(status.as_u16(), &String::from_utf8_lossy(&body));
            return Err(match status.as_u16() {
                401 => OneLoginError::BadCredentials {
                    status: 401,
                    message,
                    request_id,
                },
                403 => OneLoginError::Forbidden {
                    method: name,
                    path: path.to_string(),
                    message,
                    request_id,
                },
                code => OneLoginError::Api {
                    method: name,
                    path: path.to_string(),
                    status: code,
                    name: err_name,
                    message,
                    request_id,
                },
            });
        }
    }

    /// The cached token, or a new one when it is near expiry or `renew` is set.
    async fn token(&self, renew: bool) -> Result<String, OneLoginError> {
        let mut guard = self.token.lock().await;
        if !renew && let Some(t) = guard.as_ref().filter(|t| t.renew_after > Instant::now()) {
            return Ok(t.value.clone());
        }
        let path = "/auth/oauth2/v2/token";
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.credentials.client_id, Some(&self.credentials.client_secret))
            .json(&serde_json::json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .map_err(|e| OneLoginError::Transport {
                method: "POST",
                path: path.into(),
                detail: e.to_string(),
            })?;
        let status = response.status();
        metrics().external_call(
            "onelogin",
            "POST /auth/oauth2/v2/token",
            outcome_of(Some(status.as_u16())),
        );
        let request_id = header_str(response.headers(), "x-request-id");
        let body = read_limited(response, 64 * 1024)
            .await
            .map_err(|d| bad_response("POST", path, &d))?;
        if !status.is_success() {
            let (name, message) = parse_error_body(status.as_u16(), &String::from_utf8_lossy(&body));
            return Err(match status.as_u16() {
                400 | 401 | 403 | 404 => OneLoginError::BadCredentials {
                    status: status.as_u16(),
                    message,
                    request_id,
                },
                code => OneLoginError::Api {
                    method: "POST",
                    path: path.into(),
                    status: code,
                    name,
                    message,
                    request_id,
                },
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            access_token: String,
            expires_in: Option<u64>,
        }
        let answer: TokenAnswer = decode("POST", path, &body)?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        // Renew well before expiry so a long reconcile never carries a dying token.
        let renew_after = Instant::now() + lifetime.saturating_sub(lifetime / 10 + Duration::from_secs(60));
        *guard = Some(Token {
            value: answer.access_token.clone(),
            renew_after,
        });
        Ok(answer.access_token)
    }

    fn note_limits(&self, headers: &HeaderMap) {
        let remaining = header_u64(headers, "x-ratelimit-remaining");
        let reset = header_u64(headers, "x-ratelimit-reset");
        self.budget.note_server_limits(remaining, reset);
        if let Some(remaining) = remaining {
            metrics().onelogin_remaining(remaining);
        }
    }

    /// Exponential backoff with full jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .options
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16).saturating_sub(1));
        let cap = exp.min(self.options.max_backoff);
        let millis = rand::rng().random_range(0..=cap.as_millis().max(1) as u64);
        Duration::from_millis(millis)
    }
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 500 | 502 | 503 | 504)
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "REQUEST",
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

fn bad_response(method: &'static str, path: &str, detail: &str) -> OneLoginError {
    OneLoginError::BadResponse {
        method,
        path: path.to_string(),
        detail: detail.to_string(),
    }
}

fn decode<T: DeserializeOwned>(method: &'static str, path: &str, body: &[u8]) -> Result<T, OneLoginError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        bad_response(method, path, &format!("at {at}: {}", e.inner()))
    })
}

async fn read_limited(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if response.content_length().is_some_and(|len| len > max as u64) {
        return Err(format!("the answer is larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("the answer broke off: {e}"))?
    {
        if body.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `https://host[:port]` with no path, query or credentials; `http://` only on loopback when allowed.
pub fn validate_base_url(raw: &str, allow_loopback_http: bool) -> Result<String, OneLoginError> {
    // The message shows scheme and host only: a URL may carry credentials, which must not leak.
    let fail = |shown: String, problem| OneLoginError::InvalidApiUrl { url: shown, problem };
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| {
        fail(
            "(value not shown)".into(),
            "is not a URL such as https://acme.onelogin.com",
        )
    })?;
    let shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if !url.username().is_empty() || url.password().is_some() {
        return Err(fail(shown, "must not contain credentials"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => return Err(fail(shown, "has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback_http && loopback => {}
        "http" => return Err(fail(shown, "must use https")),
        _ => return Err(fail(shown, "must be an https URL")),
    }
    let mut base = shown;
    if let Some(port) = url.port() {
        base.push_str(&format!(":{port}"));
    }
    Ok(base)
}
