//! The CRDs' CEL rules, evaluated client-side with kube's CEL support: the same rules the API
//! server runs at admission. Updates exercise the transition (immutability) rules.

use connect_sso_operator::api::{ConnectSsoApp, ConnectUserMapping};
use serde_json::{Value, json};

const ARN: &str = "arn:aws:connect:us-east-1:123456789012:instance/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

fn app(spec: Value) -> ConnectSsoApp {
    serde_json::from_value(json!({
        "apiVersion": "connectsso.io/v1alpha1",
        "kind": "ConnectSsoApp",
        "metadata": {"name": "agents", "namespace": "cc"},
        "spec": spec,
    }))
    .expect("valid shape")
}

fn base() -> Value {
    json!({"access": "Agent", "connect": {"instanceArn": ARN}, "oneLogin": {"credentialsSecretRef": {"name": "ol"}}})
}

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

fn messages(result: Result<(), kube::core::cel::ValidationErrors>) -> Vec<String> {
    match result {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn valid_apps_pass() {
    for spec in [
        base(),
        with(
            with(base(), "/access", json!("Custom")),
            "/destination",
            json!("/real-time-metrics?tableType=queues"),
        ),
        with(
            base(),
            "/connect/instanceArn",
            json!("arn:aws-us-gov:connect:us-gov-west-1:123456789012:instance/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
        ),
        with(
            with(base(), "/iam/maxSessionDurationSeconds", json!(43200)),
            "/signIn/sessionDurationSeconds",
            json!(43200),
        ),
        with(
            base(),
            "/iam/tags",
            json!({"cost centre": "Contact Centre", "team": "tier-1"}),
        ),
        with(
            base(),
            "/iam/permissionsBoundaryArn",
            json!("arn:aws:iam::123456789012:policy/boundaries/connect"),
        ),
    ] {
        assert_eq!(
            messages(app(spec.clone()).validate_cel()),
            Vec::<String>::new(),
            "{spec}"
        );
    }
}

#[test]
fn each_rule_rejects_what_it_should() {
    let cases = [
        (
            with(
                base(),
                "/connect/instanceArn",
                json!("arn:aws:connect:us-east-1:123456789012:instance/NOT-A-UUID"),
            ),
            "instanceArn must look like",
        ),
        (
            with(base(), "/access", json!("Custom")),
            "destination is required when access is Custom",
        ),
        (with(base(), "/destination", json!("/ccp-v2")), "not allowed otherwise"),
        (
            with(
                with(base(), "/access", json!("Custom")),
                "/destination",
                json!("/has space"),
            ),
            "must be a path",
        ),
        (
            with(base(), "/signIn/sessionDurationSeconds", json!(3601)),
            "must not exceed the role's maximum session",
        ),
        (with(base(), "/iam/roleName", json!("a/b")), "roleName may contain only"),
        (
            with(base(), "/iam/policyName", json!("p*")),
            "policyName may contain only",
        ),
        (
            with(base(), "/iam/path", json!("connect/")),
            "path must start and end with '/'",
        ),
        (with(base(), "/iam/tags", json!({"aws:owner": "x"})), "tag keys must be"),
        (with(base(), "/iam/tags", json!({"team": "a;b"})), "tag values must be"),
        (
            with(base(), "/oneLogin/appName", json!(" padded")),
            "appName must not start or end with spaces",
        ),
        (
            with(base(), "/oneLogin/credentialsSecretRef/name", json!("Bad_Name")),
            "must be a Secret name",
        ),
    ];
    for (spec, expected) in cases {
        let got = messages(app(spec.clone()).validate_cel());
        assert!(
            got.iter().any(|m| m.contains(expected)),
            "{spec}\nexpected {expected:?}, got {got:?}"
        );
    }
}

#[test]
fn immutable_fields_cannot_change_but_others_can() {
    let old = app(with(base(), "/iam/roleName", json!("agents")));
    let changed = [
        (
            with(
                with(base(), "/iam/roleName", json!("agents")),
                "/connect/instanceArn",
                json!(ARN.replace("us-east-1", "eu-west-2")),
            ),
            "instanceArn is immutable",
        ),
        (
            with(base(), "/iam/roleName", json!("agents-2")),
            "roleName is immutable",
        ),
        (base(), "roleName is immutable"),
        (
            with(
                with(base(), "/iam/roleName", json!("agents")),
                "/iam/path",
                json!("/other/"),
            ),
            "path is immutable",
        ),
        (
            with(
                with(base(), "/iam/roleName", json!("agents")),
                "/iam/identityProviderName",
                json!("p"),
            ),
            "identityProviderName is immutable",
        ),
        (
            with(
                with(base(), "/iam/roleName", json!("agents")),
                "/iam/policyName",
                json!("p"),
            ),
            "policyName is immutable",
        ),
    ];
    for (spec, expected) in changed {
        let got = messages(app(spec.clone()).validate_cel_update(&old));
        assert!(
            got.iter().any(|m| m.contains(expected)),
            "{spec}\nexpected {expected:?}, got {got:?}"
        );
    }
    let allowed = with(
        with(base(), "/iam/roleName", json!("agents")),
        "/oneLogin/appName",
        json!("Agents"),
    );
    assert_eq!(messages(app(allowed).validate_cel_update(&old)), Vec::<String>::new());
}

fn mapping(spec: Value) -> ConnectUserMapping {
    serde_json::from_value(json!({
        "apiVersion": "connectsso.io/v1alpha1",
        "kind": "ConnectUserMapping",
        "metadata": {"name": "m", "namespace": "cc"},
        "spec": spec,
    }))
    .expect("valid shape")
}

#[test]
fn mapping_rules() {
    let ok = mapping(json!({"appRef": {"name": "agents"}, "users": ["a@example.com"],
        "connectUsers": {"mode": "Create", "securityProfiles": ["Agent"], "routingProfile": "Basic"}}));
    assert_eq!(messages(ok.validate_cel()), Vec::<String>::new());

    let create_without_profiles =
        mapping(json!({"appRef": {"name": "agents"}, "users": ["a@example.com"], "connectUsers": {"mode": "Create"}}));
    assert!(
        messages(create_without_profiles.validate_cel())
            .iter()
            .any(|m| m.contains("mode Create needs"))
    );

    let profiles_without_create = mapping(json!({"appRef": {"name": "agents"}, "users": ["a@example.com"],
        "connectUsers": {"securityProfiles": ["Agent"]}}));
    assert!(
        messages(profiles_without_create.validate_cel())
            .iter()
            .any(|m| m.contains("only used with mode Create"))
    );

    let moved = mapping(json!({"appRef": {"name": "admins"}, "users": ["a@example.com"]}));
    assert!(
        messages(moved.validate_cel_update(&ok))
            .iter()
            .any(|m| m.contains("appRef.name is immutable"))
    );
}
