//! The ConnectSsoApp controller end to end: the real reconciler against a real kube-apiserver,
//! moto (IAM through the real aws-sdk-iam), our Amazon Connect and OneLogin test servers.

#[path = "support/world/mod.rs"]
mod world;

use std::time::Duration;

use connect_sso_operator::api::ConditionStatus;
use connect_sso_operator::plan::policies::{decode_document, same_meaning};
use kube::api::DeleteParams;
use serde_json::{Value, json};
use world::{World, condition};

const PROVIDER_PREFIX: &str = "arn:aws:iam::123456789012:saml-provider/connect-sso.";

async fn role(w: &World, name: &str) -> Option<aws_sdk_iam::types::Role> {
    match w.iam.get_role().role_name(name).send().await {
        Ok(o) => o.role().cloned(),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => None,
        Err(e) => panic!("GetRole: {e:?}"),
    }
}

async fn policy_document(w: &World, arn: &str) -> Option<Value> {
    let policy = w.iam.get_policy().policy_arn(arn).send().await.ok()?.policy()?.clone();
    let version = policy.default_version_id()?;
    let v = w
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .ok()?;
    decode_document(v.policy_version()?.document()?).ok()
}

async fn provider_metadata(w: &World, arn: &str) -> Option<String> {
    let o = w.iam.get_saml_provider().saml_provider_arn(arn).send().await.ok()?;
    o.saml_metadata_document().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_makes_everything_as_planned_and_ready() {
    let mut w = World::new("app-create").await;
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_ready("agents").await;
    let status = app.status.clone().expect("status");
    let ns = &w.namespace;

    // Every id and ARN is in status.
    let app_id = status.one_login_app_id.expect("app id");
    let role_arn = status.role_arn.clone().expect("role arn");
    let policy_arn = status.policy_arn.clone().expect("policy arn");
    let provider_arn = status.identity_provider_arn.clone().expect("provider arn");
    assert_eq!(
        role_arn,
        format!("arn:aws:iam::123456789012:role/connect-sso/connect-sso.{ns}.agents")
    );
    assert_eq!(provider_arn, format!("{PROVIDER_PREFIX}{ns}.agents"));
    assert!(status.one_login_role_id.is_some());
    assert!(status.metadata_url.is_some() && status.launch_url.is_some());
    let cert = status.signing_certificate.clone().expect("certificate");
    assert_eq!(cert.sha256_fingerprint.len(), 95, "AA:BB:... of 32 bytes");
    let relay = status.relay_state.clone().expect("relay state");
    assert!(relay.ends_with("?destination=%2Fccp-v2"), "{relay}");
    for part in ["OneLoginApp", "IdentityProvider", "Policy", "Role"] {
        assert_eq!(
            condition(&app, part).map(|c| c.0),
            Some(ConditionStatus::True),
            "{part}"
        );
    }
    assert_eq!(app.status.as_ref().expect("status").conditions[0].r#type, "Ready");

    // IAM in moto is exactly as planned.
    let role = role(&w, &format!("connect-sso.{ns}.agents"))
        .await
        .expect("role exists");
    let trust = decode_document(role.assume_role_policy_document().expect("trust")).expect("json");
    let acs = "https://us-east-1.signin.aws.amazon.com/saml";
    let want_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider_arn}, "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
        "Condition": {"StringEquals": {"SAML:aud": acs}}}]});
    assert!(same_meaning(&trust, &want_trust), "{trust}");
    assert!(
        role.tags()
            .iter()
            .any(|t| t.key() == "connectsso.io/owner" && t.value() == format!("{ns}/agents"))
    );
    let attached = w
        .iam
        .list_attached_role_policies()
        .role_name(role.role_name())
        .send()
        .await
        .expect("attached");
    assert_eq!(
        attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect::<Vec<_>>(),
        [policy_arn.as_str()]
    );
    let document = policy_document(&w, &policy_arn).await.expect("policy");
    assert_eq!(
        document["Statement"][0]["Resource"],
        json!(format!("{}/user/${{aws:userid}}", w.instance_arn))
    );
    let metadata = provider_metadata(&w, &provider_arn).await.expect("provider");
    assert_eq!(
        Some(metadata),
        w.onelogin.metadata_xml(app_id),
        "the provider trusts the app's own metadata"
    );

    // The OneLogin app is configured as planned, and nothing else exists.
    let apps = w.onelogin.apps();
    assert_eq!(apps.len(), 1);
    let one_login_app = w.onelogin.app_json(app_id).expect("app");
    assert_eq!(one_login_app["configuration"]["relaystate"], json!(relay));
    assert_eq!(one_login_app["configuration"]["consumer_url"], json!(acs));
    assert_eq!(one_login_app["configuration"]["recipient"], json!(acs));
    assert_eq!(
        one_login_app["parameters"]["https://aws.amazon.com/SAML/Attributes/Role"]["user_attribute_macros"],
        json!(format!("{role_arn},{provider_arn}"))
    );
    let role_id = status.one_login_role_id.expect("role id");
    assert_eq!(w.onelogin.role_apps(role_id), Some(vec![app_id]));

    // Events say what happened.
    let events = w.events("agents").await;
    assert!(
        events.iter().any(|e| e.1 == "Created" && e.2.contains("IAM role")),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e.1 == "Ready"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_with_no_drift_makes_no_writes() {
    let mut w = World::new("app-steady").await;
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let before = w.wait_ready("agents").await;
    w.onelogin.reset_calls();
    w.connect.reset_counts();
    // Resync is 3 s in tests: wait for at least two.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let calls = w.onelogin.calls();
    assert!(calls.total() > 0, "resyncs happened");
    assert_eq!(
        calls.writes(),
        0,
        "no OneLogin writes on a resync without drift: {:?}",
        calls.by_route()
    );
    assert_eq!(w.connect.write_count(), 0);
    let after = w.apps().get("agents").await.expect("app");
    assert_eq!(
        before.metadata.resource_version, after.metadata.resource_version,
        "no status write either"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_delete_policy_removes_everything() {
    let mut w = World::new("app-delete").await;
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_ready("agents").await;
    let status = app.status.expect("status");
    assert!(
        app.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.contains(&"connectsso.io/cleanup".to_string()))
    );
    w.apps()
        .delete("agents", &DeleteParams::default())
        .await
        .expect("delete");
    w.wait_gone("agents").await;
    assert!(w.onelogin.apps().is_empty(), "OneLogin app deleted");
    assert!(w.onelogin.roles().is_empty(), "OneLogin role deleted");
    let ns = &w.namespace;
    assert!(
        role(&w, &format!("connect-sso.{ns}.agents")).await.is_none(),
        "role deleted"
    );
    assert!(
        policy_document(&w, &status.policy_arn.expect("arn")).await.is_none(),
        "policy deleted"
    );
    assert!(
        provider_metadata(&w, &status.identity_provider_arn.expect("arn"))
            .await
            .is_none(),
        "provider deleted"
    );
}
