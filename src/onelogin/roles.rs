//! Roles: the only way the API grants an app to users.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::OneLoginClient;
use super::error::OneLoginError;

/// Most ids per add/remove call; the API documents no limit, so stay modest.
pub const MEMBER_BATCH: usize = 100;

#[derive(Clone, Debug, Deserialize)]
pub struct Role {
    pub id: i64,
    #[serde(default)]
    pub name: String,
}

#[derive(Deserialize)]
struct Id {
    id: i64,
}

/// `POST /roles` answers `{"id":N}`, though the docs show `[{"id":N}]`: accept both.
#[derive(Deserialize)]
#[serde(untagged)]
enum CreatedId {
    One(Id),
    List(Vec<Id>),
}

impl OneLoginClient {
    pub async fn get_role(&self, id: i64) -> Result<Option<Role>, OneLoginError> {
        self.call_opt(&format!("/api/2/roles/{id}")).await
    }

    pub async fn find_roles(&self, name: &str) -> Result<Vec<Role>, OneLoginError> {
        let roles: Vec<Role> = self
            .list_all("/api/2/roles", &[("name", name.to_string())], 650)
            .await?;
        Ok(roles.into_iter().filter(|r| r.name == name).collect())
    }

    pub async fn create_role(&self, name: &str) -> Result<i64, OneLoginError> {
        let created: CreatedId = self
            .call(Method::POST, "/api/2/roles", &[], Some(&json!({"name": name})))
            .await?;
        match created {
            CreatedId::One(id) => Ok(id.id),
            CreatedId::List(ids) => ids.first().map(|i| i.id).ok_or_else(|| OneLoginError::BadResponse {
                method: "POST",
                path: "/api/2/roles".into(),
                detail: "no id in the answer".into(),
            }),
        }
    }

    pub async fn delete_role(&self, id: i64) -> Result<(), OneLoginError> {
        self.call_empty(Method::DELETE, &format!("/api/2/roles/{id}"), None, true)
            .await
    }

    pub async fn role_app_ids(&self, id: i64) -> Result<Vec<i64>, OneLoginError> {
        let apps: Vec<Id> = self.list_all(&format!("/api/2/roles/{id}/apps"), &[], 100).await?;
        Ok(apps.into_iter().map(|a| a.id).collect())
    }

    /// Replaces the role's apps with exactly `app_ids`.
    pub async fn set_role_apps(&self, id: i64, app_ids: &[i64]) -> Result<(), OneLoginError> {
        let body = Value::from(app_ids.to_vec());
        self.call_empty(Method::PUT, &format!("/api/2/roles/{id}/apps"), Some(&body), false)
            .await
    }

    pub async fn role_user_ids(&self, id: i64) -> Result<Vec<i64>, OneLoginError> {
        let users: Vec<Id> = self.list_all(&format!("/api/2/roles/{id}/users"), &[], 100).await?;
        Ok(users.into_iter().map(|u| u.id).collect())
    }

    /// Adds users in batches; the body is a bare JSON array of ids.
    pub async fn add_role_users(&self, id: i64, user_ids: &[i64]) -> Result<(), OneLoginError> {
        for chunk in user_ids.chunks(MEMBER_BATCH) {
            let body = Value::from(chunk.to_vec());
            self.call_empty(Method::POST, &format!("/api/2/roles/{id}/users"), Some(&body), false)
                .await?;
        }
        Ok(())
    }

    pub async fn remove_role_users(&self, id: i64, user_ids: &[i64]) -> Result<(), OneLoginError> {
        for chunk in user_ids.chunks(MEMBER_BATCH) {
            let body = Value::from(chunk.to_vec());
            self.call_empty(Method::DELETE, &format!("/api/2/roles/{id}/users"), Some(&body), true)
                .await?;
        }
        Ok(())
    }
}
