//! The operator-owned OneLogin role's members: the union of every mapping of an app. Only the
//! difference is sent, in batches, and the role is listed again only when the last listing is
//! older than the verification interval, so a steady state costs no calls.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use kube::ResourceExt;
use kube::runtime::reflector::Store;

use crate::api::ConnectUserMapping;
use crate::controller::ReconcileError;
use crate::onelogin::{OneLoginClient, User};

/// What the operator last knew of one role.
#[derive(Clone, Debug)]
struct Known {
    members: BTreeSet<i64>,
    listed_at: Instant,
}

/// An account's users as last listed: in full now and then, brought up to date in between with
/// `updated_since`, so a steady state does not re-list thousands of users.
#[derive(Clone)]
struct Directory {
    users: Arc<Vec<User>>,
    full_at: Instant,
    refreshed_at: Instant,
    /// Wall-clock time of the last listing, for `updated_since`.
    refreshed_wall: Timestamp,
}

/// Caches shared by all mapping reconciles of the process.
#[derive(Default)]
pub struct Caches {
    roles: Mutex<HashMap<i64, Known>>,
    directories: Mutex<HashMap<String, Directory>>,
    app_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The mapping controllers' caches (one per watched scope), where a mapping finds its
    /// siblings without listing every mapping, users and all, from the API server.
    mappings: Mutex<Vec<Store<ConnectUserMapping>>>,
}

/// What a sync changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: usize,
    pub removed: usize,
}

impl Caches {
    /// Serialises membership work per app, so two mappings of one app never race.
    pub fn app_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.app_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(key.to_string()).or_default().clone()
    }

    pub fn add_mapping_cache(&self, store: Store<ConnectUserMapping>) {
        self.mappings.lock().unwrap_or_else(|p| p.into_inner()).push(store);
    }

    /// Every live mapping of `m`'s app as last watched: the ones whose users the app's role
    /// holds. Waits for the first full listing: a pass that ran before it would take the users
    /// of the mappings not seen yet out of the role. `m` itself is taken from the cache too,
    /// because the copy a pass started with can be older than the one another pass put in the
    /// role while this pass waited for the app's lock; acting on it would take users out again.
    pub async fn mappings_of_app(
        &self,
        m: &ConnectUserMapping,
        with_self: bool,
    ) -> Result<Vec<Arc<ConnectUserMapping>>, ReconcileError> {
        let namespace = m.namespace();
        let name = m.name_any();
        let stores = self.mappings.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for store in &stores {
            if store.wait_until_ready().await.is_err() {
                return Err(ReconcileError::CacheClosed);
            }
        }
        let mut same_app: Vec<Arc<ConnectUserMapping>> = stores
            .iter()
            .flat_map(|s| s.state())
            .filter(|o| o.namespace() == namespace && o.spec.app_ref.name == m.spec.app_ref.name)
            .collect();
        let watched_self = same_app.iter().any(|o| o.name_any() == name);
        if with_self && !watched_self {
            same_app.push(Arc::new(m.clone()));
        }
        same_app.retain(|o| (with_self || o.name_any() != name) && o.metadata.deletion_timestamp.is_none());
        Ok(same_app)
    }

    /// Makes the role's members exactly `desired`.
    pub async fn sync(
        &self,
        ol: &OneLoginClient,
        role_id: i64,
        desired: &BTreeSet<i64>,
        verify_every: Duration,
    ) -> Result<Changes, ReconcileError> {
        let known = self
            .roles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&role_id)
            .cloned();
        let fresh = known.filter(|k| k.listed_at.elapsed() < verify_every);
        let (members, listed_at) = match fresh {
            Some(k) => (k.members, k.listed_at),
            None => (ol.role_user_ids(role_id).await?.into_iter().collect(), Instant::now()),
        };
        let add: Vec<i64> = desired.difference(&members).copied().collect();
        let remove: Vec<i64> = members.difference(desired).copied().collect();
        ol.add_role_users(role_id, &add).await?;
        ol.remove_role_users(role_id, &remove).await?;
        self.roles.lock().unwrap_or_else(|p| p.into_inner()).insert(
            role_id,
            Known {
                members: desired.clone(),
                listed_at,
            },
        );
        Ok(Changes {
            added: add.len(),
            removed: remove.len(),
        })
    }

    /// Forgets a role (after an error, so the next sync lists it again).
    pub fn forget(&self, role_id: i64) {
        self.roles.lock().unwrap_or_else(|p| p.into_inner()).remove(&role_id);
    }

    /// The account's users, at most `ttl` out of date: a full listing when the last one is older
    /// than `full_every` (which also forgets deleted users), otherwise only the changes since.
    pub async fn directory(
        &self,
        ol: &OneLoginClient,
        ttl: Duration,
        full_every: Duration,
    ) -> Result<Arc<Vec<User>>, ReconcileError> {
        let key = ol.account_key();
        let known = self
            .directories
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(d) = &known
            && d.refreshed_at.elapsed() < ttl
        {
            return Ok(d.users.clone());
        }
        let started_wall = Timestamp::now();
        let next = match known.filter(|d| d.full_at.elapsed() < full_every) {
            Some(d) => {
                // A minute of overlap covers clock skew between us and OneLogin.
                let since = d
                    .refreshed_wall
                    .checked_sub(SignedDuration::from_secs(60))
                    .unwrap_or(d.refreshed_wall);
                let changed = ol.users_updated_since(since).await?;
                let users = if changed.is_empty() {
                    d.users.clone()
                } else {
                    Arc::new(merge(&d.users, changed))
                };
                Directory {
                    users,
                    refreshed_at: Instant::now(),
                    refreshed_wall: started_wall,
                    ..d
                }
            }
            None => {
                let users = Arc::new(ol.all_users().await?);
                Directory {
                    users,
                    full_at: Instant::now(),
                    refreshed_at: Instant::now(),
                    refreshed_wall: started_wall,
                }
            }
        };
        let users = next.users.clone();
        self.directories
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, next);
        Ok(users)
    }
}

/// `users` with `changed` in place of the same ids, and the new ones at the end.
fn merge(users: &[User], changed: Vec<User>) -> Vec<User> {
    let mut out = users.to_vec();
    let at: HashMap<i64, usize> = out.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
    for u in changed {
        match at.get(&u.id) {
            Some(&i) => out[i] = u,
            None => out.push(u),
        }
    }
    out
}
