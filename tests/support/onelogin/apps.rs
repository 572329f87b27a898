//! `/api/2/apps*` and `/api/2/connectors`: create, merge-update, parameters, listing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::connectors::{self, Connector};
use super::errors::{ApiError, ApiResult};
use super::format::{self, html_escape, wildcard_match};
use super::metadata;
use super::pagination::{self, page_request};
use super::query::Params;
use super::state::{App, Parameter, Shared, Store};

pub fn parse_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found())
}

pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("Invalid JSON: {e}"))),
    }
}

fn parameter_json(p: &Parameter) -> Value {
    json!({
        "id": p.id,
        "label": p.label,
        "user_attribute_mappings": p.user_attribute_mappings,
        "user_attribute_macros": p.user_attribute_macros,
        "attributes_transformations": p.attributes_transformations,
        "skip_if_blank": p.skip_if_blank,
        "values": p.values,
        "default_values": p.default_values,
        "provisioned_entitlements": p.provisioned_entitlements,
        "safe_entitlements_enabled": p.safe_entitlements_enabled,
        "include_in_saml_assertion": p.include_in_saml_assertion,
    })
}

/// The full app as `GET /api/2/apps/{id}` returns it.
pub fn app_json(store: &Store, app: &App) -> Value {
    let parameters: Map<String, Value> = app
        .parameters
        .iter()
        .map(|(k, p)| (k.clone(), parameter_json(p)))
        .collect();
    json!({
        "id": app.id,
        "connector_id": app.connector_id,
        "name": html_escape(&app.name),
        "description": app.description.as_deref().map(html_escape),
        "notes": app.notes.as_deref().map(html_escape),
        "visible": app.visible,
        "icon_url": app.icon_url,
        "auth_method": app.auth_method,
        "policy_id": app.policy_id,
        "brand_id": app.brand_id,
        "allow_assumed_signin": app.allow_assumed_signin,
        "tab_id": app.tab_id,
        "created_at": format::rfc3339(app.created_at),
        "updated_at": format::rfc3339(app.updated_at),
        "role_ids": store.app_role_ids(app.id),
        "provisioning": {"enabled": app.provisioning_enabled},
        "sso": metadata::sso_json(store, app),
        "configuration": app.configuration,
        "parameters": parameters,
        "enforcement_point": {},
    })
}

fn app_summary_json(app: &App) -> Value {
    json!({
        "id": app.id,
        "connector_id": app.connector_id,
        "auth_method": app.auth_method,
        "auth_method_description": connectors::auth_method_description(app.auth_method),
        "name": html_escape(&app.name),
        "description": app.description.as_deref().map(html_escape).unwrap_or_default(),
        "icon_url": app.icon_url,
        "visible": app.visible,
        "created_at": format::rfc3339(app.created_at),
        "updated_at": format::rfc3339(app.updated_at),
    })
}

fn opt_string(field: &str, v: &Value) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ApiError::unprocessable(format!(
            "Validation failed: {field} must be a string"
        ))),
    }
}

fn boolean(field: &str, v: &Value) -> Result<bool, ApiError> {
    v.as_bool()
        .ok_or_else(|| ApiError::unprocessable(format!("Validation failed: {field} must be a boolean")))
}

fn opt_int(field: &str, v: &Value) -> Result<Option<i64>, ApiError> {
    match v {
        Value::Null => Ok(None),
        v => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::unprocessable(format!("Validation failed: {field} must be an integer"))),
    }
}

/// Configuration values come back as strings; tolerate numbers/booleans on input.
fn config_value(store: &Store, key: &str, v: &Value) -> Result<Value, ApiError> {
    if key == "certificate_id" {
        let id = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        return match id {
            Some(id) if store.certs.contains_key(&id) => Ok(json!(id)),
            _ => Err(ApiError::unprocessable("Validation failed: Certificate ID is invalid")),
        };
    }
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(_) => Ok(v.clone()),
        Value::Number(n) => Ok(Value::String(n.to_string())),
        Value::Bool(b) => Ok(Value::String(if *b { "1" } else { "0" }.into())),
        _ => Err(ApiError::unprocessable(format!(
            "Validation failed: configuration.{key} must be a string"
        ))),
    }
}

