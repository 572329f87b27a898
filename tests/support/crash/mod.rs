//! Killing the operator process at the k-th successful mutating call, and a loopback proxy in front
//! of moto's IAM that reports mutating calls.
//!
//! The crash switch is one per test process. It holds the operator's pid, the target k and a count
//! of successful mutating calls across OneLogin, Amazon Connect and IAM. Each server calls [`hit`]
//! after it applied a mutating request and *before* it sends the answer, so a kill at k means the
//! k-th write happened and the operator never learnt that it did (created but not recorded).
//! The OneLogin and Connect test servers call it through their `AFTER_WRITE` hook; IAM through
//! [`IamProxy`].
//!
//! IAM speaks the AWS Query protocol: `POST /` with a form body holding `Action=CreateRole&...`.
//! Get* and List* actions read; every other action writes.
//!
//! moto drops the tags sent with CreateSAMLProvider (real IAM keeps them and returns them from
//! GetSAMLProvider, and the operator proves a provider is its own by them). The proxy remembers
//! them and adds them to GetSAMLProvider answers, so recovery is tested as it works against AWS.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

/// Where the switch stands.
#[derive(Debug, Default, Clone)]
pub struct SwitchState {
    /// The operator process to kill; taken when it is killed.
    pub pid: Option<i32>,
    /// Kill at this count; `None` only counts.
    pub target: Option<usize>,
    /// Successful mutating calls since the switch was armed.
    pub count: usize,
    /// Each counted call, in order (`"IAM CreateRole"`, `"OneLogin POST /api/2/apps"`).
    pub calls: Vec<String>,
    /// (k, call) when the kill happened.
    pub fired: Option<(usize, String)>,
}

static SWITCH: Mutex<SwitchState> = Mutex::new(SwitchState {
    pid: None,
    target: None,
    count: 0,
    calls: Vec::new(),
    fired: None,
});

fn lock() -> MutexGuard<'static, SwitchState> {
    SWITCH.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts counting from zero; kills `pid` right after the `target`-th mutating call, if any.
pub fn arm(pid: Option<u32>, target: Option<usize>) {
    *lock() = SwitchState {
        pid: pid.map(|p| p as i32),
        target,
        ..SwitchState::default()
    };
}

/// Stops counting and returns what was counted.
pub fn disarm() -> SwitchState {
    std::mem::take(&mut *lock())
}

pub fn state() -> SwitchState {
    lock().clone()
}

/// One successful mutating call, reported before its answer goes out. Blocks until the operator
/// is dead when this is the target call, so the answer can never reach it.
pub fn hit(call: &str) {
    let mut s = lock();
    s.count += 1;
    s.calls.push(call.to_string());
    if s.target == Some(s.count)
        && let Some(pid) = s.pid.take()
    {
        // SAFETY: a plain syscall on a child process the test spawned and has not reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        wait_dead(pid);
        s.fired = Some((s.count, call.to_string()));
    }
}

