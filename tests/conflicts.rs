//! Two ConnectSsoApps that would own the same external object: the first keeps it and stays
//! Ready, the second is Stalled with reason Conflict naming the first, nothing of the first is
//! modified, and deleting the second (deletionPolicy Delete) deletes only what is its own.
//!
//! IAM goes through the faulty proxy (no faults) so SAML provider tags are kept as real IAM keeps
//! them; moto drops them.

#[path = "support/faulty_proxy/mod.rs"]
mod faulty_proxy;
#[path = "support/world/mod.rs"]
mod world;

use std::time::Duration;

use connect_sso_operator::api::{ConditionStatus, ConnectSsoApp};
use faulty_proxy::FaultyProxy;
use kube::api::DeleteParams;
use serde_json::{Value, json};
use world::{World, condition, json_status};

async fn world(hint: &str) -> (World, FaultyProxy) {
    let mut w = World::new(hint).await;
    let proxy = FaultyProxy::start(&w.moto).await;
    proxy.keep_saml_provider_tags(true);
    w.iam_endpoint = Some(proxy.endpoint());
    w.start_operator();
    (w, proxy)
}

/// Everything a person would notice about the first app's external objects.
#[derive(Debug, PartialEq)]
struct Snapshot {
    one_login_app: Value,
    one_login_role: Option<(String, Vec<i64>)>,
    role_trust: String,
    role_max_session: Option<i32>,
    role_tags: Vec<(String, String)>,
    attached: Vec<String>,
    policy_default_version: String,
    policy_versions: usize,
    policy_tags: Vec<(String, String)>,
    provider_metadata: String,
}

async fn snapshot(w: &World, app: &ConnectSsoApp) -> Snapshot {
    let status = app.status.as_ref().expect("status");
    let app_id = status.one_login_app_id.expect("app id");
    let role_name = status
        .role_arn
        .as_deref()
        .and_then(|a| a.rsplit('/').next())
        .expect("role arn");
    let policy_arn = status.policy_arn.clone().expect("policy arn");
    let role = w.iam.get_role().role_name(role_name).send().await.expect("GetRole");
    let role = role.role().expect("role").clone();
    let attached = w
        .iam
        .list_attached_role_policies()
        .role_name(role_name)
        .send()
        .await
        .expect("attached");
    let policy = w
        .iam
        .get_policy()
        .policy_arn(&policy_arn)
        .send()
        .await
        .expect("GetPolicy");
    let policy = policy.policy().expect("policy").clone();
    let versions = w
        .iam
        .list_policy_versions()
        .policy_arn(&policy_arn)
        .send()
        .await
        .expect("versions");
    let provider = w
        .iam
        .get_saml_provider()
        .saml_provider_arn(status.identity_provider_arn.as_deref().expect("provider arn"))
        .send()
        .await
        .expect("GetSAMLProvider");
    let tags = |t: &[aws_sdk_iam::types::Tag]| -> Vec<(String, String)> {
        let mut v: Vec<_> = t.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        v.sort();
        v
    };
    Snapshot {
        one_login_app: w.onelogin.app_json(app_id).expect("OneLogin app"),
        one_login_role: status
            .one_login_role_id
            .and_then(|id| w.onelogin.role(id))
            .map(|r| (r.name, r.apps)),
        role_trust: role.assume_role_policy_document().unwrap_or_default().to_string(),
        role_max_session: role.max_session_duration(),
        role_tags: tags(role.tags()),
        attached: attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
        policy_default_version: policy.default_version_id().unwrap_or_default().to_string(),
        policy_versions: versions.versions().len(),
        policy_tags: tags(policy.tags()),
        provider_metadata: provider.saml_metadata_document().unwrap_or_default().to_string(),
    }
}

fn is_ready(app: &ConnectSsoApp) -> bool {
    condition(app, "Ready").is_some_and(|c| c.0 == ConditionStatus::True)
}

/// The second app is Stalled with reason Conflict, and its message names the first.
async fn assert_conflict(w: &World, name: &str, what: &str) {
    let app = w.wait_reason(name, "Stalled", "Conflict").await;
    let (status, reason, message) = condition(&app, "Ready").expect("Ready");
    assert_eq!(
        (status, reason.as_str()),
        (ConditionStatus::False, "Conflict"),
        "{name}: {}",
        json_status(Some(&app))
    );
    let first = format!("{}/first", w.namespace);
    assert!(
        message.contains(&first) && message.contains(what),
        "{name}: the message names the {what} and its owner {first}: {message}"
    );
    assert_eq!(
        condition(&app, "Stalled").map(|c| c.0),
        Some(ConditionStatus::True),
        "{name}"
    );
}

/// Lets a few resyncs (3 s each) run, then checks the first is Ready and untouched.
async fn assert_first_untouched(w: &World, before: &Snapshot, when: &str) {
    tokio::time::sleep(Duration::from_secs(7)).await;
    let first = w.apps().get("first").await.expect("first");
    assert!(
        is_ready(&first),
        "{when}: the first app stays Ready: {}",
        json_status(Some(&first))
    );
    let after = snapshot(w, &first).await;
    pretty_assertions::assert_eq!(&after, before, "{when}: the first app's objects were modified");
}

