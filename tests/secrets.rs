//! Secrets never leak: the OneLogin client secret, the access token and the other values of the
//! credentials Secret appear in no log line (TRACE, every crate), no Event, no object's status or
//! condition, and not in the OneLogin app; and a credentials Secret can only come from the app's
//! own namespace.

#[path = "support/world/mod.rs"]
mod world;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use connect_sso_operator::api::{ConditionStatus, ConnectSsoApp, ConnectUserMapping};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use world::connect::NewUser as ConnectUser;
use world::onelogin::NewUser;
use world::{SECRET, World, condition, json_status};

/// Everything any test in this binary logged, at TRACE, from every crate (the `log` crate's
/// records too), in the operator's production format (JSON).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("the only subscriber of this test binary");
        buffer
    })
    .clone()
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

fn random(prefix: &str) -> String {
    format!("{prefix}{:016x}", rand::random::<u64>())
}

/// A value and the forms it could leak in: as is, base64 (Secret data, Basic auth), URL-encoded.
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_string(), STANDARD.encode(value)];
    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    if encoded != value {
        out.push(encoded);
    }
    out
}

/// Fails naming where and what leaked.
fn assert_nowhere(secrets: &[(&str, String)], places: &[(&str, &str)]) {
    let mut leaks = Vec::new();
    for (what, value) in secrets {
        for form in forms(value) {
            for (place, text) in places {
                if let Some(at) = text.find(&form) {
                    let start = text[..at].char_indices().rev().nth(120).map_or(0, |(i, _)| i);
                    let end = text[at..].char_indices().nth(120).map_or(text.len(), |(i, _)| at + i);
                    leaks.push(format!("{what} in {place}: …{}…", &text[start..end]));
                }
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

/// The token OneLogin issues for these credentials (the same one the operator holds: the
/// server returns the live token until it expires).
async fn issued_token(w: &World, client_id: &str, client_secret: &str) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/auth/oauth2/v2/token", w.onelogin.base_url()))
        .basic_auth(client_id, Some(client_secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("token endpoint")
        .json()
        .await
        .expect("token json");
    answer["access_token"].as_str().expect("access_token").to_string()
}

/// Replaces the credentials Secret with exactly these keys.
async fn replace_secret(w: &World, data: &[(&str, &str)]) {
    let api: Api<Secret> = Api::namespaced(w.kube.clone(), &w.namespace);
    let _ = api.delete(SECRET, &DeleteParams::default()).await;
    let string_data: serde_json::Map<String, Value> = data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": w.namespace},
        "stringData": string_data,
    }))
    .expect("secret");
    // The delete may still be finishing.
    for _ in 0..50 {
        match api.create(&PostParams::default(), &secret).await {
            Ok(_) => return,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("could not recreate the Secret");
}

/// Every app and mapping of the namespace as JSON (metadata, spec and status).
async fn objects(w: &World) -> String {
    let apps = w.apps().list(&ListParams::default()).await.expect("apps");
    let mappings = w.mappings().list(&ListParams::default()).await.expect("mappings");
    format!(
        "{}\n{}",
        serde_json::to_string(&apps.items).expect("json"),
        serde_json::to_string(&mappings.items).expect("json")
    )
}

async fn events(w: &World) -> String {
    let api: Api<Event> = Api::namespaced(w.kube.clone(), &w.namespace);
    serde_json::to_string(&api.list(&ListParams::default()).await.expect("events").items).expect("json")
}

async fn wait_message(w: &World, reason: &str, fragment: &str) -> ConnectSsoApp {
    w.wait_app(
        "agents",
        Duration::from_secs(60),
        &format!("Stalled {reason}: …{fragment}…"),
        |app| {
            condition(app, "Stalled")
                .is_some_and(|c| c.0 == ConditionStatus::True && c.1 == reason && c.2.contains(fragment))
        },
    )
    .await
}

fn mapping_ready(m: &ConnectUserMapping) -> bool {
    m.status.as_ref().is_some_and(|s| {
        s.observed_generation == m.metadata.generation
            && s.conditions
                .first()
                .is_some_and(|c| c.status == ConditionStatus::True && c.reason == "Ready")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_events_status_or_onelogin() {
    logs();
    let mut w = World::new("secrets").await;
    let client_id = random("cid");
    let client_secret = random("csecret");
    w.onelogin.set_credentials(&client_id, &client_secret);
    w.put_secret(&client_id, &client_secret).await;
    let token = issued_token(&w, &client_id, &client_secret).await;
    let wrong_secret = random("wrongsecret");
    let url_user = random("urluser");
    let url_password = random("urlpassword");
    let api_url = w.onelogin.base_url().to_string();
    let host = api_url.trim_start_matches("http://").to_string();

    let instance = w.instance_arn.rsplit('/').next().expect("id").to_string();
    let logins = ["ana@example.com", "bo@example.com", "cy@example.com"];
    for l in logins {
        w.onelogin.add_user(NewUser::with_email(l));
        w.connect.add_user(&instance, ConnectUser::named(l));
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    w.start_operator();

    // Create, edit, drift repair, a mapping.
    w.apply_app("agents", json!({})).await;
    w.wait_ready("agents").await;
    seen.push(("objects after create".into(), objects(&w).await));
    w.apply_app(
        "agents",
        json!({"oneLogin": {"appName": "Agents"}, "signIn": {"endpoint": "Global"}}),
    )
    .await;
    let app = w.wait_ready("agents").await;
    seen.push(("objects after edit".into(), objects(&w).await));
    let app_id = app.status.as_ref().and_then(|s| s.one_login_app_id).expect("id");
    assert!(w.onelogin.modify_app(app_id, |a| {
        a.configuration
            .insert("relaystate".into(), json!("https://example.com/elsewhere"));
    }));
    w.wait_app("agents", Duration::from_secs(30), "drift repaired", |_| {
        w.onelogin.app_json(app_id).expect("app")["configuration"]["relaystate"]
            != json!("https://example.com/elsewhere")
    })
    .await;
    w.apply_mapping("tier1", json!({"appRef": {"name": "agents"}, "users": logins}))
        .await;
    w.wait_mapping("tier1", "Ready", mapping_ready).await;
    seen.push(("objects with a mapping".into(), objects(&w).await));
    let one_login_app = w.onelogin.app_json(app_id).expect("app").to_string();

    // Wrong secret.
    w.put_secret(&client_id, &wrong_secret).await;
    w.wait_reason("agents", "Stalled", "OneLoginUnauthorized").await;
    seen.push(("objects with a wrong secret".into(), objects(&w).await));

    // A Secret without clientSecret.
    replace_secret(&w, &[("clientId", &client_id), ("apiUrl", &api_url)]).await;
    wait_message(&w, "InvalidCredentialsSecret", "clientSecret is missing").await;
    seen.push(("objects with a key missing".into(), objects(&w).await));

    // An apiUrl carrying credentials.
    let with_credentials = format!("https://{url_user}:{url_password}@{host}");
    replace_secret(
        &w,
        &[
            ("clientId", &client_id),
            ("clientSecret", &client_secret),
            ("apiUrl", &with_credentials),
        ],
    )
    .await;
    wait_message(&w, "InvalidCredentialsSecret", "must not contain credentials").await;
    seen.push(("objects with credentials in apiUrl".into(), objects(&w).await));

    // Plain http to a host that is not loopback: refused before any request is made.
    let calls_before = w.onelogin.calls().total();
    replace_secret(
        &w,
        &[
            ("clientId", &client_id),
            ("clientSecret", &client_secret),
            ("apiUrl", "http://acme.onelogin.com"),
        ],
    )
    .await;
    wait_message(&w, "InvalidCredentialsSecret", "must use https").await;
    seen.push(("objects with an http apiUrl".into(), objects(&w).await));

    // Back to good credentials, then delete everything.
    w.put_secret(&client_id, &client_secret).await;
    w.wait_ready("agents").await;
    assert!(
        w.onelogin.calls().total() > calls_before,
        "OneLogin is used again once the Secret is fixed"
    );
    w.mappings()
        .delete("tier1", &DeleteParams::default())
        .await
        .expect("delete mapping");
    for _ in 0..300 {
        if w.mappings().get_opt("tier1").await.expect("get").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.apps()
        .delete("agents", &DeleteParams::default())
        .await
        .expect("delete app");
    w.wait_gone("agents").await;
    assert!(w.onelogin.apps().is_empty(), "deleted");

    // The token the operator used is still the one issued.
    assert_eq!(issued_token(&w, &client_id, &client_secret).await, token);
    let events = events(&w).await;
    let logs = log_text();
    assert!(
        logs.contains("OneLogin refused the API credentials") && logs.contains(&w.namespace),
        "the capture holds the operator's own TRACE output"
    );
    let trace_lines = logs.lines().filter(|l| l.contains("\"level\":\"TRACE\"")).count();
    println!("captured {} log lines ({trace_lines} at TRACE)", logs.lines().count());
    assert!(trace_lines > 0, "TRACE output of every crate is captured");
    // Control: the search finds the secret where it belongs (the Secret itself, base64).
    let stored = Api::<Secret>::namespaced(w.kube.clone(), &w.namespace)
        .get(SECRET)
        .await
        .expect("secret");
    let stored = serde_json::to_string(&stored).expect("json");
    assert!(
        forms(&client_secret).iter().any(|f| stored.contains(f)),
        "the leak check would see a Secret value"
    );
    let mut places: Vec<(&str, &str)> = vec![
        ("logs", &logs),
        ("Events", &events),
        ("the OneLogin app", &one_login_app),
    ];
    for (what, text) in &seen {
        places.push((what, text));
    }
    assert_nowhere(
        &[
            ("the client secret", client_secret.clone()),
            ("the access token", token.clone()),
            ("the wrong client secret", wrong_secret.clone()),
            ("the user in apiUrl", url_user.clone()),
            ("the password in apiUrl", url_password.clone()),
            ("the Basic credentials", format!("{client_id}:{client_secret}")),
            ("the client id", client_id.clone()),
        ],
        &places,
    );
}

/// `credentialsSecretRef` has no namespace: the API server refuses one under strict field
/// validation and drops it otherwise, so a valid Secret of the same name in another namespace is
/// never read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_in_another_namespace_cannot_be_referenced() {
    logs();
    let mut w = World::new("secrets-xns").await;
    let other = world::envtest::shared().await.namespace("secrets-xns-other").await;
    let name = "shared-creds";
    let other_secret = random("othernssecret");
    w.onelogin.set_credentials(&w.onelogin.client_id(), &other_secret);
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": other.name()},
        "stringData": {"clientId": w.onelogin.client_id(), "clientSecret": other_secret, "apiUrl": w.onelogin.base_url()},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(w.kube.clone(), other.name())
        .create(&PostParams::default(), &secret)
        .await
        .expect("a valid Secret in the other namespace");

    let mut manifest = w.app_manifest("agents", json!({}));
    manifest["spec"]["oneLogin"]["credentialsSecretRef"] = json!({"name": name, "namespace": other.name()});
    // Server-side apply with strict validation (what `kubectl apply --server-side` sends).
    let strict = PatchParams::apply("test").force().validation_strict();
    let refused = w
        .apps()
        .patch("agents", &strict, &Patch::Apply(&manifest))
        .await
        .expect_err("strict field validation refuses a namespace");
    let text = match &refused {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    };
    assert!(text.contains("credentialsSecretRef.namespace"), "{text}");

    // A plain create with the server's default validation: accepted, the field pruned.
    let raw: Api<DynamicObject> =
        Api::namespaced_with(w.kube.clone(), &w.namespace, &ApiResource::erase::<ConnectSsoApp>(&()));
    let object: DynamicObject = serde_json::from_value(manifest.clone()).expect("object");
    raw.create(&PostParams::default(), &object)
        .await
        .expect("without strict validation the field is dropped");
    let stored = raw.get("agents").await.expect("stored");
    assert_eq!(
        stored.data["spec"]["oneLogin"]["credentialsSecretRef"],
        json!({"name": name}),
        "the API server kept no namespace"
    );

    w.start_operator();
    let app = w.wait_reason("agents", "Stalled", "CredentialsSecretNotFound").await;
    let (_, _, message) = condition(&app, "Ready").expect("Ready");
    assert!(
        message.contains(&format!("{}/{name}", w.namespace)),
        "looked up in the app's own namespace: {message}; {}",
        json_status(Some(&app))
    );
    assert_eq!(
        w.onelogin.calls().total(),
        0,
        "the other namespace's valid credentials were never used"
    );
    let events = events(&w).await;
    assert_nowhere(
        &[("the other namespace's secret", other_secret)],
        &[
            ("logs", &log_text()),
            ("Events", &events),
            ("objects", &objects(&w).await),
        ],
    );
}
