//! Whose is an existing external object? Decided from its tags (or the OneLogin app's notes).

use std::collections::BTreeMap;

use super::{TAG_OWNER, TAG_UID};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Marked with this resource's namespace/name (the uid may differ after a cluster rebuild:
    /// the object is still ours and is re-marked).
    Ours,
    /// Marked as another resource's.
    Other(String),
    /// No marker at all: someone made it by hand, or another tool did.
    Unmarked,
}

/// From IAM tags.
pub fn from_tags(tags: &BTreeMap<String, String>, owner: &str) -> Ownership {
    match tags.get(TAG_OWNER) {
        Some(o) if o == owner => Ownership::Ours,
        Some(o) => Ownership::Other(o.clone()),
        None => Ownership::Unmarked,
    }
}

/// From the `key=value` lines the operator writes into a OneLogin app's notes.
pub fn from_notes(notes: &str, owner: &str) -> Ownership {
    let marker = notes.lines().find_map(|l| {
        l.trim()
            .strip_prefix(super::onelogin_app::OWNER_MARKER_KEY)?
            .strip_prefix('=')
    });
    match marker {
        Some(o) if o.trim() == owner => Ownership::Ours,
        Some(o) => Ownership::Other(o.trim().to_string()),
        None => Ownership::Unmarked,
    }
}

/// The uid recorded in tags, if any.
pub fn uid_tag(tags: &BTreeMap<String, String>) -> Option<&str> {
    tags.get(TAG_UID).map(String::as_str)
}
