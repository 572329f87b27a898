//! The `connect-sso-operator run` binary as a separate process, under exactly the RBAC the Helm
//! chart ships (a namespace-scoped install), against the real kube-apiserver, moto and the
//! Amazon Connect and OneLogin test servers: Ready with ARNs, kstatus Current, finalizer added and
//! removed, a SIGKILL mid-way survived, Events recorded, /metrics counting.

#[path = "support/tools.rs"]
mod tools;
#[path = "support/world/mod.rs"]
mod world;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use connect_sso_operator::api::ConnectSsoApp;
use kube::api::DeleteParams;
use serde_json::{Value, json};
use tools::{helm_template, tool};
use world::World;
use world::envtest::process::{ManagedProcess, free_ports};

const RELEASE: &str = "connect-sso-operator";
/// How long the binary may take to answer /readyz.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The chart rendered for a namespace-scoped install into `namespace`, plus `extra` settings.
fn render_chart(namespace: &str, extra: &[&str]) -> String {
    let scope = format!("watchNamespaces[0]={namespace}");
    let mut args = vec!["--set", &scope, "--set", "crds.install=false"];
    args.extend_from_slice(extra);
    helm_template(RELEASE, namespace, &args).unwrap_or_else(|e| panic!("helm template: {e}"))
}

fn service_account_name(rendered: &str) -> String {
    let docs: Vec<Value> = serde_saphyr::from_multiple(rendered).expect("rendered YAML");
    docs.iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .and_then(|d| d["metadata"]["name"].as_str())
        .expect("the chart renders a ServiceAccount")
        .to_string()
}

/// Starts the binary with the restricted kubeconfig and test endpoints.
fn start_binary(w: &World, kubeconfig: &Path, metrics_port: u16, log: &Path) -> ManagedProcess {
    let cmd = w.operator_command(kubeconfig, &w.moto, metrics_port);
    ManagedProcess::spawn("connect-sso-operator", cmd, log).expect("binary starts")
}

