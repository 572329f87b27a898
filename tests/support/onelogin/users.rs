//! `/api/2/users*`: read-only directory with exact or `*`-wildcard filters.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::apps::parse_id;
use super::errors::{ApiError, ApiResult};
use super::format::{self, html_escape, wildcard_match};
use super::pagination::{self, page_request};
use super::query::Params;
use super::state::{Shared, Store, User};

pub fn user_json(store: &Store, u: &User) -> Value {
    let created = format::rfc3339(u.created_at);
    let updated = format::rfc3339(u.updated_at);
    let role_ids: Vec<i64> = store
        .roles
        .values()
        .filter(|r| r.members.users.contains_key(&u.id))
        .map(|r| r.id)
        .collect();
    json!({
        "id": u.id,
        "username": u.username,
        "email": u.email,
        "firstname": u.firstname,
        "lastname": u.lastname,
        "title": null,
        "department": null,
        "company": null,
        "comment": null,
        "group_id": null,
        "role_ids": role_ids,
        "phone": null,
        "state": u.state,
        "status": u.status,
        "directory_id": null,
        "trusted_idp_id": null,
        "manager_ad_id": null,
        "manager_user_id": null,
        "samaccountname": null,
        "member_of": null,
        "userprincipalname": null,
        "distinguished_name": null,
        "external_id": null,
        "activated_at": if u.status == 0 { Value::Null } else { json!(created) },
        "last_login": null,
        "invitation_sent_at": null,
        "updated_at": updated,
        "preferred_locale_code": null,
        "created_at": created,
        "invalid_login_attempts": 0,
        "locked_until": null,
        "password_changed_at": null,
        "custom_attributes": {},
    })
}

fn text_filter(params: &Params, key: &str, value: &Option<String>) -> bool {
    match params.get(key) {
        None => true,
        Some(pattern) => value.as_deref().is_some_and(|v| wildcard_match(pattern, v)),
    }
}

pub async fn list(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref());
    // Docs: up to 50 users per page (the SDK claims 100).
    let page = page_request(&params, 50)?;
    let user_ids: Option<BTreeSet<i64>> = match params.get("user_ids") {
        None => None,
        Some(list) => Some(
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse::<i64>())
                .collect::<Result<_, _>>()
                .map_err(|_| ApiError::bad_request("user_ids must be a comma separated list of integers"))?,
        ),
    };
    let updated_since: Option<std::time::SystemTime> = match params.get("updated_since") {
        None => None,
        Some(raw) => Some(
            raw.parse::<k8s_openapi::jiff::Timestamp>()
                .ok()
                .map(std::time::SystemTime::from)
                .ok_or_else(|| ApiError::bad_request("updated_since must be an ISO 8601 time"))?,
        ),
    };
    let store = shared.lock();
    let items: Vec<Value> = store
        .users
        .values()
        .filter(|u| updated_since.is_none_or(|since| u.updated_at >= since))
        .filter(|u| text_filter(&params, "email", &u.email))
        .filter(|u| text_filter(&params, "username", &u.username))
        .filter(|u| text_filter(&params, "firstname", &u.firstname))
        .filter(|u| text_filter(&params, "lastname", &u.lastname))
        .filter(|u| user_ids.as_ref().is_none_or(|ids| ids.contains(&u.id)))
        .map(|u| user_json(&store, u))
        .collect();
    Ok(pagination::respond(items, page))
}

pub async fn get(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let store = shared.lock();
    let user = store.users.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(user_json(&store, user)).into_response())
}

/// Apps reachable through the user's roles; portal-invisible apps only with `ignore_visibility=true`.
pub async fn apps(State(shared): State<Arc<Shared>>, Path(id): Path<String>, RawQuery(q): RawQuery) -> ApiResult {
    let id = parse_id(&id)?;
    let params = Params::parse(q.as_deref());
    let ignore_visibility = params.get("ignore_visibility") == Some("true");
    let store = shared.lock();
    if !store.users.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let app_ids: BTreeSet<i64> = store
        .roles
        .values()
        .filter(|r| r.members.users.contains_key(&id))
        .flat_map(|r| r.members.apps.iter().copied())
        .collect();
    let items: Vec<Value> = app_ids
        .iter()
        .filter_map(|a| store.apps.get(a))
        .filter(|a| ignore_visibility || a.visible)
        .map(|a| {
            json!({
                "id": a.id,
                "icon_url": a.icon_url,
                "extension": false,
                "login_id": null,
                "name": html_escape(&a.name),
                "provisioning_status": null,
                "provisioning_state": null,
                "provisioning_enabled": a.provisioning_enabled,
            })
        })
        .collect();
    Ok(axum::Json(items).into_response())
}
