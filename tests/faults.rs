//! Reliability under faults, end to end: the real reconcilers against the real kube-apiserver, moto
//! (IAM, behind a fault-injecting proxy), and the Amazon Connect and OneLogin test servers.
//!
//! 1. Randomised transient faults (seeded; the seed is printed, `CONNECT_SSO_FAULT_SEED=N` replays
//!    it and `CONNECT_SSO_FAULT_SEED=random` draws a new one) on every step of create, edit, mapping sync, drift repair and delete: the system
//!    still converges, with exactly one of each external object and a correct status.
//! 2. Permanent errors (bad credentials, IAM AccessDenied, an unowned role, a non-SAML instance):
//!    the app is Stalled and waits for the resync interval instead of retrying in a loop.
//!
//! Both print a table of runs, faults injected and calls made.

#[path = "support/faulty_proxy/mod.rs"]
mod faulty_proxy;
#[path = "support/world/mod.rs"]
mod world;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use connect_sso_operator::api::{ConditionStatus, ConnectSsoApp, ConnectUserMapping};
use connect_sso_operator::plan::policies::{decode_document, same_meaning};
use faulty_proxy::{FaultyProxy, IamFault};
use kube::api::DeleteParams;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use world::connect::{Fault as ConnectFault, InstanceSpec, NewUser as ConnectUser};
use world::onelogin::{Fault, NewUser, Scope};
use world::{World, condition, json_status};

/// The operator's OneLogin request timeout in these tests; the "timeout" fault answers later.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long any phase may take to converge under faults.
const CONVERGE: Duration = Duration::from_secs(100);

/// CI replays this schedule so a red build means a regression, not bad luck; it is the one that
/// once never converged (a lost CreatePolicy answer, then a backoff that grew past the budget
/// while each pass failed somewhere new). `CONNECT_SSO_FAULT_SEED=random` draws a new one.
const DEFAULT_SEED: u64 = 16373319807537633175;

fn seed() -> u64 {
    let seed = match std::env::var("CONNECT_SSO_FAULT_SEED").ok().as_deref() {
        Some("random") => rand::random::<u64>(),
        Some(n) => n.parse().unwrap_or(DEFAULT_SEED),
        None => DEFAULT_SEED,
    };
    println!("fault seed: {seed} (replay with CONNECT_SSO_FAULT_SEED={seed})");
    seed
}

/// OneLogin faults: every kind the client must survive.
fn onelogin_menu() -> Vec<(&'static str, Fault)> {
    vec![
        (
            "429 + rate-limit headers",
            Fault::TooManyRequests {
                rate_limit_headers: true,
                reset_secs: 1,
            },
        ),
        (
            "429 bare",
            Fault::TooManyRequests {
                rate_limit_headers: false,
                reset_secs: 0,
            },
        ),
        ("500", Fault::Status(500)),
        ("502", Fault::Status(502)),
        ("503", Fault::Status(503)),
        ("slow (400 ms)", Fault::Delay(Duration::from_millis(400))),
        ("timeout", Fault::Delay(REQUEST_TIMEOUT + Duration::from_secs(1))),
        (
            "reset",
            Fault::ConnectionReset {
                after_processing: false,
            },
        ),
        (
            "reset after processing",
            Fault::ConnectionReset { after_processing: true },
        ),
    ]
}

fn connect_menu() -> Vec<(&'static str, ConnectFault)> {
    vec![
        ("throttling", ConnectFault::Throttling),
        ("limit exceeded", ConnectFault::LimitExceeded),
        ("internal error", ConnectFault::Internal),
    ]
}

const IAM_MENU: [IamFault; 4] = [
    IamFault::Internal,
    IamFault::InternalAfterProcessing,
    IamFault::Throttling,
    IamFault::Slow(300),
];

/// Every OneLogin route the operator uses, so that each step meets at least one fault.
const ONELOGIN_ROUTES: [&str; 18] = [
    "POST /auth/oauth2/v2/token",
    "GET /api/2/apps",
    "POST /api/2/apps",
    "GET /api/2/apps/{id}",
    "PUT /api/2/apps/{id}",
    "DELETE /api/2/apps/{id}",
    "DELETE /api/2/apps/{id}/parameters/{parameter_id}",
    "GET /saml/metadata/{uuid}",
    "GET /api/2/roles",
    "POST /api/2/roles",
    "GET /api/2/roles/{id}",
    "DELETE /api/2/roles/{id}",
    "GET /api/2/roles/{id}/apps",
    "PUT /api/2/roles/{id}/apps",
    "GET /api/2/users",
    "GET /api/2/roles/{id}/users",
    "POST /api/2/roles/{id}/users",
    "DELETE /api/2/roles/{id}/users",
];

