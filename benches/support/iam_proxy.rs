//! A counting, delaying HTTP proxy in front of moto, so IAM calls can be counted by operation and
//! given the same per-call latency as the OneLogin and Amazon Connect test servers (moto itself
//! has no latency setting). IAM speaks the AWS query protocol: the operation is the form field
//! `Action` of the POST body. moto does not check SigV4 signatures, so forwarding with another
//! `Host` is harmless.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

struct Shared {
    upstream: String,
    client: reqwest::Client,
    latency_ms: AtomicU64,
    counts: Mutex<BTreeMap<String, u64>>,
}

pub struct IamProxy {
    endpoint: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for IamProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads are `Get*` and `List*`; everything else changes IAM.
pub fn is_write(operation: &str) -> bool {
    !(operation.starts_with("Get") || operation.starts_with("List"))
}

impl IamProxy {
    /// Listens on a free loopback port and forwards every request to `upstream` (moto).
    pub async fn start(upstream: &str) -> IamProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("proxy client"),
            latency_ms: AtomicU64::new(0),
            counts: Mutex::new(BTreeMap::new()),
        });
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        IamProxy {
            endpoint: format!("http://{addr}"),
            shared,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    pub fn set_latency(&self, latency: Duration) {
        self.shared
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    /// Calls by IAM operation since the last reset.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn reset(&self) {
        self.shared.counts.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

fn operation(uri: &Uri, body: &[u8]) -> String {
    let from_form = |bytes: &[u8]| {
        url::form_urlencoded::parse(bytes)
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v.into_owned())
    };
    from_form(body)
        .or_else(|| uri.query().and_then(|q| from_form(q.as_bytes())))
        .unwrap_or_else(|| "Unknown".to_string())
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = operation(&uri, &body);
    *shared
        .counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(op)
        .or_insert(0) += 1;
    let latency = shared.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = shared
        .client
        .request(method, format!("{}{path}", shared.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let status = answer.status();
            let mut out_headers = HeaderMap::new();
            for (name, value) in answer.headers() {
                if name != "content-length" && name != "transfer-encoding" && name != "connection" {
                    out_headers.append(name, value.clone());
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, out_headers, bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, format!("iam proxy: {e}")).into_response(),
    }
}
