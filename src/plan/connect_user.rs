//! Which logins can be Amazon Connect usernames on a SAML instance.
//!
//! The RoleSessionName OneLogin sends must equal the username, so a login must be valid both as
//! an STS session name (2-64 of `[A-Za-z0-9_+=,.@-]`) and as a Connect SAML username (at most 64 of
//! `[A-Za-z0-9_.@-]`, '@' only in an email shape): the intersection.

pub const MAX_LEN: usize = 64;

/// Why `login` can never sign in to Amazon Connect, or `None` if it can.
pub fn username_problem(login: &str) -> Option<String> {
    let len = login.chars().count();
    if len < 2 {
        return Some("shorter than 2 characters, the minimum AWS allows for a role session name".into());
    }
    if len > MAX_LEN {
        return Some(format!(
            "{len} characters long; Amazon Connect usernames have at most {MAX_LEN}"
        ));
    }
    if login.contains('+') {
        return Some("contains '+', which Amazon Connect usernames cannot contain".into());
    }
    if let Some(c) = login
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.@-".contains(*c)))
    {
        return Some(format!(
            "contains {c:?}; Amazon Connect usernames allow only letters, digits and _.@-"
        ));
    }
    if login.contains('@') && !is_email_shape(login) {
        return Some(
            "contains '@' but is not an email address, which Amazon Connect requires of such usernames".into(),
        );
    }
    None
}

/// `local@domain.tld`: one '@', non-empty local part, a dotted domain without empty labels.
fn is_email_shape(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}
