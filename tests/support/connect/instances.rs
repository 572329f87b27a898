//! DescribeInstance.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult};
use super::state::{Shared, lock};
use super::wire::epoch;

pub async fn describe(State(shared): State<Shared>, Path(instance_id): Path<String>) -> ApiResult<Json<Value>> {
    let store = lock(&shared);
    let inst = store
        .instance(&instance_id)
        .ok_or_else(|| ApiError::no_instance(&instance_id))?;
    let mut instance = json!({
            "Id": inst.id,
            "Arn": inst.arn,
            "IdentityManagementType": inst.identity_management_type.wire(),
            "InstanceAlias": inst.alias,
            "CreatedTime": epoch(inst.created),
            "ServiceRole": format!(
                "arn:aws:iam::{}:role/aws-service-role/connect.amazonaws.com/AWSServiceRoleForAmazonConnect_{}",
                inst.account,
                &inst.id[..8]
            ),
            "InstanceStatus": inst.status,
            "InboundCallsEnabled": true,
            "OutboundCallsEnabled": true,
            "InstanceAccessUrl": inst.access_url,
            "Tags": {},
    });
    if let (Some(fields), Some(out)) = (store.instance_overrides.get(&inst.id), instance.as_object_mut()) {
        for (key, value) in fields {
            match value {
                Value::Null => out.remove(key),
                other => out.insert(key.clone(), other.clone()),
            };
        }
    }
    Ok(Json(json!({ "Instance": instance })))
}