fn merge_parameter(key: &str, p: &mut Parameter, body: &Map<String, Value>, new: bool) -> Result<(), ApiError> {
    for (field, v) in body {
        let name = format!("parameters.{key}.{field}");
        match field.as_str() {
            // Label is settable only when the parameter is created.
            "label" if new => p.label = opt_string(&name, v)?.unwrap_or_else(|| key.to_owned()),
            "user_attribute_mappings" => p.user_attribute_mappings = opt_string(&name, v)?,
            "user_attribute_macros" => p.user_attribute_macros = opt_string(&name, v)?,
            "attributes_transformations" => p.attributes_transformations = opt_string(&name, v)?,
            "include_in_saml_assertion" => p.include_in_saml_assertion = boolean(&name, v)?,
            "skip_if_blank" => p.skip_if_blank = boolean(&name, v)?,
            "provisioned_entitlements" => p.provisioned_entitlements = boolean(&name, v)?,
            "safe_entitlements_enabled" => p.safe_entitlements_enabled = boolean(&name, v)?,
            "values" | "default_values" => {
                let ok = match v {
                    Value::Null | Value::String(_) => true,
                    Value::Array(items) => items.iter().all(Value::is_string),
                    _ => false,
                };
                if !ok {
                    return Err(ApiError::unprocessable(format!(
                        "Validation failed: {name} must be a string or an array of strings"
                    )));
                }
                // Stored verbatim: a string stays a string, `[""]` stays `[""]`.
                if field == "values" {
                    p.values = v.clone();
                } else {
                    p.default_values = v.clone();
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Applies a POST/PUT body to `app` (partial update: omitted fields keep their value).
/// Returns the requested `role_ids`, applied by the caller once everything validated.
fn apply_body(
    store: &mut Store,
    connector: &Connector,
    app: &mut App,
    body: &Map<String, Value>,
) -> Result<Option<Vec<i64>>, ApiError> {
    let mut role_ids = None;
    for (field, v) in body {
        match field.as_str() {
            "name" => match v.as_str() {
                Some(s) if !s.trim().is_empty() => app.name = s.to_owned(),
                _ => return Err(ApiError::unprocessable("Validation failed: Name can't be blank")),
            },
            "description" => app.description = opt_string(field, v)?,
            "notes" => app.notes = opt_string(field, v)?,
            "visible" => app.visible = boolean(field, v)?,
            "allow_assumed_signin" => app.allow_assumed_signin = boolean(field, v)?,
            "policy_id" => app.policy_id = opt_int(field, v)?,
            "brand_id" => app.brand_id = opt_int(field, v)?,
            "tab_id" => app.tab_id = opt_int(field, v)?,
            "role_ids" => {
                let ids = v
                    .as_array()
                    .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| {
                        ApiError::unprocessable("Validation failed: role_ids must be an array of integers")
                    })?;
                if let Some(missing) = ids.iter().find(|id| !store.roles.contains_key(id)) {
                    return Err(ApiError::unprocessable(format!(
                        "Validation failed: Role {missing} does not exist"
                    )));
                }
                role_ids = Some(ids);
            }
            "configuration" => {
                let Some(config) = v.as_object() else {
                    if v.is_null() {
                        continue;
                    }
                    return Err(ApiError::unprocessable(
                        "Validation failed: configuration must be an object",
                    ));
                };
                for (key, value) in config {
                    if !connector.allows_config_key(key) {
                        return Err(ApiError::bad_request(format!(
                            "Unknown parameter on configuration section: {key}"
                        )));
                    }
                    let value = config_value(store, key, value)?;
                    app.configuration.insert(key.clone(), value);
                }
            }
            "parameters" => {
                let Some(params) = v.as_object() else {
                    if v.is_null() {
                        continue;
                    }
                    return Err(ApiError::unprocessable(
                        "Validation failed: parameters must be an object",
                    ));
                };
                // Merge by key: parameters absent from the body are kept.
                for (key, value) in params {
                    let Some(fields) = value.as_object() else {
                        return Err(ApiError::unprocessable(format!(
                            "Validation failed: parameters.{key} must be an object"
                        )));
                    };
                    if let Some(existing) = app.parameters.get_mut(key) {
                        merge_parameter(key, existing, fields, false)?;
                    } else if connector.allows_new_parameters {
                        let mut p = Parameter::new(store.alloc_param_id(), key);
                        merge_parameter(key, &mut p, fields, true)?;
                        app.parameters.insert(key.clone(), p);
                    } else {
                        return Err(ApiError::unprocessable(format!(
                            "Validation failed: Connector does not allow new parameters ({key})"
                        )));
                    }
                }
            }
            // Read-only or immutable: `sso`, ids, timestamps, connector.
            _ => {}
        }
    }
    Ok(role_ids)
}

/// Creates an app from a POST body; shared by the route and the test seeding API.
pub fn create_app(store: &mut Store, body: &Map<String, Value>) -> Result<i64, ApiError> {
    let connector = body
        .get("connector_id")
        .and_then(Value::as_i64)
        .and_then(connectors::find)
        .ok_or_else(|| ApiError::unprocessable("Validation failed: Connector ID is invalid"))?;
    if body
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err(ApiError::unprocessable("Validation failed: Name can't be blank"));
    }
    let now = SystemTime::now();
    let mut configuration = Map::new();
    for (key, default) in connector.config {
        let value = match (*key, default) {
            ("certificate_id", _) => json!(store.default_cert_id),
            (_, Some(d)) => json!(d),
            (_, None) => Value::Null,
        };
        configuration.insert((*key).to_owned(), value);
    }
    let mut app = App {
        id: 0,
        uuid: format::random_uuid(),
        connector_id: connector.id,
        auth_method: connector.auth_method,
        name: String::new(),
        description: None,
        notes: None,
        visible: true,
        icon_url: connector.icon_url(),
        policy_id: None,
        brand_id: None,
        allow_assumed_signin: false,
        tab_id: None,
        provisioning_enabled: false,
        configuration,
        parameters: Default::default(),
        created_at: now,
        updated_at: now,
    };
    for cp in connector.params {
        let mut p = Parameter::new(store.alloc_param_id(), cp.label);
        p.user_attribute_mappings = Some(cp.user_attribute_mappings.to_owned());
        p.attributes_transformations = cp.attributes_transformations.map(str::to_owned);
        p.include_in_saml_assertion = cp.include_in_saml_assertion;
        p.connector_defined = true;
        app.parameters.insert(cp.key.to_owned(), p);
    }
    let role_ids = apply_body(store, connector, &mut app, body)?;
    app.id = store.alloc_app_id();
    let id = app.id;
    store.apps.insert(id, app);
    if let Some(ids) = role_ids {
        store.set_app_roles(id, &ids);
    }
    Ok(id)
}

/// PUT semantics on a copy, committed only if the whole body validates.
pub fn update_app(store: &mut Store, id: i64, body: &Map<String, Value>) -> Result<(), ApiError> {
    let mut app = store.apps.get(&id).cloned().ok_or_else(ApiError::not_found)?;
    let connector = connectors::find(app.connector_id).ok_or_else(ApiError::not_found)?;
    let role_ids = apply_body(store, connector, &mut app, body)?;
    app.updated_at = SystemTime::now();
    store.apps.insert(id, app);
    if let Some(ids) = role_ids {
        store.set_app_roles(id, &ids);
    }
    Ok(())
}

pub async fn create(State(shared): State<Arc<Shared>>, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    let mut store = shared.lock();
    let id = create_app(&mut store, &body)?;
    let app = store.apps.get(&id).ok_or_else(ApiError::not_found)?;
    // The SDK declares 200 for create (reference §4).
    Ok(axum::Json(app_json(&store, app)).into_response())
}

pub async fn get(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let store = shared.lock();
    let app = store.apps.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(app_json(&store, app)).into_response())
}

pub async fn update(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let id = parse_id(&id)?;
    let mut store = shared.lock();
    if !store.apps.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let body = parse_object(&body)?;
    update_app(&mut store, id, &body)?;
    let app = store.apps.get(&id).ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(app_json(&store, app)).into_response())
}

pub async fn delete(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    if shared.lock().remove_app(id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found())
    }
}