const CONNECT_OPERATIONS: [&str; 5] = [
    "DescribeInstance",
    "ListUsers",
    "ListSecurityProfiles",
    "ListRoutingProfiles",
    "CreateUser",
];

/// What the injector armed, by fault kind.
#[derive(Default)]
struct Armed {
    onelogin: BTreeMap<&'static str, usize>,
    connect: BTreeMap<&'static str, usize>,
}

/// Arms one fault on every route and operation: a random one on reads, an ambiguous one on
/// OneLogin writes.
fn arm_every_step(w: &World, rng: &mut StdRng, armed: &RefCell<Armed>) {
    let menu = onelogin_menu();
    for route in ONELOGIN_ROUTES {
        // Writes get the worst fault: the request takes effect and the answer is lost.
        let write = !route.starts_with("GET ") && !route.contains("/auth/");
        let (name, fault) = if write {
            menu.last().cloned().expect("reset after processing")
        } else {
            menu[rng.random_range(0..menu.len())].clone()
        };
        w.onelogin.fail_next(1, fault, Scope::Route(route.to_string()));
        *armed.borrow_mut().onelogin.entry(name).or_insert(0) += 1;
    }
    let menu = connect_menu();
    for op in CONNECT_OPERATIONS {
        let (name, fault) = menu[rng.random_range(0..menu.len())];
        w.connect.fail_next(fault, Some(op), 1);
        *armed.borrow_mut().connect.entry(name).or_insert(0) += 1;
    }
}

