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
    w.wait_event("agents", "role creation", |e| {
        e.1 == "Created" && e.2.contains("IAM role")
    })
    .await;
    w.wait_event("agents", "Ready", |e| e.1 == "Ready").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_spec_updates_in_place_without_a_new_role() {
    let mut w = World::new("app-edit").await;
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let first = w.wait_ready("agents").await;
    let ns = w.namespace.clone();
    let role_id = role(&w, &format!("connect-sso.{ns}.agents"))
        .await
        .expect("role")
        .role_id()
        .to_string();
    let app_id = first.status.as_ref().and_then(|s| s.one_login_app_id);

    w.apply_app(
        "agents",
        json!({"oneLogin": {"appName": "Contact centre agents"}, "signIn": {"endpoint": "Global", "sessionDurationSeconds": 1800}}),
    )
    .await;
    let second = w.wait_ready("agents").await;
    assert_eq!(
        second.status.as_ref().and_then(|s| s.one_login_app_id),
        app_id,
        "same OneLogin app"
    );
    let role = role(&w, &format!("connect-sso.{ns}.agents")).await.expect("role");
    assert_eq!(role.role_id(), role_id, "the role was updated in place, never replaced");
    let trust = decode_document(role.assume_role_policy_document().expect("trust")).expect("json");
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"],
        json!("https://signin.aws.amazon.com/saml")
    );
    let app = w.onelogin.app_json(app_id.expect("id")).expect("app");
    assert_eq!(app["name"], "Contact centre agents");
    assert_eq!(
        app["configuration"]["consumer_url"],
        "https://signin.aws.amazon.com/saml"
    );
    assert_eq!(
        app["parameters"]["https://aws.amazon.com/SAML/Attributes/SessionDuration"]["user_attribute_macros"],
        "1800"
    );
    assert_eq!(w.onelogin.apps().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_drift_in_onelogin_and_iam_is_repaired() {
    let mut w = World::new("app-drift").await;
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_ready("agents").await;
    let status = app.status.expect("status");
    let app_id = status.one_login_app_id.expect("id");
    let ns = w.namespace.clone();
    let role_name = format!("connect-sso.{ns}.agents");
    let planned_relay = status.relay_state.clone().expect("relay");

    // Someone edits the app in the portal and loosens the trust policy in the console.
    assert!(w.onelogin.modify_app(app_id, |a| {
        a.configuration
            .insert("relaystate".into(), json!("https://example.com/phish"));
    }));
    let loose = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": status.identity_provider_arn.clone().expect("arn")}, "Action": "sts:AssumeRoleWithSAML"}]});
    w.iam
        .update_assume_role_policy()
        .role_name(&role_name)
        .policy_document(loose.to_string())
        .send()
        .await
        .expect("drift");
    w.iam
        .detach_role_policy()
        .role_name(&role_name)
        .policy_arn(status.policy_arn.clone().expect("arn"))
        .send()
        .await
        .expect("drift");

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let relay = w.onelogin.app_json(app_id).expect("app")["configuration"]["relaystate"].clone();
        let trust = decode_document(
            role(&w, &role_name)
                .await
                .expect("role")
                .assume_role_policy_document()
                .expect("t"),
        )
        .expect("json");
        let attached = w
            .iam
            .list_attached_role_policies()
            .role_name(&role_name)
            .send()
            .await
            .expect("list");
        let repaired = relay == json!(planned_relay)
            && trust["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"]
                == json!("https://us-east-1.signin.aws.amazon.com/saml")
            && attached.attached_policies().len() == 1;
        if repaired {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "drift not repaired: relay {relay}, trust {trust}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    w.wait_event("agents", "relaystate repair", |e| {
        e.1 == "Updated" && e.2.contains("relaystate")
    })
    .await;
    w.wait_event("agents", "trust policy repair", |e| {
        e.1 == "Updated" && e.2.contains("trust policy")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_signing_certificate_reaches_the_identity_provider() {
    let mut w = World::new("app-rotate").await;
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_ready("agents").await;
    let status = app.status.expect("status");
    let app_id = status.one_login_app_id.expect("id");
    let old = status.signing_certificate.expect("cert").sha256_fingerprint;

    w.onelogin.rotate_app_certificate(app_id).expect("rotated");
    let rotated = w
        .wait_app("agents", Duration::from_secs(30), "on the new certificate", |a| {
            a.status
                .as_ref()
                .and_then(|s| s.signing_certificate.as_ref())
                .is_some_and(|c| c.sha256_fingerprint != old)
        })
        .await;
    let provider = provider_metadata(&w, &status.identity_provider_arn.expect("arn"))
        .await
        .expect("provider");
    assert_eq!(
        Some(provider),
        w.onelogin.metadata_xml(app_id),
        "IAM now trusts the new certificate"
    );
    assert_eq!(
        condition(&rotated, "IdentityProvider").map(|c| c.0),
        Some(ConditionStatus::True)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_near_expiry_warns_but_stays_ready() {
    let mut w = World::new("app-expiry").await;
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_ready("agents").await;
    let app_id = app.status.and_then(|s| s.one_login_app_id).expect("id");
    let soon = std::time::SystemTime::now() + Duration::from_secs(10 * 86_400);
    w.onelogin.set_app_certificate_not_after(app_id, soon).expect("set");
    let warned = w.wait_reason("agents", "Ready", "CertificateExpiringSoon").await;
    assert_eq!(condition(&warned, "Ready").map(|c| c.0), Some(ConditionStatus::True));
    w.wait_event("agents", "CertificateExpiringSoon warning", |e| {
        e.0 == "Warning" && e.1 == "CertificateExpiringSoon"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_retain_leaves_everything() {
    let mut w = World::new("app-retain").await;
    w.start_operator();
    w.apply_app("agents", json!({"deletionPolicy": "Retain"})).await;
    let status = w.wait_ready("agents").await.status.expect("status");
    w.apps()
        .delete("agents", &DeleteParams::default())
        .await
        .expect("delete");
    w.wait_gone("agents").await;
    assert_eq!(w.onelogin.apps().len(), 1, "OneLogin app kept");
    assert!(
        role(&w, &format!("connect-sso.{}.agents", w.namespace)).await.is_some(),
        "role kept"
    );
    assert!(
        policy_document(&w, &status.policy_arn.expect("arn")).await.is_some(),
        "policy kept"
    );
    assert!(
        provider_metadata(&w, &status.identity_provider_arn.expect("arn"))
            .await
            .is_some(),
        "provider kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unowned_role_with_the_planned_name_is_left_alone() {
    let mut w = World::new("app-unowned").await;
    let name = format!("connect-sso.{}.agents", w.namespace);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    w.iam
        .create_role()
        .role_name(&name)
        .path("/connect-sso/")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("someone else's role");
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_reason("agents", "Stalled", "AlreadyExists").await;
    let (_, _, message) = condition(&app, "Ready").expect("ready");
    assert!(message.contains("spec.adopt"), "{message}");
    let untouched = decode_document(
        role(&w, &name)
            .await
            .expect("role")
            .assume_role_policy_document()
            .expect("t"),
    )
    .expect("json");
    assert!(
        same_meaning(&untouched, &trust),
        "the role was not modified: {untouched}"
    );
    assert_eq!(condition(&app, "Role").map(|c| c.1), Some("AlreadyExists".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_saml_instance_is_stalled_with_the_reason() {
    let mut w = World::new("app-nonsaml").await;
    let managed = w
        .connect
        .add_instance(world::connect::InstanceSpec::connect_managed("legacy"));
    w.start_operator();
    w.apply_app("agents", json!({"connect": {"instanceArn": managed.arn}}))
        .await;
    let app = w.wait_reason("agents", "Stalled", "InstanceNotSaml").await;
    let (_, _, message) = condition(&app, "Ready").expect("ready");
    assert!(
        message.contains("cannot be changed on an existing instance"),
        "{message}"
    );
    assert!(w.onelogin.apps().is_empty(), "nothing created in OneLogin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_stall_with_an_actionable_message_and_no_secret_anywhere() {
    let mut w = World::new("app-badcreds").await;
    let wrong_secret = "s3cr3t-that-must-never-be-shown";
    w.put_secret(&w.onelogin.client_id(), wrong_secret).await;
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_reason("agents", "Stalled", "OneLoginUnauthorized").await;
    let (_, _, message) = condition(&app, "Ready").expect("ready");
    assert!(message.contains("clientId and clientSecret"), "{message}");
    let status = serde_json::to_string(&app.status).expect("json");
    let events = format!("{:?}", w.events("agents").await);
    for text in [&status, &events] {
        assert!(!text.contains(wrong_secret), "secret leaked: {text}");
        assert!(!text.contains(&w.onelogin.client_secret()), "secret leaked: {text}");
    }
    // Fixing the Secret is picked up without a restart.
    w.put_secret(&w.onelogin.client_id(), &w.onelogin.client_secret()).await;
    w.wait_ready("agents").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_created_before_a_crash_is_found_by_its_marker_not_duplicated() {
    let mut w = World::new("app-crash").await;
    // As if a previous operator created the app and died before writing status.
    let manifest = w.app_manifest("agents", json!({}));
    let spec: connect_sso_operator::api::ConnectSsoAppSpec =
        serde_json::from_value(manifest["spec"].clone()).expect("spec");
    let id = connect_sso_operator::plan::ResourceId {
        namespace: w.namespace.clone(),
        name: "agents".into(),
    };
    let planned = connect_sso_operator::plan::plan_app(&id, &spec, &Default::default()).expect("plan");
    let earlier = w
        .onelogin
        .create_app(serde_json::to_value(&planned.one_login_app).expect("body"))
        .expect("created");
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_ready("agents").await;
    assert_eq!(app.status.and_then(|s| s.one_login_app_id), Some(earlier));
    assert_eq!(w.onelogin.apps().len(), 1, "no second app");
}
