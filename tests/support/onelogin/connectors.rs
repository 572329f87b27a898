//! Connector registry: which configuration keys an app may carry and which parameters it starts with.

use serde_json::{Value, json};

pub const SAML_CUSTOM_ADVANCED: i64 = 110_016;
pub const AWS_MULTI_ROLE: i64 = 50_534;
pub const AMAZON_CONNECT: i64 = 114_099;

pub struct ConnectorParam {
    pub key: &'static str,
    pub label: &'static str,
    pub user_attribute_mappings: &'static str,
    pub attributes_transformations: Option<&'static str>,
    pub include_in_saml_assertion: bool,
}

pub struct Connector {
    pub id: i64,
    pub name: &'static str,
    pub auth_method: i64,
    pub allows_new_parameters: bool,
    /// Configuration whitelist with defaults; `certificate_id` is filled with the account certificate.
    pub config: &'static [(&'static str, Option<&'static str>)],
    pub params: &'static [ConnectorParam],
}

const SAML_USERNAME: ConnectorParam = ConnectorParam {
    key: "saml_username",
    label: "NameID (fka Email)",
    user_attribute_mappings: "email",
    attributes_transformations: None,
    include_in_saml_assertion: false,
};

const AWS_PARAMS: &[ConnectorParam] = &[
    SAML_USERNAME,
    ConnectorParam {
        key: "https://aws.amazon.com/SAML/Attributes/Role",
        label: "Role",
        user_attribute_mappings: "none",
        attributes_transformations: Some("amazon_roles"),
        include_in_saml_assertion: true,
    },
    ConnectorParam {
        key: "https://aws.amazon.com/SAML/Attributes/RoleSessionName",
        label: "RoleSessionName",
        user_attribute_mappings: "email",
        attributes_transformations: None,
        include_in_saml_assertion: true,
    },
];

/// Reference §5.3; everything is a string except `certificate_id`.
const SAML_ADVANCED_CONFIG: &[(&str, Option<&str>)] = &[
    ("relaystate", Some("")),
    ("audience", Some("")),
    ("recipient", Some("")),
    ("consumer_url", Some("")),
    ("validator", Some("")),
    ("login", Some("")),
    ("logout_url", Some("")),
    ("saml_issuer_type", Some("0")),
    ("saml_nameid_format_id", Some("0")),
    ("saml_nameid_format_id_slo", Some("0")),
    ("saml_sign_element", Some("0")),
    ("saml_initiater_id", Some("0")),
    ("encrypt_assertion", Some("0")),
    ("saml_encryption_method_id", Some("0")),
    ("saml_notbefore", Some("3")),
    ("saml_notonorafter", Some("3")),
    ("saml_sessionnotonorafter", Some("1440")),
    ("generate_attribute_value_tags", Some("0")),
    ("sign_slo_request", Some("0")),
    ("sign_slo_response", Some("0")),
    ("signature_algorithm", Some("SHA-1")),
    ("certificate_id", None),
];

const AWS_CONFIG: &[(&str, Option<&str>)] = &[
    ("provider_arn", None),
    ("signature_algorithm", Some("SHA-1")),
    ("certificate_id", None),
];

pub const CONNECTORS: &[Connector] = &[
    Connector {
        id: SAML_CUSTOM_ADVANCED,
        name: "SAML Custom Connector (Advanced)",
        auth_method: 2,
        allows_new_parameters: true,
        config: SAML_ADVANCED_CONFIG,
        params: &[SAML_USERNAME],
    },
    Connector {
        id: AWS_MULTI_ROLE,
        name: "Amazon Web Services (AWS) Multi Role",
        auth_method: 2,
        allows_new_parameters: true,
        config: AWS_CONFIG,
        params: AWS_PARAMS,
    },
    Connector {
        id: AMAZON_CONNECT,
        name: "Amazon Connect",
        auth_method: 2,
        allows_new_parameters: false,
        config: AWS_CONFIG,
        params: AWS_PARAMS,
    },
];

pub fn find(id: i64) -> Option<&'static Connector> {
    CONNECTORS.iter().find(|c| c.id == id)
}

impl Connector {
    pub fn icon_url(&self) -> String {
        format!("https://cdn.example.invalid/images/icons/square/{}.png", self.id)
    }

    pub fn allows_config_key(&self, key: &str) -> bool {
        self.config.iter().any(|(k, _)| *k == key)
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "auth_method": self.auth_method,
            "allows_new_parameters": self.allows_new_parameters,
            "icon_url": self.icon_url(),
        })
    }
}

pub fn auth_method_description(auth_method: i64) -> &'static str {
    match auth_method {
        0 => "Password",
        1 => "OpenId",
        2 => "SAML2.0",
        3 => "API",
        4 => "Google",
        6 => "Forms Based App",
        7 => "WSFED",
        8 => "OpenId Connect",
        _ => "Other",
    }
}
