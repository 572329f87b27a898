//! In-memory tenant state: apps, roles, users, certificates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::accounting::CallStats;
use super::auth::AuthState;
use super::certs::{self, Certificate};
use super::faults::{FaultState, RateBudget};

#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub id: i64,
    pub label: String,
    pub user_attribute_mappings: Option<String>,
    pub user_attribute_macros: Option<String>,
    pub attributes_transformations: Option<String>,
    pub include_in_saml_assertion: bool,
    pub skip_if_blank: bool,
    /// Stored verbatim: string, array or null.
    pub values: Value,
    pub default_values: Value,
    pub provisioned_entitlements: bool,
    pub safe_entitlements_enabled: bool,
    /// Connector-defined parameters cannot be deleted (403).
    pub connector_defined: bool,
}

impl Parameter {
    pub fn new(id: i64, label: &str) -> Self {
        Self {
            id,
            label: label.to_owned(),
            user_attribute_mappings: None,
            user_attribute_macros: None,
            attributes_transformations: None,
            include_in_saml_assertion: false,
            skip_if_blank: false,
            values: Value::Null,
            default_values: Value::Null,
            provisioned_entitlements: false,
            safe_entitlements_enabled: false,
            connector_defined: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: i64,
    /// Identifies the app in its metadata URL and issuer.
    pub uuid: String,
    pub connector_id: i64,
    pub auth_method: i64,
    /// Raw (unescaped) text; responses escape it.
    pub name: String,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub visible: bool,
    pub icon_url: String,
    pub policy_id: Option<i64>,
    pub brand_id: Option<i64>,
    pub allow_assumed_signin: bool,
    pub tab_id: Option<i64>,
    pub provisioning_enabled: bool,
    pub configuration: Map<String, Value>,
    pub parameters: BTreeMap<String, Parameter>,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

impl App {
    pub fn certificate_id(&self) -> Option<i64> {
        match self.configuration.get("certificate_id") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn config_str(&self, key: &str) -> Option<&str> {
        self.configuration.get(key).and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub email: Option<String>,
    pub username: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    /// 0 Unactivated, 1 Active, 2 Suspended, 3 Locked, 4 Password expired, 5 Awaiting reset, 7, 8.
    pub status: i64,
    /// 0 Unapproved, 1 Approved, 2 Rejected, 3 Unlicensed.
    pub state: i64,
    pub created_at: SystemTime,
    /// For `updated_since`; moved by `modify_user`.
    pub updated_at: SystemTime,
}

/// Seed for [`super::OneLoginServer::add_user`]; `id: None` allocates one.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Option<i64>,
    pub email: Option<String>,
    pub username: Option<String>,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    pub status: i64,
    pub state: i64,
}

impl Default for NewUser {
    fn default() -> Self {
        Self {
            id: None,
            email: None,
            username: None,
            firstname: None,
            lastname: None,
            status: 1,
            state: 1,
        }
    }
}

impl NewUser {
    /// An active, approved user whose username is the email.
    pub fn with_email(email: &str) -> Self {
        let local = email.split('@').next().unwrap_or(email);
        Self {
            email: Some(email.to_owned()),
            username: Some(email.to_owned()),
            firstname: Some(local.to_owned()),
            lastname: Some("Tester".to_owned()),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub apps: BTreeSet<i64>,
    /// user id → when it was added.
    pub users: BTreeMap<i64, SystemTime>,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub id: i64,
    pub name: String,
    pub members: Membership,
    pub admins: BTreeSet<i64>,
    /// Stale view served to reads while eventual-consistency lag is active.
    pub(super) lagged: Option<(Membership, u32)>,
}

impl Role {
    /// Call before changing `members`: readers keep seeing the old view for `lag_reads` reads.
    pub(super) fn before_member_write(&mut self, lag_reads: u32) {
        if lag_reads == 0 {
            return;
        }
        match &mut self.lagged {
            Some((_, left)) => *left = lag_reads,
            None => self.lagged = Some((self.members.clone(), lag_reads)),
        }
    }

    /// The membership an API read observes (consumes one lagged read).
    pub(super) fn read_members(&mut self) -> Membership {
        if let Some((view, left)) = &mut self.lagged
            && *left > 0
        {
            *left -= 1;
            let view = view.clone();
            if *left == 0 {
                self.lagged = None;
            }
            return view;
        }
        self.lagged = None;
        self.members.clone()
    }
}

pub struct Store {
    pub base_url: String,
    pub account_id: i64,
    pub apps: BTreeMap<i64, App>,
    pub roles: BTreeMap<i64, Role>,
    pub users: BTreeMap<i64, User>,
    pub certs: BTreeMap<i64, Certificate>,
    pub default_cert_id: i64,
    pub auth: AuthState,
    pub faults: FaultState,
    pub rate: RateBudget,
    pub calls: CallStats,
    /// Reads of role membership that return the pre-write view after each write.
    pub membership_lag: u32,
    next_app: i64,
    next_role: i64,
    next_user: i64,
    next_param: i64,
    next_cert: i64,
}

impl Store {
    pub fn new(base_url: String, account_id: i64, auth: AuthState, rate: RateBudget) -> Result<Self, String> {
        let mut store = Self {
            base_url,
            account_id,
            apps: BTreeMap::new(),
            roles: BTreeMap::new(),
            users: BTreeMap::new(),
            certs: BTreeMap::new(),
            default_cert_id: 0,
            auth,
            faults: FaultState::default(),
            rate,
            calls: CallStats::default(),
            membership_lag: 0,
            next_app: 1_000_001,
            next_role: 200_001,
            next_user: 50_001,
            next_param: 80_001,
            next_cert: 170_001,
        };
        let not_after = SystemTime::now() + certs::DEFAULT_VALIDITY;
        store.default_cert_id = store.add_certificate("Standard", not_after)?;
        Ok(store)
    }

    pub fn add_certificate(&mut self, name: &str, not_after: SystemTime) -> Result<i64, String> {
        let id = self.next_cert;
        self.next_cert += 1;
        let cert = certs::generate(id, name, not_after)?;
        self.certs.insert(id, cert);
        Ok(id)
    }

    pub fn alloc_app_id(&mut self) -> i64 {
        self.next_app += 1;
        self.next_app - 1
    }

    pub fn alloc_role_id(&mut self) -> i64 {
        self.next_role += 1;
        self.next_role - 1
    }

    pub fn alloc_param_id(&mut self) -> i64 {
        self.next_param += 1;
        self.next_param - 1
    }

    pub fn add_user(&mut self, seed: NewUser) -> i64 {
        let id = seed.id.unwrap_or_else(|| {
            while self.users.contains_key(&self.next_user) {
                self.next_user += 1;
            }
            self.next_user
        });
        self.users.insert(
            id,
            User {
                id,
                email: seed.email,
                username: seed.username,
                firstname: seed.firstname,
                lastname: seed.lastname,
                status: seed.status,
                state: seed.state,
                created_at: SystemTime::now(),
                updated_at: SystemTime::now(),
            },
        );
        id
    }

    pub fn add_role(&mut self, name: &str) -> i64 {
        let id = self.alloc_role_id();
        self.roles.insert(
            id,
            Role {
                id,
                name: name.to_owned(),
                members: Membership {
                    apps: BTreeSet::new(),
                    users: BTreeMap::new(),
                },
                admins: BTreeSet::new(),
                lagged: None,
            },
        );
        id
    }

    /// Role ids whose (true) app list contains `app_id`.
    pub fn app_role_ids(&self, app_id: i64) -> Vec<i64> {
        self.roles
            .values()
            .filter(|r| r.members.apps.contains(&app_id))
            .map(|r| r.id)
            .collect()
    }

    /// `role_ids` on an app replaces the app's whole role list.
    pub fn set_app_roles(&mut self, app_id: i64, role_ids: &[i64]) {
        let lag = self.membership_lag;
        for role in self.roles.values_mut() {
            let want = role_ids.contains(&role.id);
            if want != role.members.apps.contains(&app_id) {
                role.before_member_write(lag);
                if want {
                    role.members.apps.insert(app_id);
                } else {
                    role.members.apps.remove(&app_id);
                }
            }
        }
    }

    pub fn remove_app(&mut self, app_id: i64) -> bool {
        let existed = self.apps.remove(&app_id).is_some();
        for role in self.roles.values_mut() {
            role.members.apps.remove(&app_id);
            if let Some((view, _)) = &mut role.lagged {
                view.apps.remove(&app_id);
            }
        }
        existed
    }

    pub fn remove_user(&mut self, user_id: i64) -> bool {
        let existed = self.users.remove(&user_id).is_some();
        for role in self.roles.values_mut() {
            role.members.users.remove(&user_id);
            role.admins.remove(&user_id);
            if let Some((view, _)) = &mut role.lagged {
                view.users.remove(&user_id);
            }
        }
        existed
    }
}

pub struct Shared {
    store: Mutex<Store>,
}

impl Shared {
    pub fn new(store: Store) -> Self {
        Self {
            store: Mutex::new(store),
        }
    }

    /// A panicking test must not wedge the server for other assertions.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}
