//! The CRDs under `crds/` as a real kube-apiserver enforces them: CEL rules (including the
//! transition rules that make fields immutable), schema bounds, strict field validation,
//! server-side apply of the shipped examples without drift, the status subresource, and RBAC
//! for a restricted identity. One apiserver serves the whole binary; each test has a namespace.

#[path = "support/envtest/mod.rs"]
mod envtest;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind, Status};
use serde_json::{Value, json};

const MANAGER: &str = "admission-test";
const ARN: &str = "arn:aws:connect:eu-west-2:123456789012:instance/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const GOV_ARN: &str = "arn:aws-us-gov:connect:us-gov-west-1:123456789012:instance/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

// ---------------------------------------------------------------------------------------------
// helpers

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("connectsso.io", "v1alpha1", kind), plural)
}

fn apps(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &resource("ConnectSsoApp", "connectssoapps"))
}

fn mappings(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        ns,
        &resource("ConnectUserMapping", "connectusermappings"),
    )
}

fn app(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "connectsso.io/v1alpha1", "kind": "ConnectSsoApp", "metadata": {"name": name}, "spec": spec})
}

fn mapping(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "connectsso.io/v1alpha1", "kind": "ConnectUserMapping", "metadata": {"name": name}, "spec": spec})
}

fn app_spec() -> Value {
    json!({"access": "Agent", "connect": {"instanceArn": ARN}, "oneLogin": {"credentialsSecretRef": {"name": "onelogin-api"}}})
}

fn mapping_spec() -> Value {
    json!({"appRef": {"name": "agents"}, "users": ["ana@example.com"]})
}

/// `v` with `value` at the JSON pointer `pointer`, creating objects on the way.
fn with(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let mut target = &mut v;
    for part in parent.split('/').filter(|p| !p.is_empty()) {
        target = target
            .as_object_mut()
            .expect("object")
            .entry(part)
            .or_insert_with(|| json!({}));
    }
    target.as_object_mut().expect("object").insert(key.to_string(), value);
    v
}

fn without(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    if let Some(obj) = v.pointer_mut(parent).and_then(Value::as_object_mut) {
        obj.remove(key);
    }
    v
}

fn strict_apply() -> PatchParams {
    PatchParams::apply(MANAGER).force().validation_strict()
}

/// Server-side apply with strict field validation (creates or updates).
async fn apply(api: &Api<DynamicObject>, obj: &Value) -> Result<DynamicObject, kube::Error> {
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .expect("metadata.name");
    api.patch(name, &strict_apply(), &Patch::Apply(obj)).await
}

/// The API server's refusal; panics if the request succeeded or failed another way.
fn refusal<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        Err(other) => panic!("{what}: expected an API error, got {other}"),
        Ok(obj) => panic!("{what}: expected a refusal, but the server accepted it: {obj:?}"),
    }
}

/// Asserts a 422 Invalid whose message names `field` and contains `message`, with a matching cause.
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, kube::Error>, field: &str, message: &str, what: &str) {
    let status = refusal(result, what);
    assert_eq!(status.code, 422, "{what}: {status:?}");
    assert_eq!(status.reason, "Invalid", "{what}: {status:?}");
    assert!(
        status.message.contains(&format!("{field}: ")),
        "{what}: message does not name {field}: {}",
        status.message
    );
    assert!(
        status.message.contains(message),
        "{what}: message lacks {message:?}: {}",
        status.message
    );
    let causes = status.details.as_ref().map(|d| d.causes.clone()).unwrap_or_default();
    assert!(
        causes.iter().any(|c| c.field == field && c.message.contains(message)),
        "{what}: no cause with field {field} and message {message:?}: {causes:?}"
    );
}

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    let status = refusal(result, what);
    assert_eq!(status.code, 403, "{what}: {status:?}");
    assert_eq!(status.reason, "Forbidden", "{what}: {status:?}");
}

