//! ListUsers, DescribeUser and CreateUser.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult};
use super::pagination;
use super::state::{NewUser, Shared, UserExtra, lock};
use super::validation;
use super::wire::{self, ListQuery};

const LIST_DEFAULT_PAGE: usize = 100;
const LIST_MAX_PAGE: usize = 1000;

pub async fn list(
    State(shared): State<Shared>,
    Path(instance_id): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) = query.map_err(|e| ApiError::invalid_parameter(e.body_text()))?;
    let mut store = lock(&shared);
    let inst = store
        .instance_mut(&instance_id)
        .ok_or_else(|| ApiError::no_instance(&instance_id))?;
    let size = pagination::page_size(query.max_results, LIST_DEFAULT_PAGE, LIST_MAX_PAGE)?;
    let after = pagination::decode(query.next_token.as_deref(), "ListUsers", &inst.id)?;
    let visible = inst.consume_read();
    let items = inst
        .users
        .iter()
        .zip(visible)
        .filter(|(_, seen)| *seen)
        .map(|(u, _)| (u.seq, wire::user_summary(u)));
    let (page, next) = pagination::page(items, after, size, "ListUsers", &inst.id);
    let mut body = json!({ "UserSummaryList": page });
    if let Some(token) = next {
        body["NextToken"] = json!(token);
    }
    Ok(Json(body))
}

/// Not subject to the visibility lag: the lag models the search index, not the user record.
pub async fn describe(
    State(shared): State<Shared>,
    Path((instance_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let store = lock(&shared);
    let inst = store
        .instance(&instance_id)
        .ok_or_else(|| ApiError::no_instance(&instance_id))?;
    let user = inst
        .users
        .iter()
        .find(|u| u.id == user_id || u.arn == user_id)
        .ok_or_else(|| ApiError::resource_not_found(format!("User not found for UserId: {user_id}")))?;
    Ok(Json(json!({ "User": wire::user(user) })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateUserBody {
    pub username: Option<String>,
    pub password: Option<String>,
    pub identity_info: Option<IdentityInfo>,
    pub phone_config: Option<PhoneConfig>,
    pub directory_user_id: Option<String>,
    pub security_profile_ids: Option<Vec<String>>,
    pub routing_profile_id: Option<String>,
    pub hierarchy_group_id: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdentityInfo {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub secondary_email: Option<String>,
    pub mobile: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PhoneConfig {
    pub phone_type: Option<String>,
    pub desk_phone_number: Option<String>,
}

pub async fn create(
    State(shared): State<Shared>,
    Path(instance_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body: CreateUserBody = wire::parse_body(&body)?;
    let mut store = lock(&shared);
    let quota = store.user_quota;
    let lag = store.faults.visibility_lag;
    let inst = store
        .instance(&instance_id)
        .ok_or_else(|| ApiError::no_instance(&instance_id))?;
    let valid = validation::create_user(inst, &body)?;
    if quota.is_some_and(|q| inst.users.len() >= q) {
        return Err(ApiError::limit_exceeded(
            "The allowed limit for the resource has been exceeded: users per instance",
        ));
    }
    if inst.users.iter().any(|u| u.username == valid.username) {
        return Err(ApiError::duplicate_resource(format!(
            "The user {} is already associated with the Amazon Connect instance {}",
            valid.username, inst.id
        )));
    }
    let info = body.identity_info.unwrap_or_default();
    let new = NewUser {
        username: valid.username,
        first_name: info.first_name,
        last_name: info.last_name,
        email: info.email,
        secondary_email: info.secondary_email,
        security_profile_ids: body.security_profile_ids.unwrap_or_default(),
        routing_profile_id: body.routing_profile_id,
        tags: body.tags.unwrap_or_default(),
    };
    let extra = UserExtra {
        mobile: info.mobile,
        hierarchy_group_id: body.hierarchy_group_id,
        directory_user_id: body.directory_user_id,
        phone_type: body.phone_config.and_then(|p| p.phone_type),
    };
    let created = store
        .insert_user(&instance_id, new, extra, lag)
        .expect("instance checked above");
    Ok(Json(json!({ "UserId": created.id, "UserArn": created.arn })))
}