/// Keeps injecting random faults: one OneLogin fault every 2–9 calls and one Connect fault every
/// 2–6 calls, on whatever request comes next. Never returns.
async fn keep_injecting(w: &World, seed: u64, armed: &RefCell<Armed>) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1));
    let ol_menu = onelogin_menu();
    let cx_menu = connect_menu();
    let mut ol_next = 0;
    let mut cx_next = 0;
    loop {
        let ol_calls = w.onelogin.calls().total();
        if ol_calls >= ol_next {
            let (name, fault) = ol_menu[rng.random_range(0..ol_menu.len())].clone();
            w.onelogin.fail_next(1, fault, Scope::All);
            *armed.borrow_mut().onelogin.entry(name).or_insert(0) += 1;
            ol_next = ol_calls + rng.random_range(2..=9);
        }
        let cx_calls = w.connect.calls().len();
        if cx_calls >= cx_next {
            let (name, fault) = cx_menu[rng.random_range(0..cx_menu.len())];
            w.connect.fail_next(fault, None, 1);
            *armed.borrow_mut().connect.entry(name).or_insert(0) += 1;
            cx_next = cx_calls + rng.random_range(2..=6);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Call and fault counters at one moment.
#[derive(Clone, Copy, Default)]
struct Counters {
    onelogin_calls: usize,
    onelogin_faulted: usize,
    iam_calls: usize,
    iam_faults: usize,
    connect_calls: usize,
    connect_faulted: usize,
}

fn counters(w: &World, proxy: &FaultyProxy) -> Counters {
    let ol = w.onelogin.calls();
    let cx = w.connect.calls();
    Counters {
        onelogin_calls: ol.total(),
        // Answers a fault replaced: 429, 5xx, or a reset connection (slow answers are not counted).
        onelogin_faulted: ol
            .records()
            .iter()
            .filter(|r| r.status.is_none_or(|s| s == 429 || s >= 500))
            .count(),
        iam_calls: proxy.total_calls(),
        iam_faults: proxy.total_injected(),
        connect_calls: cx.len(),
        connect_faulted: cx.iter().filter(|r| r.status == 429 || r.status >= 500).count(),
    }
}

struct Row {
    phase: &'static str,
    seconds: f64,
    delta: Counters,
}

fn diff(a: Counters, b: Counters) -> Counters {
    Counters {
        onelogin_calls: b.onelogin_calls - a.onelogin_calls,
        onelogin_faulted: b.onelogin_faulted.saturating_sub(a.onelogin_faulted),
        iam_calls: b.iam_calls - a.iam_calls,
        iam_faults: b.iam_faults - a.iam_faults,
        connect_calls: b.connect_calls - a.connect_calls,
        connect_faulted: b.connect_faulted - a.connect_faulted,
    }
}

fn ready_now(app: &ConnectSsoApp) -> bool {
    condition(app, "Ready").is_some_and(|c| c.0 == ConditionStatus::True && c.1 == "Ready")
        && app.status.as_ref().and_then(|s| s.observed_generation) == app.metadata.generation
}

async fn wait_converged(w: &World, name: &str) -> ConnectSsoApp {
    w.wait_app(name, CONVERGE, "Ready under faults", ready_now).await
}

/// IAM objects of this world's namespace, straight from moto.
#[derive(Debug, Default)]
struct IamInventory {
    roles: Vec<aws_sdk_iam::types::Role>,
    policies: Vec<String>,
    providers: Vec<String>,
}

async fn iam_inventory(w: &World) -> IamInventory {
    let ns = &w.namespace;
    let mut out = IamInventory::default();
    let mut marker = None;
    loop {
        let page = w
            .iam
            .list_roles()
            .set_marker(marker)
            .max_items(1000)
            .send()
            .await
            .expect("ListRoles");
        out.roles
            .extend(page.roles().iter().filter(|r| r.role_name().contains(ns)).cloned());
        match page.marker().filter(|_| page.is_truncated()) {
            Some(m) => marker = Some(m.to_string()),
            None => break,
        }
    }
    let mut marker = None;
    loop {
        let page = w
            .iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .set_marker(marker)
            .max_items(1000)
            .send()
            .await
            .expect("ListPolicies");
        out.policies.extend(
            page.policies()
                .iter()
                .filter(|p| p.policy_name().is_some_and(|n| n.contains(ns)))
                .filter_map(|p| p.arn().map(str::to_string)),
        );
        match page.marker().filter(|_| page.is_truncated()) {
            Some(m) => marker = Some(m.to_string()),
            None => break,
        }
    }
    let providers = w.iam.list_saml_providers().send().await.expect("ListSAMLProviders");
    out.providers = providers
        .saml_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .filter(|a| a.contains(ns))
        .map(str::to_string)
        .collect();
    out
}

async fn policy_versions(w: &World, arn: &str) -> Vec<aws_sdk_iam::types::PolicyVersion> {
    w.iam
        .list_policy_versions()
        .policy_arn(arn)
        .send()
        .await
        .expect("ListPolicyVersions")
        .versions()
        .to_vec()
}

async fn default_document(w: &World, arn: &str) -> Value {
    let versions = policy_versions(w, arn).await;
    let default = versions
        .iter()
        .find(|v| v.is_default_version())
        .expect("a default version");
    let v = w
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(default.version_id().expect("id"))
        .send()
        .await
        .expect("GetPolicyVersion");
    decode_document(v.policy_version().and_then(|p| p.document()).expect("document")).expect("json")
}

/// Exactly one OneLogin app and role, one IAM role, policy and provider, each as the status says.
async fn assert_single_and_consistent(w: &World, app: &ConnectSsoApp, phase: &str) {
    let status = app.status.as_ref().expect("status");
    for part in ["OneLoginApp", "IdentityProvider", "Policy", "Role"] {
        assert_eq!(
            condition(app, part).map(|c| c.0),
            Some(ConditionStatus::True),
            "{phase}: part {part} is not True: {}",
            json_status(Some(app))
        );
    }
    assert_eq!(
        condition(app, "Stalled").map(|c| c.0),
        Some(ConditionStatus::False),
        "{phase}"
    );

    let apps = w.onelogin.apps();
    let app_id = status.one_login_app_id.expect("app id in status");
    assert_eq!(
        apps.iter().map(|a| a.id).collect::<Vec<_>>(),
        [app_id],
        "{phase}: exactly one OneLogin app, the one in status (apps: {:?})",
        apps.iter().map(|a| (a.id, &a.name)).collect::<Vec<_>>()
    );
    let roles = w.onelogin.roles();
    let role_id = status.one_login_role_id.expect("role id in status");
    assert_eq!(
        roles.iter().map(|r| r.id).collect::<Vec<_>>(),
        [role_id],
        "{phase}: exactly one OneLogin role, the one in status (roles: {roles:?})"
    );
    assert_eq!(roles[0].apps, [app_id], "{phase}: the role grants exactly the app");
    let app_json = w.onelogin.app_json(app_id).expect("app");
    assert_eq!(
        app_json["configuration"]["relaystate"],
        json!(status.relay_state.clone().expect("relay state")),
        "{phase}"
    );

    let iam = iam_inventory(w).await;
    let role_arns: Vec<&str> = iam.roles.iter().map(|r| r.arn()).collect();
    assert_eq!(
        role_arns,
        [status.role_arn.as_deref().expect("role arn")],
        "{phase}: exactly one IAM role"
    );
    assert_eq!(
        iam.policies,
        [status.policy_arn.clone().expect("policy arn")],
        "{phase}: exactly one IAM policy"
    );
    let provider_arn = status.identity_provider_arn.clone().expect("provider arn");
    assert_eq!(
        iam.providers,
        std::slice::from_ref(&provider_arn),
        "{phase}: exactly one SAML provider"
    );
    let policy_arn = status.policy_arn.clone().expect("policy arn");
    let versions = policy_versions(w, &policy_arn).await;
    assert!(versions.len() <= 5, "{phase}: {} policy versions", versions.len());
    let attached = w
        .iam
        .list_attached_role_policies()
        .role_name(iam.roles[0].role_name())
        .send()
        .await
        .expect("attached");
    assert_eq!(
        attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect::<Vec<_>>(),
        [policy_arn.as_str()],
        "{phase}: the role has exactly the policy"
    );
    let role = w
        .iam
        .get_role()
        .role_name(iam.roles[0].role_name())
        .send()
        .await
        .expect("GetRole");
    let trust = decode_document(
        role.role()
            .and_then(|r| r.assume_role_policy_document())
            .expect("trust"),
    )
    .expect("json");
    assert_eq!(
        trust["Statement"][0]["Principal"]["Federated"],
        json!(provider_arn),
        "{phase}: the role trusts the provider"
    );
    let metadata = w
        .iam
        .get_saml_provider()
        .saml_provider_arn(&provider_arn)
        .send()
        .await
        .expect("provider")
        .saml_metadata_document()
        .map(str::to_string);
    assert_eq!(
        metadata,
        w.onelogin.metadata_xml(app_id),
        "{phase}: the provider trusts the app's metadata"
    );
}

fn mapping_ready(m: &ConnectUserMapping) -> bool {
    m.status.as_ref().is_some_and(|s| {
        s.observed_generation == m.metadata.generation
            && s.conditions
                .first()
                .is_some_and(|c| c.r#type == "Ready" && c.status == ConditionStatus::True && c.reason == "Ready")
    })
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + CONVERGE;
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) if Instant::now() > deadline => panic!("{what}: not reached within {CONVERGE:?}: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_transient_faults_on_every_step_still_converge_to_exactly_one_of_each() {
    let seed = seed();
    let mut w = World::new("faults").await;
    let proxy = FaultyProxy::start(&w.moto).await;
    w.iam_endpoint = Some(proxy.endpoint());
    w.onelogin_options.request_timeout = REQUEST_TIMEOUT;

    let instance = w.instance_arn.rsplit('/').next().expect("id").to_string();
    w.connect.add_security_profile(&instance, "Agent");
    w.connect.add_routing_profile(&instance, "Basic Routing Profile");
    let logins: Vec<String> = (1..=4).map(|i| format!("agent{i}@example.com")).collect();
    let user_ids: BTreeSet<i64> = logins
        .iter()
        .map(|l| w.onelogin.add_user(NewUser::with_email(l)))
        .collect();
    // Two already have Amazon Connect users; the mapping creates the other two.
    for l in &logins[..2] {
        w.connect.add_user(&instance, ConnectUser::named(l));
    }

    let armed = RefCell::new(Armed::default());
    let mut rng = StdRng::seed_from_u64(seed);
    arm_every_step(&w, &mut rng, &armed);
    proxy.set_chaos(seed.wrapping_add(2), 0.15, &IAM_MENU, true);
    w.start_operator();

    let mut rows: Vec<Row> = Vec::new();
    let scenario = async {
        let mut at = counters(&w, &proxy);
        let mut started = Instant::now();
        let mut mark = |phase: &'static str, rows: &mut Vec<Row>| {
            let now = counters(&w, &proxy);
            rows.push(Row {
                phase,
                seconds: started.elapsed().as_secs_f64(),
                delta: diff(at, now),
            });
            at = now;
            started = Instant::now();
        };

        // Create.
        w.apply_app("agents", json!({})).await;
        let app = wait_converged(&w, "agents").await;
        assert_single_and_consistent(&w, &app, "create").await;
        let policy_arn = app.status.as_ref().and_then(|s| s.policy_arn.clone()).expect("arn");
        let planned_policy = default_document(&w, &policy_arn).await;
        let role_name = format!("connect-sso.{}.agents", w.namespace);
        mark("create", &mut rows);

        // Edit: rename, Global sign-in with a session duration, longer role sessions.
        w.apply_app(
            "agents",
            json!({"oneLogin": {"appName": "Agents (edited)"},
                "signIn": {"endpoint": "Global", "sessionDurationSeconds": 1800},
                "iam": {"maxSessionDurationSeconds": 7200}}),
        )
        .await;
        let app = wait_converged(&w, "agents").await;
        assert_single_and_consistent(&w, &app, "edit").await;
        let app_id = app.status.as_ref().and_then(|s| s.one_login_app_id).expect("id");
        let json_app = w.onelogin.app_json(app_id).expect("app");
        assert_eq!(json_app["name"], "Agents (edited)");
        assert_eq!(
            json_app["configuration"]["consumer_url"],
            "https://signin.aws.amazon.com/saml"
        );
        let session = "https://aws.amazon.com/SAML/Attributes/SessionDuration";
        assert_eq!(json_app["parameters"][session]["user_attribute_macros"], "1800");
        let role = w.iam.get_role().role_name(&role_name).send().await.expect("role");
        assert_eq!(role.role().and_then(|r| r.max_session_duration()), Some(7200));
        // Edit again: the session duration goes away (a parameter is deleted).
        w.apply_app(
            "agents",
            json!({"oneLogin": {"appName": "Agents (edited)"}, "signIn": {"endpoint": "Global"},
                "iam": {"maxSessionDurationSeconds": 7200}}),
        )
        .await;
        let app = wait_converged(&w, "agents").await;
        assert_single_and_consistent(&w, &app, "edit 2").await;
        assert!(
            w.onelogin.app_json(app_id).expect("app")["parameters"]
                .get(session)
                .is_none(),
            "the SessionDuration parameter was removed"
        );
        mark("edit", &mut rows);

        // Mapping: four users get the app; two Amazon Connect users are created.
        w.apply_mapping(
            "tier1",
            json!({"appRef": {"name": "agents"}, "users": logins,
                "connectUsers": {"mode": "Create", "securityProfiles": ["Agent"], "routingProfile": "Basic Routing Profile"}}),
        )
        .await;
        let deadline = Instant::now() + CONVERGE;
        let m = loop {
            let m = w.mappings().get("tier1").await.expect("mapping");
            let members: BTreeSet<i64> = w
                .onelogin
                .role_users(app.status.as_ref().and_then(|s| s.one_login_role_id).expect("role"))
                .unwrap_or_default()
                .into_iter()
                .collect();
            if mapping_ready(&m) && members == user_ids {
                break m;
            }
            assert!(
                Instant::now() < deadline,
                "mapping not Ready with all members: {:?}; members {members:?}",
                m.status
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let counts = m.status.as_ref().and_then(|s| s.counts.clone()).expect("counts");
        assert_eq!((counts.desired, counts.assigned, counts.missing_in_connect), (4, 4, 0));
        let connect_users: Vec<String> = w.connect.users(&instance).into_iter().map(|u| u.username).collect();
        assert_eq!(
            connect_users.len(),
            4,
            "exactly one Amazon Connect user per login: {connect_users:?}"
        );
        mark("mapping", &mut rows);

        // Drift: the policy is loosened by hand three times (pushing it to IAM's five versions) and
        // the app's relay state is changed in the portal; each is repaired.
        assert!(w.onelogin.modify_app(app_id, |a| {
            a.configuration
                .insert("relaystate".into(), json!("https://example.com/phish"));
        }));
        let loose = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "connect:*", "Resource": "*"}]});
        for round in 0..3 {
            let versions = policy_versions(&w, &policy_arn).await;
            if versions.len() >= 5 {
                let oldest = versions
                    .iter()
                    .filter(|v| !v.is_default_version())
                    .min_by_key(|v| v.create_date().map(|d| d.secs()))
                    .and_then(|v| v.version_id())
                    .expect("a non-default version")
                    .to_string();
                w.iam
                    .delete_policy_version()
                    .policy_arn(&policy_arn)
                    .version_id(oldest)
                    .send()
                    .await
                    .expect("make room");
            }
            w.iam
                .create_policy_version()
                .policy_arn(&policy_arn)
                .policy_document(loose.to_string())
                .set_as_default(true)
                .send()
                .await
                .unwrap_or_else(|e| panic!("drift round {round}: {e:?}"));
            wait_until("policy repaired", || async {
                let versions = policy_versions(&w, &policy_arn).await;
                assert!(versions.len() <= 5, "{} policy versions", versions.len());
                let doc = default_document(&w, &policy_arn).await;
                if same_meaning(&doc, &planned_policy) {
                    Ok(())
                } else {
                    Err(format!("default document {doc}"))
                }
            })
            .await;
        }
        let app = wait_converged(&w, "agents").await;
        wait_until("relay state repaired", || async {
            let relay = w.onelogin.app_json(app_id).expect("app")["configuration"]["relaystate"].clone();
            if relay == json!(app.status.as_ref().and_then(|s| s.relay_state.clone())) {
                Ok(())
            } else {
                Err(relay.to_string())
            }
        })
        .await;
        let app = wait_converged(&w, "agents").await;
        assert_single_and_consistent(&w, &app, "drift").await;
        mark("drift repair", &mut rows);

        // Delete: the mapping takes its users out of the role, then the app takes everything.
        let role_id = app.status.as_ref().and_then(|s| s.one_login_role_id).expect("role");
        w.mappings()
            .delete("tier1", &DeleteParams::default())
            .await
            .expect("delete mapping");
        wait_until("mapping deleted", || async {
            match w.mappings().get_opt("tier1").await.expect("get") {
                None => Ok(()),
                Some(m) => Err(format!("{:?}", m.status)),
            }
        })
        .await;
        assert_eq!(
            w.onelogin.role_users(role_id),
            Some(vec![]),
            "the mapping's users left the role"
        );
        w.apps()
            .delete("agents", &DeleteParams::default())
            .await
            .expect("delete app");
        wait_until("app deleted", || async {
            match w.apps().get_opt("agents").await.expect("get") {
                None => Ok(()),
                Some(a) => Err(json_status(Some(&a))),
            }
        })
        .await;
        assert!(w.onelogin.apps().is_empty(), "OneLogin app deleted");
        assert!(w.onelogin.roles().is_empty(), "OneLogin role deleted");
        let iam = iam_inventory(&w).await;
        assert!(
            iam.roles.is_empty() && iam.policies.is_empty() && iam.providers.is_empty(),
            "IAM objects deleted: {iam:?}"
        );
        mark("delete", &mut rows);
    };
    tokio::select! {
        () = scenario => {}
        () = keep_injecting(&w, seed, &armed) => unreachable!(),
    }

    // The table for the README.
    let armed = armed.into_inner();
    println!("\nTransient faults, seed {seed}:");
    println!(
        "| phase | s | OneLogin calls | OneLogin faulted answers | IAM calls | IAM faults | Connect calls | Connect faults |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut total = Counters::default();
    for r in &rows {
        let d = r.delta;
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            r.phase,
            r.seconds,
            d.onelogin_calls,
            d.onelogin_faulted,
            d.iam_calls,
            d.iam_faults,
            d.connect_calls,
            d.connect_faulted
        );
        total.onelogin_calls += d.onelogin_calls;
        total.onelogin_faulted += d.onelogin_faulted;
        total.iam_calls += d.iam_calls;
        total.iam_faults += d.iam_faults;
        total.connect_calls += d.connect_calls;
        total.connect_faulted += d.connect_faulted;
    }
    println!(
        "| total | | {} | {} | {} | {} | {} | {} |",
        total.onelogin_calls,
        total.onelogin_faulted,
        total.iam_calls,
        total.iam_faults,
        total.connect_calls,
        total.connect_faulted
    );
    println!(
        "OneLogin faults armed: {:?} ({} not reached)",
        armed.onelogin,
        w.onelogin.pending_faults()
    );
    println!(
        "Amazon Connect faults armed: {:?} ({} not reached)",
        armed.connect,
        w.connect.pending_faults()
    );
    println!("IAM faults injected: {:?}", proxy.injected_by_kind());
    let faulted_routes: BTreeSet<String> = w
        .onelogin
        .calls()
        .records()
        .iter()
        .filter(|r| r.status.is_none_or(|s| s == 429 || s >= 500))
        .map(|r| r.key())
        .collect();
    println!("OneLogin routes that answered with a fault: {faulted_routes:?}");
    println!("OneLogin calls by route: {:?}", w.onelogin.calls().by_route());
    println!("IAM calls by action: {:?}", proxy.calls());
    let iam_actions: BTreeSet<String> = proxy.injected().keys().map(|(a, _)| a.clone()).collect();
    println!("IAM actions that met a fault: {iam_actions:?}");
    // Every IAM action the operator used met at least one fault (the first call of each does).
    let used: BTreeSet<String> = proxy.calls().keys().cloned().collect();
    assert_eq!(iam_actions, used, "every IAM action met a fault");
}

