//! Opaque `NextToken`s and page-size limits.
//!
//! A token names the operation, the instance and the creation sequence number of the last item
//! returned, so items created or becoming visible between pages are neither skipped nor repeated.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::errors::{ApiError, ApiResult};

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    op: String,
    instance: String,
    after: u64,
}

pub fn encode(operation: &str, instance_id: &str, after_seq: u64) -> String {
    let cursor = Cursor {
        op: operation.into(),
        instance: instance_id.into(),
        after: after_seq,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).expect("serialize cursor"))
}

/// The sequence number to continue after (0 = from the start).
pub fn decode(token: Option<&str>, operation: &str, instance_id: &str) -> ApiResult<u64> {
    let Some(token) = token else { return Ok(0) };
    let invalid = || ApiError::invalid_parameter("The specified nextToken is not valid");
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| invalid())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor.op != operation || cursor.instance != instance_id {
        return Err(invalid());
    }
    Ok(cursor.after)
}

/// Validates `MaxResults` against the operation's model range, applying its default.
pub fn page_size(requested: Option<i64>, default: usize, max: usize) -> ApiResult<usize> {
    match requested {
        None => Ok(default),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(ApiError::invalid_parameter(format!(
            "MaxResults must be between 1 and {max}, got {n}"
        ))),
    }
}

/// Takes up to `size` items with sequence number > `after`; the token is set only if more remain.
pub fn page<T: Clone>(
    items: impl IntoIterator<Item = (u64, T)>,
    after: u64,
    size: usize,
    operation: &str,
    instance_id: &str,
) -> (Vec<T>, Option<String>) {
    let mut rest = items.into_iter().filter(|(seq, _)| *seq > after).peekable();
    let mut out = Vec::new();
    let mut last = after;
    while out.len() < size {
        match rest.next() {
            Some((seq, item)) => {
                last = seq;
                out.push(item);
            }
            None => break,
        }
    }
    let token = rest.peek().map(|_| encode(operation, instance_id, last));
    (out, token)
}
