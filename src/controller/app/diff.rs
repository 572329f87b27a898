//! What differs between the planned OneLogin app and the one observed, limited to the keys the
//! operator manages. Pure, so drift repair can be tested without a server.

use serde_json::{Map, Value, json};

use crate::onelogin::App;
use crate::plan::AppBody;
use crate::plan::onelogin_app::{Parameter, SESSION_DURATION_ATTRIBUTE};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppDiff {
    /// The PUT body, or `None` when nothing managed differs.
    pub patch: Option<Value>,
    /// Custom parameters the plan no longer has, by id, to delete.
    pub remove_parameters: Vec<(String, i64)>,
    /// Human-readable names of what differs, for events.
    pub changed: Vec<String>,
}

impl AppDiff {
    pub fn is_empty(&self) -> bool {
        self.patch.is_none() && self.remove_parameters.is_empty()
    }
}

pub fn app_diff(desired: &AppBody, observed: &App) -> AppDiff {
    let mut patch = Map::new();
    let mut changed = Vec::new();
    if observed.name != desired.name {
        patch.insert("name".into(), json!(desired.name));
        changed.push("name".to_string());
    }
    if observed.visible != Some(desired.visible) {
        patch.insert("visible".into(), json!(desired.visible));
        changed.push("visible".to_string());
    }
    if normalize_text(&observed.description) != normalize_text(&desired.description) {
        patch.insert("description".into(), json!(desired.description));
        changed.push("description".to_string());
    }
    if normalize_text(&observed.notes) != normalize_text(&desired.notes) {
        patch.insert("notes".into(), json!(desired.notes));
        changed.push("notes".to_string());
    }

    let config_changed: Vec<&String> = desired
        .configuration
        .iter()
        .filter(|(k, v)| observed.config_str(k).as_ref() != Some(*v))
        .map(|(k, _)| k)
        .collect();
    if !config_changed.is_empty() {
        // Send the whole section with our keys overlaid: whether OneLogin merges a partial
        // configuration is not documented, and this is safe either way.
        let mut config: Map<String, Value> = observed.configuration.clone().into_iter().collect();
        for (k, v) in &desired.configuration {
            config.insert(k.clone(), json!(v));
        }
        patch.insert("configuration".into(), Value::Object(config));
        changed.extend(config_changed.into_iter().map(|k| format!("configuration.{k}")));
    }

    let mut params = Map::new();
    for (key, want) in &desired.parameters {
        let have = observed.parameters.get(key);
        if have.is_some_and(|have| parameter_matches(want, have)) {
            continue;
        }
        let mut p = serde_json::to_value(want).unwrap_or_default();
        if have.is_some()
            && let Some(obj) = p.as_object_mut()
        {
            // A label is set when the parameter is created and cannot change.
            obj.remove("label");
        }
        params.insert(key.clone(), p);
        changed.push(format!("parameters.{key}"));
    }
    if !params.is_empty() {
        patch.insert("parameters".into(), Value::Object(params));
    }

    let remove_parameters: Vec<(String, i64)> = [SESSION_DURATION_ATTRIBUTE]
        .into_iter()
        .filter(|k| !desired.parameters.contains_key(*k))
        .filter_map(|k| Some((k.to_string(), observed.parameters.get(k)?.id?)))
        .collect();
    changed.extend(
        remove_parameters
            .iter()
            .map(|(k, _)| format!("parameters.{k} (removed)")),
    );

    AppDiff {
        patch: (!patch.is_empty()).then_some(Value::Object(patch)),
        remove_parameters,
        changed,
    }
}

fn parameter_matches(want: &Parameter, have: &crate::onelogin::ObservedParameter) -> bool {
    have.user_attribute_mappings.as_deref() == Some(want.user_attribute_mappings.as_str())
        && (want.user_attribute_macros.is_none() || have.user_attribute_macros == want.user_attribute_macros)
        && (want.include_in_saml_assertion.is_none()
            || have.include_in_saml_assertion == want.include_in_saml_assertion)
}

/// OneLogin may store line breaks as CRLF and trims trailing space.
fn normalize_text(s: &str) -> String {
    s.replace("\r\n", "\n").trim().to_string()
}