/// kstatus' verdict on an object, from the cli-utils helper.
fn kstatus(obj: &ConnectSsoApp) -> (String, String) {
    use std::io::Write;
    let mut child = Command::new(tool("tests/kstatus/build.sh"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("kstatus runs");
    let line = serde_json::to_string(obj).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{line}\n").as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("kstatus finishes");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (status, message) = text.trim().split_once('\t').unwrap_or((text.trim(), ""));
    (status.to_string(), message.to_string())
}

async fn scrape(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// Sum of a counter's samples whose labels contain `filter`.
fn counter(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_under_chart_rbac_converges_survives_a_kill_and_cleans_up() {
    let w = World::new("binary").await;
    let rendered = render_chart(&w.namespace, &[]);
    let identity =
        w.ns.service_account(&service_account_name(&rendered), Some(&rendered))
            .await
            .expect("chart RBAC");
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_ports(1).expect("port")[0];
    let log = dir.path().join("operator.log");
    let mut operator = start_binary(&w, identity.kubeconfig_path(), port, &log);
    operator
        .wait_until_answers(&format!("http://127.0.0.1:{port}/readyz"), READY_WITHIN)
        .await;

    // Apply → Ready with every ARN, finalizer present, kstatus Current.
    w.apply_app("agents", json!({})).await;
    let app = w.wait_ready("agents").await;
    let status = app.status.clone().expect("status");
    assert!(status.role_arn.is_some() && status.policy_arn.is_some() && status.identity_provider_arn.is_some());
    assert!(
        app.metadata
            .finalizers
            .clone()
            .unwrap_or_default()
            .contains(&"connectsso.io/cleanup".to_string())
    );
    assert_eq!(kstatus(&app).0, "Current", "kstatus: {:?}", kstatus(&app));
    w.wait_event("agents", "Created (recorded by the binary)", |e| e.1 == "Created")
        .await;

    // The metrics count reconciles and external calls, and keep counting.
    let first = scrape(port).await;
    let reconciles = counter(&first, "connect_sso_reconciles_total", "controller=\"connectssoapp\"");
    let calls = counter(&first, "connect_sso_external_calls_total", "service=\"onelogin\"");
    assert!(reconciles >= 1.0 && calls >= 1.0, "{first}");
    assert!(
        counter(&first, "connect_sso_external_calls_total", "service=\"iam\"") >= 1.0,
        "{first}"
    );
    assert!(!first.contains("agents"), "no object name is a label");

    // SIGKILL right after the second app's OneLogin app exists, then restart: one app, Ready.
    w.apply_app("admins", json!({"access": "Admin"})).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.onelogin.apps().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "second app never created:\n{}",
            operator.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let moving = scrape(port).await;
    assert!(
        counter(&moving, "connect_sso_external_calls_total", "service=\"onelogin\"") > calls,
        "the OneLogin call counter moved while the second app was made"
    );
    operator.kill();
    let mut operator = start_binary(&w, identity.kubeconfig_path(), port, &dir.path().join("operator-2.log"));
    let admins = w.wait_ready("admins").await;
    assert_eq!(
        w.onelogin.apps().len(),
        2,
        "the restart found the app it had made, made no second one"
    );
    assert_eq!(kstatus(&admins).0, "Current");
    // The restarted process counts its own reconciles (its first pass may still be running).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let later = scrape(port).await;
        if counter(&later, "connect_sso_reconciles_total", "controller=\"connectssoapp\"") >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted operator counted no reconcile:\n{later}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Delete → finalizer removed, external side gone.
    w.apps()
        .delete("agents", &DeleteParams::default())
        .await
        .expect("delete");
    w.apps()
        .delete("admins", &DeleteParams::default())
        .await
        .expect("delete");
    w.wait_gone("agents").await;
    w.wait_gone("admins").await;
    assert!(w.onelogin.apps().is_empty(), "OneLogin apps deleted");
    let roles = w
        .iam
        .list_roles()
        .path_prefix("/connect-sso/")
        .send()
        .await
        .expect("roles");
    let ours: Vec<_> = roles
        .roles()
        .iter()
        .filter(|r| r.role_name().contains(&w.namespace))
        .collect();
    assert!(ours.is_empty(), "IAM roles deleted: {ours:?}");
    assert!(
        operator.exited().is_none(),
        "the operator is still running:\n{}",
        operator.log_tail(40)
    );
    operator.kill();
    let logs = std::fs::read_to_string(dir.path().join("operator-2.log")).unwrap_or_default();
    assert!(!logs.contains(&w.onelogin.client_secret()), "no secret in the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_app_reads_as_failed_to_kstatus_and_progress_as_in_progress() {
    let mut w = World::new("kstatus").await;
    w.start_operator();
    let missing = "arn:aws:connect:us-east-1:123456789012:instance/00000000-0000-4000-8000-000000000000";
    w.apply_app("agents", json!({"connect": {"instanceArn": missing}}))
        .await;
    let stalled = w.wait_reason("agents", "Stalled", "InstanceNotFound").await;
    assert_eq!(kstatus(&stalled).0, "Failed", "{:?}", kstatus(&stalled));
    // A spec the operator has not seen yet is in progress, whatever the old status says.
    let mut newer = stalled.clone();
    newer.metadata.generation = newer.metadata.generation.map(|g| g + 1);
    assert_eq!(kstatus(&newer).0, "InProgress");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_leader_election_one_replica_acts_and_a_standby_takes_over() {
    use k8s_openapi::api::coordination::v1::Lease;
    let w = World::new("leader").await;
    let rendered = render_chart(
        &w.namespace,
        &["--set", "leaderElection.enabled=true", "--set", "replicas=2"],
    );
    let identity =
        w.ns.service_account(&service_account_name(&rendered), Some(&rendered))
            .await
            .expect("chart RBAC");
    let dir = tempfile::tempdir().expect("temp dir");
    let ports = free_ports(2).expect("ports");
    let start = |name: &str, port: u16| {
        let mut cmd = w.operator_command(identity.kubeconfig_path(), &w.moto, port);
        cmd.env("CONNECT_SSO_LEADER_ELECTION", "true")
            .env("POD_NAMESPACE", &w.namespace)
            .env("POD_NAME", name);
        ManagedProcess::spawn(name, cmd, &dir.path().join(format!("{name}.log"))).expect("starts")
    };
    let mut a = start("replica-a", ports[0]);
    let mut b = start("replica-b", ports[1]);
    a.wait_until_answers(&format!("http://127.0.0.1:{}/readyz", ports[0]), READY_WITHIN)
        .await;
    b.wait_until_answers(&format!("http://127.0.0.1:{}/readyz", ports[1]), READY_WITHIN)
        .await;
    w.apply_app("agents", json!({})).await;
    w.wait_ready("agents").await;

    let leases: kube::Api<Lease> = kube::Api::namespaced(w.kube.clone(), &w.namespace);
    let holder = leases
        .get("connect-sso-operator")
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.holder_identity)
        .expect("holder");
    let (leader, standby_port) = if holder == "replica-a" {
        (&mut a, ports[1])
    } else {
        (&mut b, ports[0])
    };
    // The standby made no calls at all.
    let standby = scrape(standby_port).await;
    assert_eq!(
        counter(&standby, "connect_sso_external_calls_total", ""),
        0.0,
        "standby stays idle:\n{standby}"
    );
    leader.kill();

    // The standby takes the Lease and acts on a change.
    w.apply_app("agents", json!({"oneLogin": {"appName": "Agents after failover"}}))
        .await;
    w.wait_ready("agents").await;
    let app_id = w
        .apps()
        .get("agents")
        .await
        .expect("app")
        .status
        .and_then(|s| s.one_login_app_id)
        .expect("id");
    assert_eq!(
        w.onelogin.app_json(app_id).expect("app")["name"],
        "Agents after failover"
    );
    let new_holder = leases
        .get("connect-sso-operator")
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.holder_identity);
    assert_ne!(
        new_holder.as_deref(),
        Some(holder.as_str()),
        "the Lease moved to the standby"
    );
    a.kill();
    b.kill();
}

/// Replicas that start together race for a free Lease; exactly one may win each race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_racing_for_a_free_lease_never_both_lead() {
    use connect_sso_operator::cli::leader::lease_manager;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let w = World::new("lease-race").await;
    for round in 0..10 {
        let lease = format!("race-{round}");
        let mut watching = Vec::new();
        for identity in ["replica-a", "replica-b"] {
            let manager = lease_manager(w.kube.clone(), &w.namespace, &lease, identity)
                .await
                .expect("lease manager");
            watching.push(manager);
        }
        let led: Vec<Arc<AtomicBool>> = (0..2).map(|_| Arc::new(AtomicBool::new(false))).collect();
        let mut tasks = Vec::new();
        let mut receivers = Vec::new();
        let mut observers = Vec::new();
        for (manager, led) in watching.into_iter().zip(&led) {
            let (leading, task) = manager.watch().await;
            let led = led.clone();
            let mut observer = leading.clone();
            receivers.push(leading);
            tasks.push(task);
            observers.push(tokio::spawn(async move {
                loop {
                    if *observer.borrow_and_update() {
                        led.store(true, Ordering::SeqCst);
                    }
                    if observer.changed().await.is_err() {
                        return;
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !led.iter().any(|l| l.load(Ordering::SeqCst)) {
            assert!(Instant::now() < deadline, "round {round}: nobody took the Lease");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A loser that believed it won would say so within the same few requests.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let leaders = led.iter().filter(|l| l.load(Ordering::SeqCst)).count();
        assert_eq!(leaders, 1, "round {round}: both replicas led at once");
        // A watcher releases its Lease once every receiver is gone.
        for observer in observers {
            observer.abort();
        }
        drop(receivers);
        for task in tasks {
            let _ = task.await;
        }
    }
}