fn spec_of(obj: &DynamicObject) -> Value {
    obj.data.get("spec").cloned().unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// the CEL rules, one rejection case each (the rule's message and the field the server reports)

struct Case {
    what: &'static str,
    spec: Value,
    field: &'static str,
    message: &'static str,
}

fn app_rule_cases() -> Vec<Case> {
    let custom = || with(app_spec(), "/access", json!("Custom"));
    vec![
        Case {
            what: "instance ARN that is not an Amazon Connect instance",
            spec: with(
                app_spec(),
                "/connect/instanceArn",
                json!("arn:aws:connect:eu-west-2:123456789012:instance/not-a-uuid"),
            ),
            field: "spec.connect.instanceArn",
            message: "instanceArn must look like arn:aws:connect:",
        },
        Case {
            what: "destination with a scheme and host",
            spec: with(custom(), "/destination", json!("https://evil.example.com/x")),
            field: "spec.destination",
            message: "destination must be a path on the instance starting with '/'",
        },
        Case {
            what: "destination with a fragment",
            spec: with(custom(), "/destination", json!("/real-time-metrics#x")),
            field: "spec.destination",
            message: "destination must be a path on the instance starting with '/'",
        },
        Case {
            what: "Custom access without destination",
            spec: custom(),
            field: "spec.destination",
            message: "destination is required when access is Custom, and not allowed otherwise",
        },
        Case {
            what: "destination on an Agent app",
            spec: with(app_spec(), "/destination", json!("/ccp-v2")),
            field: "spec.destination",
            message: "destination is required when access is Custom, and not allowed otherwise",
        },
        Case {
            what: "session longer than the default role maximum",
            spec: with(app_spec(), "/signIn/sessionDurationSeconds", json!(3601)),
            field: "spec.signIn.sessionDurationSeconds",
            message: "signIn.sessionDurationSeconds must not exceed the role's maximum session",
        },
        Case {
            what: "session longer than an explicit role maximum",
            spec: with(
                with(app_spec(), "/iam/maxSessionDurationSeconds", json!(7200)),
                "/signIn/sessionDurationSeconds",
                json!(7201),
            ),
            field: "spec.signIn.sessionDurationSeconds",
            message: "signIn.sessionDurationSeconds must not exceed the role's maximum session",
        },
        Case {
            what: "identity provider name with a slash",
            spec: with(app_spec(), "/iam/identityProviderName", json!("a/b")),
            field: "spec.iam.identityProviderName",
            message: "identityProviderName may contain only letters, digits",
        },
        Case {
            what: "IAM path without the trailing slash",
            spec: with(app_spec(), "/iam/path", json!("/connect-sso")),
            field: "spec.iam.path",
            message: "path must start and end with '/'",
        },
        Case {
            what: "permissions boundary that is not a policy ARN",
            spec: with(
                app_spec(),
                "/iam/permissionsBoundaryArn",
                json!("arn:aws:iam::123456789012:role/x"),
            ),
            field: "spec.iam.permissionsBoundaryArn",
            message: "permissionsBoundaryArn must be an IAM policy ARN",
        },
        Case {
            what: "policy name with a star",
            spec: with(app_spec(), "/iam/policyName", json!("p*")),
            field: "spec.iam.policyName",
            message: "policyName may contain only letters, digits and _+=,.@-",
        },
        Case {
            what: "role name with a slash",
            spec: with(app_spec(), "/iam/roleName", json!("a/b")),
            field: "spec.iam.roleName",
            message: "roleName may contain only letters, digits and _+=,.@-",
        },
        Case {
            what: "tag key in the aws: namespace",
            spec: with(app_spec(), "/iam/tags", json!({"aws:owner": "x"})),
            field: "spec.iam.tags",
            message: "tag keys must be 1-128 characters",
        },
        Case {
            what: "tag key in the operator's namespace",
            spec: with(app_spec(), "/iam/tags", json!({"connectsso.io/owner": "x"})),
            field: "spec.iam.tags",
            message: "tag keys must be 1-128 characters",
        },
        Case {
            what: "tag value with a semicolon",
            spec: with(app_spec(), "/iam/tags", json!({"team": "a;b"})),
            field: "spec.iam.tags",
            message: "tag values must be at most 256 characters",
        },
        Case {
            what: "app name with a trailing space",
            spec: with(app_spec(), "/oneLogin/appName", json!("Agents ")),
            field: "spec.oneLogin.appName",
            message: "appName must not start or end with spaces or contain line breaks",
        },
        Case {
            what: "app name with a line break",
            spec: with(app_spec(), "/oneLogin/appName", json!("Agents\nx")),
            field: "spec.oneLogin.appName",
            message: "appName must not start or end with spaces or contain line breaks",
        },
        Case {
            what: "Secret name with upper case",
            spec: with(app_spec(), "/oneLogin/credentialsSecretRef/name", json!("OneLogin_API")),
            field: "spec.oneLogin.credentialsSecretRef.name",
            message: "name must be a Secret name",
        },
    ]
}

fn mapping_rule_cases() -> Vec<Case> {
    vec![
        Case {
            what: "appRef that is not an object name",
            spec: with(mapping_spec(), "/appRef/name", json!("Agents App")),
            field: "spec.appRef.name",
            message: "name must be the name of a ConnectSsoApp in this namespace",
        },
        Case {
            what: "mode Create without profiles",
            spec: with(mapping_spec(), "/connectUsers", json!({"mode": "Create"})),
            field: "spec.connectUsers.securityProfiles",
            message: "mode Create needs securityProfiles (1-10 names) and routingProfile",
        },
        Case {
            what: "mode Create without routing profile",
            spec: with(
                mapping_spec(),
                "/connectUsers",
                json!({"mode": "Create", "securityProfiles": ["Agent"]}),
            ),
            field: "spec.connectUsers.securityProfiles",
            message: "mode Create needs securityProfiles (1-10 names) and routingProfile",
        },
        Case {
            what: "profiles without mode Create",
            spec: with(
                mapping_spec(),
                "/connectUsers",
                json!({"mode": "Require", "routingProfile": "Basic"}),
            ),
            field: "spec.connectUsers.mode",
            message: "securityProfiles, routingProfile and phoneType are only used with mode Create",
        },
        Case {
            what: "phoneType without any mode",
            spec: with(mapping_spec(), "/connectUsers", json!({"phoneType": "DeskPhone"})),
            field: "spec.connectUsers.mode",
            message: "securityProfiles, routingProfile and phoneType are only used with mode Create",
        },
    ]
}

/// The transition rules: (field, new value, message). Checked against [`immutable_base`].
fn immutable_cases() -> Vec<(&'static str, &'static str, Value, &'static str)> {
    vec![
        (
            "spec.connect.instanceArn",
            "/connect/instanceArn",
            json!(ARN.replace("eu-west-2", "eu-central-1")),
            "connect.instanceArn is immutable",
        ),
        (
            "spec.iam.roleName",
            "/iam/roleName",
            json!("agents-2"),
            "iam.roleName is immutable",
        ),
        ("spec.iam.path", "/iam/path", json!("/other/"), "iam.path is immutable"),
        (
            "spec.iam.identityProviderName",
            "/iam/identityProviderName",
            json!("idp-2"),
            "iam.identityProviderName is immutable",
        ),
        (
            "spec.iam.policyName",
            "/iam/policyName",
            json!("policy-2"),
            "iam.policyName is immutable",
        ),
    ]
}

const MAPPING_IMMUTABLE: &str = "appRef.name is immutable";

fn immutable_base() -> Value {
    with(
        app_spec(),
        "/iam",
        json!({"roleName": "agents", "path": "/connect-sso/", "identityProviderName": "idp", "policyName": "policy"}),
    )
}

// ---------------------------------------------------------------------------------------------
// tests

#[tokio::test]
async fn crds_are_established_structural_and_served() {
    let server = envtest::shared().await;
    eprintln!(
        "envtest start-up (etcd, kube-apiserver, CRDs established): {:?}",
        server.startup_time()
    );
    let ns = server.namespace("crds").await;
    let expected: BTreeSet<String> = ["connectssoapps.connectsso.io", "connectusermappings.connectsso.io"]
        .map(String::from)
        .into();
    let installed: BTreeSet<String> = server.crds().iter().cloned().collect();
    assert_eq!(installed, expected);

    let api: Api<CustomResourceDefinition> = Api::all(ns.admin().clone());
    for name in &expected {
        let crd = api.get(name).await.expect("CRD");
        let conditions = crd
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let status_of = |t: &str| conditions.iter().find(|c| c.type_ == t).map(|c| c.status.clone());
        assert_eq!(
            status_of("Established").as_deref(),
            Some("True"),
            "{name}: {conditions:?}"
        );
        assert_eq!(
            status_of("NamesAccepted").as_deref(),
            Some("True"),
            "{name}: {conditions:?}"
        );
        // The server reports a NonStructuralSchema condition (and would prune nothing) otherwise.
        assert_eq!(status_of("NonStructuralSchema"), None, "{name}: {conditions:?}");
        let versions = &crd.spec.versions;
        assert_eq!(versions.len(), 1, "{name}");
        assert_eq!(
            (versions[0].name.as_str(), versions[0].served, versions[0].storage),
            ("v1alpha1", true, true)
        );
        assert!(
            versions[0]
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{name}: status subresource"
        );
        let stored = crd
            .status
            .as_ref()
            .and_then(|s| s.stored_versions.clone())
            .unwrap_or_default();
        assert_eq!(stored, vec!["v1alpha1".to_string()], "{name}");
    }

    // Served: an empty list of each kind in the test namespace.
    assert!(
        apps(ns.admin(), ns.name())
            .list(&ListParams::default())
            .await
            .expect("list apps")
            .items
            .is_empty()
    );
    assert!(
        mappings(ns.admin(), ns.name())
            .list(&ListParams::default())
            .await
            .expect("list mappings")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn valid_objects_of_both_kinds_are_accepted() {
    let server = envtest::shared().await;
    let ns = server.namespace("valid").await;
    let api = apps(ns.admin(), ns.name());
    let full = json!({
        "access": "Custom",
        "destination": "/real-time-metrics?tableType=queues",
        "adopt": true,
        "deletionPolicy": "Retain",
        "connect": {"instanceArn": GOV_ARN},
        "oneLogin": {"credentialsSecretRef": {"name": "onelogin.api"}, "appName": "Amazon Connect (metrics)", "subject": "Username", "visible": false},
        "signIn": {"endpoint": "Global", "sessionDurationSeconds": 43200},
        "iam": {
            "identityProviderName": "OneLogin.Connect_1", "maxSessionDurationSeconds": 43200, "path": "/connect-sso/team-a/",
            "permissionsBoundaryArn": "arn:aws:iam::aws:policy/PowerUserAccess", "policyName": "connect+sso@x",
            "roleName": "connect=sso,1", "tags": {"cost centre": "Contact Centre", "team": "tier-1", "owner": "a.b@example.com"}
        }
    });
    let specs = [
        ("minimal", app_spec()),
        ("admin", with(app_spec(), "/access", json!("Admin"))),
        ("full", full),
        (
            "session-at-default-max",
            with(app_spec(), "/signIn/sessionDurationSeconds", json!(3600)),
        ),
        ("empty-tag-value", with(app_spec(), "/iam/tags", json!({"team": ""}))),
    ];
    for (name, spec) in specs {
        let created = apply(&api, &app(name, spec.clone()))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(spec_of(&created), spec, "{name}");
    }

    let api = mappings(ns.admin(), ns.name());
    let specs = [
        ("minimal", mapping_spec()),
        ("no-users", with(mapping_spec(), "/users", json!([]))),
        (
            "create",
            json!({"appRef": {"name": "agents"}, "identifyBy": "Username", "users": ["ana", "ben"],
                   "connectUsers": {"mode": "Create", "securityProfiles": ["Agent", "CallCenterManager"],
                                    "routingProfile": "Basic Routing Profile", "phoneType": "DeskPhone"}}),
        ),
        (
            "ignore",
            with(mapping_spec(), "/connectUsers", json!({"mode": "Ignore"})),
        ),
    ];
    for (name, spec) in specs {
        let created = apply(&api, &mapping(name, spec.clone()))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(spec_of(&created), spec, "{name}");
    }
}

#[tokio::test]
async fn each_app_cel_rule_rejects_what_it_should() {
    let server = envtest::shared().await;
    let ns = server.namespace("app-rules").await;
    let api = apps(ns.admin(), ns.name());
    for (i, case) in app_rule_cases().into_iter().enumerate() {
        let result = apply(&api, &app(&format!("case-{i}"), case.spec)).await;
        assert_invalid(result, case.field, case.message, case.what);
    }
}

#[tokio::test]
async fn each_mapping_cel_rule_rejects_what_it_should() {
    let server = envtest::shared().await;
    let ns = server.namespace("mapping-rules").await;
    let api = mappings(ns.admin(), ns.name());
    for (i, case) in mapping_rule_cases().into_iter().enumerate() {
        let result = apply(&api, &mapping(&format!("case-{i}"), case.spec)).await;
        assert_invalid(result, case.field, case.message, case.what);
    }
}

/// Guards the tables above: a rule added to a CRD without a rejection case here fails this test.
#[tokio::test]
async fn every_cel_rule_in_the_crds_has_a_case() {
    let server = envtest::shared().await;
    let ns = server.namespace("rule-coverage").await;
    let mut covered: Vec<&str> = app_rule_cases()
        .iter()
        .chain(mapping_rule_cases().iter())
        .map(|c| c.message)
        .collect();
    covered.extend(immutable_cases().iter().map(|c| c.3));
    covered.push(MAPPING_IMMUTABLE);

    fn messages(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    out.extend(
                        rules
                            .iter()
                            .map(|r| r["message"].as_str().unwrap_or_default().to_string()),
                    );
                }
                map.values().for_each(|v| messages(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| messages(v, out)),
            _ => {}
        }
    }
    let api: Api<CustomResourceDefinition> = Api::all(ns.admin().clone());
    let mut all = Vec::new();
    for name in server.crds() {
        let crd = api.get(name).await.expect("CRD");
        messages(&serde_json::to_value(&crd.spec).expect("json"), &mut all);
    }
    assert!(all.len() >= 20, "expected the CRDs' CEL rules, found {all:?}");
    let uncovered: Vec<&String> = all
        .iter()
        .filter(|m| !covered.iter().any(|c| m.starts_with(c)))
        .collect();
    assert!(
        uncovered.is_empty(),
        "CEL rules without a rejection case in tests/admission.rs: {uncovered:#?}"
    );
}

#[tokio::test]
async fn immutable_app_fields_cannot_change_but_mutable_ones_can() {
    let server = envtest::shared().await;
    let ns = server.namespace("immutable-app").await;
    let api = apps(ns.admin(), ns.name());
    apply(&api, &app("agents", immutable_base())).await.expect("create");

    for (field, pointer, value, message) in immutable_cases() {
        let changed = with(immutable_base(), pointer, value);
        assert_invalid(
            apply(&api, &app("agents", changed)).await,
            field,
            message,
            &format!("changing {field}"),
        );
        if pointer.starts_with("/iam/") {
            // Removing the field (going back to the derived default) is a change too.
            let removed = without(immutable_base(), pointer);
            assert_invalid(
                apply(&api, &app("agents", removed)).await,
                field,
                message,
                &format!("removing {field}"),
            );
        }
    }

    // Setting a previously unset immutable field is refused as well.
    apply(&api, &app("derived", app_spec())).await.expect("create derived");
    let set = with(app_spec(), "/iam/roleName", json!("late"));
    assert_invalid(
        apply(&api, &app("derived", set)).await,
        "spec.iam.roleName",
        "iam.roleName is immutable",
        "setting roleName",
    );

    // Everything else may change.
    let mutable = with(
        with(
            with(
                with(immutable_base(), "/oneLogin/appName", json!("Agents")),
                "/iam/tags",
                json!({"team": "t1"}),
            ),
            "/signIn",
            json!({"endpoint": "Global", "sessionDurationSeconds": 1800}),
        ),
        "/deletionPolicy",
        json!("Retain"),
    );
    let mutable = with(
        with(mutable, "/access", json!("Custom")),
        "/destination",
        json!("/real-time-metrics"),
    );
    let mutable = with(
        with(mutable, "/oneLogin/credentialsSecretRef/name", json!("other")),
        "/iam/maxSessionDurationSeconds",
        json!(7200),
    );
    let updated = apply(&api, &app("agents", mutable.clone()))
        .await
        .expect("mutable fields change");
    assert_eq!(spec_of(&updated), mutable);
    assert_eq!(updated.metadata.generation, Some(2));

    // A merge patch is subject to the same rules as an apply.
    let patch = json!({"spec": {"iam": {"roleName": "agents-3"}}});
    let result = api
        .patch("agents", &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    assert_invalid(
        result,
        "spec.iam.roleName",
        "iam.roleName is immutable",
        "merge patch of roleName",
    );
}

#[tokio::test]
async fn mapping_app_ref_is_immutable_but_users_are_not() {
    let server = envtest::shared().await;
    let ns = server.namespace("immutable-mapping").await;
    let api = mappings(ns.admin(), ns.name());
    apply(&api, &mapping("m", mapping_spec())).await.expect("create");
    let moved = with(mapping_spec(), "/appRef/name", json!("admins"));
    assert_invalid(
        apply(&api, &mapping("m", moved)).await,
        "spec.appRef.name",
        MAPPING_IMMUTABLE,
        "changing appRef",
    );

    let changed = with(
        with(mapping_spec(), "/users", json!(["ben@example.com", "chen@example.com"])),
        "/connectUsers",
        json!({"mode": "Create", "securityProfiles": ["Agent"], "routingProfile": "Basic"}),
    );
    let updated = apply(&api, &mapping("m", changed.clone()))
        .await
        .expect("users and connectUsers change");
    assert_eq!(spec_of(&updated), changed);
}

#[tokio::test]
async fn schema_bounds_are_enforced() {
    let server = envtest::shared().await;
    let ns = server.namespace("bounds").await;
    let app_api = apps(ns.admin(), ns.name());
    let cases = [
        (
            "roleName too long",
            with(app_spec(), "/iam/roleName", json!("r".repeat(65))),
            "spec.iam.roleName",
            "Too long",
        ),
        (
            "instanceArn too long",
            with(app_spec(), "/connect/instanceArn", json!("a".repeat(257))),
            "spec.connect.instanceArn",
            "Too long",
        ),
        (
            "empty appName",
            with(app_spec(), "/oneLogin/appName", json!("")),
            "spec.oneLogin.appName",
            "should be at least 1 chars long",
        ),
        (
            "unknown access",
            with(app_spec(), "/access", json!("Supervisor")),
            "spec.access",
            "Unsupported value: \"Supervisor\"",
        ),
        (
            "unknown subject",
            with(app_spec(), "/oneLogin/subject", json!("Upn")),
            "spec.oneLogin.subject",
            "Unsupported value",
        ),
        (
            "unknown endpoint",
            with(app_spec(), "/signIn/endpoint", json!("Local")),
            "spec.signIn.endpoint",
            "Unsupported value",
        ),
        (
            "unknown deletionPolicy",
            with(app_spec(), "/deletionPolicy", json!("Orphan")),
            "spec.deletionPolicy",
            "Unsupported value",
        ),
        (
            "role session below minimum",
            with(app_spec(), "/iam/maxSessionDurationSeconds", json!(3599)),
            "spec.iam.maxSessionDurationSeconds",
            "should be greater than or equal to 3600",
        ),
        (
            "sign-in session above maximum",
            with(app_spec(), "/signIn/sessionDurationSeconds", json!(43201)),
            "spec.signIn.sessionDurationSeconds",
            "should be less than or equal to 43200",
        ),
        (
            "too many tags",
            with(
                app_spec(),
                "/iam/tags",
                Value::Object((0..41).map(|i| (format!("k{i}"), json!("v"))).collect()),
            ),
            "spec.iam.tags",
            "must have at most 40 items",
        ),
        (
            "missing oneLogin",
            without(app_spec(), "/oneLogin"),
            "spec.oneLogin",
            "Required value",
        ),
        (
            "missing Secret name",
            with(app_spec(), "/oneLogin/credentialsSecretRef", json!({})),
            "spec.oneLogin.credentialsSecretRef.name",
            "Required value",
        ),
    ];
    for (i, (what, spec, field, message)) in cases.into_iter().enumerate() {
        assert_invalid(
            apply(&app_api, &app(&format!("case-{i}"), spec)).await,
            field,
            message,
            what,
        );
    }
    // A wrong type through POST is a 422 naming the field. (Server-side apply answers the same
    // mistake with a 500 "failed to create typed patch object ... expected boolean", no cause.)
    let wrong_type: DynamicObject =
        serde_json::from_value(app("wrong-type", with(app_spec(), "/adopt", json!("yes")))).expect("obj");
    assert_invalid(
        app_api.create(&PostParams::default(), &wrong_type).await,
        "spec.adopt",
        "must be of type boolean",
        "wrong type",
    );
    let status = refusal(
        apply(&app_api, &serde_json::to_value(&wrong_type).expect("json")).await,
        "wrong type via SSA",
    );
    assert!(status.message.contains(".spec.adopt: expected boolean"), "{status:?}");

    let mapping_api = mappings(ns.admin(), ns.name());
    let create = |profiles: Value| {
        with(
            mapping_spec(),
            "/connectUsers",
            json!({"mode": "Create", "routingProfile": "Basic", "securityProfiles": profiles}),
        )
    };
    let cases = [
        (
            "too many users",
            with(
                mapping_spec(),
                "/users",
                Value::Array((0..20_001).map(|i| json!(format!("u{i}"))).collect()),
            ),
            "spec.users",
            "must have at most 20000 items",
        ),
        (
            "user too long",
            with(mapping_spec(), "/users", json!(["u".repeat(256)])),
            "spec.users[0]",
            "Too long",
        ),
        (
            "empty user",
            with(mapping_spec(), "/users", json!([""])),
            "spec.users[0]",
            "should be at least 1 chars long",
        ),
        (
            "too many security profiles",
            create(Value::Array((0..11).map(|i| json!(format!("p{i}"))).collect())),
            "spec.connectUsers.securityProfiles",
            "must have at most 10 items",
        ),
        (
            "no security profiles",
            create(json!([])),
            "spec.connectUsers.securityProfiles",
            "should have at least 1 items",
        ),
        (
            "unknown mode",
            with(mapping_spec(), "/connectUsers", json!({"mode": "Sync"})),
            "spec.connectUsers.mode",
            "Unsupported value",
        ),
        (
            "unknown identifyBy",
            with(mapping_spec(), "/identifyBy", json!("Phone")),
            "spec.identifyBy",
            "Unsupported value",
        ),
        (
            "missing users",
            without(mapping_spec(), "/users"),
            "spec.users",
            "Required value",
        ),
    ];
    for (i, (what, spec, field, message)) in cases.into_iter().enumerate() {
        assert_invalid(
            apply(&mapping_api, &mapping(&format!("case-{i}"), spec)).await,
            field,
            message,
            what,
        );
    }

    // Duplicates in a list-type set: POST gets a 422 naming the entry; server-side apply cannot
    // even build its typed object and answers 500 "duplicate entries for key".
    let dup_spec = with(
        mapping_spec(),
        "/users",
        json!(["a@example.com", "b@example.com", "a@example.com"]),
    );
    let dup: DynamicObject = serde_json::from_value(mapping("duplicates", dup_spec.clone())).expect("obj");
    assert_invalid(
        mapping_api.create(&PostParams::default(), &dup).await,
        "spec.users[2]",
        "Duplicate value: \"a@example.com\"",
        "duplicate users (list-type set)",
    );
    let status = refusal(
        apply(&mapping_api, &mapping("duplicates", dup_spec)).await,
        "duplicate users via SSA",
    );
    assert!(
        status.message.contains(".spec.users: duplicate entries for key"),
        "{status:?}"
    );
}

#[tokio::test]
async fn unknown_fields_are_rejected_with_strict_validation() {
    let server = envtest::shared().await;
    let ns = server.namespace("strict").await;
    let api = apps(ns.admin(), ns.name());
    let cross_namespace = with(
        app_spec(),
        "/oneLogin/credentialsSecretRef/namespace",
        json!("kube-system"),
    );

    // Server-side apply (what GitOps tools and the operator use).
    let status = refusal(
        apply(&api, &app("cross", cross_namespace.clone())).await,
        "SSA with a Secret namespace",
    );
    assert!(
        status.message.contains(".spec.oneLogin.credentialsSecretRef.namespace")
            && status.message.contains("field not declared in schema"),
        "{status:?}"
    );
    let status = refusal(
        apply(&api, &app("typo", with(app_spec(), "/accessMode", json!("Agent")))).await,
        "SSA with a typo",
    );
    assert!(status.message.contains(".spec.accessMode"), "{status:?}");
    let mapping_api = mappings(ns.admin(), ns.name());
    let status = refusal(
        apply(
            &mapping_api,
            &mapping("typo", with(mapping_spec(), "/appRef/namespace", json!("other"))),
        )
        .await,
        "mapping appRef namespace",
    );
    assert!(status.message.contains(".spec.appRef.namespace"), "{status:?}");

    // Update with a strict merge patch.
    apply(&api, &app("agents", app_spec())).await.expect("create");
    let patch = json!({"spec": {"oneLogin": {"credentialsSecretRef": {"namespace": "kube-system"}}}});
    let strict_merge = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..PatchParams::default()
    };
    let status = refusal(
        api.patch("agents", &strict_merge, &Patch::Merge(&patch)).await,
        "strict merge patch",
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"), "{status:?}");
    assert!(
        status
            .message
            .contains("unknown field \"spec.oneLogin.credentialsSecretRef.namespace\""),
        "{status:?}"
    );

    // Without strict validation the field is pruned, never stored: no cross-namespace reference either way.
    let pruned = api
        .patch("agents", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("lenient merge patch");
    assert_eq!(spec_of(&pruned), app_spec());
}

#[tokio::test]
async fn examples_round_trip_without_server_side_defaults() {
    let server = envtest::shared().await;
    let ns = server.namespace("examples").await;
    let dir = envtest::assets::manifest_dir().join("deploy/examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("deploy/examples")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    files.sort();
    let mut seen = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read example");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("example YAML");
        for mut doc in docs.into_iter().filter(|d| {
            d["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("connectsso.io/"))
        }) {
            let what = format!("{} {} in {}", doc["kind"], doc["metadata"]["name"], file.display());
            doc["metadata"]["namespace"] = json!(ns.name());
            let api = match doc["kind"].as_str() {
                Some("ConnectSsoApp") => apps(ns.admin(), ns.name()),
                Some("ConnectUserMapping") => mappings(ns.admin(), ns.name()),
                other => panic!("{what}: unexpected kind {other:?}"),
            };
            let applied = api
                .patch(
                    doc["metadata"]["name"].as_str().expect("name"),
                    &PatchParams::apply("gitops").validation_strict(),
                    &Patch::Apply(&doc),
                )
                .await
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let read = api
                .get(applied.metadata.name.as_deref().expect("name"))
                .await
                .expect("read back");
            assert_eq!(
                spec_of(&read),
                doc["spec"],
                "{what}: the server changed spec (a GitOps diff)"
            );
            // A second identical apply is a no-op: nothing for a GitOps tool to fight over.
            let again = api
                .patch(
                    doc["metadata"]["name"].as_str().expect("name"),
                    &PatchParams::apply("gitops").validation_strict(),
                    &Patch::Apply(&doc),
                )
                .await
                .expect("re-apply");
            assert_eq!(
                again.metadata.resource_version, read.metadata.resource_version,
                "{what}: re-apply changed the object"
            );
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected connectsso.io examples in {}, found {seen}",
        dir.display()
    );
}

#[tokio::test]
async fn status_is_a_subresource() {
    let server = envtest::shared().await;
    let ns = server.namespace("status").await;
    let api = apps(ns.admin(), ns.name());
    let created = apply(&api, &app("agents", app_spec())).await.expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    assert!(
        created.data.get("status").is_none(),
        "no status at creation: {created:?}"
    );

    let condition = json!({"type": "Ready", "status": "True", "reason": "Ready", "message": "all parts exist",
                           "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1});
    let status = json!({"observedGeneration": 1, "oneLoginAppId": 42, "conditions": [condition]});
    let patched = api
        .patch_status(
            "agents",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )
        .await
        .expect("status patch");
    assert_eq!(patched.data["status"]["oneLoginAppId"], json!(42));
    assert_eq!(
        patched.metadata.generation,
        Some(1),
        "a status write does not bump generation"
    );

    // Status through SSA on /status, as the operator writes it.
    let ssa_status = json!({"apiVersion": "connectsso.io/v1alpha1", "kind": "ConnectSsoApp", "metadata": {"name": "agents"},
                            "status": {"roleArn": "arn:aws:iam::123456789012:role/connect-sso/x"}});
    let patched = api
        .patch_status(
            "agents",
            &PatchParams::apply("operator").validation_strict(),
            &Patch::Apply(&ssa_status),
        )
        .await
        .expect("status apply");
    assert_eq!(
        patched.data["status"]["roleArn"],
        json!("arn:aws:iam::123456789012:role/connect-sso/x")
    );

    // spec sent to /status is ignored.
    let sneaky = json!({"spec": {"oneLogin": {"appName": "Changed"}}, "status": {"oneLoginAppId": 43}});
    let after = api
        .patch_status("agents", &PatchParams::default(), &Patch::Merge(&sneaky))
        .await
        .expect("status patch with spec");
    assert_eq!(spec_of(&after), app_spec(), "spec changed through /status");
    assert_eq!(after.data["status"]["oneLoginAppId"], json!(43));
    assert_eq!(after.metadata.generation, Some(1));

    // status sent to the main resource is ignored.
    let main = json!({"spec": {"oneLogin": {"appName": "Agents"}}, "status": {"oneLoginAppId": 99}});
    let after = api
        .patch("agents", &PatchParams::default(), &Patch::Merge(&main))
        .await
        .expect("main patch with status");
    assert_eq!(
        after.data["status"]["oneLoginAppId"],
        json!(43),
        "status changed through the main resource"
    );
    assert_eq!(after.metadata.generation, Some(2));

    // The status schema is enforced too: conditions are a map keyed by type, status is an enum.
    let dup = json!({"status": {"conditions": [condition, condition]}});
    assert_invalid(
        api.patch_status("agents", &PatchParams::default(), &Patch::Merge(&dup))
            .await,
        "status.conditions[1]",
        "Duplicate value",
        "duplicate condition type",
    );
    let bad = json!({"status": {"conditions": [with(condition.clone(), "/status", json!("Maybe"))]}});
    assert_invalid(
        api.patch_status("agents", &PatchParams::default(), &Patch::Merge(&bad))
            .await,
        "status.conditions[0].status",
        "Unsupported value",
        "condition status outside the enum",
    );

    // The mapping has the subresource too.
    let mapping_api = mappings(ns.admin(), ns.name());
    apply(&mapping_api, &mapping("m", mapping_spec()))
        .await
        .expect("create mapping");
    let counts = json!({"status": {"counts": {"desired": 1, "assigned": 1, "invalid": 0, "missingInConnect": 0, "missingInOneLogin": 0},
                                   "spec": {"users": []}}});
    let after = mapping_api
        .patch_status("m", &PatchParams::default(), &Patch::Merge(&counts))
        .await
        .expect("mapping status");
    assert_eq!(after.data["status"]["counts"]["assigned"], json!(1));
    assert_eq!(spec_of(&after), mapping_spec());
}

const READER_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: NAMESPACE-app-reader
rules:
- apiGroups: [connectsso.io]
  resources: [connectssoapps]
  verbs: [get, list, watch]
- apiGroups: [connectsso.io]
  resources: [connectssoapps/status]
  verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: app-reader
subjects:
- kind: User
  name: replaced-by-the-harness
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: NAMESPACE-app-reader
"#;

#[tokio::test]
async fn restricted_user_gets_exactly_its_rbac() {
    let server = envtest::shared().await;
    let ns = server.namespace("rbac").await;
    let other = server.namespace("rbac-other").await;
    apply(&apps(ns.admin(), ns.name()), &app("agents", app_spec()))
        .await
        .expect("create app");
    apply(&apps(ns.admin(), other.name()), &app("agents", app_spec()))
        .await
        .expect("create app elsewhere");

    let user = ns
        .restricted_user(&READER_RBAC.replace("NAMESPACE", ns.name()))
        .await
        .expect("restricted user");
    let client = user.client().await;

    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({})).expect("review"),
        )
        .await
        .expect("SelfSubjectReview");
    let info = review.status.and_then(|s| s.user_info).expect("user info");
    assert_eq!(info.username.as_deref(), Some(user.username.as_str()));
    assert!(info.username.as_deref().is_some_and(|u| u.starts_with("envtest-user-")));
    assert_eq!(
        info.groups.unwrap_or_default(),
        vec!["system:authenticated".to_string()]
    );

    // Allowed: read apps in its namespace, patch their status.
    let mine = apps(&client, ns.name());
    assert_eq!(mine.list(&ListParams::default()).await.expect("list").items.len(), 1);
    mine.get("agents").await.expect("get");
    mine.patch_status(
        "agents",
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": {"oneLoginAppId": 7}})),
    )
    .await
    .expect("status patch");

    // Everything else: 403.
    assert_forbidden(apply(&mine, &app("new", app_spec())).await, "create app");
    assert_forbidden(
        mine.create(
            &PostParams::default(),
            &serde_json::from_value(app("new", app_spec())).expect("obj"),
        )
        .await,
        "POST app",
    );
    let spec_patch = json!({"spec": {"oneLogin": {"appName": "x"}}});
    assert_forbidden(
        mine.patch("agents", &PatchParams::default(), &Patch::Merge(&spec_patch))
            .await,
        "patch spec",
    );
    assert_forbidden(mine.delete("agents", &DeleteParams::default()).await, "delete app");
    assert_forbidden(
        apps(&client, other.name()).list(&ListParams::default()).await,
        "list apps in another namespace",
    );
    assert_forbidden(
        apps(&client, other.name()).get("agents").await,
        "get app in another namespace",
    );
    let all_apps: Api<DynamicObject> = Api::all_with(client.clone(), &resource("ConnectSsoApp", "connectssoapps"));
    assert_forbidden(all_apps.list(&ListParams::default()).await, "list apps cluster-wide");
    assert_forbidden(
        mappings(&client, ns.name()).list(&ListParams::default()).await,
        "list mappings",
    );
    assert_forbidden(
        Api::<Secret>::namespaced(client.clone(), ns.name())
            .list(&ListParams::default())
            .await,
        "list secrets",
    );
    assert_forbidden(
        Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
            .list(&ListParams::default())
            .await,
        "list namespaces",
    );

    // A second restricted user in the same test gets only its own grants.
    let nobody = ns.restricted_user("").await.expect("user without RBAC");
    assert_ne!(nobody.username, user.username);
    let nobody_client = nobody.client().await;
    assert_forbidden(
        apps(&nobody_client, ns.name()).get("agents").await,
        "user without RBAC reads an app",
    );
}

#[tokio::test]
async fn service_account_with_chart_style_rbac_and_kubeconfig_file() {
    let server = envtest::shared().await;
    let ns = server.namespace("sa").await;
    let chart = format!(
        r#"# rendered-chart style: ServiceAccount + ClusterRole + ClusterRoleBinding (+ things that are not RBAC)
apiVersion: v1
kind: ServiceAccount
metadata:
  name: operator
  namespace: {ns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {ns}-operator
rules:
- apiGroups: [connectsso.io]
  resources: [connectssoapps, connectusermappings]
  verbs: [get, list, watch, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {ns}-operator
subjects:
- kind: ServiceAccount
  name: operator
  namespace: {ns}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {ns}-operator
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-rbac
data: {{}}
"#,
        ns = ns.name()
    );
    let applied = ns.apply_rbac(&chart).await.expect("apply chart RBAC");
    assert_eq!(applied.skipped, vec!["ConfigMap not-rbac".to_string()]);
    assert_eq!(applied.objects.len(), 3, "{applied:?}");

    let identity = ns
        .service_account("operator", Some(&chart))
        .await
        .expect("service account identity");
    assert_eq!(
        identity.username,
        format!("system:serviceaccount:{}:operator", ns.name())
    );

    // The kubeconfig file alone is enough (what a child process gets via KUBECONFIG).
    let kubeconfig = kube::config::Kubeconfig::read_from(identity.kubeconfig_path()).expect("kubeconfig file");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("config");
    assert_eq!(config.default_namespace, ns.name());
    let client = Client::try_from(config).expect("client");
    let all_apps: Api<DynamicObject> = Api::all_with(client.clone(), &resource("ConnectSsoApp", "connectssoapps"));
    all_apps
        .list(&ListParams::default())
        .await
        .expect("cluster-wide list allowed by the ClusterRoleBinding");
    assert_forbidden(
        Api::<ConfigMap>::namespaced(client.clone(), ns.name())
            .list(&ListParams::default())
            .await,
        "ConfigMaps are not in the role",
    );
    assert_forbidden(
        apply(&apps(&client, ns.name()), &app("x", app_spec())).await,
        "create is not in the role",
    );
}

#[tokio::test]
async fn a_failing_binary_is_named_with_its_log() {
    let options = envtest::Options {
        crd_files: Vec::new(),
        extra_apiserver_args: vec!["--no-such-flag=1".into()],
        startup_timeout: Duration::from_secs(60),
    };
    let error = match envtest::Server::start(options).await {
        Ok(_) => panic!("kube-apiserver started with an unknown flag"),
        Err(e) => e.to_string(),
    };
    assert!(error.starts_with("kube-apiserver exited"), "{error}");
    assert!(
        error.contains("unknown flag: --no-such-flag"),
        "log tail missing: {error}"
    );
}

#[tokio::test]
async fn a_private_server_is_torn_down_on_drop() {
    let options = envtest::Options {
        crd_files: Vec::new(),
        ..envtest::Options::default()
    };
    let server = envtest::Server::start(options).await.expect("private server");
    let pids = server.pids();
    let dir = server.dir().to_path_buf();
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|p| !envtest::process::pid_gone(*p)));
    let client = server.admin_client().await;
    assert!(
        client
            .apiserver_version()
            .await
            .expect("version")
            .git_version
            .starts_with("v1.37")
    );
    drop(client);
    drop(server);
    assert!(
        pids.iter().all(|p| envtest::process::pid_gone(*p)),
        "children outlived the Server: {pids:?}"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}
