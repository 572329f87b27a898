//! The ConnectUserMapping controller end to end: role membership in the OneLogin test server,
//! Amazon Connect users through the real aws-sdk-connect client, status on the real apiserver.

#[path = "support/world/mod.rs"]
mod world;

use std::collections::BTreeSet;

use connect_sso_operator::api::{AttentionReason, ConnectUserMapping};
use kube::api::DeleteParams;
use serde_json::json;
use world::World;
use world::connect::NewUser as ConnectUser;
use world::onelogin::NewUser;

/// A ready world with its app; returns the app's OneLogin role id and the instance id.
async fn ready_world(hint: &str) -> (World, i64, String) {
    let mut w = World::new(hint).await;
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    let app = w.wait_ready("agents").await;
    let role_id = app.status.and_then(|s| s.one_login_role_id).expect("role id");
    let instance_id = w.instance_arn.rsplit('/').next().expect("id").to_string();
    (w, role_id, instance_id)
}

fn ready(m: &ConnectUserMapping) -> bool {
    m.status.as_ref().is_some_and(|s| {
        s.observed_generation == m.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.r#type == "Ready" && c.status == connect_sso_operator::api::ConditionStatus::True)
    })
}

fn members(w: &World, role_id: i64) -> BTreeSet<i64> {
    w.onelogin.role_users(role_id).expect("role").into_iter().collect()
}

