//! Crash at every step: the operator binary is killed (SIGKILL) right after the k-th successful
//! mutating call to OneLogin, Amazon Connect or IAM, before the answer reaches it, for every k of
//! the create, update and delete flows; a fresh process must then converge to exactly one of each
//! object (or nothing, after a delete) with a correct status.
//!
//! How: `support/crash` holds the switch (pid, target k, a count of successful mutating calls).
//! The OneLogin and Connect test servers call it from their middleware through `AFTER_WRITE`; IAM
//! calls pass through a loopback proxy in front of moto that calls it on a mutating 2xx answer.
//! Each flow is first run without a kill to count its mutating calls N; then once per k in 1..=N
//! in a fresh namespace (moto is shared, and every IAM name derives from the namespace).
//! The flows share the process-wide switch, so they run one at a time.

#[path = "support/crash/mod.rs"]
mod crash;
#[path = "support/world/mod.rs"]
mod world;

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use connect_sso_operator::api::{ConditionStatus, ConnectSsoApp};
use kube::api::DeleteParams;
use kube::runtime::wait::{await_condition, conditions};
use serde_json::json;
use world::envtest::process::{ManagedProcess, free_ports};
use world::{World, condition};

const APP: &str = "agents";
const NEW_APP_NAME: &str = "Amazon Connect agents (renamed by the crash test)";
const GLOBAL_ACS: &str = "https://signin.aws.amazon.com/saml";
const REGIONAL_ACS: &str = "https://us-east-1.signin.aws.amazon.com/saml";
const CONVERGE: Duration = Duration::from_secs(90);

/// The flows share the process-wide crash switch.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Create,
    Update,
    Delete,
    /// The create flow killed at k, the app deleted while no operator runs, then a restart: the
    /// worst case for orphans (objects made but not yet recorded in status).
    CreateThenDelete,
}

impl Flow {
    fn name(self) -> &'static str {
        match self {
            Flow::Create => "create",
            Flow::Update => "update",
            Flow::Delete => "delete",
            Flow::CreateThenDelete => "create+delete",
        }
    }
}

fn install_hooks() {
    let _ = world::onelogin::AFTER_WRITE.set(|key| crash::hit(&format!("OneLogin {key}")));
    let _ = world::connect::AFTER_WRITE.set(|op| crash::hit(&format!("Connect {op}")));
}

fn start_binary(w: &World, iam: &str, log: &Path) -> ManagedProcess {
    let port = free_ports(1).expect("port")[0];
    let cmd = w.operator_command(w.ns.server().admin().kubeconfig_path(), iam, port);
    ManagedProcess::spawn("connect-sso-operator", cmd, log).expect("binary starts")
}

/// One run of a flow in its own namespace, with its own IAM proxy and operator process.
struct Run {
    w: World,
    proxy: crash::IamProxy,
    dir: tempfile::TempDir,
    operator: ManagedProcess,
    starts: usize,
    /// The IAM RoleId before the flow's action (update flow).
    role_id_before: Option<String>,
}

