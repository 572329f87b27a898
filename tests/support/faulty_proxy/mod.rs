//! A loopback HTTP proxy in front of moto's IAM that injects the failures moto cannot: 500s before
//! or after the call took effect, throttling, slow answers and permanent AccessDenied, on chosen
//! actions, at a seeded random rate, or on the first call of every action. It also counts calls
//! per action.
//!
//! IAM speaks the AWS Query protocol: every call is `POST /` with a form body holding
//! `Action=CreateRole&...`, and errors are an XML `ErrorResponse`.
//!
//! moto does not keep tags on SAML providers (real IAM does, and returns them from
//! GetSAMLProvider). With [`FaultyProxy::keep_saml_provider_tags`] the proxy remembers the tags
//! sent with CreateSAMLProvider and adds them to GetSAMLProvider answers, so ownership of a
//! provider can be tested as it works against AWS.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinHandle;

/// What the proxy does to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamFault {
    /// 500 `ServiceFailure` without forwarding (the SDK retries it).
    Internal,
    /// 500 `ServiceFailure` after moto carried the call out: the caller cannot tell it happened.
    InternalAfterProcessing,
    /// 400 `Throttling` without forwarding (the SDK retries it).
    Throttling,
    /// Forward, but answer only after this many milliseconds.
    Slow(u64),
    /// 403 `AccessDenied` without forwarding: the operator's IAM permissions lack the action.
    AccessDenied,
}

impl IamFault {
    pub fn name(self) -> &'static str {
        match self {
            IamFault::Internal => "500",
            IamFault::InternalAfterProcessing => "500 after processing",
            IamFault::Throttling => "throttling",
            IamFault::Slow(_) => "slow",
            IamFault::AccessDenied => "AccessDenied",
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    fault: IamFault,
    /// `None`: any action.
    action: Option<String>,
    /// `None`: forever.
    remaining: Option<u32>,
}

struct Chaos {
    rng: StdRng,
    rate: f64,
    menu: Vec<IamFault>,
    /// Fault the first call of every action, so each step of a flow meets at least one.
    first_of_each_action: bool,
    seen: BTreeSet<String>,
}

#[derive(Default)]
struct ProxyState {
    rules: Vec<Rule>,
    chaos: Option<Chaos>,
    calls: BTreeMap<String, usize>,
    /// (action, fault name) → times injected.
    injected: BTreeMap<(String, &'static str), usize>,
    keep_provider_tags: bool,
    /// Provider ARN → tags sent when it was created.
    provider_tags: HashMap<String, Vec<(String, String)>>,
}

impl ProxyState {
    fn choose(&mut self, action: &str) -> Option<IamFault> {
        if let Some(idx) = self
            .rules
            .iter()
            .position(|r| r.action.as_deref().is_none_or(|a| a == action))
        {
            let rule = &mut self.rules[idx];
            let fault = rule.fault;
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
                if *n == 0 {
                    self.rules.remove(idx);
                }
            }
            return Some(fault);
        }
        let chaos = self.chaos.as_mut()?;
        let first = chaos.first_of_each_action && chaos.seen.insert(action.to_string());
        if (first || chaos.rng.random_bool(chaos.rate)) && !chaos.menu.is_empty() {
            let i = chaos.rng.random_range(0..chaos.menu.len());
            return Some(chaos.menu[i]);
        }
        None
    }
}

pub struct FaultyProxy {
    state: Arc<Mutex<ProxyState>>,
    endpoint: String,
    task: JoinHandle<()>,
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Ctx {
    state: Arc<Mutex<ProxyState>>,
    upstream: String,
    http: reqwest::Client,
}

fn lock(state: &Mutex<ProxyState>) -> MutexGuard<'_, ProxyState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl FaultyProxy {
    /// Binds 127.0.0.1 on a free port and forwards to `upstream` (moto's endpoint) until dropped.
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let ctx = Ctx {
            state: state.clone(),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("proxy client"),
        };
        let app = Router::new().fallback(handle).with_state(ctx);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultyProxy {
            state,
            endpoint: format!("http://{addr}"),
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The next `times` calls of `action` (any action with `None`) get `fault`.
    pub fn fail_next(&self, fault: IamFault, action: Option<&str>, times: u32) {
        if times > 0 {
            lock(&self.state).rules.push(Rule {
                fault,
                action: action.map(str::to_string),
                remaining: Some(times),
            });
        }
    }

    /// Every call of `action` gets `fault` until [`FaultyProxy::clear`].
    pub fn always(&self, fault: IamFault, action: &str) {
        lock(&self.state).rules.push(Rule {
            fault,
            action: Some(action.to_string()),
            remaining: None,
        });
    }

    /// Each call gets a fault from `menu` with probability `rate` (and, with
    /// `first_of_each_action`, the first call of each action always does), from a seeded RNG.
    pub fn set_chaos(&self, seed: u64, rate: f64, menu: &[IamFault], first_of_each_action: bool) {
        lock(&self.state).chaos = Some(Chaos {
            rng: StdRng::seed_from_u64(seed),
            rate,
            menu: menu.to_vec(),
            first_of_each_action,
            seen: BTreeSet::new(),
        });
    }

    /// Removes rules and chaos; counts stay.
    pub fn clear(&self) {
        let mut s = lock(&self.state);
        s.rules.clear();
        s.chaos = None;
    }

    /// Remember SAML provider tags as real IAM does (moto drops them).
    pub fn keep_saml_provider_tags(&self, keep: bool) {
        lock(&self.state).keep_provider_tags = keep;
    }

    /// Calls received, by action.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        lock(&self.state).calls.clone()
    }