/// One permanent-error scenario: the world, what it must report, and what counts one pass.
struct Permanent {
    name: &'static str,
    world: World,
    proxy: FaultyProxy,
    reason: &'static str,
}

/// A pass of the reconciler, counted from the one call every pass of this scenario makes.
fn passes(p: &Permanent, before: &Counts, after: &Counts) -> usize {
    match p.reason {
        "OneLoginUnauthorized" => after.token - before.token,
        "InstanceNotSaml" => after.describe_instance - before.describe_instance,
        _ => after.get_role - before.get_role,
    }
}

#[derive(Clone, Default)]
struct Counts {
    onelogin: usize,
    token: usize,
    iam: usize,
    get_role: usize,
    connect: usize,
    describe_instance: usize,
    events: usize,
    resource_version: Option<String>,
    mapping_version: Option<String>,
}

async fn counts(p: &Permanent) -> Counts {
    let w = &p.world;
    let ol = w.onelogin.calls();
    let events: Vec<_> = w.events("agents").await;
    Counts {
        onelogin: ol.total(),
        token: ol.count("POST /auth/oauth2/v2/token"),
        iam: p.proxy.total_calls(),
        get_role: p.proxy.call_count("GetRole"),
        connect: w.connect.calls().len(),
        describe_instance: w.connect.call_count("DescribeInstance"),
        events: events.len() + w.events("tier1").await.len(),
        resource_version: w.apps().get("agents").await.expect("app").metadata.resource_version,
        mapping_version: w
            .mappings()
            .get("tier1")
            .await
            .expect("mapping")
            .metadata
            .resource_version,
    }
}