pub async fn delete_parameter(
    State(shared): State<Arc<Shared>>,
    Path((id, parameter_id)): Path<(String, String)>,
) -> ApiResult {
    let id = parse_id(&id)?;
    let parameter_id = parse_id(&parameter_id)?;
    let mut store = shared.lock();
    let app = store.apps.get_mut(&id).ok_or_else(ApiError::not_found)?;
    let (key, param) = app
        .parameters
        .iter()
        .find(|(_, p)| p.id == parameter_id)
        .ok_or_else(ApiError::not_found)?;
    if param.connector_defined {
        return Err(ApiError::forbidden(format!(
            "not allowed to destroy Parameter {parameter_id}:{key}"
        )));
    }
    let key = key.clone();
    app.parameters.remove(&key);
    app.updated_at = SystemTime::now();
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref());
    let page = page_request(&params, 1000)?;
    let int_filter = |key: &str| -> Result<Option<i64>, ApiError> {
        params
            .get(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::unprocessable(format!("invalid value in \"{key}\"")))
            })
            .transpose()
    };
    let connector_id = int_filter("connector_id")?;
    let auth_method = int_filter("auth_method")?;
    let name = params.get("name");
    let store = shared.lock();
    let items: Vec<Value> = store
        .apps
        .values()
        .filter(|a| name.is_none_or(|n| wildcard_match(n, &a.name)))
        .filter(|a| connector_id.is_none_or(|c| a.connector_id == c))
        .filter(|a| auth_method.is_none_or(|m| a.auth_method == m))
        .map(app_summary_json)
        .collect();
    Ok(pagination::respond(items, page))
}