    pub fn call_count(&self, action: &str) -> usize {
        lock(&self.state).calls.get(action).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> usize {
        lock(&self.state).calls.values().sum()
    }

    /// Faults injected, by (action, fault name).
    pub fn injected(&self) -> BTreeMap<(String, &'static str), usize> {
        lock(&self.state).injected.clone()
    }

    /// Faults injected, by fault name.
    pub fn injected_by_kind(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for ((_, kind), n) in lock(&self.state).injected.iter() {
            *out.entry(*kind).or_insert(0) += n;
        }
        out
    }

    pub fn total_injected(&self) -> usize {
        lock(&self.state).injected.values().sum()
    }
}

/// The form fields of a Query-protocol body.
fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `Tags.member.N.Key` / `Tags.member.N.Value` pairs, in order of N.
fn tags_of(fields: &[(String, String)]) -> Vec<(String, String)> {
    let mut by_index: BTreeMap<u32, (String, String)> = BTreeMap::new();
    for (k, v) in fields {
        let Some(rest) = k.strip_prefix("Tags.member.") else {
            continue;
        };
        let Some((n, what)) = rest.split_once('.') else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        let entry = by_index.entry(n).or_default();
        match what {
            "Key" => entry.0 = v.clone(),
            "Value" => entry.1 = v.clone(),
            _ => {}
        }
    }
    by_index.into_values().filter(|(k, _)| !k.is_empty()).collect()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The text between `<tag>` and `</tag>`, if any.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// An IAM error as AWS sends it: a fresh request id in the body and in `x-amzn-RequestId`.
fn error_response(status: u16, kind: &str, code: &str, message: &str) -> Response {
    let request_id = format!("{:032x}", rand::random::<u128>());
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        xml_escape(message),
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [
            (header::CONTENT_TYPE, "text/xml".to_string()),
            (header::HeaderName::from_static("x-amzn-requestid"), request_id),
        ],
        body,
    )
        .into_response()
}

fn injected_error(fault: IamFault, action: &str) -> Response {
    match fault {
        IamFault::Throttling => error_response(400, "Sender", "Throttling", "Rate exceeded"),
        IamFault::AccessDenied => error_response(
            403,
            "Sender",
            "AccessDenied",
            &format!(
                "User: arn:aws:iam::123456789012:user/connect-sso-operator is not authorized to perform: iam:{action}"
            ),
        ),
        _ => error_response(
            500,
            "Receiver",
            "ServiceFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
    }
}

async fn handle(State(ctx): State<Ctx>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return error_response(400, "Sender", "InvalidInput", "unreadable body");
    };
    let fields = form(&body);
    let action = field(&fields, "Action").unwrap_or("Unknown").to_string();
    let fault = {
        let mut s = lock(&ctx.state);
        *s.calls.entry(action.clone()).or_insert(0) += 1;
        let fault = s.choose(&action);
        if let Some(f) = fault {
            *s.injected.entry((action.clone(), f.name())).or_insert(0) += 1;
        }
        fault
    };
    match fault {
        Some(f @ (IamFault::Internal | IamFault::Throttling | IamFault::AccessDenied)) => {
            return injected_error(f, &action);
        }
        Some(IamFault::Slow(ms)) => tokio::time::sleep(Duration::from_millis(ms)).await,
        _ => {}
    }

    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut forward = ctx
        .http
        .request(parts.method.clone(), format!("{}{path}", ctx.upstream));
    for (name, value) in &parts.headers {
        if matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            continue;
        }
        forward = forward.header(name.clone(), value.clone());
    }
    let answer = match forward.body(body.clone()).send().await {
        Ok(a) => a,
        Err(e) => return error_response(502, "Receiver", "ProxyError", &format!("moto: {e}")),
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let mut bytes: Bytes = answer.bytes().await.unwrap_or_default();

    if fault == Some(IamFault::InternalAfterProcessing) {
        return injected_error(IamFault::InternalAfterProcessing, &action);
    }
    if status.is_success() {
        bytes = remember_provider_tags(&ctx.state, &action, &fields, bytes);
    }

    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
            continue;
        }
        response.headers_mut().insert(name.clone(), value.clone());
    }
    if !response.headers().contains_key(header::CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    }
    response
}

