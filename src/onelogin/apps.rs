//! Apps: `/api/2/apps`.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::client::OneLoginClient;
use super::error::OneLoginError;
use crate::plan::AppBody;

/// An app as OneLogin returns it; only the parts the operator reads.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct App {
    pub id: i64,
    #[serde(default, deserialize_with = "unescaped")]
    pub name: String,
    #[serde(default)]
    pub visible: Option<bool>,
    #[serde(default, deserialize_with = "unescaped")]
    pub description: String,
    #[serde(default, deserialize_with = "unescaped")]
    pub notes: String,
    #[serde(default)]
    pub connector_id: Option<i64>,
    #[serde(default)]
    pub configuration: BTreeMap<String, Value>,
    #[serde(default)]
    pub parameters: BTreeMap<String, ObservedParameter>,
    #[serde(default)]
    pub sso: Option<Sso>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ObservedParameter {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub user_attribute_mappings: Option<String>,
    #[serde(default)]
    pub user_attribute_macros: Option<String>,
    #[serde(default)]
    pub include_in_saml_assertion: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Sso {
    #[serde(default)]
    pub metadata_url: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AppSummary {
    pub id: i64,
    #[serde(default, deserialize_with = "unescaped")]
    pub name: String,
    #[serde(default)]
    pub connector_id: Option<i64>,
}

impl App {
    /// A configuration value as a string: the API returns strings, but tolerate numbers and
    /// booleans as older tenants do.
    pub fn config_str(&self, key: &str) -> Option<String> {
        match self.configuration.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
            other => Some(other.to_string()),
        }
    }
}

impl OneLoginClient {
    pub async fn get_app(&self, id: i64) -> Result<Option<App>, OneLoginError> {
        self.call_opt(&format!("/api/2/apps/{id}")).await
    }

    /// Apps with exactly this name (OneLogin names need not be unique) from one connector.
    pub async fn find_apps(&self, name: &str, connector_id: i64) -> Result<Vec<AppSummary>, OneLoginError> {
        let filters = [("name", name.to_string()), ("connector_id", connector_id.to_string())];
        let apps: Vec<AppSummary> = self.list_all("/api/2/apps", &filters, 1000).await?;
        Ok(apps.into_iter().filter(|a| a.name == name).collect())
    }

    pub async fn create_app(&self, body: &AppBody) -> Result<App, OneLoginError> {
        let body = serde_json::to_value(body).map_err(|e| OneLoginError::BadResponse {
            method: "POST",
            path: "/api/2/apps".into(),
            detail: e.to_string(),
        })?;
        self.call(Method::POST, "/api/2/apps", &[], Some(&body)).await
    }

    /// A partial update: OneLogin merges top-level fields and parameters by key.
    pub async fn update_app(&self, id: i64, patch: &Value) -> Result<App, OneLoginError> {
        self.call(Method::PUT, &format!("/api/2/apps/{id}"), &[], Some(patch))
            .await
    }

    /// Deletes a custom parameter (connector parameters cannot be deleted).
    pub async fn delete_app_parameter(&self, app_id: i64, parameter_id: i64) -> Result<(), OneLoginError> {
        self.call_empty(
            Method::DELETE,
            &format!("/api/2/apps/{app_id}/parameters/{parameter_id}"),
            None,
            true,
        )
        .await
    }

    /// Deletes the app; an app already gone counts as deleted.
    pub async fn delete_app(&self, id: i64) -> Result<(), OneLoginError> {
        self.call_empty(Method::DELETE, &format!("/api/2/apps/{id}"), None, true)
            .await
    }
}

/// OneLogin returns text fields HTML-escaped.
fn unescaped<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.map(|s| html_unescape(&s)).unwrap_or_default())
}

pub fn html_unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}