async fn permanent(name: &'static str, reason: &'static str) -> Permanent {
    let mut world = World::new(&format!("storm-{name}")).await;
    let proxy = FaultyProxy::start(&world.moto).await;
    world.iam_endpoint = Some(proxy.endpoint());
    let mut extra = json!({});
    match name {
        "bad-credentials" => {
            world
                .put_secret(&world.onelogin.client_id(), "not-the-client-secret")
                .await;
        }
        "iam-access-denied" => proxy.always(IamFault::AccessDenied, "CreateRole"),
        "unowned-role" => {
            let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
            world
                .iam
                .create_role()
                .role_name(format!("connect-sso.{}.agents", world.namespace))
                .path("/connect-sso/")
                .assume_role_policy_document(trust.to_string())
                .send()
                .await
                .expect("someone else's role");
        }
        "non-saml-instance" => {
            let managed = world.connect.add_instance(InstanceSpec::connect_managed("legacy"));
            extra = json!({"connect": {"instanceArn": managed.arn}});
        }
        other => panic!("no scenario {other}"),
    }
    world.start_operator();
    world.apply_app("agents", extra).await;
    world
        .apply_mapping(
            "tier1",
            json!({"appRef": {"name": "agents"}, "users": ["a@example.com", "b@example.com"]}),
        )
        .await;
    Permanent {
        name,
        world,
        proxy,
        reason,
    }
}

