//! Applying RBAC given as YAML (ClusterRole/Role, their bindings, ServiceAccounts) and waiting
//! until the API server's RBAC authorizer has seen the new bindings.

use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use super::{Error, FIELD_MANAGER, describe};

/// What [`apply`] did with each document of the YAML stream.
#[derive(Debug, Clone, Default)]
pub struct Applied {
    /// `Kind namespace/name` (or `Kind name`) of every object applied.
    pub objects: Vec<String>,
    /// Documents that are not RBAC (e.g. a Deployment in a rendered chart): left alone.
    pub skipped: Vec<String>,
    bindings: Vec<Binding>,
}

#[derive(Debug, Clone)]
struct Binding {
    namespace: Option<String>,
    role_kind: String,
    role_name: String,
    subjects: Vec<Value>,
}

fn resource(kind: &str) -> Option<(ApiResource, bool)> {
    let (group, plural, namespaced) = match kind {
        "ClusterRole" => ("rbac.authorization.k8s.io", "clusterroles", false),
        "ClusterRoleBinding" => ("rbac.authorization.k8s.io", "clusterrolebindings", false),
        "Role" => ("rbac.authorization.k8s.io", "roles", true),
        "RoleBinding" => ("rbac.authorization.k8s.io", "rolebindings", true),
        "ServiceAccount" => ("", "serviceaccounts", true),
        _ => return None,
    };
    let gvk = GroupVersionKind::gvk(group, "v1", kind);
    Some((ApiResource::from_gvk_with_plural(&gvk, plural), namespaced))
}

/// Server-side applies the RBAC documents of `yaml` as the admin.
///
/// Namespaced objects without a namespace go to `default_namespace`, as do ServiceAccount subjects
/// without one. With `subject` set, every binding's subjects are replaced by that one subject.
pub async fn apply(
    admin: &Client,
    yaml: &str,
    default_namespace: &str,
    subject: Option<&Value>,
) -> Result<Applied, Error> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).map_err(|e| Error::msg(format!("RBAC YAML does not parse: {e}")))?;
    let mut applied = Applied::default();
    for mut doc in docs.into_iter().filter(|d| d.is_object()) {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let Some((ar, namespaced)) = resource(&kind) else {
            applied.skipped.push(format!("{kind} {name}"));
            continue;
        };
        if name.is_empty() {
            return Err(Error::msg(format!("a {kind} without metadata.name in the RBAC YAML")));
        }
        let namespace = namespaced.then(|| {
            doc.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(default_namespace)
                .to_string()
        });
        if let Some(ns) = &namespace {
            doc["metadata"]["namespace"] = json!(ns);
        }
        if kind.ends_with("Binding") {
            if let Some(subject) = subject {
                doc["subjects"] = json!([subject]);
            }
            if let Some(subjects) = doc.get_mut("subjects").and_then(Value::as_array_mut) {
                for s in subjects.iter_mut() {
                    if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") && s.get("namespace").is_none() {
                        s["namespace"] = json!(namespace.as_deref().unwrap_or(default_namespace));
                    }
                }
            }
            applied.bindings.push(Binding {
                namespace: namespace.clone(),
                role_kind: doc
                    .pointer("/roleRef/kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                role_name: doc
                    .pointer("/roleRef/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                subjects: doc
                    .get("subjects")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            });
        }
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(admin.clone(), ns, &ar),
            None => Api::all_with(admin.clone(), &ar),
        };
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&doc))
            .await
            .map_err(|e| Error::msg(format!("applying {kind} {name}: {}", describe(&e))))?;
        applied.objects.push(match &namespace {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        });
    }
    Ok(applied)
}

fn subject_matches(subject: &Value, user: &str, groups: &[String]) -> bool {
    let field = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or_default();
    match field("kind") {
        "User" => field("name") == user,
        "Group" => groups.iter().any(|g| g == field("name")) || field("name") == "system:authenticated",
        "ServiceAccount" => user == format!("system:serviceaccount:{}:{}", field("namespace"), field("name")),
        _ => false,
    }
}