/// Keeps and serves SAML provider tags when asked to (see the module docs).
fn remember_provider_tags(state: &Mutex<ProxyState>, action: &str, fields: &[(String, String)], body: Bytes) -> Bytes {
    let mut s = lock(state);
    if !s.keep_provider_tags {
        return body;
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    match action {
        "CreateSAMLProvider" => {
            if let Some(arn) = xml_text(&text, "SAMLProviderArn") {
                s.provider_tags.insert(arn.to_string(), tags_of(fields));
            }
            body
        }
        "TagSAMLProvider" => {
            if let Some(arn) = field(fields, "SAMLProviderArn") {
                let tags = s.provider_tags.entry(arn.to_string()).or_default();
                for (k, v) in tags_of(fields) {
                    tags.retain(|(old, _)| *old != k);
                    tags.push((k, v));
                }
            }
            body
        }
        "DeleteSAMLProvider" => {
            if let Some(arn) = field(fields, "SAMLProviderArn") {
                s.provider_tags.remove(arn);
            }
            body
        }
        "GetSAMLProvider" => {
            let Some(tags) = field(fields, "SAMLProviderArn").and_then(|arn| s.provider_tags.get(arn)) else {
                return body;
            };
            if tags.is_empty() || text.contains("<Tags>") {
                return body;
            }
            let members: String = tags
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<member><Key>{}</Key><Value>{}</Value></member>",
                        xml_escape(k),
                        xml_escape(v)
                    )
                })
                .collect();
            match text.find("</GetSAMLProviderResult>") {
                Some(at) => {
                    let mut out = text.clone();
                    out.insert_str(at, &format!("<Tags>{members}</Tags>"));
                    Bytes::from(out)
                }
                None => body,
            }
        }
        _ => body,
    }
}
