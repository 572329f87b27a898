//! `/api/2/roles*`: roles service (own 400 shape, raw-array bodies, replace semantics for apps).

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::apps::parse_id;
use super::errors::{ApiError, ApiResult};
use super::format::{self, html_escape, wildcard_match};
use super::pagination::{self, page_request};
use super::query::Params;
use super::state::{Shared, Store};

fn parse_role_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::roles_bad_request("Expected object in request")),
    }
}

/// Membership endpoints take a raw JSON array of ids; anything else is the roles-service 400.
fn parse_id_array(body: &[u8]) -> Result<Vec<i64>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items
            .iter()
            .map(Value::as_i64)
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::roles_bad_request("Expected array of integer ids in request")),
        _ => Err(ApiError::expected_array()),
    }
}

fn ids_field(body: &Map<String, Value>, key: &str) -> Result<Option<Vec<i64>>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_i64)
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| ApiError::roles_bad_request(format!("Expected array of ids in {key}"))),
        Some(_) => Err(ApiError::roles_bad_request(format!("Expected array of ids in {key}"))),
    }
}

fn role_name(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("name") {
        None => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::unprocessable("Validation failed: Name can't be blank")),
    }
}

/// Array fields on create/update replace membership (a rename carrying `[]` wipes members).
fn apply_members(store: &mut Store, role_id: i64, body: &Map<String, Value>) -> Result<(), ApiError> {
    let apps = ids_field(body, "apps")?;
    let users = ids_field(body, "users")?;
    let admins = ids_field(body, "admins")?;
    if let Some(missing) = apps.iter().flatten().find(|id| !store.apps.contains_key(id)) {
        return Err(ApiError::unprocessable(format!(
            "Validation failed: App {missing} does not exist"
        )));
    }
    for id in users.iter().flatten().chain(admins.iter().flatten()) {
        if !store.users.contains_key(id) {
            return Err(ApiError::unprocessable(format!(
                "Validation failed: User {id} does not exist"
            )));
        }
    }
    let lag = store.membership_lag;
    let role = store.roles.get_mut(&role_id).ok_or_else(ApiError::not_found)?;
    if apps.is_some() || users.is_some() {
        role.before_member_write(lag);
    }
    if let Some(apps) = apps {
        role.members.apps = apps.into_iter().collect();
    }
    if let Some(users) = users {
        let now = SystemTime::now();
        let old = std::mem::take(&mut role.members.users);
        role.members.users = users
            .into_iter()
            .map(|u| (u, old.get(&u).copied().unwrap_or(now)))
            .collect();
    }
    if let Some(admins) = admins {
        role.admins = admins.into_iter().collect();
    }
    Ok(())
}

