//! The OneLogin credentials Secret: read on each reconcile, so a rotated Secret is used at once;
//! one client (and token) per distinct credential set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::error::ReconcileError;
use crate::onelogin::{ClientOptions, Credentials, OneLoginClient, RateBudget};

pub const CLIENT_ID: &str = "clientId";
pub const CLIENT_SECRET: &str = "clientSecret";
pub const API_URL: &str = "apiUrl";

/// Clients keyed by their credentials, sharing one rate budget.
pub struct OneLoginClients {
    budget: Arc<RateBudget>,
    options: ClientOptions,
    clients: Mutex<HashMap<(String, String, String), OneLoginClient>>,
}

impl OneLoginClients {
    pub fn new(budget: Arc<RateBudget>, options: ClientOptions) -> Self {
        OneLoginClients {
            budget,
            options,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn budget(&self) -> &Arc<RateBudget> {
        &self.budget
    }

    /// The client for the Secret `namespace/name` as it is now.
    pub async fn for_secret(
        &self,
        secrets: &Api<Secret>,
        namespace: &str,
        name: &str,
    ) -> Result<OneLoginClient, ReconcileError> {
        let secret = secrets
            .get_opt(name)
            .await?
            .ok_or_else(|| ReconcileError::SecretNotFound {
                namespace: namespace.to_string(),
                name: name.to_string(),
            })?;
        let credentials = read(&secret, namespace, name)?;
        let key = (
            credentials.client_id.clone(),
            credentials.client_secret.clone(),
            credentials.api_url.clone(),
        );
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = OneLoginClient::new(credentials, self.options.clone(), self.budget.clone()).map_err(|e| {
            ReconcileError::SecretInvalid {
                namespace: namespace.to_string(),
                name: name.to_string(),
                problem: e.to_string(),
            }
        })?;
        // Old credentials' clients are dropped: a rotated secret leaves no live token behind.
        clients.retain(|(id, _, url), _| !(id == &key.0 && url == &key.2));
        clients.insert(key, client.clone());
        Ok(client)
    }
}

fn read(secret: &Secret, namespace: &str, name: &str) -> Result<Credentials, ReconcileError> {
    let invalid = |problem: String| ReconcileError::SecretInvalid {
        namespace: namespace.to_string(),
        name: name.to_string(),
        problem,
    };
    let value = |key: &str| -> Result<String, ReconcileError> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.clone())
            .or_else(|| {
                secret
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(key))
                    .map(|s| s.clone().into_bytes())
            })
            .ok_or_else(|| {
                invalid(format!(
                    "key {key} is missing; it needs {CLIENT_ID}, {CLIENT_SECRET} and {API_URL}"
                ))
            })?;
        let text = String::from_utf8(bytes).map_err(|_| invalid(format!("key {key} is not UTF-8 text")))?;
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(invalid(format!("key {key} is empty")));
        }
        Ok(text)
    };
    Ok(Credentials {
        client_id: value(CLIENT_ID)?,
        client_secret: value(CLIENT_SECRET)?,
        api_url: value(API_URL)?,
    })
}