async fn delete_and_wait(w: &World, name: &str) {
    w.apps().delete(name, &DeleteParams::default()).await.expect("delete");
    w.wait_gone(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_onelogin_app_name_stays_with_the_first_app() {
    let (w, _proxy) = world("conflict-app").await;
    let shared = json!({"oneLogin": {"appName": "Contact centre agents"}});
    w.apply_app("first", shared.clone()).await;
    let first = w.wait_ready("first").await;
    let before = snapshot(&w, &first).await;

    let mut second = shared.clone();
    second["deletionPolicy"] = json!("Delete");
    w.apply_app("second", second).await;
    assert_conflict(&w, "second", "OneLogin app").await;
    assert_first_untouched(&w, &before, "while the second is Stalled").await;
    assert_eq!(w.onelogin.apps().len(), 1, "the second made no OneLogin app");

    delete_and_wait(&w, "second").await;
    assert_first_untouched(&w, &before, "after the second was deleted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_iam_names_stay_with_the_first_app() {
    let (w, _proxy) = world("conflict-iam").await;
    w.apply_app("first", json!({})).await;
    let first = w.wait_ready("first").await;
    let before = snapshot(&w, &first).await;
    let taken = format!("connect-sso.{}.first", w.namespace);

    // One app per name it shares with the first; each is deleted with deletionPolicy Delete.
    let cases = [
        ("same-role", "roleName", "IAM role"),
        ("same-policy", "policyName", "IAM policy"),
        ("same-provider", "identityProviderName", "IAM SAML provider"),
    ];
    for (name, field, _) in cases {
        w.apply_app(name, json!({"iam": {field: taken}, "deletionPolicy": "Delete"}))
            .await;
    }
    for (name, _, what) in cases {
        assert_conflict(&w, name, what).await;
    }
    assert_first_untouched(&w, &before, "while the others are Stalled").await;

    for (name, ..) in cases {
        delete_and_wait(&w, name).await;
    }
    assert_first_untouched(&w, &before, "after the others were deleted").await;
    // The others' own objects are gone; only the first's remain.
    let apps = w.onelogin.apps();
    assert_eq!(
        apps.iter().map(|a| a.id).collect::<Vec<_>>(),
        [first.status.as_ref().and_then(|s| s.one_login_app_id).expect("id")],
        "only the first's OneLogin app is left"
    );
    let ns = &w.namespace;
    let roles = w.iam.list_roles().send().await.expect("roles");
    let ours: Vec<&str> = roles
        .roles()
        .iter()
        .map(|r| r.role_name())
        .filter(|n| n.contains(ns.as_str()))
        .collect();
    assert_eq!(ours, [taken.as_str()], "only the first's role is left");
    let providers = w.iam.list_saml_providers().send().await.expect("providers");
    let ours: Vec<&str> = providers
        .saml_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .filter(|a| a.contains(ns.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "only the first's provider is left: {ours:?}");
    let policies = w
        .iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .expect("policies");
    let ours: Vec<&str> = policies
        .policies()
        .iter()
        .filter_map(|p| p.policy_name())
        .filter(|n| n.contains(ns.as_str()))
        .collect();
    assert_eq!(ours, [taken.as_str()], "only the first's policy is left");
}

/// Argo CD and `kubectl apply -f dir/` create both at once: the reconciles race. One must still
/// win and the other report Conflict, with one OneLogin app of that name in the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_applied_at_once_with_the_same_onelogin_app_name_end_with_one_app() {
    let (w, _proxy) = world("conflict-race").await;
    // OneLogin as slow as over a WAN, so the two first passes overlap as they would in production.
    w.onelogin.set_latency(Duration::from_millis(300));
    let shared = json!({"oneLogin": {"appName": "Contact centre agents"}, "deletionPolicy": "Delete"});
    futures::join!(
        w.apply_app("first", shared.clone()),
        w.apply_app("second", shared.clone())
    );
    let settled =
        |app: &ConnectSsoApp| is_ready(app) || condition(app, "Stalled").is_some_and(|c| c.0 == ConditionStatus::True);
    let a = w.wait_app("first", Duration::from_secs(60), "settled", settled).await;
    let b = w.wait_app("second", Duration::from_secs(60), "settled", settled).await;
    // A few resyncs, so a loser that only notices later has the chance to.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let a = w.apps().get("first").await.unwrap_or(a);
    let b = w.apps().get("second").await.unwrap_or(b);
    let named: Vec<i64> = w
        .onelogin
        .apps()
        .iter()
        .filter(|app| app.name == "Contact centre agents")
        .map(|app| app.id)
        .collect();
    let ready = [&a, &b].iter().filter(|app| is_ready(app)).count();
    assert!(
        named.len() == 1 && ready == 1,
        "two apps applied at once both kept a OneLogin app named the same ({} apps: {named:?}; {ready} Ready). \
         Needs src/controller/app/chain.rs ensure_app to look again after creating and let the older owner win \
         (see the report). first: {}; second: {}",
        named.len(),
        json_status(Some(&a)),
        json_status(Some(&b)),
    );
}