pub async fn create(State(shared): State<Arc<Shared>>, body: Bytes) -> ApiResult {
    let body = parse_role_object(&body)?;
    let name = role_name(&body)?.ok_or_else(|| ApiError::unprocessable("Validation failed: Name can't be blank"))?;
    let mut store = shared.lock();
    let id = store.add_role(&name);
    if let Err(e) = apply_members(&mut store, id, &body) {
        store.roles.remove(&id);
        return Err(e);
    }
    // The real API answers a bare object, not the documented one-element array.
    Ok((StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response())
}

pub async fn list(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref());
    let page = page_request(&params, 650)?;
    // Docs say `name`, the SDK sends `role_name`: accept both.
    let name = params.get("name").or_else(|| params.get("role_name"));
    let app_id = params.get("app_id").and_then(|v| v.parse::<i64>().ok());
    let app_name = params.get("app_name");
    let fields: Vec<&str> = params
        .get("fields")
        .map(|f| f.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let store = shared.lock();
    let items: Vec<Value> = store
        .roles
        .values()
        .filter(|r| name.is_none_or(|n| wildcard_match(n, &r.name)))
        .filter(|r| app_id.is_none_or(|a| r.members.apps.contains(&a)))
        .filter(|r| {
            app_name.is_none_or(|n| {
                r.members
                    .apps
                    .iter()
                    .filter_map(|a| store.apps.get(a))
                    .any(|a| wildcard_match(n, &a.name))
            })
        })
        .map(|r| {
            let mut item = json!({"id": r.id, "name": r.name});
            if fields.contains(&"apps") {
                item["apps"] = json!(r.members.apps);
            }
            if fields.contains(&"users") {
                item["users"] = json!(r.members.users.keys().collect::<Vec<_>>());
            }
            if fields.contains(&"admins") {
                item["admins"] = json!(r.admins);
            }
            item
        })
        .collect();
    Ok(pagination::respond(items, page))
}

pub async fn get(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let store = shared.lock();
    let role = store.roles.get(&id).ok_or_else(ApiError::not_found)?;
    // Base object only; members come from the sub-endpoints.
    Ok(axum::Json(json!({"id": role.id, "name": role.name})).into_response())
}

pub async fn update(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let id = parse_id(&id)?;
    let mut store = shared.lock();
    if !store.roles.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let body = parse_role_object(&body)?;
    let name = role_name(&body)?;
    apply_members(&mut store, id, &body)?;
    if let (Some(name), Some(role)) = (name, store.roles.get_mut(&id)) {
        role.name = name;
    }
    Ok(axum::Json(json!({"id": id})).into_response())
}

pub async fn delete(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    match shared.lock().roles.remove(&id) {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(ApiError::not_found()),
    }
}

pub async fn get_apps(State(shared): State<Arc<Shared>>, Path(id): Path<String>, RawQuery(q): RawQuery) -> ApiResult {
    let id = parse_id(&id)?;
    let params = Params::parse(q.as_deref());
    let page = page_request(&params, 100)?;
    let assigned = params.get("assigned") != Some("false");
    let mut store = shared.lock();
    let view = store.roles.get_mut(&id).ok_or_else(ApiError::not_found)?.read_members();
    let items: Vec<Value> = store
        .apps
        .values()
        .filter(|a| view.apps.contains(&a.id) == assigned)
        .map(|a| json!({"id": a.id, "name": html_escape(&a.name), "icon_url": a.icon_url}))
        .collect();
    Ok(pagination::respond(items, page))
}

/// Replaces the role's whole app list.
pub async fn put_apps(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let id = parse_id(&id)?;
    let mut store = shared.lock();
    if !store.roles.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let ids = parse_id_array(&body)?;
    if ids.iter().any(|a| !store.apps.contains_key(a)) {
        return Err(ApiError::not_found());
    }
    let lag = store.membership_lag;
    let role = store.roles.get_mut(&id).ok_or_else(ApiError::not_found)?;
    role.before_member_write(lag);
    role.members.apps = ids.iter().copied().collect();
    let out: Vec<Value> = ids.iter().map(|a| json!({"id": a})).collect();
    Ok(axum::Json(out).into_response())
}

pub async fn get_users(State(shared): State<Arc<Shared>>, Path(id): Path<String>, RawQuery(q): RawQuery) -> ApiResult {
    let id = parse_id(&id)?;
    let params = Params::parse(q.as_deref());
    let page = page_request(&params, 100)?;
    let include_unassigned = params.get("include_unassigned") == Some("true");
    let name = params.get("name").map(|n| format!("*{}*", n.trim_matches('*')));
    let mut store = shared.lock();
    let view = store.roles.get_mut(&id).ok_or_else(ApiError::not_found)?.read_members();
    let items: Vec<Value> = store
        .users
        .values()
        .filter(|u| include_unassigned || view.users.contains_key(&u.id))
        .filter(|u| {
            name.as_deref().is_none_or(|n| {
                [&u.firstname, &u.lastname, &u.username, &u.email]
                    .into_iter()
                    .flatten()
                    .any(|v| wildcard_match(n, v))
            })
        })
        .map(|u| {
            let added = view.users.get(&u.id);
            let full_name = [u.firstname.as_deref(), u.lastname.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            // Doc shape plus the SDK's `User` fields, so both readings work.
            json!({
                "id": u.id,
                "name": full_name,
                "firstname": u.firstname,
                "lastname": u.lastname,
                "username": u.username,
                "email": u.email,
                "added_by": added.map(|_| json!({"id": 1, "name": "API"})),
                "added_at": added.map(|t| format::rfc3339(*t)),
                "assigned": added.is_some(),
            })
        })
        .collect();
    Ok(pagination::respond(items, page))
}

pub async fn add_users(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let id = parse_id(&id)?;
    let mut store = shared.lock();
    if !store.roles.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let ids = parse_id_array(&body)?;
    if let Some(missing) = ids.iter().find(|u| !store.users.contains_key(u)) {
        return Err(ApiError::unprocessable(format!(
            "Validation failed: User {missing} does not exist"
        )));
    }
    let lag = store.membership_lag;
    let role = store.roles.get_mut(&id).ok_or_else(ApiError::not_found)?;
    role.before_member_write(lag);
    let now = SystemTime::now();
    for u in &ids {
        role.members.users.entry(*u).or_insert(now);
    }
    let out: Vec<Value> = ids.iter().map(|u| json!({"id": u})).collect();
    Ok(axum::Json(out).into_response())
}

pub async fn remove_users(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let id = parse_id(&id)?;
    let mut store = shared.lock();
    if !store.roles.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let ids = parse_id_array(&body)?;
    let lag = store.membership_lag;
    let role = store.roles.get_mut(&id).ok_or_else(ApiError::not_found)?;
    role.before_member_write(lag);
    for u in &ids {
        role.members.users.remove(u);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