const WINDOW: Duration = Duration::from_secs(20);
/// Passes a resync of 3 s (±10% jitter) allows in the window, with one to spare for a pass the
/// Stalled status write itself triggered.
const MAX_PASSES: usize = 9;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_stall_and_wait_for_the_resync_instead_of_retrying() {
    let scenarios = futures::future::join_all([
        permanent("bad-credentials", "OneLoginUnauthorized"),
        permanent("iam-access-denied", "AwsAccessDenied"),
        permanent("unowned-role", "AlreadyExists"),
        permanent("non-saml-instance", "InstanceNotSaml"),
    ])
    .await;
    let measured = futures::future::join_all(scenarios.iter().map(|p| async move {
        let app = p.world.wait_reason("agents", "Stalled", p.reason).await;
        assert_eq!(
            condition(&app, "Stalled").map(|c| c.0),
            Some(ConditionStatus::True),
            "{}",
            p.name
        );
        // Let the Stalled write settle (it triggers one more pass), then count over the window.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = counts(p).await;
        tokio::time::sleep(WINDOW).await;
        let after = counts(p).await;
        (before, after)
    }))
    .await;

    println!(
        "\nPermanent errors, {} s window, resync {} s:",
        WINDOW.as_secs(),
        scenarios[0].world.settings.resync.as_secs()
    );
    println!(
        "| scenario | reason | passes | OneLogin calls | IAM calls | Connect calls | new Events | status writes |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for (p, (before, after)) in scenarios.iter().zip(&measured) {
        let n = passes(p, before, after);
        let onelogin = after.onelogin - before.onelogin;
        let iam = after.iam - before.iam;
        let connect = after.connect - before.connect;
        let events = after.events - before.events;
        let status_written = before.resource_version != after.resource_version;
        let mapping_written = before.mapping_version != after.mapping_version;
        println!(
            "| {} | {} | {n} | {onelogin} | {iam} | {connect} | {events} | {} |",
            p.name,
            p.reason,
            usize::from(status_written) + usize::from(mapping_written)
        );
        // Per pass at most: OneLogin token, app, metadata; IAM the reads up to the failing call
        // plus it; one DescribeInstance. The mapping waits for its app without external calls.
        let bounds = [
            ("passes", n, MAX_PASSES),
            ("OneLogin calls", onelogin, MAX_PASSES * 3),
            ("IAM calls", iam, MAX_PASSES * 6),
            ("Connect calls", connect, MAX_PASSES),
        ];
        for (what, got, max) in bounds {
            if got > max {
                failures.push(format!("{}: {what} {got} > {max} in {WINDOW:?}", p.name));
            }
        }
        if events > 0 {
            failures.push(format!("{}: {events} new Events while nothing changed", p.name));
        }
        if status_written || mapping_written {
            failures.push(format!(
                "{}: status rewritten while nothing changed (app {status_written}, mapping {mapping_written})",
                p.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "retry storm on permanent errors: {failures:#?}\n\
         Known cause (needs src/controller, see the report): the Ready/Stalled message embeds the \
         error's request id, new on every call, so each pass writes a new status, and that write \
         triggers the next reconcile at once instead of error_policy's requeue at the resync."
    );
}

/// IAM carries out a create but its answer is lost; the SDK's own retry then meets the object
/// it just made. The operator reads it back and goes on in the same pass: no AlreadyExists
/// warning for the user, no second object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_answer_is_read_back_not_reported_as_already_existing() {
    let mut w = World::new("lost-answer").await;
    let proxy = FaultyProxy::start(&w.moto).await;
    w.iam_endpoint = Some(proxy.endpoint());
    for action in ["CreateSAMLProvider", "CreatePolicy", "CreateRole"] {
        proxy.fail_next(IamFault::InternalAfterProcessing, Some(action), 1);
    }
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_ready("agents").await;
    for action in ["CreateSAMLProvider", "CreatePolicy", "CreateRole"] {
        assert_eq!(
            proxy.call_count(action),
            2,
            "{action}: the lost call and the SDK's retry"
        );
    }
    let events = w.events("agents").await;
    assert!(
        events.iter().all(|(kind, _, _)| kind != "Warning"),
        "no warning for our own lost answer: {events:?}"
    );
    let inventory = iam_inventory(&w).await;
    assert_eq!(
        (
            inventory.roles.len(),
            inventory.policies.len(),
            inventory.providers.len()
        ),
        (1, 1, 1),
        "{inventory:?}"
    );
    assert_single_and_consistent(&w, &app, "after lost create answers").await;
}
