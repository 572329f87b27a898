//! The CustomResourceDefinitions, as committed under `crds/` and printed by `connect-sso-operator crds`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

use crate::api::{ConnectSsoApp, ConnectUserMapping};
use crate::manifest::FieldError;

/// Both CRDs, each with the file name it has under `crds/`.
pub fn all() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("connectssoapps.connectsso.io.yaml", tidy(ConnectSsoApp::crd())),
        (
            "connectusermappings.connectsso.io.yaml",
            tidy(ConnectUserMapping::crd()),
        ),
    ]
}

/// schemars lists `null` among an optional enum's values; `nullable: true` already says that,
/// and a null enum member only confuses readers of the CRD and some validators.
fn tidy(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(values)) = map.get_mut("enum") {
                    values.retain(|v| !v.is_null());
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&crd) else {
        return crd;
    };
    walk(&mut value);
    serde_json::from_value(value).unwrap_or(crd)
}

/// The openAPIV3Schema of the CRD named `name` (e.g. `connectssoapps.connectsso.io`), as JSON.
pub fn schema_of(name: &str) -> Result<Value, FieldError> {
    let missing = || FieldError {
        field: "kind".into(),
        message: format!("no CRD named {name}"),
    };
    let crd = all()
        .into_iter()
        .map(|(_, crd)| crd)
        .find(|crd| crd.metadata.name.as_deref() == Some(name));
    let schema = crd
        .and_then(|crd| crd.spec.versions.into_iter().next())
        .and_then(|v| v.schema)
        .and_then(|s| s.open_api_v3_schema)
        .ok_or_else(missing)?;
    serde_json::to_value(schema).map_err(|_| missing())
}

/// One CRD as the YAML document committed under `crds/`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::ser_error::Error> {
    serde_saphyr::to_string(crd)
}

/// Both CRDs as one multi-document YAML stream.
pub fn all_yaml() -> Result<String, serde_saphyr::ser_error::Error> {
    let mut out = String::new();
    for (_, crd) in all() {
        out.push_str("---\n");
        out.push_str(&to_yaml(&crd)?);
    }
    Ok(out)
}
