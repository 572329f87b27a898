//! CreateUser input rules (reference §1.7 and §3), checked in the order a caller would fix them:
//! shape of the request first, then references to other resources.

use super::errors::{ApiError, ApiResult};
use super::state::{IdentityManagementType, Instance};
use super::users::CreateUserBody;

pub struct ValidUser {
    pub username: String,
}

const SAML_USERNAME_MAX: usize = 64;
const OTHER_USERNAME_MAX: usize = 20;
const FIRST_NAME_MAX: usize = 255;
const LAST_NAME_MAX: usize = 300;
const SECURITY_PROFILES_MAX: usize = 10;

pub fn create_user(inst: &Instance, body: &CreateUserBody) -> ApiResult<ValidUser> {
    let imt = inst.identity_management_type;
    let username = body
        .username
        .as_deref()
        .ok_or_else(|| ApiError::invalid_parameter("Username is required"))?;
    check_username(username, imt)?;

    match imt {
        IdentityManagementType::ConnectManaged => {
            if body.password.is_none() {
                return Err(ApiError::invalid_request(
                    "Password is required for instances using CONNECT_MANAGED identity management",
                ));
            }
        }
        _ => {
            if body.password.is_some() {
                return Err(ApiError::invalid_request(format!(
                    "Password is not allowed for instances using {} identity management",
                    imt.wire()
                )));
            }
        }
    }

    let info = body.identity_info.as_ref();
    let first = info.and_then(|i| i.first_name.as_deref());
    let last = info.and_then(|i| i.last_name.as_deref());
    if imt == IdentityManagementType::Saml {
        if body.directory_user_id.is_some() {
            return Err(ApiError::invalid_request(
                "DirectoryUserId is not allowed for instances using SAML identity management",
            ));
        }
        if info.and_then(|i| i.email.as_ref()).is_some() {
            return Err(ApiError::invalid_request(
                "IdentityInfo.Email is not allowed for instances using SAML identity management; use SecondaryEmail",
            ));
        }
        if first.is_none_or(str::is_empty) || last.is_none_or(str::is_empty) {
            return Err(ApiError::invalid_request(
                "IdentityInfo.FirstName and IdentityInfo.LastName are required for instances using SAML identity management",
            ));
        }
        if first.is_some_and(|f| f.chars().count() > FIRST_NAME_MAX) {
            return Err(ApiError::invalid_parameter(format!(
                "FirstName must be at most {FIRST_NAME_MAX} characters"
            )));
        }
        if last.is_some_and(|l| l.chars().count() > LAST_NAME_MAX) {
            return Err(ApiError::invalid_parameter(format!(
                "LastName must be at most {LAST_NAME_MAX} characters"
            )));
        }
    }

    if let Some(phone) = &body.phone_config {
        match phone.phone_type.as_deref() {
            Some("SOFT_PHONE") => {}
            Some("DESK_PHONE") if phone.desk_phone_number.is_some() => {}
            Some("DESK_PHONE") => {
                return Err(ApiError::invalid_parameter(
                    "DeskPhoneNumber is required for DESK_PHONE",
                ));
            }
            other => {
                return Err(ApiError::invalid_parameter(format!(
                    "PhoneType is not valid: {other:?}"
                )));
            }
        }
    }

    let profiles = body.security_profile_ids.as_deref().unwrap_or_default();
    if profiles.is_empty() || profiles.len() > SECURITY_PROFILES_MAX {
        return Err(ApiError::invalid_parameter(format!(
            "SecurityProfileIds must contain between 1 and {SECURITY_PROFILES_MAX} ids, got {}",
            profiles.len()
        )));
    }
    let routing = body
        .routing_profile_id
        .as_deref()
        .ok_or_else(|| ApiError::invalid_parameter("RoutingProfileId is required"))?;
    for id in profiles {
        if !inst.security_profiles.iter().any(|p| &p.id == id || &p.arn == id) {
            return Err(ApiError::resource_not_found(format!(
                "Security profile not found: {id}"
            )));
        }
    }
    if !inst
        .routing_profiles
        .iter()
        .any(|p| p.id == routing || p.arn == routing)
    {
        return Err(ApiError::resource_not_found(format!(
            "Routing profile not found: {routing}"
        )));
    }
    Ok(ValidUser {
        username: username.to_owned(),
    })
}

/// Length by identity type, characters `[a-zA-Z0-9_.@-]`, and `@` only as `local@domain.tld`.
pub fn check_username(username: &str, imt: IdentityManagementType) -> ApiResult<()> {
    let max = match imt {
        IdentityManagementType::Saml => SAML_USERNAME_MAX,
        _ => OTHER_USERNAME_MAX,
    };
    let invalid = |why: &str| ApiError::invalid_parameter(format!("Username '{username}' is not valid: {why}"));
    if username.is_empty() {
        return Err(invalid("it is empty"));
    }
    if username.chars().count() > max {
        return Err(invalid(&format!("it is longer than {max} characters")));
    }
    if let Some(c) = username
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-')))
    {
        return Err(invalid(&format!("character {c:?} is not allowed")));
    }
    if username.contains('@') && !is_email_shape(username) {
        return Err(invalid("'@' is only allowed in an email address"));
    }
    Ok(())
}

fn is_email_shape(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    !local.is_empty() && !domain.contains('@') && labels.len() >= 2 && labels.iter().all(|l| !l.is_empty())
}
