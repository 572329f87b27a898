//! Users: finding the OneLogin user behind each login.

use serde::Deserialize;

use super::client::OneLoginClient;
use super::error::OneLoginError;

/// The API's page size for users (the docs say 50; the SDK claims 100).
pub const USERS_PAGE: u32 = 50;
/// `status` of a user who can sign in.
pub const STATUS_ACTIVE: i64 = 1;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub status: Option<i64>,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == Some(STATUS_ACTIVE)
    }
}

/// Which attribute a login is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoginField {
    Email,
    Username,
}

impl LoginField {
    fn param(self) -> &'static str {
        match self {
            LoginField::Email => "email",
            LoginField::Username => "username",
        }
    }
}

impl OneLoginClient {
    /// The user whose email or username is exactly `login`. A `*` would be a wildcard to the
    /// API, so such logins match nothing.
    pub async fn find_user(&self, field: LoginField, login: &str) -> Result<Option<User>, OneLoginError> {
        if login.contains('*') || login.trim().is_empty() {
            return Ok(None);
        }
        let users: Vec<User> = self
            .list_all("/api/2/users", &[(field.param(), login.to_string())], USERS_PAGE)
            .await?;
        let wanted = login.to_lowercase();
        Ok(users.into_iter().find(|u| {
            let value = match field {
                LoginField::Email => &u.email,
                LoginField::Username => &u.username,
            };
            value.as_deref().is_some_and(|v| v.to_lowercase() == wanted)
        }))
    }

    /// Every user of the account, page by page.
    pub async fn all_users(&self) -> Result<Vec<User>, OneLoginError> {
        self.list_all("/api/2/users", &[], USERS_PAGE).await
    }

    /// Users created or changed at or after `since` (usually a page or none).
    pub async fn users_updated_since(&self, since: k8s_openapi::jiff::Timestamp) -> Result<Vec<User>, OneLoginError> {
        let since = since.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        self.list_all("/api/2/users", &[("updated_since", since)], USERS_PAGE)
            .await
    }
}
