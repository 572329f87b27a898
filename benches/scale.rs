//! `cargo bench --bench scale`: how the operator scales in calls, time, memory and CPU.
//!
//! Starts the real kube-apiserver + etcd (envtest), moto for IAM behind a counting, delaying
//! proxy, and the OneLogin and Amazon Connect test servers on loopback, runs the real
//! controllers (in-process for call counting, the release binary as a process for wall time,
//! RSS and CPU) and prints one table. Targets are reported as PASS/FAIL, never asserted.
//!
//! Settings (environment; defaults are the issue's figures):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BENCH_QUICK=1` | off | 1 and 10 apps, 500 users, one repetition (a few minutes, for CI) |
//! | `BENCH_APPS` | `1,100,1000` | app counts timed from apply to Ready with the binary |
//! | `BENCH_USERS` | `10000` | users in the mapping |
//! | `BENCH_LATENCY_MS` | `0,50` | per-call latency of OneLogin, Connect and IAM |
//! | `BENCH_REPS` | `3` | runs per timing (median reported) |
//! | `BENCH_REPS_LARGE` | `1` | runs per timing with 1,000 apps or more |
//! | `BENCH_CONCURRENCY` | `4` | `CONNECT_SSO_CONCURRENCY` of the binary (its default) |
//! | `BENCH_STEADY_APPS` | `10` | apps whose no-drift resync is counted |
//! | `BENCH_ONELOGIN_CALLS_PER_HOUR` | `10000000` | the binary's OneLogin budget in timing runs |
//! | `BENCH_ONLY` | all | comma list of `calls`, `mapping`, `binary` |

#[path = "../tests/support/world/mod.rs"]
mod world;

#[path = "support/iam_proxy.rs"]
mod iam_proxy;
#[path = "support/operator.rs"]
mod operator;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use connect_sso_operator::api::{ConditionStatus, ConnectSsoApp, ConnectUserMapping};
use futures::StreamExt;
use iam_proxy::IamProxy;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use operator::{Env, Operator, counter};
use serde_json::json;
use world::World;

/// The operator's default OneLogin budget (`CONNECT_SSO_ONELOGIN_CALLS_PER_HOUR`) and burst.
const DEFAULT_BUDGET_PER_HOUR: f64 = 3000.0;
const DEFAULT_BUDGET_BURST: f64 = 50.0;
/// The operator's default resync interval (`CONNECT_SSO_RESYNC_SECONDS`).
const DEFAULT_RESYNC_S: f64 = 600.0;

// ---------------------------------------------------------------------------------------------
// Settings

struct Config {
    quick: bool,
    apps: Vec<usize>,
    users: usize,
    latencies: Vec<u64>,
    reps: usize,
    reps_large: usize,
    concurrency: u16,
    steady_apps: usize,
    budget: u64,
    only: Vec<String>,
}

fn env_list<T: std::str::FromStr + Clone>(name: &str, default: &[T]) -> Vec<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("{name}: cannot read {s:?}")))
            .collect(),
        _ => default.to_vec(),
    }
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| panic!("{name}: cannot read {v:?}")),
        _ => default,
    }
}

impl Config {
    fn from_env() -> Config {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1" || v == "true");
        let (apps, users, reps, steady): (&[usize], usize, usize, usize) = if quick {
            (&[1, 10], 500, 1, 5)
        } else {
            (&[1, 100, 1000], 10_000, 3, 10)
        };
        Config {
            quick,
            apps: env_list("BENCH_APPS", apps),
            users: env_num("BENCH_USERS", users),
            latencies: env_list("BENCH_LATENCY_MS", &[0, 50]),
            reps: env_num("BENCH_REPS", reps),
            reps_large: env_num("BENCH_REPS_LARGE", 1),
            concurrency: env_num("BENCH_CONCURRENCY", 4),
            steady_apps: env_num("BENCH_STEADY_APPS", steady).max(1),
            budget: env_num("BENCH_ONELOGIN_CALLS_PER_HOUR", 10_000_000),
            only: env_list::<String>("BENCH_ONLY", &[]),
        }
    }

    fn runs(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }

