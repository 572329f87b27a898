//! SigV4 presence check. Signatures are not verified; only the credential scope is inspected so a
//! client configured for the wrong service (or unsigned) fails the way AWS would, with a 403.

use super::errors::{ApiError, ApiResult};

/// The parsed credential scope `<access-key>/<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

pub fn check(authorization: Option<&str>) -> ApiResult<Scope> {
    let header = authorization.ok_or_else(ApiError::missing_auth)?;
    let params = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| ApiError::bad_signature("Authorization header requires the AWS4-HMAC-SHA256 algorithm"))?;
    let credential = params
        .split(',')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("Credential="))
        .ok_or_else(|| ApiError::bad_signature("Authorization header requires a 'Credential' parameter"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, _date, region, service, "aws4_request"] = parts[..] else {
        return Err(ApiError::bad_signature(format!(
            "Credential scope is malformed: {credential}"
        )));
    };
    if service != "connect" {
        return Err(ApiError::bad_signature(format!(
            "Credential should be scoped to correct service: 'connect', not '{service}'"
        )));
    }
    Ok(Scope {
        access_key: access_key.into(),
        region: region.into(),
        service: service.into(),
    })
}
