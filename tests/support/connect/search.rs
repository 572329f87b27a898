//! SearchUsers: `SearchCriteria` with string conditions combined by `OrConditions`/`AndConditions`.
//!
//! All comparisons are case-sensitive (the reference leaves case handling of STARTS_WITH/CONTAINS
//! unconfirmed; EXACT matches usernames exactly, as SAML sign-in does).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult};
use super::pagination;
use super::state::{Shared, User, lock};
use super::wire;

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 500;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SearchUsersBody {
    instance_id: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
    search_criteria: Option<Criteria>,
    search_filter: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Criteria {
    or_conditions: Option<Vec<Criteria>>,
    and_conditions: Option<Vec<Criteria>>,
    string_condition: Option<StringCondition>,
    list_condition: Option<Value>,
    hierarchy_group_condition: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StringCondition {
    field_name: Option<String>,
    value: Option<String>,
    comparison_type: Option<String>,
}

pub async fn search(State(shared): State<Shared>, body: Bytes) -> ApiResult<Json<Value>> {
    let body: SearchUsersBody = wire::parse_body(&body)?;
    let instance_id = body
        .instance_id
        .ok_or_else(|| ApiError::invalid_parameter("InstanceId is required"))?;
    if body.search_filter.is_some() {
        // Fail loudly rather than silently ignore a filter the caller relies on.
        return Err(ApiError::invalid_request(
            "SearchFilter is not supported by this test server",
        ));
    }
    if let Some(c) = &body.search_criteria {
        validate(c)?;
    }
    let mut store = lock(&shared);
    let inst = store
        .instance_mut(&instance_id)
        .ok_or_else(|| ApiError::no_instance(&instance_id))?;
    let size = pagination::page_size(body.max_results, DEFAULT_PAGE, MAX_PAGE)?;
    let after = pagination::decode(body.next_token.as_deref(), "SearchUsers", &inst.id)?;
    let visible = inst.consume_read();
    let matches: Vec<&User> = inst
        .users
        .iter()
        .zip(visible)
        .filter(|(u, seen)| *seen && body.search_criteria.as_ref().is_none_or(|c| criteria_match(c, u)))
        .map(|(u, _)| u)
        .collect();
    let total = matches.len();
    let items = matches.into_iter().map(|u| (u.seq, wire::user_search_summary(u)));
    let (page, next) = pagination::page(items, after, size, "SearchUsers", &inst.id);
    let mut out = json!({ "Users": page, "ApproximateTotalCount": total });
    if let Some(token) = next {
        out["NextToken"] = json!(token);
    }
    Ok(Json(out))
}

fn validate(c: &Criteria) -> ApiResult<()> {
    if c.list_condition.is_some() || c.hierarchy_group_condition.is_some() {
        return Err(ApiError::invalid_request(
            "ListCondition and HierarchyGroupCondition are not supported by this test server",
        ));
    }
    if let Some(s) = &c.string_condition {
        let field = s.field_name.as_deref().unwrap_or_default();
        if !matches!(
            field,
            "Username" | "FirstName" | "LastName" | "RoutingProfileId" | "SecurityProfileId" | "resourceId"
        ) {
            return Err(ApiError::invalid_parameter(format!(
                "FieldName is not valid: '{field}'"
            )));
        }
        let comparison = s.comparison_type.as_deref().unwrap_or_default();
        if !matches!(comparison, "EXACT" | "STARTS_WITH" | "CONTAINS") {
            return Err(ApiError::invalid_parameter(format!(
                "ComparisonType is not valid: '{comparison}'"
            )));
        }
        if s.value.is_none() {
            return Err(ApiError::invalid_parameter("StringCondition.Value is required"));
        }
    }
    for child in c.or_conditions.iter().chain(&c.and_conditions).flatten() {
        validate(child)?;
    }
    Ok(())
}

/// Every member set on a criteria node must hold (an empty node matches everything).
fn criteria_match(c: &Criteria, u: &User) -> bool {
    c.string_condition.as_ref().is_none_or(|s| string_matches(s, u))
        && c.or_conditions
            .as_ref()
            .is_none_or(|cs| cs.is_empty() || cs.iter().any(|c| criteria_match(c, u)))
        && c.and_conditions
            .as_ref()
            .is_none_or(|cs| cs.iter().all(|c| criteria_match(c, u)))
}

fn string_matches(s: &StringCondition, u: &User) -> bool {
    let want = s.value.as_deref().unwrap_or_default();
    let compare = |have: &str| match s.comparison_type.as_deref() {
        Some("EXACT") => have == want,
        Some("STARTS_WITH") => have.starts_with(want),
        Some("CONTAINS") => have.contains(want),
        _ => false,
    };
    let opt = |v: &Option<String>| v.as_deref().is_some_and(compare);
    match s.field_name.as_deref() {
        Some("Username") => compare(&u.username),
        Some("FirstName") => opt(&u.first_name),
        Some("LastName") => opt(&u.last_name),
        Some("RoutingProfileId") => opt(&u.routing_profile_id),
        Some("SecurityProfileId") => u.security_profile_ids.iter().any(|id| compare(id)),
        Some("resourceId") => compare(&u.id),
        _ => false,
    }
}
