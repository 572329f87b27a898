//! Judging each login of a mapping against what OneLogin and Amazon Connect hold: pure, so every
//! outcome (not found, inactive, invalid username, case mismatch, missing, to create) is tested
//! without servers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::connect_user::username_problem;
use crate::api::{AttentionReason, ConnectUsersMode, IdentifyBy, Subject, UserAttention, UserCounts};
use crate::onelogin::User;

/// OneLogin users by lower-cased email and username (OneLogin matches case-insensitively).
/// The users are shared with the directory they came from, not copied: at 10,000 users the
/// copies were most of the mapping's memory.
#[derive(Default)]
pub struct UserIndex {
    users: Arc<Vec<User>>,
    by_email: HashMap<String, usize>,
    by_username: HashMap<String, usize>,
}

impl UserIndex {
    pub fn new(users: Arc<Vec<User>>) -> Self {
        let mut by_email = HashMap::with_capacity(users.len());
        let mut by_username = HashMap::with_capacity(users.len());
        for (at, u) in users.iter().enumerate() {
            if let Some(e) = &u.email {
                by_email.insert(e.to_lowercase(), at);
            }
            if let Some(n) = &u.username {
                by_username.insert(n.to_lowercase(), at);
            }
        }
        UserIndex {
            users,
            by_email,
            by_username,
        }
    }

    pub fn get(&self, by: IdentifyBy, login: &str) -> Option<&User> {
        let map = match by {
            IdentifyBy::Email => &self.by_email,
            IdentifyBy::Username => &self.by_username,
        };
        map.get(&login.to_lowercase()).and_then(|&at| self.users.get(at))
    }
}

/// Amazon Connect usernames, exact (Connect compares case-sensitively) and lower-cased.
#[derive(Default)]
pub struct ConnectIndex {
    exact: HashSet<String>,
    folded: HashMap<String, String>,
}

impl ConnectIndex {
    pub fn new<'a>(usernames: impl IntoIterator<Item = &'a str>) -> Self {
        let mut index = ConnectIndex::default();
        for name in usernames {
            index.exact.insert(name.to_string());
            index.folded.insert(name.to_lowercase(), name.to_string());
        }
        index
    }
}

/// A Connect user to create for a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToCreate {
    pub login: String,
    pub username: String,
    pub user: User,
}

#[derive(Debug, Default)]
pub struct Assessment {
    /// Logins found in OneLogin: these get the app.
    pub found: usize,
    /// Every login needing a person, in the mapping's order.
    pub attention: Vec<UserAttention>,
    pub to_create: Vec<ToCreate>,
    pub counts: UserCounts,
}

pub struct Inputs<'a> {
    pub logins: &'a [String],
    pub identify_by: IdentifyBy,
    pub subject: Subject,
    pub mode: ConnectUsersMode,
    pub users: &'a UserIndex,
    /// `None` when Amazon Connect is not looked at (mode Ignore).
    pub connect: Option<&'a ConnectIndex>,
}

pub fn assess(i: &Inputs<'_>) -> Assessment {
    let mut out = Assessment::default();
    let mut seen = HashSet::new();
    for login in i.logins.iter().filter(|l| seen.insert(l.to_lowercase())) {
        out.counts.desired += 1;
        let flag = |out: &mut Assessment, reason, message: String| {
            out.attention.push(UserAttention {
                login: login.clone(),
                reason,
                message,
            });
        };
        let Some(user) = i.users.get(i.identify_by, login) else {
            out.counts.missing_in_one_login += 1;
            let field = if i.identify_by == IdentifyBy::Email {
                "email"
            } else {
                "username"
            };
            flag(
                &mut out,
                AttentionReason::NotFoundInOneLogin,
                format!("no OneLogin user has the {field} {login:?}"),
            );
            continue;
        };
        out.found += 1;
        if !user.is_active() {
            let status = user.status.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into());
            flag(
                &mut out,
                AttentionReason::InactiveInOneLogin,
                format!("the OneLogin user is not active (status {status}), so cannot sign in"),
            );
        }
        let Some(connect) = i.connect else { continue };
        let sent = match i.subject {
            Subject::Email => user.email.as_deref(),
            Subject::Username => user.username.as_deref(),
        };
        let Some(sent) = sent.filter(|s| !s.is_empty()) else {
            out.counts.invalid += 1;
            let what = if i.subject == Subject::Email {
                "an email"
            } else {
                "a username"
            };
            flag(
                &mut out,
                AttentionReason::InvalidConnectUsername,
                format!("the OneLogin user has no {what} to send as RoleSessionName"),
            );
            continue;
        };
        if let Some(problem) = username_problem(sent) {
            out.counts.invalid += 1;
            flag(
                &mut out,
                AttentionReason::InvalidConnectUsername,
                format!("{sent:?} cannot be an Amazon Connect username: {problem}"),
            );
            continue;
        }
        if connect.exact.contains(sent) {
            continue;
        }
        if let Some(other) = connect.folded.get(&sent.to_lowercase()) {
            out.counts.missing_in_connect += 1;
            flag(
                &mut out,
                AttentionReason::CaseMismatch,
                format!(
                    "OneLogin sends {sent:?} but the Amazon Connect user is {other:?}; usernames are case-sensitive, so sign-in fails with \"not onboarded\" until they match"
                ),
            );
            continue;
        }
        match i.mode {
            ConnectUsersMode::Create => out.to_create.push(ToCreate {
                login: login.clone(),
                username: sent.to_string(),
                user: user.clone(),
            }),
            _ => {
                out.counts.missing_in_connect += 1;
                flag(
                    &mut out,
                    AttentionReason::MissingInConnect,
                    format!("no Amazon Connect user is named {sent:?}; create one, or set connectUsers.mode: Create"),
                );
            }
        }
    }
    out
}
