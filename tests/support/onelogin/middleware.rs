//! Runs around every request: accounting, faults, Bearer check, rate-limit budget, common headers.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::accounting::{CallRecord, route_template};
use super::conn::ConnHandle;
use super::errors::ApiError;
use super::faults::{Canned, Fault, JsonEdit, RateLimitStatus, RouteClass, classify};
use super::format;
use super::state::Shared;

fn status_response(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match code {
        // Gateways in front of the API answer with HTML, not JSON.
        502..=504 => {
            let reason = status.canonical_reason().unwrap_or("Error");
            let html =
                format!("<html><head><title>{code} {reason}</title></head><body><h1>{reason}</h1></body></html>\n");
            (status, [(header::CONTENT_TYPE, "text/html")], html).into_response()
        }
        _ => ApiError::Alt {
            status: code,
            name: if code == 500 { "InternalServerError" } else { "Error" },
            message: status.canonical_reason().unwrap_or("Error").to_owned(),
        }
        .into_response(),
    }
}

fn canned_response(canned: &Canned) -> Response {
    let status = StatusCode::from_u16(canned.status).unwrap_or(StatusCode::OK);
    let body = if canned.chunked {
        // No Content-Length: the client only learns the size by reading.
        let chunks: Vec<Result<axum::body::Bytes, std::io::Error>> = canned
            .body
            .chunks(64 * 1024)
            .map(|c| Ok(canned.body.slice_ref(c)))
            .collect();
        axum::body::Body::from_stream(futures::stream::iter(chunks))
    } else {
        axum::body::Body::from(canned.body.clone())
    };
    let mut response = (status, body).into_response();
    if let Ok(v) = HeaderValue::from_str(&canned.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    response
}

/// Rewrites a JSON answer with `edits`; anything else is returned as it was.
async fn edit_json(response: Response, edits: &[JsonEdit]) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    for edit in edits {
        edit.apply(&mut json);
    }
    let out = serde_json::to_vec(&json).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(out))
}

/// Replaces text in an answer's body.
async fn edit_text(response: Response, replacements: &[(String, String)]) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    for (from, to) in replacements {
        text = text.replace(from.as_str(), to);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(text))
}

fn unauthorized(class: RouteClass) -> Response {
    match class {
        RouteClass::Api => ApiError::unauthorized().into_response(),
        _ => ApiError::v1_unauthorized().into_response(),
    }
}

fn too_many_requests() -> Response {
    ApiError::Alt {
        status: 429,
        name: "TooManyRequestsError",
        message: "Too Many Requests".into(),
    }
    .into_response()
}

fn set_rate_headers(response: &mut Response, s: RateLimitStatus) {
    let h = response.headers_mut();
    h.insert("X-RateLimit-Limit", HeaderValue::from(s.limit));
    h.insert("X-RateLimit-Remaining", HeaderValue::from(s.remaining));
    h.insert("X-RateLimit-Reset", HeaderValue::from(s.reset_secs));
}

pub async fn pipeline(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let class = classify(&path);
    let route = route_template(&path);
    let key = format!("{method} {route}");
    let write = class == RouteClass::Api && method != Method::GET && method != Method::HEAD;
    let conn = req.extensions().get::<ConnectInfo<ConnHandle>>().map(|c| c.0.clone());

    let (fault, latency) = {
        let mut store = shared.lock();
        (store.faults.take(class, &key, write), store.faults.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let mut reset = false;
    let mut rate: Option<RateLimitStatus> = None;
    // Faults applied to the handler's own answer.
    let mut after = None;
    let mut response = 'answer: {
        match fault {
            None => {}
            Some(Fault::Serve(canned)) => break 'answer canned_response(&canned),
            Some(f @ (Fault::EditJson(_) | Fault::EditText(_) | Fault::AfterCursor(_))) => after = Some(f),
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            Some(Fault::ConnectionReset { after_processing }) => {
                reset = true;
                if !after_processing {
                    break 'answer StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            }
            Some(Fault::TooManyRequests {
                rate_limit_headers,
                reset_secs,
            }) => {
                let mut r = too_many_requests();
                if rate_limit_headers {
                    let limit = shared.lock().rate.status().limit;
                    set_rate_headers(
                        &mut r,
                        RateLimitStatus {
                            limit,
                            remaining: 0,
                            reset_secs,
                        },
                    );
                }
                break 'answer r;
            }
            Some(Fault::Status(code)) => break 'answer status_response(code),
            Some(Fault::Unauthorized) => break 'answer unauthorized(class),
        }
        if matches!(class, RouteClass::Api | RouteClass::AuthResource) && !shared.lock().auth.accepts(req.headers()) {
            break 'answer unauthorized(class);
        }
        if class == RouteClass::Api {
            let spent = shared.lock().rate.spend();
            match spent {
                Ok(s) => rate = Some(s),
                Err(s) => {
                    let mut r = too_many_requests();
                    set_rate_headers(&mut r, s);
                    break 'answer r;
                }
            }
        }
        next.run(req).await
    };
    match after {
        Some(Fault::EditJson(edits)) => response = edit_json(response, &edits).await,
        Some(Fault::EditText(replacements)) => response = edit_text(response, &replacements).await,
        Some(Fault::AfterCursor(cursor)) => {
            // A new cursor the server itself accepts: a random far page (empty) of 50.
            let cursor =
                cursor.unwrap_or_else(|| super::pagination::encode_cursor(50, 2 + rand::random::<u32>() as usize));
            if let Ok(v) = HeaderValue::from_str(&cursor) {
                response.headers_mut().insert("After-Cursor", v);
            }
        }
        _ => {}
    }

    if write
        && !reset
        && response.status().is_success()
        && let Some(hook) = super::AFTER_WRITE.get()
    {
        hook(&key);
    }
    if let Some(s) = rate {
        set_rate_headers(&mut response, s);
    }
    if let Ok(v) = HeaderValue::from_str(&format::random_uuid()) {
        response.headers_mut().insert("x-request-id", v);
    }
    if reset && let Some(conn) = &conn {
        conn.reset();
    }
    shared.lock().calls.record(CallRecord {
        method: method.to_string(),
        route,
        write,
        status: if reset { None } else { Some(response.status().as_u16()) },
    });
    response
}