pub async fn users(State(shared): State<Arc<Shared>>, Path(id): Path<String>, RawQuery(q): RawQuery) -> ApiResult {
    let id = parse_id(&id)?;
    let page = page_request(&Params::parse(q.as_deref()), 1000)?;
    let store = shared.lock();
    if !store.apps.contains_key(&id) {
        return Err(ApiError::not_found());
    }
    let user_ids: BTreeSet<i64> = store
        .roles
        .values()
        .filter(|r| r.members.apps.contains(&id))
        .flat_map(|r| r.members.users.keys().copied())
        .collect();
    let items: Vec<Value> = user_ids
        .iter()
        .filter_map(|uid| store.users.get(uid))
        .map(|u| {
            json!({"id": u.id, "firstname": u.firstname, "lastname": u.lastname, "username": u.username, "email": u.email})
        })
        .collect();
    Ok(pagination::respond(items, page))
}

pub async fn connectors(RawQuery(q): RawQuery) -> ApiResult {
    let params = Params::parse(q.as_deref());
    let page = page_request(&params, 1000)?;
    let name = params.get("name");
    let auth_method = params.get("auth_method").and_then(|v| v.parse::<i64>().ok());
    let items: Vec<Value> = connectors::CONNECTORS
        .iter()
        // `name` matches names or partial names.
        .filter(|c| name.is_none_or(|n| wildcard_match(&format!("*{}*", n.trim_matches('*')), c.name)))
        .filter(|c| auth_method.is_none_or(|m| c.auth_method == m))
        .map(Connector::json)
        .collect();
    Ok(pagination::respond(items, page))
}
