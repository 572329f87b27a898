//! The Amazon Connect calls the operator makes.

use aws_sdk_connect::Client;
use aws_sdk_connect::types::{PhoneType, UserIdentityInfo, UserPhoneConfig};

use super::error::{AwsError, AwsErrorKind, classify};

#[derive(Clone, Debug)]
pub struct ObservedInstance {
    /// `SAML`, `CONNECT_MANAGED` or `EXISTING_DIRECTORY`.
    pub identity_management_type: String,
    pub status: String,
    pub access_url: Option<String>,
}

/// An Amazon Connect user as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectUser {
    pub id: String,
    pub username: String,
}

/// A named thing with an id (security and routing profiles).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    pub id: String,
    pub name: String,
}

/// Inputs of CreateUser on a SAML instance: no password, no primary email.
pub struct NewConnectUser<'a> {
    pub username: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub secondary_email: Option<&'a str>,
    pub security_profile_ids: &'a [String],
    pub routing_profile_id: &'a str,
    /// `None` for a soft phone; a desk phone needs its number.
    pub desk_phone: Option<&'a str>,
}

#[derive(Clone, Debug)]
pub struct Connect {
    client: Client,
}

impl Connect {
    pub fn new(client: Client) -> Self {
        Connect { client }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn describe_instance(&self, instance_id: &str) -> Result<Option<ObservedInstance>, AwsError> {
        let r = self.client.describe_instance().instance_id(instance_id).send().await;
        match r.map_err(|e| classify("Connect", "DescribeInstance", e)) {
            Ok(o) => Ok(o.instance().map(|i| ObservedInstance {
                identity_management_type: i
                    .identity_management_type()
                    .map(|t| t.as_str().to_string())
                    // Named in the InstanceNotSaml message: say so rather than leave a blank.
                    .unwrap_or_else(|| "no reported".to_string()),
                status: i.instance_status().map(|s| s.as_str().to_string()).unwrap_or_default(),
                access_url: i.instance_access_url().map(str::to_string),
            })),
            Err(e) if e.is(AwsErrorKind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every user of the instance, at the largest page size.
    pub async fn list_users(&self, instance_id: &str) -> Result<Vec<ConnectUser>, AwsError> {
        let mut pages = self
            .client
            .list_users()
            .instance_id(instance_id)
            .max_results(1000)
            .into_paginator()
            .send();
        let mut users = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("Connect", "ListUsers", e))?;
            users.extend(page.user_summary_list().iter().filter_map(|u| {
                Some(ConnectUser {
                    id: u.id()?.to_string(),
                    username: u.username()?.to_string(),
                })
            }));
        }
        Ok(users)
    }

    pub async fn security_profiles(&self, instance_id: &str) -> Result<Vec<Named>, AwsError> {
        let mut pages = self
            .client
            .list_security_profiles()
            .instance_id(instance_id)
            .max_results(1000)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("Connect", "ListSecurityProfiles", e))?;
            out.extend(page.security_profile_summary_list().iter().filter_map(|p| {
                Some(Named {
                    id: p.id()?.to_string(),
                    name: p.name()?.to_string(),
                })
            }));
        }
        Ok(out)
    }

    pub async fn routing_profiles(&self, instance_id: &str) -> Result<Vec<Named>, AwsError> {
        let mut pages = self
            .client
            .list_routing_profiles()
            .instance_id(instance_id)
            .max_results(1000)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("Connect", "ListRoutingProfiles", e))?;
            out.extend(page.routing_profile_summary_list().iter().filter_map(|p| {
                Some(Named {
                    id: p.id()?.to_string(),
                    name: p.name()?.to_string(),
                })
            }));
        }
        Ok(out)
    }

    /// Creates a user on a SAML instance and returns its id.
    pub async fn create_user(&self, instance_id: &str, user: &NewConnectUser<'_>) -> Result<String, AwsError> {
        let identity = UserIdentityInfo::builder()
            .first_name(user.first_name)
            .last_name(user.last_name)
            .set_secondary_email(user.secondary_email.map(str::to_string))
            .build();
        let phone = match user.desk_phone {
            Some(number) => UserPhoneConfig::builder()
                .phone_type(PhoneType::DeskPhone)
                .desk_phone_number(number),
            None => UserPhoneConfig::builder().phone_type(PhoneType::SoftPhone),
        };
        let phone = phone.build();
        let out = self
            .client
            .create_user()
            .instance_id(instance_id)
            .username(user.username)
            .identity_info(identity)
            .phone_config(phone)
            .set_security_profile_ids(Some(user.security_profile_ids.to_vec()))
            .routing_profile_id(user.routing_profile_id)
            .send()
            .await
            .map_err(|e| classify("Connect", "CreateUser", e))?;
        Ok(out.user_id().unwrap_or_default().to_string())
    }
}
