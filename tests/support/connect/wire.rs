//! JSON rendering shared by several routes (member names from the SDK's deserializers).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::errors::{ApiError, ApiResult};
use super::state::User;

/// REST-JSON timestamps default to epoch seconds (a JSON number, fractions allowed).
pub fn epoch(t: SystemTime) -> Value {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    json!((d.as_millis() as f64) / 1000.0)
}

/// Drops `null` members: AWS omits absent members rather than sending null.
pub fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, compact(v)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

fn identity_info(u: &User) -> Value {
    json!({
        "FirstName": u.first_name,
        "LastName": u.last_name,
        "Email": u.email,
        "SecondaryEmail": u.secondary_email,
        "Mobile": u.mobile,
    })
}

/// `UserSummary` (ListUsers).
pub fn user_summary(u: &User) -> Value {
    json!({
        "Id": u.id,
        "Arn": u.arn,
        "Username": u.username,
        "LastModifiedTime": epoch(u.last_modified),
        "LastModifiedRegion": u.last_modified_region,
    })
}

/// `UserSearchSummary` (SearchUsers): the user without its modification stamps.
pub fn user_search_summary(u: &User) -> Value {
    compact(json!({
        "Id": u.id,
        "Arn": u.arn,
        "Username": u.username,
        "IdentityInfo": identity_info(u),
        "PhoneConfig": u.phone_type.as_ref().map(|t| json!({ "PhoneType": t })),
        "DirectoryUserId": u.directory_user_id,
        "SecurityProfileIds": u.security_profile_ids,
        "RoutingProfileId": u.routing_profile_id,
        "HierarchyGroupId": u.hierarchy_group_id,
        "Tags": u.tags,
    }))
}

/// `User` (DescribeUser).
pub fn user(u: &User) -> Value {
    let mut v = user_search_summary(u);
    let map = v.as_object_mut().expect("object");
    map.insert("LastModifiedTime".into(), epoch(u.last_modified));
    map.insert("LastModifiedRegion".into(), json!(u.last_modified_region));
    v
}

/// Parses a JSON request body; AWS rejects malformed bodies before any validation.
pub fn parse_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> ApiResult<T> {
    let body = if body.is_empty() { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| ApiError::invalid_request(format!("Request body is not valid: {e}")))
}

/// `?maxResults=&nextToken=` of the GET list operations.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "maxResults")]
    pub max_results: Option<i64>,
    #[serde(rename = "nextToken")]
    pub next_token: Option<String>,
}