/// Until the process is a zombie or gone (it is our unreaped child, so it stays a zombie).
fn wait_dead(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            // "pid (comm) S ...": the state follows the last ')'.
            Ok(stat) => {
                if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.trim_start())
                    && (rest.starts_with('Z') || rest.starts_with('X'))
                {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("process {pid} did not die within 10 s of SIGKILL");
}

/// Waits until the switch fired, or panics after `timeout` with what was counted.
pub async fn wait_fired(timeout: Duration) -> (usize, String) {
    let deadline = Instant::now() + timeout;
    loop {
        let s = state();
        if let Some(fired) = s.fired {
            return fired;
        }
        assert!(
            Instant::now() < deadline,
            "the switch never fired (target {:?}, {} calls counted: {:?})",
            s.target,
            s.count,
            s.calls
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One IAM request seen by the proxy.
#[derive(Debug, Clone)]
pub struct IamCall {
    pub action: String,
    /// The decoded form parameters.
    pub params: Vec<(String, String)>,
    pub status: u16,
    /// The start of the answer's body when it is not a success.
    pub error: Option<String>,
}

impl IamCall {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Whether an IAM action changes anything (everything but Get* and List*).
pub fn iam_mutates(action: &str) -> bool {
    !(action.starts_with("Get") || action.starts_with("List"))
}

struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    calls: Mutex<Vec<IamCall>>,
    /// Report mutating 2xx calls to the crash switch.
    crash: bool,
    /// Tags sent with CreateSAMLProvider, by provider name.
    saml_tags: Mutex<HashMap<String, Vec<(String, String)>>>,
    /// Secret keys by access key id: requests signed with these are re-signed (see [`resign`]).
    secrets: HashMap<String, String>,
}

/// A loopback HTTP proxy in front of moto that records IAM calls and, with `crash`, reports each
/// successful mutating one to the crash switch before relaying moto's answer.
pub struct IamProxy {
    state: Arc<ProxyState>,
    endpoint: String,
    task: JoinHandle<()>,
}

impl Drop for IamProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl IamProxy {
    pub async fn start(upstream: &str, crash: bool) -> IamProxy {
        Self::start_with(upstream, crash, HashMap::new()).await
    }

    /// Also re-signs requests made with these keys (access key id → secret), for a moto that
    /// checks signatures (see [`resign`]).
    pub async fn start_with(upstream: &str, crash: bool, secrets: HashMap<String, String>) -> IamProxy {
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("reqwest client"),
            calls: Mutex::new(Vec::new()),
            crash,
            saml_tags: Mutex::new(HashMap::new()),
            secrets,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new().fallback(forward).with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        IamProxy { state, endpoint, task }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn calls(&self) -> Vec<IamCall> {
        self.state.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `application/x-www-form-urlencoded` into pairs.
pub fn decode_form(body: &[u8]) -> Vec<(String, String)> {
    fn unescape(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                },
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let params = decode_form(&body);
    let action = params
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if action == "TagSAMLProvider" {
        // moto does not implement it; IAM merges the tags into the provider's, as done here.
        return tag_saml_provider(&state, &params).await;
    }
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut headers = parts.headers.clone();
    // The Host header is kept: it is part of the SigV4 signature moto may check.
    for h in [header::CONNECTION, header::TRANSFER_ENCODING, header::CONTENT_LENGTH] {
        headers.remove(h);
    }
    let body = match resign(&state.secrets, parts.method.as_str(), path, &mut headers, &body) {
        Some(new) => axum::body::Bytes::from(new),
        None => body,
    };
    let sent = state
        .client
        .request(parts.method.clone(), format!("{}{path}", state.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream = match sent {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("moto: {e}")).into_response(),
    };
    let status = upstream.status();
    let mut headers = upstream.headers().clone();
    let Ok(bytes) = upstream.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    if status.is_success() {
        remember_saml_tags(&state, &action, &params);
    }
    state.calls.lock().unwrap_or_else(|e| e.into_inner()).push(IamCall {
        action: action.clone(),
        params: params.clone(),
        status: status.as_u16(),
        error: (!status.is_success()).then(|| String::from_utf8_lossy(&bytes).chars().take(400).collect()),
    });
    if state.crash && status.is_success() && !action.is_empty() && iam_mutates(&action) {
        let call = format!("IAM {action}");
        tokio::task::spawn_blocking(move || hit(&call))
            .await
            .expect("crash switch");
    }
    for h in [header::CONNECTION, header::TRANSFER_ENCODING, header::CONTENT_LENGTH] {
        headers.remove(h);
    }
    let bytes = if action == "GetSAMLProvider" && status.is_success() {
        with_saml_tags(&state, &params, bytes)
    } else if !status.is_success() {
        iam_error_shape(bytes)
    } else {
        bytes
    };
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// moto answers its authentication and authorization errors (AccessDenied, SignatureDoesNotMatch,
/// InvalidClientTokenId) as `<ErrorResponse><Errors><Error>…`, the EC2 shape, which the AWS SDK
/// cannot read for IAM (no code, no message). IAM itself sends `<ErrorResponse><Error>…`.
fn iam_error_shape(body: axum::body::Bytes) -> axum::body::Bytes {
    let text = String::from_utf8_lossy(&body);
    if !text.contains("<ErrorResponse><Errors><Error>") {
        return body;
    }
    text.replacen("<Errors>", "", 1).replacen("</Errors>", "", 1).into()
}

fn provider_name(arn: &str) -> &str {
    arn.rsplit_once("saml-provider/").map_or(arn, |(_, n)| n)
}

fn remember_saml_tags(state: &ProxyState, action: &str, params: &[(String, String)]) {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut tags = state.saml_tags.lock().unwrap_or_else(|e| e.into_inner());
    match action {
        "CreateSAMLProvider" => {
            let mut found = Vec::new();
            for i in 1.. {
                let (Some(k), v) = (
                    get(&format!("Tags.member.{i}.Key")),
                    get(&format!("Tags.member.{i}.Value")),
                ) else {
                    break;
                };
                found.push((k, v.unwrap_or_default()));
            }
            tags.insert(get("Name").unwrap_or_default(), found);
        }
        "DeleteSAMLProvider" => {
            tags.remove(provider_name(&get("SAMLProviderArn").unwrap_or_default()));
        }
        _ => {}
    }
}

async fn tag_saml_provider(state: &Arc<ProxyState>, params: &[(String, String)]) -> Response {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let name = provider_name(&get("SAMLProviderArn").unwrap_or_default()).to_string();
    {
        let mut all = state.saml_tags.lock().unwrap_or_else(|e| e.into_inner());
        let tags = all.entry(name).or_default();
        for i in 1.. {
            let Some(k) = get(&format!("Tags.member.{i}.Key")) else {
                break;
            };
            let v = get(&format!("Tags.member.{i}.Value")).unwrap_or_default();
            tags.retain(|(old, _)| old != &k);
            tags.push((k, v));
        }
    }
    state.calls.lock().unwrap_or_else(|e| e.into_inner()).push(IamCall {
        action: "TagSAMLProvider".into(),
        params: params.to_vec(),
        status: 200,
        error: None,
    });
    if state.crash {
        tokio::task::spawn_blocking(|| hit("IAM TagSAMLProvider"))
            .await
            .expect("crash switch");
    }
    let body = "<TagSAMLProviderResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata><RequestId>proxy-tag</RequestId></ResponseMetadata></TagSAMLProviderResponse>";
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// moto's GetSAMLProvider answer with the remembered tags, as IAM would send them.
fn with_saml_tags(state: &ProxyState, params: &[(String, String)], body: axum::body::Bytes) -> axum::body::Bytes {
    let arn = params
        .iter()
        .find(|(k, _)| k == "SAMLProviderArn")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let tags = state.saml_tags.lock().unwrap_or_else(|e| e.into_inner());
    let Some(tags) = tags.get(provider_name(arn)).filter(|t| !t.is_empty()) else {
        return body;
    };
    let text = String::from_utf8_lossy(&body);
    if text.contains("<Tags>") || !text.contains("</GetSAMLProviderResult>") {
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
    text.replace(
        "</GetSAMLProviderResult>",
        &format!("<Tags>{members}</Tags></GetSAMLProviderResult>"),
    )
    .into()
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let mut inner = sha2::Sha256::new();
    inner.update(pad(0x36));
    inner.update(data);
    let mut outer = sha2::Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// moto (server mode) verifies a SigV4 signature over the form body *as it re-encodes it* from
/// the parsed parameters (Python's `urlencode`: a space becomes `+`), while the AWS SDK for Rust
/// writes `%20`; so any request with a space in a value (a SAML metadata document) fails with
/// SignatureDoesNotMatch. For keys it knows, the proxy rewrites the body to moto's encoding and
/// signs it again with the same key, date, scope and signed headers — the caller's identity and
/// request are unchanged; only the encoding moto cannot reproduce is.
pub fn resign(
    secrets: &HashMap<String, String>,
    method: &str,
    path: &str,
    headers: &mut axum::http::HeaderMap,
    body: &[u8],
) -> Option<Vec<u8>> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?.to_string();
    let between = |from: &str, to: &str| -> Option<String> {
        let rest = auth.split_once(from)?.1;
        Some(rest.split(to).next().unwrap_or(rest).to_string())
    };
    let credential = between("Credential=", ",")?;
    let signed = between("SignedHeaders=", ",")?;
    let (key_id, scope) = credential.split_once('/')?;
    let secret = secrets.get(key_id)?;
    let new_body = String::from_utf8_lossy(body).replace("%20", "+").into_bytes();
    let date = headers.get("x-amz-date")?.to_str().ok()?.to_string();
    let mut canonical_headers = String::new();
    for name in signed.split(';') {
        let value = if name == "content-length" {
            new_body.len().to_string()
        } else {
            let v = headers.get(name)?.to_str().ok()?;
            v.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let canonical = format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n{signed}\n{}",
        sha256_hex(&new_body)
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let parts: Vec<&str> = scope.split('/').collect();
    let mut key = hmac_sha256(format!("AWS4{secret}").as_bytes(), parts.first()?.as_bytes());
    for part in &parts[1..] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature: String = hmac_sha256(&key, to_sign.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let value = format!("AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}");
    headers.insert(header::AUTHORIZATION, value.parse().ok()?);
    Some(new_body)
}