fn reason_of(m: &ConnectUserMapping, login: &str) -> Option<AttentionReason> {
    m.status
        .as_ref()?
        .attention
        .iter()
        .find(|a| a.login == login)
        .map(|a| a.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_users_get_the_app_and_the_mapping_is_ready() {
    let (w, role_id, instance) = ready_world("map-five").await;
    let logins: Vec<String> = (1..=5).map(|i| format!("agent{i}@example.com")).collect();
    let ids: BTreeSet<i64> = logins
        .iter()
        .map(|l| w.onelogin.add_user(NewUser::with_email(l)))
        .collect();
    for l in &logins {
        w.connect.add_user(&instance, ConnectUser::named(l));
    }
    w.apply_mapping("tier1", json!({"appRef": {"name": "agents"}, "users": logins}))
        .await;
    let m = w.wait_mapping("tier1", "Ready", ready).await;
    let status = m.status.clone().expect("status");
    assert_eq!(
        members(&w, role_id),
        ids,
        "exactly the five users are in the app's role"
    );
    let counts = status.counts.expect("counts");
    assert_eq!(
        (
            counts.desired,
            counts.assigned,
            counts.missing_in_one_login,
            counts.missing_in_connect,
            counts.invalid
        ),
        (5, 5, 0, 0, 0)
    );
    assert!(status.attention.is_empty());
    assert_eq!(status.conditions[0].reason, "Ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_problem_is_reported_with_its_reason_and_counted() {
    let (w, role_id, instance) = ready_world("map-problems").await;
    let ok = "ok@example.com";
    let no_connect = "noconnect@example.com";
    let plus = "a+b@example.com";
    let case = "Dana.Smith@example.com";
    let ghost = "ghost@example.com";
    let inactive = "left@example.com";
    for l in [ok, no_connect, plus, case] {
        w.onelogin.add_user(NewUser::with_email(l));
    }
    w.onelogin.add_user(NewUser {
        status: 2,
        ..NewUser::with_email(inactive)
    });
    w.connect.add_user(&instance, ConnectUser::named(ok));
    w.connect.add_user(&instance, ConnectUser::named(inactive));
    w.connect
        .add_user(&instance, ConnectUser::named("dana.smith@example.com"));
    w.apply_mapping(
        "mixed",
        json!({"appRef": {"name": "agents"}, "users": [ok, no_connect, plus, case, ghost, inactive]}),
    )
    .await;
    let m = w.wait_mapping("mixed", "Ready", ready).await;
    assert_eq!(reason_of(&m, ghost), Some(AttentionReason::NotFoundInOneLogin));
    assert_eq!(reason_of(&m, no_connect), Some(AttentionReason::MissingInConnect));
    assert_eq!(reason_of(&m, plus), Some(AttentionReason::InvalidConnectUsername));
    assert_eq!(reason_of(&m, case), Some(AttentionReason::CaseMismatch));
    assert_eq!(reason_of(&m, inactive), Some(AttentionReason::InactiveInOneLogin));
    assert_eq!(reason_of(&m, ok), None);
    let case_message = &m
        .status
        .as_ref()
        .expect("status")
        .attention
        .iter()
        .find(|a| a.login == case)
        .expect("case")
        .message;
    assert!(
        case_message.contains("Dana.Smith@example.com") && case_message.contains("dana.smith@example.com"),
        "{case_message}"
    );
    let counts = m.status.as_ref().and_then(|s| s.counts.clone()).expect("counts");
    assert_eq!(counts.desired, 6);
    assert_eq!(counts.missing_in_one_login, 1);
    assert_eq!(counts.invalid, 1);
    assert_eq!(counts.missing_in_connect, 2, "missing and case mismatch");
    assert_eq!(counts.assigned, 5, "everyone found in OneLogin has the app");
    assert_eq!(members(&w, role_id).len(), 5);
    assert_eq!(
        m.status.as_ref().expect("status").conditions[0].reason,
        "UsersNeedAttention"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_mode_creates_exactly_the_missing_connect_users_with_the_profiles() {
    let (w, _role, instance) = ready_world("map-create").await;
    let agent = w.connect.add_security_profile(&instance, "Agent");
    w.connect.add_security_profile(&instance, "Admin");
    let routing = w.connect.add_routing_profile(&instance, "Basic Routing Profile");
    let existing = "existing@example.com";
    w.connect.add_user(&instance, ConnectUser::named(existing));
    let new_ones = ["new1@example.com", "new2@example.com", "new3@example.com"];
    for l in new_ones.iter().chain([&existing]) {
        w.onelogin.add_user(NewUser::with_email(l));
    }
    let users: Vec<&str> = new_ones.iter().copied().chain([existing]).collect();
    w.apply_mapping(
        "create",
        json!({"appRef": {"name": "agents"}, "users": users,
            "connectUsers": {"mode": "Create", "securityProfiles": ["Agent"], "routingProfile": "Basic Routing Profile"}}),
    )
    .await;
    let m = w.wait_mapping("create", "Ready", ready).await;
    assert!(
        m.status.as_ref().expect("status").attention.is_empty(),
        "{:?}",
        m.status
    );
    let connect_users = w.connect.users(&instance);
    assert_eq!(connect_users.len(), 4, "three created, the existing one untouched");
    for l in new_ones {
        let u = connect_users.iter().find(|u| u.username == l).expect("created");
        assert_eq!(u.security_profile_ids, std::slice::from_ref(&agent.id));
        assert_eq!(u.routing_profile_id.as_deref(), Some(routing.id.as_str()));
        assert_eq!(
            u.secondary_email.as_deref(),
            Some(l),
            "SAML instances get the secondary email"
        );
        assert_eq!(u.email, None, "SAML instances reject the primary email");
        assert_eq!(u.last_name.as_deref(), Some("Tester"));
    }
    assert_eq!(w.connect.call_count("CreateUser"), 3);
    // Resyncs create nothing more.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(w.connect.call_count("CreateUser"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_users_keep_access_when_one_mapping_is_deleted() {
    let (w, role_id, _instance) = ready_world("map-shared").await;
    let shared = "shared@example.com";
    let only_a = "only-a@example.com";
    let only_b = "only-b@example.com";
    let shared_id = w.onelogin.add_user(NewUser::with_email(shared));
    let a_id = w.onelogin.add_user(NewUser::with_email(only_a));
    let b_id = w.onelogin.add_user(NewUser::with_email(only_b));
    let ignore = json!({"mode": "Ignore"});
    w.apply_mapping(
        "a",
        json!({"appRef": {"name": "agents"}, "users": [shared, only_a], "connectUsers": ignore}),
    )
    .await;
    w.apply_mapping(
        "b",
        json!({"appRef": {"name": "agents"}, "users": [shared, only_b], "connectUsers": ignore}),
    )
    .await;
    w.wait_mapping("a", "Ready", ready).await;
    w.wait_mapping("b", "Ready", ready).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while members(&w, role_id) != BTreeSet::from([shared_id, a_id, b_id]) {
        assert!(
            std::time::Instant::now() < deadline,
            "union not reached: {:?}",
            members(&w, role_id)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    w.mappings()
        .delete("a", &DeleteParams::default())
        .await
        .expect("delete");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while w.mappings().get_opt("a").await.expect("get").is_some() {
        assert!(std::time::Instant::now() < deadline, "mapping a not deleted");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(
        members(&w, role_id),
        BTreeSet::from([shared_id, b_id]),
        "only a's own user lost access"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_waits_for_its_app() {
    let mut w = World::new("map-wait").await;
    w.start_operator();
    w.apply_mapping(
        "early",
        json!({"appRef": {"name": "agents"}, "users": ["a@example.com"]}),
    )
    .await;
    w.wait_mapping("early", "DependencyNotReady", |m| {
        m.status
            .as_ref()
            .is_some_and(|s| s.conditions.first().is_some_and(|c| c.reason == "DependencyNotReady"))
    })
    .await;
    w.onelogin.add_user(NewUser::with_email("a@example.com"));
    w.apply_app("agents", json!({})).await;
    w.wait_mapping("early", "Ready once the app is", ready).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_users_converge_in_a_few_dozen_calls() {
    let (w, role_id, instance) = ready_world("map-2000").await;
    let logins: Vec<String> = (0..2000).map(|i| format!("agent{i:04}@example.com")).collect();
    for l in &logins {
        w.onelogin.add_user(NewUser::with_email(l));
        w.connect.add_user(&instance, ConnectUser::named(l));
    }
    w.onelogin.reset_calls();
    w.connect.reset_counts();
    w.apply_mapping("big", json!({"appRef": {"name": "agents"}, "users": logins}))
        .await;
    let m = w.wait_mapping("big", "Ready", ready).await;
    let onelogin = w.onelogin.calls();
    let connect_calls = w.connect.calls().len();
    println!(
        "2,000 users: {} OneLogin calls ({:?}), {connect_calls} Amazon Connect calls",
        onelogin.total(),
        onelogin.by_route()
    );
    assert_eq!(
        m.status.as_ref().and_then(|s| s.counts.as_ref()).map(|c| c.assigned),
        Some(2000)
    );
    assert_eq!(members(&w, role_id).len(), 2000);
    // Naive: one lookup and one add per user (4,000). Here: 40 pages of users, 20 batches of adds,
    // a role listing, token and app reads — a few dozen.
    assert!(onelogin.total() <= 90, "OneLogin calls: {}", onelogin.total());
    assert!(connect_calls <= 6, "Amazon Connect calls: {connect_calls}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_steady_state_refreshes_users_incrementally_not_in_full() {
    let mut w = World::new("map-incremental").await;
    w.settings.users_cache_ttl = std::time::Duration::from_secs(1);
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    w.wait_ready("agents").await;
    // 500 users: a full listing is 10 pages of 50.
    let mut logins: Vec<String> = (0..500).map(|i| format!("agent{i:03}@example.com")).collect();
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    for l in &logins {
        let id = w.onelogin.add_user(NewUser::with_email(l));
        // Seeded users last changed yesterday, as in a real directory.
        w.onelogin.modify_user(id, |u| u.updated_at = long_ago);
    }
    logins.push("late@example.com".into());
    let ignore = json!({"mode": "Ignore"});
    w.apply_mapping(
        "big",
        json!({"appRef": {"name": "agents"}, "users": logins, "connectUsers": ignore}),
    )
    .await;
    w.wait_mapping("big", "Ready with one missing", |m| {
        m.status
            .as_ref()
            .and_then(|s| s.counts.as_ref())
            .is_some_and(|c| c.missing_in_one_login == 1 && c.assigned == 500)
    })
    .await;
    w.onelogin.reset_calls();
    let late = w.onelogin.add_user(NewUser::with_email("late@example.com"));
    let m = w
        .wait_mapping("big", "assigned the late user", |m| {
            m.status
                .as_ref()
                .and_then(|s| s.counts.as_ref())
                .is_some_and(|c| c.missing_in_one_login == 0)
        })
        .await;
    assert_eq!(m.status.and_then(|s| s.counts).map(|c| c.assigned), Some(501));
    let role_id = w
        .apps()
        .get("agents")
        .await
        .expect("app")
        .status
        .and_then(|s| s.one_login_role_id)
        .expect("role");
    assert!(members(&w, role_id).contains(&late));
    let listings = w.onelogin.calls().count("GET /api/2/users");
    println!("user listings while catching up: {listings}");
    assert!(
        listings < 10,
        "refreshes asked only for changes, not 10 pages each time: {listings}"
    );
}

/// A restarted operator knows nothing of the role's members and sees the mappings one by one;
/// none of its first passes may take away the users of a mapping it has not seen yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_never_takes_users_away_from_sibling_mappings() {
    let (mut w, role_id, _instance) = ready_world("map-restart").await;
    let ignore = json!({"mode": "Ignore"});
    let mut everyone = BTreeSet::new();
    for name in ["a", "b", "c"] {
        let logins: Vec<String> = (0..3).map(|i| format!("{name}{i}@example.com")).collect();
        for login in &logins {
            everyone.insert(w.onelogin.add_user(NewUser::with_email(login)));
        }
        w.apply_mapping(
            name,
            json!({"appRef": {"name": "agents"}, "users": logins, "connectUsers": ignore}),
        )
        .await;
    }
    for name in ["a", "b", "c"] {
        w.wait_mapping(name, "Ready", ready).await;
    }
    assert_eq!(members(&w, role_id), everyone);

    w.stop_operator();
    let removals = w.onelogin.calls().count("DELETE /api/2/roles/{id}/users");
    w.start_operator();
    // A change after the restart: once it is through, the startup passes are too.
    let late = "late@example.com";
    everyone.insert(w.onelogin.add_user(NewUser::with_email(late)));
    let logins = ["c0@example.com", "c1@example.com", "c2@example.com", late];
    w.apply_mapping(
        "c",
        json!({"appRef": {"name": "agents"}, "users": logins, "connectUsers": ignore}),
    )
    .await;
    w.wait_mapping("c", "Ready", ready).await;
    assert_eq!(members(&w, role_id), everyone);
    assert_eq!(
        w.onelogin.calls().count("DELETE /api/2/roles/{id}/users"),
        removals,
        "nobody was taken out of the role, even for a moment"
    );
}