    fn reps_for(&self, apps: usize) -> usize {
        if apps >= 1000 { self.reps_large } else { self.reps }.max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Counting calls at the three servers

#[derive(Clone, Debug, Default)]
struct Calls {
    /// (service, operation) → (count, is write)
    ops: BTreeMap<(String, String), (u64, bool)>,
}

impl Calls {
    fn total(&self) -> u64 {
        self.ops.values().map(|(n, _)| n).sum()
    }
    fn writes(&self) -> u64 {
        self.ops.values().filter(|(_, w)| *w).map(|(n, _)| n).sum()
    }
    fn service(&self, service: &str) -> u64 {
        self.ops
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|(_, (n, _))| n)
            .sum()
    }
    fn service_writes(&self, service: &str) -> u64 {
        self.ops
            .iter()
            .filter(|((s, _), (_, w))| s == service && *w)
            .map(|(_, (n, _))| n)
            .sum()
    }
    /// OneLogin calls that spend the operator's budget (API and token; the public SAML
    /// metadata is fetched without it).
    fn budgeted(&self) -> u64 {
        self.ops
            .iter()
            .filter(|((s, op), _)| s == "onelogin" && !op.contains("/saml/metadata"))
            .map(|(_, (n, _))| n)
            .sum()
    }
    fn get(&self, service: &str, op: &str) -> u64 {
        self.ops.get(&(service.into(), op.into())).map(|(n, _)| *n).unwrap_or(0)
    }
}

fn snapshot(w: &World, proxy: &IamProxy) -> Calls {
    let mut ops = BTreeMap::new();
    for (key, n) in w.onelogin.calls().by_route() {
        let write = !key.starts_with("GET ") && key.contains(" /api/2/");
        ops.insert(("onelogin".to_string(), key.clone()), (*n as u64, write));
    }
    for record in w.connect.calls() {
        let e = ops
            .entry(("connect".to_string(), record.operation.to_string()))
            .or_insert((0, record.write));
        e.0 += 1;
    }
    for (op, n) in proxy.counts() {
        let write = iam_proxy::is_write(&op);
        ops.insert(("iam".to_string(), op), (n, write));
    }
    Calls { ops }
}

fn reset(w: &World, proxy: &IamProxy) {
    w.onelogin.reset_calls();
    w.connect.reset_counts();
    proxy.reset();
}

/// Reconciles counted by this process's own metrics (in-process controllers).
fn local_reconciles(controller: &str) -> f64 {
    let text = connect_sso_operator::telemetry::metrics().encode();
    counter(
        &text,
        "connect_sso_reconciles_total",
        &[&format!("controller=\"{controller}\"")],
    )
}

/// Waits until no call reaches any server and no reconcile finishes for `quiet`.
async fn wait_quiet(w: &World, proxy: &IamProxy, quiet: Duration, limit: Duration) {
    let deadline = Instant::now() + limit;
    let sample = || {
        (
            snapshot(w, proxy).total(),
            local_reconciles("connectssoapp") + local_reconciles("connectusermapping"),
        )
    };
    let mut last = sample();
    let mut since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sample();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

fn is_ready_app(app: &ConnectSsoApp) -> bool {
    app.status.as_ref().is_some_and(|s| {
        s.observed_generation == app.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.r#type == "Ready" && c.status == ConditionStatus::True)
    })
}

fn is_ready_mapping(m: &ConnectUserMapping) -> bool {
    m.status.as_ref().is_some_and(|s| {
        s.observed_generation == m.metadata.generation
            && s.conditions
                .iter()
                .any(|c| c.r#type == "Ready" && c.status == ConditionStatus::True)
    })
}

async fn bump<K>(api: &Api<K>, name: &str, value: &str) -> Option<String>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {"annotations": {"bench.connectsso.io/poke": value}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .ok()
        .and_then(|o| o.meta().resource_version.clone())
}

/// Touches the apps' credentials Secret: the app controller watches it and reconciles every app
/// that references it, the same pass a resync makes (and no filter on the apps' own events can
/// hide it). The credentials do not change, so the OneLogin client and its token are reused.
async fn poke_secret(w: &World, value: &str) {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(w.kube.clone(), &w.namespace);
    let patch = json!({"metadata": {"annotations": {"bench.connectsso.io/poke": value}}});
    api.patch(world::SECRET, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("poke the credentials Secret");
}

fn app_name(i: usize) -> String {
    format!("app-{i:04}")
}

fn login(i: usize) -> String {
    format!("agent{i:05}@example.com")
}

/// M active OneLogin users and, for each, an Amazon Connect user of the same name. The users
/// were last changed a day ago, as in a real directory: a user changed within the operator's
/// `updated_since` overlap (a minute) is listed again by every incremental refresh.
fn seed_users(w: &World, users: usize) -> Vec<String> {
    let instance = w.instance_arn.rsplit('/').next().expect("instance id").to_string();
    let day_ago = std::time::SystemTime::now() - Duration::from_secs(86_400);
    (0..users)
        .map(|i| {
            let l = login(i);
            let id = w.onelogin.add_user(world::onelogin::NewUser::with_email(&l));
            w.onelogin.modify_user(id, |u| {
                u.created_at = day_ago;
                u.updated_at = day_ago;
            });
            w.connect.add_user(&instance, world::connect::NewUser::named(&l));
            l
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Results

#[derive(Default)]
struct Results {
    one_app_ready: Option<Calls>,
    one_app_quiet: Option<Calls>,
    one_app_time: Option<Duration>,
    /// External calls made by each reconcile of the new app, in order.
    one_app_passes: Vec<u64>,
    steady: Option<(usize, Calls, usize)>,
    mapping_first: Option<Calls>,
    mapping_steady: Option<Calls>,
    /// (apps, latency ms) → (wall times, OneLogin calls of the first run, all calls per app)
    times: BTreeMap<(usize, u64), (Vec<Duration>, u64, f64)>,
    rss: Option<(usize, usize, u64, u64, u64)>,
    cpu: Option<(usize, Duration, f64, f64)>,
    notes: Vec<String>,
}

fn median(times: &[Duration]) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    t[t.len() / 2]
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

// ---------------------------------------------------------------------------------------------
// A: calls to converge one app, and per no-drift resync (in-process controllers)

async fn bench_calls(cfg: &Config, r: &mut Results) {
    let mut w = World::new("bench-calls").await;
    let proxy = IamProxy::start(&w.moto).await;
    w.iam_endpoint = Some(proxy.endpoint());
    w.settings.concurrency = cfg.concurrency;
    // No timed resyncs during the measurement: passes are triggered explicitly.
    w.settings.resync = Duration::from_secs(3600);
    w.start_operator();

    reset(&w, &proxy);
    let started = Instant::now();
    let before = local_reconciles("connectssoapp");
    w.apply_app(&app_name(0), json!({})).await;
    // Calls per reconcile pass: a snapshot each time a reconcile finishes (polled every 2 ms).
    let mut seen = before;
    let mut at_last = 0;
    let mut ready_at = None;
    let mut quiet_since = Instant::now();
    let mut last_get = Instant::now();
    let apps = w.apps();
    while quiet_since.elapsed() < Duration::from_secs(3) && started.elapsed() < Duration::from_secs(60) {
        let now = local_reconciles("connectssoapp");
        if now != seen {
            seen = now;
            let total = snapshot(&w, &proxy).total();
            r.one_app_passes.push(total - at_last);
            at_last = total;
            quiet_since = Instant::now();
        }
        if ready_at.is_none()
            && last_get.elapsed() >= Duration::from_millis(50)
            && let Ok(app) = {
                last_get = Instant::now();
                apps.get(&app_name(0)).await
            }
            && is_ready_app(&app)
        {
            ready_at = Some(started.elapsed());
            r.one_app_ready = Some(snapshot(&w, &proxy));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    r.one_app_time = ready_at;
    wait_quiet(&w, &proxy, Duration::from_secs(3), Duration::from_secs(60)).await;
    r.one_app_quiet = Some(snapshot(&w, &proxy));
    eprintln!(
        "[calls] one app: {} calls to Ready, {} until quiet",
        r.one_app_ready.as_ref().map_or(0, Calls::total),
        r.one_app_quiet.as_ref().map_or(0, Calls::total)
    );

    // The rest of the steady-state set.
    let n = cfg.steady_apps;
    for i in 1..n {
        w.apply_app(&app_name(i), json!({})).await;
    }
    for i in 1..n {
        w.wait_ready(&app_name(i)).await;
    }
    wait_quiet(&w, &proxy, Duration::from_secs(3), Duration::from_secs(120)).await;

    // A no-drift pass per app, started by touching the Secret all apps reference.
    reset(&w, &proxy);
    let before = local_reconciles("connectssoapp");
    let apps = w.apps();
    let mut versions = BTreeMap::new();
    for i in 0..n {
        if let Ok(app) = apps.get(&app_name(i)).await
            && let Some(rv) = app.metadata.resource_version
        {
            versions.insert(app_name(i), rv);
        }
    }
    poke_secret(&w, "steady").await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while local_reconciles("connectssoapp") < before + n as f64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_quiet(&w, &proxy, Duration::from_secs(3), Duration::from_secs(60)).await;
    let reconciles = (local_reconciles("connectssoapp") - before) as usize;
    let calls = snapshot(&w, &proxy);
    // A status write would change the resourceVersion.
    let mut status_writes = 0;
    for (name, rv) in &versions {
        if let Ok(app) = apps.get(name).await
            && app.metadata.resource_version.as_ref() != Some(rv)
        {
            status_writes += 1;
        }
    }
    if reconciles != n {
        r.notes.push(format!(
            "steady state: {reconciles} reconciles for {n} apps after the Secret poke (the per-app figure divides by {n})"
        ));
    }
    eprintln!(
        "[calls] steady: {} calls, {} writes over {n} apps ({reconciles} reconciles), {status_writes} status writes",
        calls.total(),
        calls.writes()
    );
    r.steady = Some((n, calls, status_writes));
    w.stop_operator();
}

// ---------------------------------------------------------------------------------------------
// B: a mapping of M users, first time and steady state (in-process controllers)

async fn bench_mapping(cfg: &Config, r: &mut Results) {
    let mut w = World::new("bench-map").await;
    let proxy = IamProxy::start(&w.moto).await;
    w.iam_endpoint = Some(proxy.endpoint());
    w.settings.concurrency = cfg.concurrency;
    w.settings.resync = Duration::from_secs(3600);
    // The default directory cache (300 s) is shorter than the default resync (600 s), so every
    // resync refreshes the directory (all of it when the last full listing is older than
    // `membership_verify`, else with `updated_since`); 1 s reproduces that without waiting.
    w.settings.users_cache_ttl = Duration::from_secs(1);
    w.start_operator();
    w.apply_app("agents", json!({})).await;
    w.wait_ready("agents").await;
    let logins = seed_users(&w, cfg.users);
    wait_quiet(&w, &proxy, Duration::from_secs(2), Duration::from_secs(60)).await;

    reset(&w, &proxy);
    let started = Instant::now();
    w.apply_mapping("team", json!({"appRef": {"name": "agents"}, "users": logins}))
        .await;
    w.wait_mapping("team", "Ready", is_ready_mapping).await;
    let took = started.elapsed();
    wait_quiet(&w, &proxy, Duration::from_secs(3), Duration::from_secs(120)).await;
    r.mapping_first = Some(snapshot(&w, &proxy));
    eprintln!(
        "[mapping] first: {:?} calls in {took:.1?}",
        r.mapping_first.as_ref().map(Calls::total)
    );

    tokio::time::sleep(Duration::from_millis(1500)).await;
    reset(&w, &proxy);
    let before = local_reconciles("connectusermapping");
    bump(&w.mappings(), "team", "1").await;
    // If the controller ignores metadata-only changes of mappings, poke the app it watches too.
    let fallback = Instant::now() + Duration::from_secs(10);
    while local_reconciles("connectusermapping") < before + 1.0 && Instant::now() < fallback {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if local_reconciles("connectusermapping") < before + 1.0 {
        bump(&w.apps(), "agents", "1").await;
        r.notes
            .push("mapping steady state: started by poking the app (the mapping poke did not reconcile)".into());
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while local_reconciles("connectusermapping") < before + 1.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_quiet(&w, &proxy, Duration::from_secs(3), Duration::from_secs(120)).await;
    let reconciles = local_reconciles("connectusermapping") - before;
    if reconciles != 1.0 {
        r.notes
            .push(format!("mapping steady state: {reconciles} reconciles for one poke"));
    }
    r.mapping_steady = Some(snapshot(&w, &proxy));
    eprintln!(
        "[mapping] steady: {:?} calls",
        r.mapping_steady.as_ref().map(Calls::total)
    );
    w.stop_operator();
}

// ---------------------------------------------------------------------------------------------
// C: the binary: wall time to Ready, peak RSS, CPU per steady-state reconcile

async fn all_ready(api: &Api<ConnectSsoApp>) -> usize {
    match api.list(&ListParams::default()).await {
        Ok(list) => list.items.iter().filter(|a| is_ready_app(a)).count(),
        Err(_) => 0,
    }
}

async fn bench_binary(cfg: &Config, r: &mut Results) {
    let largest = cfg.apps.iter().copied().max().unwrap_or(1);
    let tmp = tempfile::tempdir().expect("log dir");
    // The operator's logs are kept (and their place printed) when asked, to look into a slow run.
    let (logs, _cleanup) = if std::env::var_os("BENCH_KEEP_LOGS").is_some() {
        let kept = tmp.keep();
        eprintln!("[binary] operator logs in {}", kept.display());
        (kept, None)
    } else {
        (tmp.path().to_path_buf(), Some(tmp))
    };
    for &latency in &cfg.latencies {
        for &n in &cfg.apps {
            for rep in 0..cfg.reps_for(n) {
                let w = World::new(&format!("bench-b{n}")).await;
                let proxy = IamProxy::start(&w.moto).await;
                let delay = Duration::from_millis(latency);
                // The server's default budget (5,000/h) does not refuse calls, but its
                // X-RateLimit-Remaining still counts down to 0, and the operator rightly pauses
                // all OneLogin calls until the reset it announces (up to an hour) when it sees 0.
                // Raise it with the operator's own budget for the time figures.
                w.onelogin.set_rate_limit(world::onelogin::RateLimitConfig {
                    limit: u32::try_from(cfg.budget).unwrap_or(u32::MAX),
                    window: Duration::from_secs(3600),
                    enforce: false,
                });
                w.onelogin.set_latency(delay);
                w.connect.set_latency(delay);
                proxy.set_latency(delay);
                let env = Env {
                    iam_endpoint: &proxy.endpoint(),
                    concurrency: cfg.concurrency,
                    onelogin_calls_per_hour: cfg.budget,
                    // No timed resync inside a timing run (1,000 apps at 50 ms take minutes).
                    resync_seconds: 3600,
                };
                let log = logs.join(format!("operator-{n}-{latency}-{rep}.log"));
                let mut op = Operator::start(&w, &env, &log).await;
                reset(&w, &proxy);

                let started = Instant::now();
                futures::stream::iter(0..n)
                    .map(|i| {
                        let w = &w;
                        async move {
                            w.apply_app(&app_name(i), json!({})).await;
                        }
                    })
                    .buffer_unordered(8)
                    .collect::<Vec<_>>()
                    .await;
                let poll = if n == 1 {
                    Duration::from_millis(50)
                } else if n <= 100 {
                    Duration::from_millis(250)
                } else {
                    Duration::from_secs(1)
                };
                let apps = w.apps();
                let limit = Duration::from_secs(1800);
                let mut ready = 0;
                let mut progress = (0, Instant::now());
                while started.elapsed() < limit {
                    ready = all_ready(&apps).await;
                    if ready == n {
                        break;
                    }
                    if ready != progress.0 {
                        progress = (ready, Instant::now());
                    } else if progress.1.elapsed() > Duration::from_secs(180) {
                        r.notes.push(format!(
                            "{n} apps at {latency} ms: stalled at {ready} Ready (no progress for 180 s); time is when it stalled"
                        ));
                        // What the controllers say they did, to tell "never reconciled" from
                        // "reconciled and failing" (benches/RESULTS.md, the open stall).
                        let metrics = op.metrics().await;
                        let own: Vec<&str> = metrics
                            .lines()
                            .filter(|l| l.starts_with("connect_sso_reconcile") && !l.contains("_bucket"))
                            .collect();
                        eprintln!(
                            "[binary] stalled; the operator's reconcile metrics:\n{}",
                            own.join("\n")
                        );
                        break;
                    }
                    if let Some(status) = op.process.exited() {
                        panic!("the operator exited ({status}):\n{}", op.process.log_tail(40));
                    }
                    tokio::time::sleep(poll).await;
                }
                let took = started.elapsed();
                if ready < n {
                    r.notes
                        .push(format!("{n} apps at {latency} ms: only {ready} Ready after {limit:?}"));
                }
                // Let the re-check passes that the status writes trigger finish, then count.
                wait_quiet(&w, &proxy, Duration::from_secs(2), Duration::from_secs(300)).await;
                let calls = snapshot(&w, &proxy);
                eprintln!(
                    "[binary] {n} apps at {latency} ms (run {}): {took:.2?}, {} calls ({} OneLogin)",
                    rep + 1,
                    calls.total(),
                    calls.service("onelogin")
                );
                let entry = r
                    .times
                    .entry((n, latency))
                    .or_insert_with(|| (Vec::new(), calls.budgeted(), calls.total() as f64 / n as f64));
                entry.0.push(took);

                if n == largest && latency == cfg.latencies[0] && rep == 0 {
                    memory_and_cpu(cfg, &w, &proxy, &op, n, r).await;
                }
                op.kill();
            }
        }
    }
}

async fn memory_and_cpu(cfg: &Config, w: &World, proxy: &IamProxy, op: &Operator, n: usize, r: &mut Results) {
    // Peak RSS with N apps and an M-user mapping of one of them (and before the mapping, to
    // tell the two apart).
    let apps_only = op.peak_rss_kib();
    let logins = seed_users(w, cfg.users);
    w.apply_mapping("team", json!({"appRef": {"name": app_name(0)}, "users": logins}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let m = w.mappings().get_opt("team").await.ok().flatten();
        if m.as_ref().is_some_and(is_ready_mapping) {
            break;
        }
        if Instant::now() > deadline {
            r.notes.push("RSS: the mapping was not Ready within 15 min".into());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_quiet(w, proxy, Duration::from_secs(3), Duration::from_secs(300)).await;
    r.rss = Some((n, cfg.users, op.peak_rss_kib(), op.rss_kib(), apps_only));
    eprintln!(
        "[binary] peak RSS {} KiB with {n} apps and {} users",
        op.peak_rss_kib(),
        cfg.users
    );

    // CPU per no-drift reconcile: touching the Secret reconciles every app once, as a resync
    // would (the mapped app's pass changes nothing, so its mapping is not reconciled).
    let metric = |text: &str| counter(text, "connect_sso_reconciles_total", &["controller=\"connectssoapp\""]);
    reset(w, proxy);
    let before = metric(&op.metrics().await);
    let cpu_before = op.cpu_time();
    let poked: Vec<usize> = (0..n).collect();
    poke_secret(w, "cpu").await;
    let deadline = Instant::now() + Duration::from_secs(900);
    while metric(&op.metrics().await) < before + poked.len() as f64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    wait_quiet(w, proxy, Duration::from_secs(2), Duration::from_secs(120)).await;
    let reconciles = metric(&op.metrics().await) - before;
    let cpu = op.cpu_time().saturating_sub(cpu_before);
    let calls = snapshot(w, proxy);
    r.cpu = Some((n, cpu, reconciles, calls.total() as f64 / reconciles.max(1.0)));
    eprintln!("[binary] {reconciles} steady reconciles took {cpu:?} CPU");
}

// ---------------------------------------------------------------------------------------------
// The minimum a new app needs, and the table

/// (service, operation, minimum, why). Writes are unavoidable; the reads are inputs nothing else
/// provides. Everything else the operator does is a read that proves something.
const MINIMUM: &[(&str, &str, u64, &str)] = &[
    (
        "connect",
        "DescribeInstance",
        1,
        "SAML check and access URL decide the relay state",
    ),
    (
        "onelogin",
        "POST /auth/oauth2/v2/token",
        1,
        "a token (once per process and credentials)",
    ),
    (
        "onelogin",
        "POST /api/2/apps",
        1,
        "create the app with its full configuration",
    ),
    (
        "onelogin",
        "GET /saml/metadata/{uuid}",
        1,
        "the IdP metadata IAM must trust",
    ),
    ("onelogin", "POST /api/2/roles", 1, "the role that grants the app"),
    ("onelogin", "PUT /api/2/roles/{id}/apps", 1, "give the role the app"),
    ("iam", "CreateSAMLProvider", 1, "provider from the metadata"),
    ("iam", "CreatePolicy", 1, "GetFederationToken policy"),
    ("iam", "CreateRole", 1, "role trusting the provider"),
    ("iam", "AttachRolePolicy", 1, "policy on the role"),
];

/// Reads that prove success or make a crash safe: the OneLogin app and role looked up by name
/// before creating (a crash between create and status write must not make a second one), the
/// IAM provider, policy and role read before creating, and one more search for apps of the
/// app's name right after creating it, which proves no other resource created one at the same
/// moment (`tests/conflicts.rs`). A create answer is itself the proof that the object exists as
/// sent; a role created in the pass has no attachments, so they are not listed.
const PROVING_READS: u64 = 6;

fn minimum_total() -> u64 {
    MINIMUM.iter().map(|m| m.2).sum()
}

fn render(cfg: &Config, r: &Results) -> String {
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(o, "## connect-sso-operator scale benchmark\n");
    let _ = writeln!(
        o,
        "settings: apps {:?}, users {}, latency {:?} ms, reps {} (1,000+ apps: {}), CONNECT_SSO_CONCURRENCY={}, steady-state set {} apps, quick={}\n",
        cfg.apps, cfg.users, cfg.latencies, cfg.reps, cfg.reps_large, cfg.concurrency, cfg.steady_apps, cfg.quick
    );

    // 1. one app, by service and operation
    if let (Some(ready), Some(quiet)) = (&r.one_app_ready, &r.one_app_quiet) {
        let _ = writeln!(o, "### Calls to converge one new app (in-process controllers, 0 ms)\n");
        let _ = writeln!(
            o,
            "| service | operation | write | to Ready | until quiet | minimum | ratio (until quiet / minimum) |"
        );
        let _ = writeln!(o, "|---|---|---|---:|---:|---:|---:|");
        let mut keys: Vec<(String, String)> = quiet.ops.keys().cloned().collect();
        for (s, op, _, _) in MINIMUM {
            let k = (s.to_string(), op.to_string());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        keys.sort();
        for (s, op) in &keys {
            let min = MINIMUM.iter().find(|m| m.0 == s && m.1 == op).map(|m| m.2).unwrap_or(0);
            let q = quiet.get(s, op);
            let ratio = if min > 0 {
                format!("{:.1}", q as f64 / min as f64)
            } else {
                "-".into()
            };
            let write = quiet.ops.get(&(s.clone(), op.clone())).map(|x| x.1).unwrap_or(true);
            let _ = writeln!(
                o,
                "| {s} | {op} | {} | {} | {q} | {min} | {ratio} |",
                if write { "w" } else { "r" },
                ready.get(s, op)
            );
        }
        for s in ["onelogin", "connect", "iam"] {
            let min: u64 = MINIMUM.iter().filter(|m| m.0 == s).map(|m| m.2).sum();
            let _ = writeln!(
                o,
                "| **{s}** | total | | {} | {} | {min} | {:.1} |",
                ready.service(s),
                quiet.service(s),
                quiet.service(s) as f64 / min as f64
            );
        }
        let min = minimum_total();
        let _ = writeln!(
            o,
            "| **all** | total | | {} | {} | {min} | {:.1} |\n",
            ready.total(),
            quiet.total(),
            quiet.total() as f64 / min as f64
        );
        if let Some(t) = r.one_app_time {
            let _ = writeln!(o, "(in-process apply → Ready: {t:.2?})\n");
        }
        let _ = writeln!(
            o,
            "calls per reconcile pass of the new app, in order: {:?} (sampled as each pass ends, so a few calls may land in the neighbouring pass; the first pass only adds the finalizer, the last is the re-check its own status write triggers)\n",
            r.one_app_passes
        );
    }

    // 2. table of figures and targets
    let _ = writeln!(o, "### Figures and targets\n");
    let _ = writeln!(o, "| figure | value | target | result |");
    let _ = writeln!(o, "|---|---|---|---|");
    if let (Some(ready), Some(quiet)) = (&r.one_app_ready, &r.one_app_quiet) {
        let min = minimum_total();
        let allowed = min + PROVING_READS;
        let _ = writeln!(
            o,
            "| calls to converge one new app | {} to Ready, {} until quiet (incl. the re-check pass its own status write triggers); {} writes | ≤ minimum {min} + {PROVING_READS} proving reads = {allowed} | {} |",
            ready.total(),
            quiet.total(),
            quiet.writes(),
            verdict(quiet.total() <= allowed)
        );
        let _ = writeln!(
            o,
            "| …divided by the minimum | {:.2} to Ready, {:.2} until quiet | ≤ {:.2} | {} |",
            ready.total() as f64 / min as f64,
            quiet.total() as f64 / min as f64,
            allowed as f64 / min as f64,
            verdict(quiet.total() <= allowed)
        );
    }
    if let Some((n, calls, status_writes)) = &r.steady {
        let per = |x: u64| x as f64 / *n as f64;
        let by: Vec<String> = ["onelogin", "connect", "iam"]
            .iter()
            .map(|s| format!("{s} {:.1}", per(calls.service(s))))
            .collect();
        let _ = writeln!(
            o,
            "| calls per no-drift resync per app ({n} apps) | {:.1} ({}); writes {} (status writes {status_writes}) | 0 writes; reads ≤ {} per app | {} |",
            per(calls.total()),
            by.join(", "),
            calls.writes(),
            STEADY_READS_MAX,
            verdict(calls.writes() == 0 && *status_writes == 0 && per(calls.total()) <= STEADY_READS_MAX as f64)
        );
        let hourly = per(calls.budgeted()) * 3600.0 / DEFAULT_RESYNC_S;
        let _ = writeln!(
            o,
            "| budgeted OneLogin calls per app per hour of resyncs (default resync 600 s) | {:.1} per resync → {hourly:.0}/h → the default 3,000/h budget sustains {:.0} apps; 1,000 apps need {:.0}/h | (information) | - |",
            per(calls.budgeted()),
            DEFAULT_BUDGET_PER_HOUR / hourly,
            hourly * 1000.0
        );
    }
    if let (Some(first), Some(steady)) = (&r.mapping_first, &r.mapping_steady) {
        let m = cfg.users as u64;
        let scale = |limit: u64| (limit * m).div_ceil(10_000).max(1);
        let (first_max, steady_max) = (scale(MAPPING_FIRST_MAX), scale(MAPPING_STEADY_MAX));
        let _ = writeln!(
            o,
            "| mapping of {m} users, first time | OneLogin {} ({} writes), Connect {} | naive: OneLogin {} (a lookup and an add per user), Connect {}; target ≤ {first_max} OneLogin (a few hundred per 10,000) | {} |",
            first.service("onelogin"),
            first.service_writes("onelogin"),
            first.service("connect"),
            2 * m,
            m,
            verdict(first.service("onelogin") <= first_max)
        );
        let _ = writeln!(
            o,
            "| mapping of {m} users, steady state | OneLogin {} ({} writes), Connect {} | naive: OneLogin {m}, Connect {m}; target ≤ {steady_max} OneLogin, 0 writes (well under the first time) | {} |",
            steady.service("onelogin"),
            steady.service_writes("onelogin"),
            steady.service("connect"),
            verdict(steady.service("onelogin") <= steady_max && steady.writes() == 0)
        );
        let ops = |c: &Calls| {
            c.ops
                .iter()
                .map(|((s, op), (n, _))| format!("{s} `{op}` {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(o, "| …first time by operation | {} | | |", ops(first));
        let _ = writeln!(o, "| …steady state by operation | {} | | |", ops(steady));
    }
    for ((n, latency), (times, onelogin, per_app)) in &r.times {
        let list: Vec<String> = times.iter().map(|t| format!("{:.2}", t.as_secs_f64())).collect();
        let _ = writeln!(
            o,
            "| apply → Ready, {n} apps, {latency} ms per call (binary, concurrency {}) | median {:.2} s of [{}] s; {per_app:.1} calls per app | (see below) | - |",
            cfg.concurrency,
            median(times).as_secs_f64(),
            list.join(", ")
        );
        if *n >= 1000 {
            let hours = ((*onelogin as f64) - DEFAULT_BUDGET_BURST).max(0.0) / DEFAULT_BUDGET_PER_HOUR;
            let _ = writeln!(
                o,
                "| …with the default OneLogin budget (3,000/h, burst 50) | {onelogin} budgeted OneLogin calls → ≈ {hours:.2} h instead (the run set {}/h) | (information) | - |",
                cfg.budget
            );
        }
    }
    // The concurrency prediction: 0 ms time plus ceil(N/C) sequential reconciles' worth of latency.
    let latency = cfg.latencies.iter().copied().filter(|l| *l > 0).max();
    let mid = cfg.apps.iter().copied().filter(|n| *n > 1).min();
    if let (Some(latency), Some(n)) = (latency, mid)
        && let (Some((base, _, _)), Some((slow, _, per_app))) = (r.times.get(&(n, 0)), r.times.get(&(n, latency)))
    {
        let waves = n.div_ceil(cfg.concurrency as usize) as f64;
        let predicted = median(base).as_secs_f64() + waves * per_app * latency as f64 / 1000.0;
        let measured = median(slow).as_secs_f64();
        let _ = writeln!(
            o,
            "| {n} apps at {latency} ms vs the concurrency prediction | {measured:.1} s measured; predicted {predicted:.1} s = {:.1} s (0 ms) + ⌈{n}/{}⌉ × {per_app:.1} calls × {latency} ms | ≤ 1.25 × predicted | {} |",
            median(base).as_secs_f64(),
            cfg.concurrency,
            verdict(measured <= 1.25 * predicted)
        );
    }
    if let Some((n, users, peak, now, apps_only)) = r.rss {
        let _ = writeln!(
            o,
            "| peak RSS of the operator, {n} apps + a {users}-user mapping | VmHWM {:.1} MiB ({:.1} MiB after the {n} apps, before the mapping; VmRSS at the end {:.1} MiB) | < 64 MiB | {} |",
            peak as f64 / 1024.0,
            apps_only as f64 / 1024.0,
            now as f64 / 1024.0,
            verdict(peak < 64 * 1024)
        );
    }
    if let Some((n, cpu, reconciles, calls)) = r.cpu {
        let per = cpu.as_secs_f64() * 1000.0 / reconciles.max(1.0);
        let _ = writeln!(
            o,
            "| CPU time per steady-state reconcile ({n} apps) | {per:.2} ms ({:.2} s utime+stime over {reconciles} reconciles; {calls:.1} calls each) | (information) | - |",
            cpu.as_secs_f64()
        );
    }
    if !r.notes.is_empty() {
        let _ = writeln!(o, "\nnotes:");
        for n in &r.notes {
            let _ = writeln!(o, "- {n}");
        }
    }
    let _ = writeln!(o, "\nminimum calls for one new app ({} in all):", minimum_total());
    for (s, op, n, why) in MINIMUM {
        let _ = writeln!(o, "- {s} `{op}` × {n}: {why}");
    }
    let _ = writeln!(
        o,
        "- plus {PROVING_READS} proving reads allowed: find the OneLogin app and role by name, GetSAMLProvider, GetPolicy, GetRole, and the search for a same-named app created at the same moment"
    );
    out
}

/// Reads allowed per app in a no-drift resync: one per external object (instance, OneLogin app,
/// metadata, role and its apps; provider, policy and its document, role and its attachments).
const STEADY_READS_MAX: u64 = 10;
/// "A few hundred OneLogin calls at most" for a first 10,000-user mapping (scaled to M users).
const MAPPING_FIRST_MAX: u64 = 400;
/// "Steady state well under" that: a quarter.
const MAPPING_STEADY_MAX: u64 = 100;

async fn run() {
    let cfg = Config::from_env();
    let started = Instant::now();
    let mut results = Results::default();
    // Start the shared apiserver and moto before timing anything.
    world::envtest::shared().await;
    let _ = world::moto::MotoServer::shared();
    eprintln!("[setup] envtest and moto up after {:.1?}", started.elapsed());
    if cfg.runs("calls") {
        bench_calls(&cfg, &mut results).await;
        eprintln!("[calls] done at {:.0?}", started.elapsed());
    }
    if cfg.runs("mapping") {
        bench_mapping(&cfg, &mut results).await;
        eprintln!("[mapping] done at {:.0?}", started.elapsed());
    }
    if cfg.runs("binary") {
        bench_binary(&cfg, &mut results).await;
        eprintln!("[binary] done at {:.0?}", started.elapsed());
    }
    print!("{}", render(&cfg, &results));
    println!("\ntotal bench time: {:.0?}", started.elapsed());
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

/// Without the `[[bench]] harness = false` entry Cargo builds this file with libtest; this keeps
/// `cargo bench --bench scale -- --nocapture` working then.
#[cfg(test)]
#[test]
fn scale() {
    main();
}
