//! Instances, users and profiles held by the Connect test server.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::accounting::CallLog;
use super::faults::FaultState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityManagementType {
    Saml,
    ConnectManaged,
    ExistingDirectory,
}

impl IdentityManagementType {
    pub fn wire(self) -> &'static str {
        match self {
            Self::Saml => "SAML",
            Self::ConnectManaged => "CONNECT_MANAGED",
            Self::ExistingDirectory => "EXISTING_DIRECTORY",
        }
    }
}

/// What [`super::ConnectServer::add_instance`] creates. `Default` is a SAML instance in us-east-1.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub identity_management_type: IdentityManagementType,
    /// `None`: `https://<alias>.my.connect.aws`.
    pub access_url: Option<String>,
    pub region: String,
    pub account: String,
    /// `None`: derived from the generated id.
    pub alias: Option<String>,
    /// Wire value of `InstanceStatus`.
    pub status: String,
}

impl Default for InstanceSpec {
    fn default() -> Self {
        Self {
            identity_management_type: IdentityManagementType::Saml,
            access_url: None,
            region: "us-east-1".into(),
            account: "123456789012".into(),
            alias: None,
            status: "ACTIVE".into(),
        }
    }
}

impl InstanceSpec {
    pub fn saml(alias: &str) -> Self {
        Self {
            alias: Some(alias.into()),
            ..Self::default()
        }
    }

    pub fn connect_managed(alias: &str) -> Self {
        Self {
            identity_management_type: IdentityManagementType::ConnectManaged,
            alias: Some(alias.into()),
            ..Self::default()
        }
    }
}

/// Id and ARN of something the server created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    pub arn: String,
}

#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub arn: String,
    pub alias: String,
    pub region: String,
    pub account: String,
    pub identity_management_type: IdentityManagementType,
    pub status: String,
    pub access_url: String,
    pub created: SystemTime,
    /// In creation order; list pagination walks this order.
    pub users: Vec<User>,
    pub security_profiles: Vec<Profile>,
    pub routing_profiles: Vec<Profile>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub last_modified: SystemTime,
    pub seq: u64,
}