/// Waits until, for every binding in `applied` that names this user (or one of its groups), the
/// first rule of the bound role is allowed for the user according to a SubjectAccessReview.
/// The RBAC authorizer works from informers, so fresh bindings take a moment to count.
pub async fn wait_effective(
    admin: &Client,
    applied: &Applied,
    user: &str,
    groups: &[String],
    timeout: Duration,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    for binding in &applied.bindings {
        if !binding.subjects.iter().any(|s| subject_matches(s, user, groups)) {
            continue;
        }
        let Some(attributes) = probe_for(admin, binding).await? else {
            continue;
        };
        let mut spec = json!({ "user": user, "groups": groups });
        spec[attributes.0] = attributes.1.clone();
        let sar: SubjectAccessReview = serde_json::from_value(json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": spec,
        }))
        .map_err(|e| Error::msg(format!("building a SubjectAccessReview: {e}")))?;
        let api: Api<SubjectAccessReview> = Api::all(admin.clone());
        loop {
            let review = api
                .create(&PostParams::default(), &sar)
                .await
                .map_err(|e| Error::msg(format!("SubjectAccessReview: {}", describe(&e))))?;
            if review.status.is_some_and(|s| s.allowed) {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::msg(format!(
                    "RBAC binding to {} {} never took effect for {user}: {}",
                    binding.role_kind, binding.role_name, attributes.1
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    Ok(())
}

/// SubjectAccessReview attributes for the first rule of the role a binding refers to.
async fn probe_for(admin: &Client, binding: &Binding) -> Result<Option<(&'static str, Value)>, Error> {
    let ar = resource(&binding.role_kind).map(|(ar, _)| ar).ok_or_else(|| {
        Error::msg(format!(
            "binding refers to a {} (expected Role or ClusterRole)",
            binding.role_kind
        ))
    })?;
    let api: Api<DynamicObject> = match (&binding.role_kind[..], &binding.namespace) {
        ("Role", Some(ns)) => Api::namespaced_with(admin.clone(), ns, &ar),
        _ => Api::all_with(admin.clone(), &ar),
    };
    let Some(role) = api
        .get_opt(&binding.role_name)
        .await
        .map_err(|e| Error::msg(format!("reading {} {}: {e}", binding.role_kind, binding.role_name)))?
    else {
        // A binding to a role that does not exist (yet) grants nothing; nothing to wait for.
        return Ok(None);
    };
    let Some(rule) = role.data.get("rules").and_then(Value::as_array).and_then(|r| r.first()) else {
        return Ok(None);
    };
    let first = |key: &str, wildcard: &str| -> Option<String> {
        let v = rule.get(key)?.as_array()?.first()?.as_str()?.to_string();
        Some(if v == "*" { wildcard.to_string() } else { v })
    };
    let verb = first("verbs", "get").unwrap_or_else(|| "get".into());
    if let Some(path) = first("nonResourceURLs", "/") {
        return Ok(Some((
            "nonResourceAttributes",
            json!({"path": path.replace('*', "x"), "verb": verb}),
        )));
    }
    let resource = first("resources", "envtest-any").unwrap_or_default();
    let (resource, subresource) = resource
        .split_once('/')
        .map(|(r, s)| (r.to_string(), s.to_string()))
        .unwrap_or((resource, String::new()));
    let mut attributes = json!({
        "verb": verb,
        "group": first("apiGroups", "").unwrap_or_default(),
        "resource": resource,
        "subresource": subresource,
    });
    if let Some(ns) = &binding.namespace {
        attributes["namespace"] = json!(ns);
    }
    if let Some(name) = first("resourceNames", "x") {
        attributes["name"] = json!(name);
    }
    Ok(Some(("resourceAttributes", attributes)))
}
