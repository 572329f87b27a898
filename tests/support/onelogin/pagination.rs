//! v2 pagination: `limit`/`page` or an opaque `cursor` (base64 of `limit=<n>&page=<p>`), never both.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::errors::ApiError;
use super::query::Params;

pub const DEFAULT_LIMIT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// 1-based.
    pub page: usize,
}

pub fn encode_cursor(limit: usize, page: usize) -> String {
    STANDARD.encode(format!("limit={limit}&page={page}"))
}

fn decode_cursor(cursor: &str) -> Option<(usize, usize)> {
    // A client that forgot to URL-encode the cursor sends '+' which arrives as ' '.
    let bytes = STANDARD.decode(cursor.trim().replace(' ', "+")).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let inner = Params::parse(Some(&text));
    let limit = inner.get("limit")?.parse().ok()?;
    let page = inner.get("page")?.parse().ok()?;
    Some((limit, page))
}

/// Reads `limit`/`page`/`cursor`; `max_limit` is the endpoint's documented maximum page size.
pub fn page_request(params: &Params, max_limit: usize) -> Result<PageRequest, ApiError> {
    let (limit, page) = if let Some(cursor) = params.get("cursor") {
        if params.has("limit") || params.has("page") {
            return Err(ApiError::roles_bad_request(
                "Requests can only have cursor xor pagination arguments",
            ));
        }
        decode_cursor(cursor).ok_or_else(|| ApiError::roles_bad_request("Invalid cursor"))?
    } else {
        let limit = match params.get("limit") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ApiError::roles_bad_request("limit must be a positive integer"))?,
            None => DEFAULT_LIMIT.min(max_limit),
        };
        let page = match params.get("page") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ApiError::roles_bad_request("page must be a positive integer"))?,
            None => 1,
        };
        (limit, page)
    };
    if limit == 0 || page == 0 {
        return Err(ApiError::roles_bad_request("limit and page must be positive"));
    }
    Ok(PageRequest {
        limit: limit.min(max_limit),
        page,
    })
}

/// Slices `items` and answers with a bare JSON array plus the pagination headers.
pub fn respond<T: serde::Serialize>(items: Vec<T>, req: PageRequest) -> Response {
    let total = items.len();
    let total_pages = total.div_ceil(req.limit);
    let page_items: Vec<T> = items
        .into_iter()
        .skip((req.page - 1) * req.limit)
        .take(req.limit)
        .collect();
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("Current-Page", req.page.to_string());
    put("Page-Items", page_items.len().to_string());
    put("Total-Count", total.to_string());
    put("Total-Pages", total_pages.to_string());
    if req.page < total_pages {
        put("After-Cursor", encode_cursor(req.limit, req.page + 1));
    }
    if req.page > 1 {
        put(
            "Before-Cursor",
            encode_cursor(req.limit, (req.page - 1).min(total_pages.max(1))),
        );
    }
    (StatusCode::OK, headers, axum::Json(page_items)).into_response()
}