/// Seed data for [`super::ConnectServer::add_user`]; no validation is applied to seeded users.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub secondary_email: Option<String>,
    pub security_profile_ids: Vec<String>,
    pub routing_profile_id: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl NewUser {
    pub fn named(username: &str) -> Self {
        Self {
            username: username.into(),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub arn: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub secondary_email: Option<String>,
    pub mobile: Option<String>,
    pub security_profile_ids: Vec<String>,
    pub routing_profile_id: Option<String>,
    pub hierarchy_group_id: Option<String>,
    pub directory_user_id: Option<String>,
    /// Wire value of `PhoneConfig.PhoneType`, if any.
    pub phone_type: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub last_modified: SystemTime,
    pub last_modified_region: String,
    /// Creation order; pagination cursors point at it.
    pub seq: u64,
    /// Remaining ListUsers/SearchUsers reads before the user shows up there (eventual consistency).
    pub hidden_for_reads: u32,
}

pub struct Store {
    pub instances: HashMap<String, Instance>,
    next_seq: u64,
    pub faults: FaultState,
    pub calls: CallLog,
    /// CreateUser fails with LimitExceededException once an instance holds this many users.
    pub user_quota: Option<usize>,
    /// DescribeInstance fields replaced on the wire, per instance id (`null` removes the field).
    pub instance_overrides: HashMap<String, serde_json::Map<String, serde_json::Value>>,
}

pub type Shared = Arc<Mutex<Store>>;

pub fn lock(shared: &Shared) -> MutexGuard<'_, Store> {
    // A panicking test thread must not wedge the server for the others.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn new_id() -> String {
    // Random UUID v4 (version nibble 4, variant 10xx), the shape of real Connect ids.
    let v = (rand::random::<u128>() & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        v >> 96,
        (v >> 80) & 0xFFFF,
        (v >> 64) & 0xFFFF,
        (v >> 48) & 0xFFFF,
        v & 0xFFFF_FFFF_FFFF
    )
}

impl Store {
    pub fn new() -> Self {
        Self {
            instances: HashMap::new(),
            next_seq: 1,
            faults: FaultState::default(),
            calls: CallLog::default(),
            user_quota: None,
            instance_overrides: HashMap::new(),
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Connect accepts the instance id or its full ARN wherever `InstanceId` is taken.
    pub fn instance(&self, id_or_arn: &str) -> Option<&Instance> {
        self.instances
            .get(id_or_arn)
            .or_else(|| self.instances.values().find(|i| i.arn == id_or_arn))
    }

    pub fn instance_mut(&mut self, id_or_arn: &str) -> Option<&mut Instance> {
        let id = self.instance(id_or_arn)?.id.clone();
        self.instances.get_mut(&id)
    }

    pub fn add_instance(&mut self, spec: InstanceSpec) -> Created {
        let id = new_id();
        let alias = spec.alias.unwrap_or_else(|| format!("test-{}", &id[..8]));
        let arn = format!("arn:aws:connect:{}:{}:instance/{id}", spec.region, spec.account);
        let access_url = spec
            .access_url
            .unwrap_or_else(|| format!("https://{alias}.my.connect.aws"));
        self.instances.insert(
            id.clone(),
            Instance {
                id: id.clone(),
                arn: arn.clone(),
                alias,
                region: spec.region,
                account: spec.account,
                identity_management_type: spec.identity_management_type,
                status: spec.status,
                access_url,
                created: SystemTime::now(),
                users: Vec::new(),
                security_profiles: Vec::new(),
                routing_profiles: Vec::new(),
            },
        );
        Created { id, arn }
    }

    pub fn add_profile(&mut self, instance: &str, kind: ProfileKind, name: &str) -> Option<Created> {
        let seq = self.next_seq();
        let inst = self.instance_mut(instance)?;
        let id = new_id();
        let arn = format!("{}/{}/{id}", inst.arn, kind.arn_segment());
        let profile = Profile {
            id: id.clone(),
            arn: arn.clone(),
            name: name.into(),
            last_modified: SystemTime::now(),
            seq,
        };
        match kind {
            ProfileKind::Security => inst.security_profiles.push(profile),
            ProfileKind::Routing => inst.routing_profiles.push(profile),
        }
        Some(Created { id, arn })
    }

    /// Inserts a user as-is; `hidden_for_reads` applies the eventual-consistency lag.
    pub fn insert_user(
        &mut self,
        instance: &str,
        new: NewUser,
        extra: UserExtra,
        hidden_for_reads: u32,
    ) -> Option<Created> {
        let seq = self.next_seq();
        let inst = self.instance_mut(instance)?;
        let id = new_id();
        let arn = format!("{}/agent/{id}", inst.arn);
        inst.users.push(User {
            id: id.clone(),
            arn: arn.clone(),
            username: new.username,
            first_name: new.first_name,
            last_name: new.last_name,
            email: new.email,
            secondary_email: new.secondary_email,
            mobile: extra.mobile,
            security_profile_ids: new.security_profile_ids,
            routing_profile_id: new.routing_profile_id,
            hierarchy_group_id: extra.hierarchy_group_id,
            directory_user_id: extra.directory_user_id,
            phone_type: extra.phone_type,
            tags: new.tags,
            last_modified: SystemTime::now(),
            last_modified_region: inst.region.clone(),
            seq,
            hidden_for_reads,
        });
        Some(Created { id, arn })
    }
}

/// CreateUser fields that seeding does not need.
#[derive(Debug, Clone, Default)]
pub struct UserExtra {
    pub mobile: Option<String>,
    pub hierarchy_group_id: Option<String>,
    pub directory_user_id: Option<String>,
    pub phone_type: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    Security,
    Routing,
}

impl ProfileKind {
    fn arn_segment(self) -> &'static str {
        match self {
            Self::Security => "security-profile",
            Self::Routing => "routing-profile",
        }
    }
}

impl Instance {
    /// One ListUsers/SearchUsers read: returns, per user (in order), whether this read sees it,
    /// and moves every lagging user one read closer to visible.
    pub fn consume_read(&mut self) -> Vec<bool> {
        self.users
            .iter_mut()
            .map(|u| {
                let visible = u.hidden_for_reads == 0;
                u.hidden_for_reads = u.hidden_for_reads.saturating_sub(1);
                visible
            })
            .collect()
    }
}