impl Run {
    async fn prepare(flow: Flow, k: Option<usize>) -> Run {
        let hint = format!("crash-{}-{}", flow.name(), k.map_or("n".to_string(), |k| k.to_string()));
        let w = World::new(&hint).await;
        let proxy = crash::IamProxy::start(&w.moto, true).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let operator = start_binary(&w, proxy.endpoint(), &dir.path().join("operator-1.log"));
        let mut run = Run {
            w,
            proxy,
            dir,
            operator,
            starts: 1,
            role_id_before: None,
        };
        if matches!(flow, Flow::Update | Flow::Delete) {
            run.w.apply_app(APP, json!({})).await;
            run.wait_ready()
                .await
                .unwrap_or_else(|e| panic!("setup of {hint}: {e}"));
            run.role_id_before = Some(run.iam_role().await.expect("role after setup").1);
        }
        if flow == Flow::Delete {
            // Spare (non-default) policy versions, which IAM makes the operator delete first.
            let policy = run.iam_policies().await.pop().expect("policy after setup");
            for i in 0..2 {
                let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Action": "connect:GetFederationToken", "Resource": format!("arn:aws:connect:us-east-1:123456789012:instance/spare-{i}/user/*")}]});
                run.w
                    .iam
                    .create_policy_version()
                    .policy_arn(&policy)
                    .policy_document(doc.to_string())
                    .set_as_default(false)
                    .send()
                    .await
                    .expect("spare policy version");
            }
        }
        run
    }

    fn restart(&mut self) {
        self.operator.kill();
        self.starts += 1;
        let log = self.dir.path().join(format!("operator-{}.log", self.starts));
        self.operator = start_binary(&self.w, self.proxy.endpoint(), &log);
    }

    async fn act(&self, flow: Flow) {
        match flow {
            Flow::Create | Flow::CreateThenDelete => {
                self.w.apply_app(APP, json!({})).await;
            }
            Flow::Update => {
                self.w
                    .apply_app(
                        APP,
                        json!({"signIn": {"endpoint": "Global"}, "oneLogin": {"appName": NEW_APP_NAME},
                               "iam": {"maxSessionDurationSeconds": 7200, "tags": {"team": "crash-test"}}}),
                    )
                    .await;
            }
            Flow::Delete => {
                self.w
                    .apps()
                    .delete(APP, &DeleteParams::default())
                    .await
                    .expect("delete");
            }
        }
    }

    /// Watches the app until it is Ready for its current generation.
    async fn wait_ready(&self) -> Result<ConnectSsoApp, String> {
        let ready = |app: Option<&ConnectSsoApp>| {
            app.is_some_and(|app| {
                condition(app, "Ready").is_some_and(|c| c.0 == ConditionStatus::True)
                    && app.status.as_ref().and_then(|s| s.observed_generation) == app.metadata.generation
            })
        };
        match tokio::time::timeout(CONVERGE, await_condition(self.w.apps(), APP, ready)).await {
            Ok(Ok(Some(app))) => Ok(app),
            Ok(Ok(None)) => Err("the app is gone".into()),
            Ok(Err(e)) => Err(format!("watch: {e}")),
            Err(_) => Err(format!("not Ready after {CONVERGE:?}; {}", self.last_words().await)),
        }
    }

    async fn wait_gone(&self) -> Result<(), String> {
        let Some(uid) = self
            .w
            .apps()
            .get_opt(APP)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|a| a.metadata.uid)
        else {
            return Ok(());
        };
        match tokio::time::timeout(
            CONVERGE,
            await_condition(self.w.apps(), APP, conditions::is_deleted(&uid)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("watch: {e}")),
            Err(_) => Err(format!("not deleted after {CONVERGE:?}; {}", self.last_words().await)),
        }
    }

    /// The app's status and the operator's last log lines, for a failure message.
    async fn last_words(&self) -> String {
        let app = self.w.apps().get_opt(APP).await.ok().flatten();
        format!(
            "status: {}\noperator log:\n{}",
            world::json_status(app.as_ref()),
            self.operator.log_tail(15)
        )
    }

    fn mine(&self, name: &str) -> bool {
        name.contains(&self.w.namespace)
    }

    async fn iam_providers(&self) -> Vec<String> {
        let out = self
            .w
            .iam
            .list_saml_providers()
            .send()
            .await
            .expect("ListSAMLProviders");
        out.saml_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .filter(|arn| self.mine(arn))
            .map(str::to_string)
            .collect()
    }

    async fn iam_policies(&self) -> Vec<String> {
        let out = self
            .w
            .iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .max_items(1000)
            .send()
            .await
            .expect("ListPolicies");
        out.policies()
            .iter()
            .filter_map(|p| p.arn())
            .filter(|arn| self.mine(arn))
            .map(str::to_string)
            .collect()
    }

    /// (arn, role id) of every role of this run.
    async fn iam_roles(&self) -> Vec<(String, String)> {
        let out = self.w.iam.list_roles().max_items(1000).send().await.expect("ListRoles");
        out.roles()
            .iter()
            .filter(|r| self.mine(r.role_name()))
            .map(|r| (r.arn().to_string(), r.role_id().to_string()))
            .collect()
    }

    async fn iam_role(&self) -> Option<(String, String)> {
        let roles = self.iam_roles().await;
        (roles.len() == 1).then(|| roles[0].clone())
    }

    /// Exactly one of everything, all recorded in a Ready status.
    async fn check_present(&self, flow: Flow) -> Result<(), String> {
        let app = self.wait_ready().await?;
        let status = app.status.clone().unwrap_or_default();
        let mut problems = Vec::new();
        if condition(&app, "Stalled").is_some_and(|c| c.0 == ConditionStatus::True) {
            problems.push("Stalled is True".to_string());
        }

        let ol_apps = self.w.onelogin.apps();
        if ol_apps.len() != 1 {
            problems.push(format!("{} OneLogin apps", ol_apps.len()));
        }
        if let Some(a) = ol_apps.first() {
            if status.one_login_app_id != Some(a.id) {
                problems.push(format!(
                    "status.oneLoginAppId {:?} != {}",
                    status.one_login_app_id, a.id
                ));
            }
            if flow == Flow::Update && a.name != NEW_APP_NAME {
                problems.push(format!("OneLogin app name {:?}", a.name));
            }
        }
        let roles = self.w.onelogin.roles();
        if roles.len() != 1 {
            problems.push(format!("{} OneLogin roles", roles.len()));
        }
        if let Some(r) = roles.first() {
            if status.one_login_role_id != Some(r.id) {
                problems.push(format!(
                    "status.oneLoginRoleId {:?} != {}",
                    status.one_login_role_id, r.id
                ));
            }
            let app_ids: Vec<i64> = ol_apps.iter().map(|a| a.id).collect();
            if r.apps != app_ids {
                problems.push(format!("OneLogin role apps {:?}, apps {:?}", r.apps, app_ids));
            }
        }

        let providers = self.iam_providers().await;
        if providers.len() != 1 || status.identity_provider_arn.as_ref() != providers.first() {
            problems.push(format!(
                "SAML providers {providers:?}, status {:?}",
                status.identity_provider_arn
            ));
        }
        let policies = self.iam_policies().await;
        if policies.len() != 1 || status.policy_arn.as_ref() != policies.first() {
            problems.push(format!("policies {policies:?}, status {:?}", status.policy_arn));
        }
        if let Some(policy) = policies.first() {
            let versions = self
                .w
                .iam
                .list_policy_versions()
                .policy_arn(policy)
                .send()
                .await
                .expect("ListPolicyVersions");
            if versions.versions().len() > 5 {
                problems.push(format!("{} policy versions", versions.versions().len()));
            }
        }
        let roles = self.iam_roles().await;
        if roles.len() != 1 || status.role_arn.as_ref() != roles.first().map(|r| &r.0) {
            problems.push(format!("IAM roles {roles:?}, status {:?}", status.role_arn));
        }
        if let Some((arn, role_id)) = roles.first() {
            if let Some(before) = &self.role_id_before
                && before != role_id
            {
                problems.push(format!("role replaced: RoleId {before} became {role_id}"));
            }
            let name = arn.rsplit('/').next().unwrap_or_default();
            let attached = self
                .w
                .iam
                .list_attached_role_policies()
                .role_name(name)
                .send()
                .await
                .expect("ListAttachedRolePolicies");
            let attached: Vec<&str> = attached
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn())
                .collect();
            if attached.iter().map(|s| s.to_string()).collect::<Vec<_>>() != policies {
                problems.push(format!("attached {attached:?}, policies {policies:?}"));
            }
            let role = self.w.iam.get_role().role_name(name).send().await.expect("GetRole");
            let raw = role
                .role()
                .map(|r| r.assume_role_policy_document().unwrap_or_default())
                .unwrap_or_default();
            let trust = crash::decode_form(format!("t={raw}").as_bytes())
                .pop()
                .map(|(_, v)| v)
                .unwrap_or_default();
            if flow == Flow::Update {
                let r = role.role().expect("role");
                if r.max_session_duration() != Some(7200) {
                    problems.push(format!("max session {:?}", r.max_session_duration()));
                }
                if !r.tags().iter().any(|t| t.key() == "team" && t.value() == "crash-test") {
                    problems.push(format!("role tags {:?}", r.tags()));
                }
            }
            let want = if flow == Flow::Update { GLOBAL_ACS } else { REGIONAL_ACS };
            let other = if flow == Flow::Update { REGIONAL_ACS } else { GLOBAL_ACS };
            let trusts = |acs: &str| trust.contains(&format!("\"{acs}\""));
            if !trusts(want) || trusts(other) {
                problems.push(format!("trust policy audience is not {want}: {trust}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Nothing left anywhere.
    async fn check_absent(&self) -> Result<(), String> {
        self.wait_gone().await?;
        let mut problems = Vec::new();
        let apps = self.w.onelogin.apps();
        if !apps.is_empty() {
            problems.push(format!(
                "OneLogin apps left: {:?}",
                apps.iter().map(|a| a.id).collect::<Vec<_>>()
            ));
        }
        let roles = self.w.onelogin.roles();
        if !roles.is_empty() {
            problems.push(format!("OneLogin roles left: {roles:?}"));
        }
        let providers = self.iam_providers().await;
        if !providers.is_empty() {
            problems.push(format!("SAML providers left: {providers:?}"));
        }
        let policies = self.iam_policies().await;
        if !policies.is_empty() {
            problems.push(format!("policies left: {policies:?}"));
        }
        let iam_roles = self.iam_roles().await;
        if !iam_roles.is_empty() {
            problems.push(format!("IAM roles left: {iam_roles:?}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    async fn check(&self, flow: Flow) -> Result<(), String> {
        match flow {
            Flow::Create | Flow::Update => self.check_present(flow).await,
            Flow::Delete | Flow::CreateThenDelete => self.check_absent().await,
        }
    }
}

/// One row of the table.
struct Row {
    k: usize,
    call: String,
    outcome: Result<String, String>,
}

/// Runs `flow` once without a kill, then once per k with a kill after the k-th mutating call.
async fn crash_at_every_step(flow: Flow) {
    let _serial = SERIAL.lock().await;
    install_hooks();

    // The count: the flow's mutating calls, in order.
    // Without a crash, create-then-delete is the create flow.
    let counting = if flow == Flow::CreateThenDelete {
        Flow::Create
    } else {
        flow
    };
    let mut run = Run::prepare(counting, None).await;
    crash::arm(Some(run.operator.pid()), None);
    run.act(counting).await;
    let counted = run.check(counting).await;
    let calls = crash::disarm().calls;
    run.operator.kill();
    if let Err(e) = counted {
        panic!("{} flow without a crash did not converge: {e}", flow.name());
    }
    let n = calls.len();
    assert!(n > 0, "the {} flow made no mutating call", flow.name());
    drop(run);

    let mut rows = Vec::new();
    for k in 1..=n {
        let mut run = Run::prepare(flow, Some(k)).await;
        crash::arm(Some(run.operator.pid()), Some(k));
        run.act(flow).await;
        let (fired_at, call) = crash::wait_fired(CONVERGE).await;
        assert_eq!(fired_at, k);
        if flow == Flow::CreateThenDelete {
            run.w
                .apps()
                .delete(APP, &DeleteParams::default())
                .await
                .expect("delete while the operator is down");
        }
        // Count what the restarted process still does, for the table.
        crash::arm(None, None);
        run.restart();
        let outcome = run.check(flow).await;
        let after = crash::disarm().count;
        run.operator.kill();
        let outcome = outcome.map(|()| format!("converged ({after} more mutating calls)"));
        if call != calls[k - 1] {
            eprintln!(
                "note: in the {} flow the {k}th call was {call} (the uninterrupted run had {})",
                flow.name(),
                calls[k - 1]
            );
        }
        if let Err(e) = &outcome {
            eprintln!("{} flow, kill at k={k} ({call}): {e}", flow.name());
        }
        rows.push(Row { k, call, outcome });
    }

    let mut table = format!("\ncrash points, {} flow (N = {n}):\n", flow.name());
    let _ = writeln!(table, "{:<13} {:>3}  {:<40} outcome", "flow", "k", "k-th mutating call");
    for row in &rows {
        let outcome = match &row.outcome {
            Ok(s) => format!("survived: {s}"),
            Err(e) => format!("FAILED: {e}"),
        };
        let _ = writeln!(table, "{:<13} {:>3}  {:<40} {outcome}", flow.name(), row.k, row.call);
    }
    println!("{table}");
    let failed: Vec<&Row> = rows.iter().filter(|r| r.outcome.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {n} crash points of the {} flow did not converge:{table}",
        failed.len(),
        flow.name()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_any_write_of_the_create_flow_converges() {
    crash_at_every_step(Flow::Create).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_any_write_of_the_update_flow_converges() {
    crash_at_every_step(Flow::Update).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_any_write_of_the_delete_flow_converges() {
    crash_at_every_step(Flow::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_any_write_of_the_create_flow_then_a_delete_leaves_nothing() {
    crash_at_every_step(Flow::CreateThenDelete).await;
}

#[test]
fn iam_reads_and_writes_are_told_apart() {
    assert!(!crash::iam_mutates("GetRole"));
    assert!(!crash::iam_mutates("ListPolicyVersions"));
    assert!(crash::iam_mutates("CreatePolicyVersion"));
    assert!(crash::iam_mutates("TagRole"));
    let form = crash::decode_form(b"Action=AttachRolePolicy&PolicyArn=arn%3Aaws%3Aiam%3A%3A1%3Apolicy%2Fp&X=a+b");
    assert_eq!(
        form[1],
        ("PolicyArn".to_string(), "arn:aws:iam::1:policy/p".to_string())
    );
    assert_eq!(form[2].1, "a b");
}
