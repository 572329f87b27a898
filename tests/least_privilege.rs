//! Least privilege, proven: the operator binary runs as an IAM user whose only policy is
//! `deploy/iam-policy.json`, against a moto server that enforces IAM policies, through create →
//! Ready → edit → drift repair → edit → delete; a control user whose policy lacks
//! `iam:UpdateAssumeRolePolicy` must stall with `AwsAccessDenied` on the first edit, which shows
//! moto really enforces.
//!
//! How moto enforces (moto 5.2.5, `moto/core/authorization.py`): with `INITIAL_NO_AUTH_ACTION_COUNT`
//! set, the first that many requests go unchecked; every later one must be SigV4-signed with an
//! IAM user's access key (the signature is verified) and the action must be allowed by that user's
//! policies (`iam/access_control.py`). The test creates its users within the free requests, then
//! proves enforcement has started (an unknown key is refused) before the operator starts.
//!
//! What moto can check, and what it cannot:
//! - IAM actions: all of them (IAM is served by moto's `call_action`, which authorizes every
//!   action). Actions are matched exactly as written.
//! - Resources: moto knows the resource only for calls naming an existing role (`RoleName`), which
//!   are checked against the role's ARN. Every other call — every SAML provider and policy call,
//!   CreateRole, and GetRole of a role that does not exist yet — is checked against `"*"`. So the
//!   policy given to moto has, per statement, one extra resource that matches only moto's `"*"`
//!   placeholder (see [`for_moto`]); and the test checks the resource of every call the operator
//!   made (from a recording proxy) against the unmodified policy itself ([`resource_violations`]).
//! - Not checked at all: the `connect:*` actions (served by our own Connect test server, which
//!   checks only the SigV4 scope); the extra permissions real IAM demands for tag-on-create
//!   (`iam:TagRole`, `iam:TagPolicy`, `iam:TagSAMLProvider` alongside CreateRole, CreatePolicy,
//!   CreateSAMLProvider) and for a boundary on create; condition keys; and `iam:ListSAMLProviderTags`
//!   (granted but never called). How real IAM authorizes GetRole for a role that does not exist yet
//!   (with or without the path in the ARN) cannot be observed here either.

#[path = "support/crash/mod.rs"]
mod crash;
#[path = "support/world/mod.rs"]
mod world;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
use connect_sso_operator::api::{ConditionStatus, ConnectSsoApp};
use kube::api::DeleteParams;
use kube::runtime::wait::{await_condition, conditions};
use serde_json::{Value, json};
use world::envtest::process::{ManagedProcess, free_ports};
use world::{World, condition};

const ACCOUNT: &str = "123456789012";
const APP: &str = "agents";
const WAIT: Duration = Duration::from_secs(90);
/// Requests moto lets through before it enforces: exactly the setup calls below.
const SETUP_REQUESTS: usize = 3 * 3 + 1;
/// Matches only moto's "resource not determined" placeholder `*` (moto turns `*` into `.*` and
/// anchors the rest as a regular expression); its validator accepts it as an ARN.
const MOTO_UNRESOLVED: &str = "[*]$|^moto-unresolved:aws:iam::000000000000:role/none";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy_policy() -> Value {
    let text = std::fs::read_to_string(root().join("deploy/iam-policy.json")).expect("deploy/iam-policy.json");
    serde_json::from_str(&text).expect("policy JSON")
}

/// The policy as moto must see it: each IAM statement also matches moto's placeholder resource.
fn for_moto(policy: &Value) -> Value {
    let mut policy = policy.clone();
    for statement in policy["Statement"].as_array_mut().expect("statements") {
        let resources = match &statement["Resource"] {
            Value::String(s) => vec![Value::String(s.clone())],
            Value::Array(a) => a.clone(),
            _ => panic!("statement without Resource"),
        };
        if resources
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains(":iam:")))
        {
            let mut resources = resources;
            resources.push(Value::String(MOTO_UNRESOLVED.into()));
            statement["Resource"] = Value::Array(resources);
        }
    }
    policy
}

fn without_action(policy: &Value, action: &str) -> Value {
    let mut policy = policy.clone();
    for statement in policy["Statement"].as_array_mut().expect("statements") {
        if let Some(actions) = statement["Action"].as_array_mut() {
            actions.retain(|a| a.as_str() != Some(action));
        }
    }
    policy
}

