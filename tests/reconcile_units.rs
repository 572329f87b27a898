//! The pure parts of reconciling: what counts as drift in a OneLogin app, whose an object is,
//! how OneLogin errors read, which base URLs are allowed, the shared call budget, and which
//! mappings an app's role holds.

use std::time::Duration;

use connect_sso_operator::api::{ConditionStatus, ConnectSsoAppSpec};
use connect_sso_operator::controller::app::diff::app_diff;
use connect_sso_operator::controller::conditions::{Conditions, READY};
use connect_sso_operator::onelogin::client::validate_base_url;
use connect_sso_operator::onelogin::error::parse_error_body;
use connect_sso_operator::onelogin::{App, OneLoginError, RateBudget};
use connect_sso_operator::plan::onelogin_app::{ROLE_ATTRIBUTE, SESSION_DURATION_ATTRIBUTE};
use connect_sso_operator::plan::ownership::{self, Ownership};
use connect_sso_operator::plan::{self, AppBody, Facts, ResourceId};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

fn planned_body(extra: Value) -> AppBody {
    let mut spec = json!({
        "access": "Agent",
        "connect": {"instanceArn": "arn:aws:connect:us-east-1:123456789012:instance/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
        "oneLogin": {"credentialsSecretRef": {"name": "ol"}},
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    let spec: ConnectSsoAppSpec = serde_json::from_value(spec).expect("spec");
    let id = ResourceId {
        namespace: "cc".into(),
        name: "agents".into(),
    };
    plan::plan_app(&id, &spec, &Facts::default())
        .expect("plans")
        .one_login_app
}

/// The app as OneLogin would return it after applying `body`: escaped text, dozens of
/// defaulted configuration keys, parameter ids.
fn as_returned(body: &AppBody) -> App {
    let mut configuration: serde_json::Map<String, Value> =
        body.configuration.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    configuration.insert("saml_notbefore".into(), json!("3"));
    configuration.insert("certificate_id".into(), json!(170216));
    let parameters: serde_json::Map<String, Value> = body
        .parameters
        .iter()
        .enumerate()
        .map(|(i, (k, p))| {
            let mut v = serde_json::to_value(p).expect("param");
            v["id"] = json!(1000 + i);
            v["skip_if_blank"] = json!(false);
            (k.clone(), v)
        })
        .collect();
    serde_json::from_value(json!({
        "id": 7,
        "name": body.name,
        "visible": body.visible,
        "description": body.description,
        "notes": body.notes.replace('/', "&#x2F;"),
        "connector_id": 110016,
        "configuration": configuration,
        "parameters": parameters,
        "sso": {"metadata_url": "https://app.onelogin.com/saml/metadata/abc"},
    }))
    .expect("app")
}

#[test]
fn an_app_as_planned_has_no_drift_despite_defaults_and_escaping() {
    let body = planned_body(json!({}));
    let diff = app_diff(&body, &as_returned(&body));
    assert!(diff.is_empty(), "{:?}", diff.changed);
}

#[test]
fn drift_in_managed_keys_is_found_and_only_those_are_sent() {
    let body = planned_body(json!({}));
    let mut observed = as_returned(&body);
    observed
        .configuration
        .insert("relaystate".into(), json!("https://evil.example"));
    observed
        .parameters
        .get_mut(ROLE_ATTRIBUTE)
        .expect("role param")
        .user_attribute_macros = Some("arn:aws:iam::1:role/x,y".into());
    observed.visible = Some(false);
    let diff = app_diff(&body, &observed);
    assert_eq!(
        diff.changed,
        [
            "visible",
            "configuration.relaystate",
            &format!("parameters.{ROLE_ATTRIBUTE}")
        ]
    );
    let patch = diff.patch.expect("a patch");
    assert_eq!(
        patch["configuration"]["relaystate"],
        json!(body.configuration["relaystate"])
    );
    // Unmanaged configuration is sent back as it was, with its type.
    assert_eq!(patch["configuration"]["certificate_id"], json!(170216));
    // An existing parameter's label is not sent: it cannot change after creation.
    assert!(patch["parameters"][ROLE_ATTRIBUTE].get("label").is_none());
    assert!(patch.get("name").is_none() && patch.get("notes").is_none());
}

#[test]
fn a_missing_parameter_is_created_with_its_label() {
    let body = planned_body(json!({}));
    let mut observed = as_returned(&body);
    observed.parameters.remove(ROLE_ATTRIBUTE);
    let patch = app_diff(&body, &observed).patch.expect("patch");
    assert_eq!(patch["parameters"][ROLE_ATTRIBUTE]["label"], "Role");
}

#[test]
fn a_session_duration_no_longer_planned_is_deleted() {
    let with = planned_body(json!({"signIn": {"sessionDurationSeconds": 1800}}));
    let observed = as_returned(&with);
    let without = planned_body(json!({}));
    let diff = app_diff(&without, &observed);
    let id = observed.parameters[SESSION_DURATION_ATTRIBUTE].id.expect("id");
    assert_eq!(diff.remove_parameters, [(SESSION_DURATION_ATTRIBUTE.to_string(), id)]);
}

#[test]
fn ownership_from_notes_and_tags() {
    let notes =
        "Managed by connect-sso-operator; edits here are reverted.\nconnectsso.io/owner=cc/agents\nconnectsso.io/uid=1";
    assert_eq!(ownership::from_notes(notes, "cc/agents"), Ownership::Ours);
    assert_eq!(
        ownership::from_notes(notes, "cc/admins"),
        Ownership::Other("cc/agents".into())
    );
    assert_eq!(ownership::from_notes("made by hand", "cc/agents"), Ownership::Unmarked);
    let tags = [("connectsso.io/owner".to_string(), "cc/agents".to_string())]
        .into_iter()
        .collect();
    assert_eq!(ownership::from_tags(&tags, "cc/agents"), Ownership::Ours);
    assert_eq!(
        ownership::from_tags(&Default::default(), "cc/agents"),
        Ownership::Unmarked
    );
}

#[test]
fn all_three_onelogin_error_shapes_are_read() {
    let alt =
        r#"{"message":"The resource with the given id could not be found","statusCode":404,"name":"NotFoundError"}"#;
    assert_eq!(
        parse_error_body(404, alt),
        (
            "NotFoundError".into(),
            "The resource with the given id could not be found".into()
        )
    );
    let roles = r#"{"status":400,"error":"BadRequestError","description":"Expected array in request"}"#;
    assert_eq!(
        parse_error_body(400, roles),
        ("BadRequestError".into(), "Expected array in request".into())
    );
    let v1 = r#"{"status":{"error":true,"code":401,"type":"Unauthorized","message":"Authentication Failure"}}"#;
    assert_eq!(
        parse_error_body(401, v1),
        ("Unauthorized".into(), "Authentication Failure".into())
    );
    let v1_object = r#"{"status":{"error":true,"code":400,"type":"bad request","message":{"attribute":"x","description":"bad x"}}}"#;
    assert_eq!(parse_error_body(400, v1_object).1, "bad x");
    let (name, message) = parse_error_body(502, "<html><body>Bad Gateway</body></html>");
    assert_eq!(name, "HTTP502");
    assert!(message.contains("Bad Gateway") && message.len() <= 120);
    assert_eq!(parse_error_body(500, "").1, "no error text");
}

#[test]
fn terminal_and_transient_onelogin_errors() {
    let api = |status| OneLoginError::Api {
        method: "GET",
        path: "/api/2/apps".into(),
        status,
        name: "X".into(),
        message: "m".into(),
        request_id: Some("r-1".into()),
    };
    assert!(api(422).is_terminal() && api(400).is_terminal());
    assert!(!api(502).is_terminal() && !api(404).is_terminal());
    assert!(api(404).is_not_found());
    assert!(api(500).to_string().contains("request id r-1"));
    let creds = OneLoginError::BadCredentials {
        status: 401,
        message: "Authentication Failure".into(),
        request_id: None,
    };
    assert!(creds.is_terminal());
    assert_eq!(creds.reason(), "OneLoginUnauthorized");
    assert!(creds.to_string().contains("Check clientId and clientSecret"));
    assert!(
        !OneLoginError::RateLimited {
            retry_after: Duration::from_secs(30)
        }
        .is_terminal()
    );
}

#[test]
fn base_urls_must_be_https_unless_loopback_is_allowed() {
    assert_eq!(
        validate_base_url("https://acme.onelogin.com", false).expect("ok"),
        "https://acme.onelogin.com"
    );
    assert_eq!(
        validate_base_url("https://acme.onelogin.com/some/path", false).expect("ok"),
        "https://acme.onelogin.com"
    );
    assert_eq!(
        validate_base_url("http://127.0.0.1:8080", true).expect("ok"),
        "http://127.0.0.1:8080"
    );
    for (bad, allow) in [
        ("http://acme.onelogin.com", true),
        ("http://127.0.0.1:8080", false),
        ("ftp://acme.onelogin.com", false),
        ("acme.onelogin.com", false),
        ("https://user:pw@acme.onelogin.com", false),
    ] {
        let err = validate_base_url(bad, allow).expect_err(bad);
        assert_eq!(err.reason(), "InvalidCredentialsSecret", "{bad}");
        assert!(!err.to_string().contains("pw"), "credentials never echoed: {err}");
    }
}

#[test]
fn the_budget_spends_its_burst_then_makes_callers_wait() {
    let budget = RateBudget::new(3600, 3);
    for _ in 0..3 {
        assert!(budget.try_take().is_ok());
    }
    let wait = budget.try_take().expect_err("burst spent");
    assert!(wait <= Duration::from_secs(1), "one call per second refills: {wait:?}");
    // The server saying the account is out of calls pauses everyone until its reset.
    let budget = RateBudget::new(100_000, 100);
    budget.note_server_limits(Some(0), Some(120));
    assert!(budget.try_take().expect_err("paused") > Duration::from_secs(100));
    assert_eq!(budget.server_remaining(), Some(0));
}

#[test]
fn conditions_keep_transition_time_unless_status_flips() {
    let t0: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
    let t1: Timestamp = "2026-01-02T00:00:00Z".parse().expect("time");
    let mut c = Conditions::new(&[], Some(1), t0);
    c.set_bool("Role", true, "Created", "made");
    c.set_bool(READY, false, "Reconciling", "working");
    let first = c.finish();
    assert_eq!(first[0].r#type, READY, "Ready comes first");
    let mut c = Conditions::new(&first, Some(2), t1);
    c.set_bool("Role", true, "InSync", "fine");
    c.set_bool(READY, true, "Ready", "done");
    let second = c.finish();
    let role = second.iter().find(|c| c.r#type == "Role").expect("role");
    assert_eq!(role.last_transition_time.0, t0, "still True: time kept");
    assert_eq!(role.observed_generation, Some(2));
    let ready = &second[0];
    assert_eq!(
        (ready.status, ready.last_transition_time.0),
        (ConditionStatus::True, t1)
    );
}

#[test]
fn backoff_doubles_while_a_problem_repeats_and_starts_over_for_a_new_one() {
    use connect_sso_operator::controller::backoff::Backoff;
    let b = Backoff::default();
    let secs = |d: Duration| d.as_secs();
    let same: Vec<u64> = (0..8)
        .map(|_| secs(b.next("ns/a", "OneLogin did not answer POST /api/2/apps")))
        .collect();
    assert_eq!(same, [5, 10, 20, 40, 80, 160, 300, 300]);
    // The pass got past that step and failed further on: back to the shortest wait.
    assert_eq!(secs(b.next("ns/a", "OneLogin did not answer POST /api/2/roles")), 5);
    assert_eq!(secs(b.next("ns/a", "OneLogin did not answer POST /api/2/roles")), 10);
    // Other objects keep their own count; success forgets it.
    assert_eq!(secs(b.next("ns/b", "OneLogin did not answer POST /api/2/roles")), 5);
    b.reset("ns/a");
    assert_eq!(secs(b.next("ns/a", "OneLogin did not answer POST /api/2/roles")), 5);
}

/// A pass that waited for the app's lock may hold an older copy of its own mapping than the one
/// already put in the role; the role's members must come from the newest copies.
#[tokio::test]
async fn the_role_holds_the_newest_copy_of_every_live_mapping_of_the_app() {
    use connect_sso_operator::api::ConnectUserMapping;
    use connect_sso_operator::controller::mapping::membership::Caches;
    use kube::runtime::{reflector, watcher};

    let mapping = |name: &str, app: &str, users: &[&str], deleting: bool| -> ConnectUserMapping {
        let mut meta = json!({"name": name, "namespace": "team"});
        if deleting {
            meta["deletionTimestamp"] = json!("2026-12-04T00:00:00Z");
        }
        serde_json::from_value(json!({
            "apiVersion": "connectsso.io/v1alpha1", "kind": "ConnectUserMapping",
            "metadata": meta,
            "spec": {"appRef": {"name": app}, "users": users},
        }))
        .expect("mapping")
    };
    let users_of = |found: Vec<std::sync::Arc<ConnectUserMapping>>| {
        let mut all: Vec<(String, Vec<String>)> = found
            .iter()
            .map(|m| (m.metadata.name.clone().unwrap_or_default(), m.spec.users.clone()))
            .collect();
        all.sort();
        all
    };
    let (store, mut writer) = reflector::store::<ConnectUserMapping>();
    for m in [
        mapping("a", "agents", &["a@x.io"], false),
        mapping("c", "agents", &["c@x.io", "late@x.io"], false),
        mapping("gone", "agents", &["g@x.io"], true),
        mapping("other", "admins", &["o@x.io"], false),
    ] {
        writer.apply_watcher_event(&watcher::Event::InitApply(m));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    let caches = Caches::default();
    caches.add_mapping_cache(store);

    let stale_c = mapping("c", "agents", &["c@x.io"], false);
    let expected = |names: &[(&str, &[&str])]| -> Vec<(String, Vec<String>)> {
        names
            .iter()
            .map(|(n, u)| (n.to_string(), u.iter().map(|s| s.to_string()).collect()))
            .collect()
    };
    assert_eq!(
        users_of(caches.mappings_of_app(&stale_c, true).await.expect("ready")),
        expected(&[("a", &["a@x.io"]), ("c", &["c@x.io", "late@x.io"])]),
        "the watched copy of c wins over the older one the pass started with"
    );
    assert_eq!(
        users_of(caches.mappings_of_app(&stale_c, false).await.expect("ready")),
        expected(&[("a", &["a@x.io"])]),
        "a mapping being deleted leaves its own users out"
    );
    let unseen = mapping("new", "agents", &["n@x.io"], false);
    assert_eq!(
        users_of(caches.mappings_of_app(&unseen, true).await.expect("ready")),
        expected(&[
            ("a", &["a@x.io"]),
            ("c", &["c@x.io", "late@x.io"]),
            ("new", &["n@x.io"])
        ]),
        "a mapping not watched yet still counts itself"
    );
}
