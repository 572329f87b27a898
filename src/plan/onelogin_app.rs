//! The OneLogin app body for connector 110016, "SAML Custom Connector (Advanced)".
//!
//! Only keys the operator manages are here: OneLogin's PUT merges, so everything else an admin
//! sets in the portal is left alone, and drift is judged on these keys only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::Subject;

pub const CONNECTOR_ID: i64 = 110016;

pub const ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
pub const ROLE_SESSION_NAME_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
pub const SESSION_DURATION_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";
/// OneLogin's connector-defined parameter that becomes the NameID.
pub const NAME_ID_PARAMETER: &str = "saml_username";
/// Line of `notes` that marks an app as ours; recovery after a crash looks for it.
pub const OWNER_MARKER_KEY: &str = "connectsso.io/owner";
pub const UID_MARKER_KEY: &str = "connectsso.io/uid";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppBody {
    pub connector_id: i64,
    pub name: String,
    pub visible: bool,
    pub description: String,
    pub notes: String,
    pub configuration: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, Parameter>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub user_attribute_mappings: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_attribute_macros: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_in_saml_assertion: Option<bool>,
}

/// Inputs of the app body, all already resolved by the planner.
pub struct AppInputs<'a> {
    pub name: &'a str,
    pub visible: bool,
    pub subject: Subject,
    pub relay_state: &'a str,
    pub acs_url: &'a str,
    pub audience: &'a str,
    pub role_arn: &'a str,
    pub provider_arn: &'a str,
    pub session_duration_seconds: Option<i32>,
    pub owner: &'a str,
    pub uid: Option<&'a str>,
}

pub fn app_body(i: &AppInputs<'_>) -> AppBody {
    let subject_attribute = match i.subject {
        Subject::Email => "email",
        Subject::Username => "username",
    };
    let configuration = BTreeMap::from(
        [
            ("relaystate", i.relay_state.to_string()),
            ("audience", i.audience.to_string()),
            ("recipient", i.acs_url.to_string()),
            ("consumer_url", i.acs_url.to_string()),
            ("validator", exact_match_regex(i.acs_url)),
            // Specific: an issuer (and so metadata) of this app's own, not shared with other apps.
            ("saml_issuer_type", "0".to_string()),
            ("signature_algorithm", "SHA-256".to_string()),
            // Email format for emails; Unspecified for usernames, which need not look like one.
            (
                "saml_nameid_format_id",
                if i.subject == Subject::Email { "0" } else { "3" }.to_string(),
            ),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    let mut parameters = BTreeMap::from([
        (
            NAME_ID_PARAMETER.to_string(),
            Parameter {
                label: None,
                user_attribute_mappings: subject_attribute.to_string(),
                user_attribute_macros: None,
                include_in_saml_assertion: None,
            },
        ),
        (
            ROLE_ATTRIBUTE.to_string(),
            macro_parameter("Role", format!("{},{}", i.role_arn, i.provider_arn)),
        ),
        (
            ROLE_SESSION_NAME_ATTRIBUTE.to_string(),
            Parameter {
                label: Some("RoleSessionName".to_string()),
                user_attribute_mappings: subject_attribute.to_string(),
                user_attribute_macros: None,
                include_in_saml_assertion: Some(true),
            },
        ),
    ]);
    if let Some(seconds) = i.session_duration_seconds {
        parameters.insert(
            SESSION_DURATION_ATTRIBUTE.to_string(),
            macro_parameter("SessionDuration", seconds.to_string()),
        );
    }
    AppBody {
        connector_id: CONNECTOR_ID,
        name: i.name.to_string(),
        visible: i.visible,
        description: "Amazon Connect single sign-on".to_string(),
        notes: owner_notes(i.owner, i.uid),
        configuration,
        parameters,
    }
}

/// A fixed value: OneLogin sends a macro's text as written.
fn macro_parameter(label: &str, value: String) -> Parameter {
    Parameter {
        label: Some(label.to_string()),
        user_attribute_mappings: "_macro_".to_string(),
        user_attribute_macros: Some(value),
        include_in_saml_assertion: Some(true),
    }
}

/// The ownership marker written into the app's `notes`.
pub fn owner_notes(owner: &str, uid: Option<&str>) -> String {
    let mut notes = format!("Managed by connect-sso-operator; edits here are reverted.\n{OWNER_MARKER_KEY}={owner}");
    if let Some(uid) = uid {
        notes.push_str(&format!("\n{UID_MARKER_KEY}={uid}"));
    }
    notes
}

/// A regex matching exactly `url`: every character that is special in a regex, and '/', escaped.
pub fn exact_match_regex(url: &str) -> String {
    let mut out = String::from("^");
    for c in url.chars() {
        if "\\^$.|?*+()[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('$');
    out
}