/// A moto server of our own that enforces IAM after `SETUP_REQUESTS` requests.
fn start_enforcing_moto(log: &Path) -> (ManagedProcess, String) {
    let out = Command::new("bash")
        .arg(root().join("tests/tools/install-python.sh"))
        .output()
        .expect("install-python.sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let venv = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let port = free_ports(1).expect("port")[0];
    let mut cmd = Command::new(venv.join("bin/moto_server"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("PYTHONUNBUFFERED", "1")
        .env("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_REQUESTS.to_string());
    let process = ManagedProcess::spawn("moto-enforcing", cmd, log).expect("moto starts");
    (process, format!("http://127.0.0.1:{port}"))
}

fn iam_client(endpoint: &str, key: &str, secret: &str) -> aws_sdk_iam::Client {
    let config = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, secret, None, None, "least-privilege-test"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_iam::Client::from_conf(config)
}

#[derive(Clone)]
struct Keys {
    id: String,
    secret: String,
}

/// Three requests: the user, its only (inline) policy, its access key.
async fn create_user(iam: &aws_sdk_iam::Client, name: &str, policy: &Value) -> Keys {
    iam.create_user().user_name(name).send().await.expect("CreateUser");
    iam.put_user_policy()
        .user_name(name)
        .policy_name("only")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("PutUserPolicy");
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .expect("CreateAccessKey");
    let key = key.access_key().expect("access key");
    Keys {
        id: key.access_key_id().to_string(),
        secret: key.secret_access_key().to_string(),
    }
}

/// The users, created while moto still lets every request through; then proof that it enforces.
struct Users {
    admin: Keys,
    operator: Keys,
    control: Keys,
}

impl Users {
    /// The operator's keys, for the proxy to re-sign with (see `crash::resign`).
    fn secrets(&self) -> std::collections::HashMap<String, String> {
        [&self.operator, &self.control]
            .iter()
            .map(|k| (k.id.clone(), k.secret.clone()))
            .collect()
    }
}

async fn set_up_users(endpoint: &str) -> Users {
    let boot = iam_client(endpoint, "testing", "testing");
    let policy = deploy_policy();
    let everything =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
    let admin = create_user(&boot, "test-admin", &everything).await;
    let operator = create_user(&boot, "connect-sso-operator", &for_moto(&policy)).await;
    let control = create_user(
        &boot,
        "connect-sso-operator-control",
        &for_moto(&without_action(&policy, "iam:UpdateAssumeRolePolicy")),
    )
    .await;
    // The last free request; from now on an unknown key is refused.
    boot.list_users().send().await.expect("the last unchecked request");
    let refused = boot.list_users().send().await;
    assert!(
        refused.is_err(),
        "moto did not start enforcing after {SETUP_REQUESTS} requests"
    );
    let admin_client = iam_client(endpoint, &admin.id, &admin.secret);
    admin_client
        .list_users()
        .send()
        .await
        .expect("the admin key works under enforcement");
    let operator_client = iam_client(endpoint, &operator.id, &operator.secret);
    let denied = operator_client.list_users().send().await;
    assert!(denied.is_err(), "the operator's key may not list users");
    Users {
        admin,
        operator,
        control,
    }
}

fn start_binary(w: &World, iam: &str, keys: &Keys, log: &Path) -> ManagedProcess {
    let port = free_ports(1).expect("port")[0];
    let mut cmd = w.operator_command(w.ns.server().admin().kubeconfig_path(), iam, port);
    cmd.env("AWS_ACCESS_KEY_ID", &keys.id)
        .env("AWS_SECRET_ACCESS_KEY", &keys.secret);
    ManagedProcess::spawn("connect-sso-operator", cmd, log).expect("binary starts")
}

async fn wait_for(
    w: &World,
    proxy: &crash::IamProxy,
    logs: &[&ManagedProcess],
    what: &str,
    cond: impl Fn(&ConnectSsoApp) -> bool,
) -> ConnectSsoApp {
    let found = tokio::time::timeout(
        WAIT,
        await_condition(w.apps(), APP, move |a: Option<&ConnectSsoApp>| a.is_some_and(&cond)),
    )
    .await;
    match found {
        Ok(Ok(Some(app))) => app,
        _ => {
            let app = w.apps().get_opt(APP).await.ok().flatten();
            let tails: Vec<String> = logs
                .iter()
                .map(|p| format!("{} log:\n{}", p.name(), p.log_tail(20)))
                .collect();
            let refused: Vec<(String, u16, Option<String>)> = proxy
                .calls()
                .into_iter()
                .filter(|c| c.status >= 400 && c.status != 404)
                .map(|c| (c.action, c.status, c.error))
                .collect();
            panic!(
                "{APP}: not {what}; status: {}\nIAM calls refused: {refused:#?}\n{}",
                world::json_status(app.as_ref()),
                tails.join("\n")
            );
        }
    }
}

fn ready_now(app: &ConnectSsoApp) -> bool {
    condition(app, "Ready").is_some_and(|c| c.0 == ConditionStatus::True)
        && app.status.as_ref().and_then(|s| s.observed_generation) == app.metadata.generation
}

/// The ARN IAM authorizes a call against, from its parameters (`role_paths`: the path each role
/// was created with).
fn resource_of(call: &crash::IamCall, role_paths: &std::collections::HashMap<String, String>) -> String {
    let p = |k: &str| call.param(k).unwrap_or_default().to_string();
    match call.action.as_str() {
        "CreateSAMLProvider" => format!("arn:aws:iam::{ACCOUNT}:saml-provider/{}", p("Name")),
        "CreatePolicy" => {
            let path = call.param("Path").unwrap_or("/");
            format!("arn:aws:iam::{ACCOUNT}:policy{path}{}", p("PolicyName"))
        }
        _ if call.param("SAMLProviderArn").is_some() => p("SAMLProviderArn"),
        _ if call.param("RoleName").is_some() => {
            let name = p("RoleName");
            let path = call
                .param("Path")
                .map(str::to_string)
                .or_else(|| role_paths.get(&name).cloned())
                .unwrap_or_else(|| "/".into());
            format!("arn:aws:iam::{ACCOUNT}:role{path}{name}")
        }
        _ if call.param("PolicyArn").is_some() => p("PolicyArn"),
        _ => "*".into(),
    }
}

/// IAM's wildcard match: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Calls that the unmodified policy does not allow (action and resource, as IAM matches them:
/// actions without regard to case, resources with wildcards).
fn resource_violations(policy: &Value, calls: &[crash::IamCall]) -> Vec<String> {
    let mut role_paths = std::collections::HashMap::new();
    for c in calls.iter().filter(|c| c.action == "CreateRole") {
        role_paths.insert(
            c.param("RoleName").unwrap_or_default().to_string(),
            c.param("Path").unwrap_or("/").to_string(),
        );
    }
    let statements = policy["Statement"].as_array().expect("statements");
    let mut out = Vec::new();
    for call in calls {
        let action = format!("iam:{}", call.action).to_ascii_lowercase();
        let resource = resource_of(call, &role_paths);
        let allowed = statements.iter().any(|s| {
            s["Effect"] == "Allow"
                && strings(&s["Action"])
                    .iter()
                    .any(|a| glob(&a.to_ascii_lowercase(), &action))
                && strings(&s["Resource"]).iter().any(|r| glob(r, &resource))
        });
        if !allowed {
            out.push(format!("iam:{} on {resource}", call.action));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn succeeded_since(proxy: &crash::IamProxy, from: usize, action: &str) -> bool {
    proxy.calls()[from..]
        .iter()
        .any(|c| c.action == action && (200..300).contains(&c.status))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_policy_is_enough_and_moto_enforces_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut moto, endpoint) = start_enforcing_moto(&dir.path().join("moto.log"));
    moto.wait_until_answers(&format!("{endpoint}/moto-api/data.json"), Duration::from_secs(60))
        .await;
    let users = set_up_users(&endpoint).await;
    let admin = iam_client(&endpoint, &users.admin.id, &users.admin.secret);
    let boundary = admin
        .create_policy()
        .policy_name("connect-sso-boundary")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "connect:GetFederationToken", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await
        .expect("boundary policy");
    let boundary_arn = boundary.policy().and_then(|p| p.arn()).expect("arn").to_string();

    // ---- the deploy policy: everything works --------------------------------------------
    let w = World::new("least-privilege").await;
    let proxy = crash::IamProxy::start_with(&endpoint, false, users.secrets()).await;
    let operator = start_binary(&w, proxy.endpoint(), &users.operator, &dir.path().join("operator.log"));

    w.apply_app(APP, json!({})).await;
    let app = wait_for(&w, &proxy, &[&operator, &moto], "Ready", ready_now).await;
    let status = app.status.clone().expect("status");
    let role_arn = status.role_arn.clone().expect("role ARN");
    let role = role_arn.rsplit('/').next().expect("role name").to_string();
    let policy_arn = status.policy_arn.clone().expect("policy ARN");
    let provider_arn = status.identity_provider_arn.clone().expect("provider ARN");
    let app_id = status.one_login_app_id.expect("app id");

    // Edit: OneLogin configuration, trust policy (Global sign-in) and a permissions boundary.
    w.apply_app(
        APP,
        json!({"signIn": {"endpoint": "Global"}, "oneLogin": {"appName": "Agents (least privilege)"},
               "iam": {"permissionsBoundaryArn": boundary_arn}}),
    )
    .await;
    wait_for(&w, &proxy, &[&operator, &moto], "Ready after the edit", ready_now).await;
    let got = admin.get_role().role_name(&role).send().await.expect("GetRole");
    let got = got.role().expect("role");
    assert_eq!(
        got.permissions_boundary().and_then(|b| b.permissions_boundary_arn()),
        Some(boundary_arn.as_str())
    );

    // Drift, made with the admin key: every repair the operator knows.
    let from = proxy.calls().len();
    admin
        .update_role()
        .role_name(&role)
        .max_session_duration(7200)
        .send()
        .await
        .expect("UpdateRole");
    admin
        .detach_role_policy()
        .role_name(&role)
        .policy_arn(&policy_arn)
        .send()
        .await
        .expect("DetachRolePolicy");
    admin
        .untag_role()
        .role_name(&role)
        .tag_keys("connectsso.io/managed-by")
        .send()
        .await
        .expect("UntagRole");
    admin
        .untag_policy()
        .policy_arn(&policy_arn)
        .tag_keys("connectsso.io/managed-by")
        .send()
        .await
        .expect("UntagPolicy");
    let foreign_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"SAML:aud": "https://example.com/saml"}}}]});
    admin
        .update_assume_role_policy()
        .role_name(&role)
        .policy_document(foreign_trust.to_string())
        .send()
        .await
        .expect("UpdateAssumeRolePolicy");
    // Four more versions, the last (default) one different: the operator must prune one.
    for i in 0..4 {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "connect:GetFederationToken", "Resource": format!("arn:aws:connect:us-east-1:{ACCOUNT}:instance/drift-{i}/user/*")}]});
        admin
            .create_policy_version()
            .policy_arn(&policy_arn)
            .policy_document(doc.to_string())
            .set_as_default(true)
            .send()
            .await
            .expect("CreatePolicyVersion");
    }
    w.onelogin.rotate_app_certificate(app_id).expect("rotated");

    let repairs = [
        "UpdateRole",
        "AttachRolePolicy",
        "TagRole",
        "TagPolicy",
        "UpdateAssumeRolePolicy",
        "DeletePolicyVersion",
        "CreatePolicyVersion",
        "UpdateSAMLProvider",
    ];
    let deadline = Instant::now() + WAIT;
    while !repairs.iter().all(|a| succeeded_since(&proxy, from, a)) {
        let missing: Vec<_> = repairs.iter().filter(|a| !succeeded_since(&proxy, from, a)).collect();
        assert!(
            Instant::now() < deadline,
            "drift not repaired: {missing:?}\noperator log:\n{}",
            operator.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_for(&w, &proxy, &[&operator, &moto], "Ready after the repair", ready_now).await;
    let versions = admin
        .list_policy_versions()
        .policy_arn(&policy_arn)
        .send()
        .await
        .expect("ListPolicyVersions");
    assert!(versions.versions().len() <= 5);

    // Second edit: the boundary goes again.
    w.apply_app(
        APP,
        json!({"signIn": {"endpoint": "Global"}, "oneLogin": {"appName": "Agents (least privilege)"},
               "iam": {"permissionsBoundaryArn": null}}),
    )
    .await;
    wait_for(
        &w,
        &proxy,
        &[&operator, &moto],
        "Ready after removing the boundary",
        ready_now,
    )
    .await;

    // Delete: everything goes.
    let uid = w.apps().get(APP).await.expect("app").metadata.uid.expect("uid");
    w.apps().delete(APP, &DeleteParams::default()).await.expect("delete");
    let gone = tokio::time::timeout(WAIT, await_condition(w.apps(), APP, conditions::is_deleted(&uid))).await;
    assert!(gone.is_ok(), "not deleted:\n{}", operator.log_tail(20));
    assert!(w.onelogin.apps().is_empty(), "OneLogin app left");
    let roles = admin.list_roles().send().await.expect("ListRoles");
    assert!(roles.roles().iter().all(|r| r.role_name() != role), "role left");
    let policies = admin
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .expect("ListPolicies");
    assert!(
        policies.policies().iter().all(|p| p.arn() != Some(policy_arn.as_str())),
        "policy left"
    );
    let providers = admin.list_saml_providers().send().await.expect("ListSAMLProviders");
    assert!(providers.saml_provider_list().is_empty(), "provider left");

    // Nothing was refused, and every call is within the unmodified policy's resources.
    let calls = proxy.calls();
    let refused: Vec<String> = calls
        .iter()
        .filter(|c| c.status == 403)
        .map(|c| c.action.clone())
        .collect();
    assert!(refused.is_empty(), "moto refused: {refused:?}");
    let violations = resource_violations(&deploy_policy(), &calls);
    let mut actions: Vec<&str> = calls.iter().map(|c| c.action.as_str()).collect();
    actions.sort();
    actions.dedup();
    println!("IAM actions the operator used ({}): {actions:?}", actions.len());
    assert!(violations.is_empty(), "outside deploy/iam-policy.json: {violations:?}");
    drop(operator);

    // ---- the control: without iam:UpdateAssumeRolePolicy the edit stalls -----------------
    let w = World::new("least-privilege-control").await;
    let proxy = crash::IamProxy::start_with(&endpoint, false, users.secrets()).await;
    let operator = start_binary(&w, proxy.endpoint(), &users.control, &dir.path().join("control.log"));
    w.apply_app(APP, json!({})).await;
    wait_for(
        &w,
        &proxy,
        &[&operator, &moto],
        "Ready (the create needs no UpdateAssumeRolePolicy)",
        ready_now,
    )
    .await;
    w.apply_app(APP, json!({"signIn": {"endpoint": "Global"}})).await;
    let stalled = wait_for(&w, &proxy, &[&operator, &moto], "Stalled=AwsAccessDenied", |a| {
        condition(a, "Stalled").is_some_and(|c| c.0 == ConditionStatus::True && c.1 == "AwsAccessDenied")
    })
    .await;
    let role_condition = condition(&stalled, "Role").expect("Role condition");
    assert_eq!(role_condition.1, "AwsAccessDenied", "{role_condition:?}");
    assert!(
        proxy
            .calls()
            .iter()
            .any(|c| c.action == "UpdateAssumeRolePolicy" && c.status == 403),
        "moto refused UpdateAssumeRolePolicy"
    );
    println!("control: {:?}", condition(&stalled, "Stalled"));
}

#[test]
fn the_resource_check_matches_like_iam() {
    assert!(glob(
        "arn:aws:iam::*:role/connect-sso/*",
        "arn:aws:iam::1:role/connect-sso/x"
    ));
    assert!(!glob("arn:aws:iam::*:role/connect-sso/*", "arn:aws:iam::1:role/x"));
    assert!(glob(
        "arn:aws:iam::*:saml-provider/connect-sso.*",
        "arn:aws:iam::1:saml-provider/connect-sso.a.b"
    ));
    let call = crash::IamCall {
        action: "CreatePolicy".into(),
        params: vec![
            ("Path".into(), "/other/".into()),
            ("PolicyName".into(), "connect-sso.a.b".into()),
        ],
        status: 200,
        error: None,
    };
    assert_eq!(
        resource_violations(&deploy_policy(), &[call]),
        vec![format!(
            "iam:CreatePolicy on arn:aws:iam::{ACCOUNT}:policy/other/connect-sso.a.b"
        )]
    );
}
