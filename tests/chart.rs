//! The Helm chart (`charts/connect-sso-operator`) and the plain manifests rendered from it
//! (`deploy/`), checked with a real Helm binary built by `tests/tools/install-helm.sh`.
//!
//! `UPDATE_CRDS=1 cargo test --test chart` rewrites the chart's CRD templates from `crds/`;
//! `deploy/render.sh` rewrites `deploy/connect-sso-operator.yaml`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use tools::{CHART, helm, helm_template, root, run_helm};

#[path = "support/tools.rs"]
mod tools;

const RELEASE: &str = "connect-sso-operator";
const NAMESPACE: &str = "connect-sso-system";
const KEEP_ANNOTATION: &str = "helm.sh/resource-policy";

fn chart_dir() -> PathBuf {
    root().join(CHART)
}

/// `helm template` of the chart with extra arguments (`--set …`, `-f …`).
fn template(extra: &[&str]) -> Result<String, String> {
    helm_template(RELEASE, NAMESPACE, extra)
}

fn parse(yaml: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).unwrap_or_else(|e| panic!("rendered YAML: {e}\n{yaml}"));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn render(extra: &[&str]) -> Vec<Value> {
    parse(&template(extra).unwrap_or_else(|e| panic!("helm template {extra:?} failed:\n{e}")))
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or("")
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or("")
}

fn namespace(doc: &Value) -> &str {
    doc["metadata"]["namespace"].as_str().unwrap_or("")
}

fn of_kind<'a>(docs: &'a [Value], wanted: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == wanted).collect()
}

fn one<'a>(docs: &'a [Value], wanted: &str) -> &'a Value {
    let found = of_kind(docs, wanted);
    assert_eq!(found.len(), 1, "expected one {wanted}, found {}", found.len());
    found[0]
}

fn kinds(docs: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = docs.iter().map(|d| format!("{}/{}", kind(d), name(d))).collect();
    kinds.sort();
    kinds
}

fn container(docs: &[Value]) -> &Value {
    let containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn env_of(docs: &[Value]) -> BTreeMap<String, Value> {
    container(docs)["env"]
        .as_array()
        .expect("env")
        .iter()
        .map(|e| {
            let value = e.get("value").cloned().unwrap_or_else(|| e["valueFrom"].clone());
            (e["name"].as_str().expect("env name").to_string(), value)
        })
        .collect()
}

/// The operator's own rules: ClusterRole or Roles named after the release (not the `-view`,
/// `-edit` or `-leader-election` ones).
fn operator_roles(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| matches!(kind(d), "ClusterRole" | "Role") && name(d) == RELEASE)
        .collect()
}

/// Rules as (apiGroup, resource) → sorted verbs, so that the order of rules does not matter.
fn rule_table(role: &Value) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut table = BTreeMap::new();
    for rule in role["rules"].as_array().expect("rules") {
        let strings = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .unwrap_or_else(|| panic!("rule without {key}: {rule}"))
                .iter()
                .map(|v| v.as_str().expect("string").to_string())
                .collect()
        };
        for group in strings("apiGroups") {
            for resource in strings("resources") {
                let verbs: &mut BTreeSet<String> = table.entry((group.clone(), resource)).or_default();
                verbs.extend(strings("verbs"));
            }
        }
    }
    table
}

fn expected_operator_rules() -> BTreeMap<(String, String), BTreeSet<String>> {
    let rows: &[(&str, &str, &[&str])] = &[
        ("connectsso.io", "connectssoapps", &["get", "list", "watch", "patch"]),
        (
            "connectsso.io",
            "connectusermappings",
            &["get", "list", "watch", "patch"],
        ),
        ("connectsso.io", "connectssoapps/status", &["get", "patch"]),
        ("connectsso.io", "connectusermappings/status", &["get", "patch"]),
        ("connectsso.io", "connectssoapps/finalizers", &["update"]),
        ("connectsso.io", "connectusermappings/finalizers", &["update"]),
        ("", "secrets", &["get", "list", "watch"]),
        ("events.k8s.io", "events", &["create", "patch"]),
    ];
    rows.iter()
        .map(|(g, r, v)| {
            (
                (g.to_string(), r.to_string()),
                v.iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect()
}

/// Value combinations beyond the defaults; every one must lint, render and keep the pods restricted.
const VARIANTS: &[(&str, &[&str])] = &[
    (
        "leader election, 3 replicas",
        &["--set", "leaderElection.enabled=true", "--set", "replicas=3"],
    ),
    ("leader election, 1 replica", &["--set", "leaderElection.enabled=true"]),
    ("watch namespaces a and b", &["--set", "watchNamespaces={a,b}"]),
    ("no CRDs", &["--set", "crds.install=false"]),
    ("CRDs not kept", &["--set", "crds.keep=false"]),
    (
        "ServiceMonitor and NetworkPolicy",
        &[
            "--set",
            "serviceMonitor.enabled=true",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "networkPolicy.apiServer.cidrs={172.20.0.10/32}",
            "--set",
            "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
        ],
    ),
    (
        "IRSA, region, existing pull secret, text logs",
        &[
            "--set",
            "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/connect-sso",
            "--set",
            "aws.region=eu-west-2",
            "--set",
            "imagePullSecrets[0].name=regcred",
            "--set",
            "log.format=text",
            "--set",
            "log.level=debug",
            "--set",
            "deletionPolicy=Retain",
        ],
    ),
    (
        "no RBAC, existing ServiceAccount",
        &[
            "--set",
            "rbac.create=false",
            "--set",
            "serviceAccount.create=false",
            "--set",
            "serviceAccount.name=mine",
        ],
    ),
];

#[test]
fn lint_passes_for_default_and_other_values() {
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    run_helm(&["lint", "--strict", chart]).unwrap_or_else(|e| panic!("helm lint (defaults):\n{e}"));
    for (what, args) in VARIANTS {
        let mut lint = vec!["lint", "--strict", chart];
        lint.extend_from_slice(args);
        run_helm(&lint).unwrap_or_else(|e| panic!("helm lint ({what}):\n{e}"));
        template(args).unwrap_or_else(|e| panic!("helm template ({what}):\n{e}"));
    }
}

#[test]
fn default_render_installs_one_replica_watching_all_namespaces() {
    let docs = render(&[]);
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole/connect-sso-operator",
            "ClusterRole/connect-sso-operator-edit",
            "ClusterRole/connect-sso-operator-view",
            "ClusterRoleBinding/connect-sso-operator",
            "CustomResourceDefinition/connectssoapps.connectsso.io",
            "CustomResourceDefinition/connectusermappings.connectsso.io",
            "Deployment/connect-sso-operator",
            "Service/connect-sso-operator-metrics",
            "ServiceAccount/connect-sso-operator",
        ]
    );
    for doc in &docs {
        let cluster_scoped = matches!(
            kind(doc),
            "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition"
        );
        assert_eq!(
            namespace(doc),
            if cluster_scoped { "" } else { NAMESPACE },
            "{}",
            name(doc)
        );
    }

    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"], json!({"type": "Recreate"}));
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], RELEASE);
    let c = container(&docs);
    assert_eq!(c["args"], json!(["run"]));
    assert_eq!(c["image"], "ghcr.io/connect-sso/connect-sso-operator:0.1.0");
    assert_eq!(
        c["ports"],
        json!([{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "metrics"})
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "metrics"})
    );
    assert!(c["resources"]["requests"]["memory"].is_string());

    let env = env_of(&docs);
    let expected = json!({
        "CONNECT_SSO_RESYNC_SECONDS": "600",
        "CONNECT_SSO_CONCURRENCY": "4",
        "CONNECT_SSO_ONELOGIN_CALLS_PER_HOUR": "3000",
        "CONNECT_SSO_LOG_FORMAT": "json",
        "RUST_LOG": "info",
        "CONNECT_SSO_WATCH_NAMESPACES": "",
        "CONNECT_SSO_LEADER_ELECTION": "false",
        "CONNECT_SSO_METRICS_ADDR": "0.0.0.0:8080",
        "CONNECT_SSO_DEFAULT_DELETION_POLICY": "Delete",
        "POD_NAME": {"fieldRef": {"fieldPath": "metadata.name"}},
        "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    });
    assert_eq!(
        serde_json::to_value(&env).unwrap(),
        expected,
        "no AWS_REGION unless aws.region is set"
    );

    let service = one(&docs, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );

    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], RELEASE);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}])
    );
    for crd in of_kind(&docs, "CustomResourceDefinition") {
        assert_eq!(crd["metadata"]["annotations"][KEEP_ANNOTATION], "keep");
    }
}

#[test]
fn values_reach_the_deployment() {
    let docs = render(VARIANTS[6].1);
    let env = env_of(&docs);
    assert_eq!(env["AWS_REGION"], "eu-west-2");
    assert_eq!(env["CONNECT_SSO_LOG_FORMAT"], "text");
    assert_eq!(env["RUST_LOG"], "debug");
    assert_eq!(env["CONNECT_SSO_DEFAULT_DELETION_POLICY"], "Retain");
    let pod = &one(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));
    assert_eq!(
        one(&docs, "ServiceAccount")["metadata"]["annotations"],
        json!({"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/connect-sso"})
    );

    let docs = render(&[
        "--set",
        "image.tag=1.2.3",
        "--set",
        "reconcile.resyncSeconds=3600",
        "--set",
        "oneLogin.callsPerHour=1500000",
    ]);
    assert_eq!(
        container(&docs)["image"],
        "ghcr.io/connect-sso/connect-sso-operator:1.2.3"
    );
    assert_eq!(env_of(&docs)["CONNECT_SSO_RESYNC_SECONDS"], "3600");
    assert_eq!(
        env_of(&docs)["CONNECT_SSO_ONELOGIN_CALLS_PER_HOUR"],
        "1500000",
        "large numbers stay integers"
    );
}

#[test]
fn leader_election_with_three_replicas_rolls_and_has_a_disruption_budget() {
    let docs = render(VARIANTS[0].1);
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(env_of(&docs)["CONNECT_SSO_LEADER_ELECTION"], "true");

    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(pdb["spec"]["selector"], deployment["spec"]["selector"]);

    let lease_role = docs
        .iter()
        .find(|d| kind(d) == "Role" && name(d) == "connect-sso-operator-leader-election")
        .expect("lease Role");
    assert_eq!(namespace(lease_role), NAMESPACE);
    let verbs: BTreeSet<String> = ["get", "create", "update", "patch", "watch"].map(String::from).into();
    assert_eq!(
        rule_table(lease_role),
        BTreeMap::from([(("coordination.k8s.io".to_string(), "leases".to_string()), verbs)])
    );
    let binding = docs
        .iter()
        .find(|d| kind(d) == "RoleBinding" && name(d) == "connect-sso-operator-leader-election")
        .expect("lease RoleBinding");
    assert_eq!(binding["roleRef"]["name"], "connect-sso-operator-leader-election");
    assert_eq!(namespace(binding), NAMESPACE);
}

#[test]
fn leader_election_with_one_replica_has_no_disruption_budget() {
    let docs = render(VARIANTS[1].1);
    assert!(
        of_kind(&docs, "PodDisruptionBudget").is_empty(),
        "a budget for one pod blocks node drains"
    );
    assert_eq!(one(&docs, "Deployment")["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(of_kind(&docs, "Role").len(), 1, "the lease Role");
}

#[test]
fn without_leader_election_there_is_no_lease_role_and_one_replica_only() {
    let docs = render(&[]);
    assert!(of_kind(&docs, "Role").is_empty());
    assert!(of_kind(&docs, "PodDisruptionBudget").is_empty());
    let err = template(&["--set", "replicas=2"]).expect_err("two writers must be refused");
    assert!(err.contains("leaderElection.enabled"), "{err}");
}

#[test]
fn watch_namespaces_get_roles_and_no_cluster_wide_grants() {
    let docs = render(VARIANTS[2].1);
    assert_eq!(env_of(&docs)["CONNECT_SSO_WATCH_NAMESPACES"], "a,b");
    assert!(
        of_kind(&docs, "ClusterRoleBinding").is_empty(),
        "no cluster-wide binding"
    );
    let cluster_roles: Vec<&str> = of_kind(&docs, "ClusterRole").into_iter().map(name).collect();
    assert_eq!(
        cluster_roles,
        ["connect-sso-operator-view", "connect-sso-operator-edit"],
        "only the aggregated user roles"
    );

    let roles = operator_roles(&docs);
    let where_: Vec<(&str, &str)> = roles.iter().map(|r| (kind(r), namespace(r))).collect();
    assert_eq!(where_, [("Role", "a"), ("Role", "b")]);
    for role in roles {
        assert_eq!(
            rule_table(role),
            expected_operator_rules(),
            "Role in {}",
            namespace(role)
        );
    }
    let bindings: Vec<&Value> = of_kind(&docs, "RoleBinding");
    let where_: Vec<&str> = bindings.iter().map(|b| namespace(b)).collect();
    assert_eq!(where_, ["a", "b"]);
    for binding in bindings {
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RELEASE})
        );
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}])
        );
    }
}

#[test]
fn operator_rules_are_exactly_what_it_needs() {
    let docs = render(&[]);
    let roles = operator_roles(&docs);
    assert_eq!(roles.len(), 1);
    assert_eq!(kind(roles[0]), "ClusterRole");
    assert_eq!(rule_table(roles[0]), expected_operator_rules());

    // No wildcards anywhere, in any render.
    let mut all = docs.clone();
    for (_, args) in VARIANTS {
        all.extend(render(args));
    }
    for role in all.iter().filter(|d| matches!(kind(d), "ClusterRole" | "Role")) {
        for ((group, resource), verbs) in rule_table(role) {
            assert!(
                group != "*" && resource != "*" && !verbs.contains("*"),
                "wildcard in {}",
                name(role)
            );
        }
    }
}

#[test]
fn user_roles_aggregate_into_view_edit_and_admin() {
    let docs = render(&[]);
    let find = |n: &str| docs.iter().find(|d| kind(d) == "ClusterRole" && name(d) == n).expect(n);
    let view = find("connect-sso-operator-view");
    let edit = find("connect-sso-operator-edit");
    let label = |role: &Value, l: &str| role["metadata"]["labels"][format!("rbac.authorization.k8s.io/{l}")].clone();
    assert_eq!(label(view, "aggregate-to-view"), "true");
    assert_eq!(label(edit, "aggregate-to-edit"), "true");
    assert_eq!(label(edit, "aggregate-to-admin"), "true");
    assert!(label(view, "aggregate-to-edit").is_null());
    let verbs = |role: &Value| -> Vec<BTreeSet<String>> { rule_table(role).into_values().collect() };
    let read: BTreeSet<String> = ["get", "list", "watch"].map(String::from).into();
    let write: BTreeSet<String> = ["get", "list", "watch", "create", "update", "patch", "delete"]
        .map(String::from)
        .into();
    assert_eq!(verbs(view), [read.clone(), read]);
    assert_eq!(verbs(edit), [write.clone(), write]);
    let resources: Vec<(String, String)> = rule_table(edit).into_keys().collect();
    assert_eq!(
        resources,
        [
            ("connectsso.io".to_string(), "connectssoapps".to_string()),
            ("connectsso.io".to_string(), "connectusermappings".to_string())
        ],
        "no status or finalizers for users"
    );

    let docs = render(&["--set", "rbac.aggregateToUserRoles=false"]);
    assert_eq!(of_kind(&docs, "ClusterRole").len(), 1);
}

#[test]
fn crds_install_false_renders_no_crds_and_keep_false_no_annotation() {
    let docs = render(VARIANTS[3].1);
    assert!(of_kind(&docs, "CustomResourceDefinition").is_empty());
    assert!(!docs.is_empty(), "the rest is still rendered");

    let docs = render(VARIANTS[4].1);
    let crds = of_kind(&docs, "CustomResourceDefinition");
    assert_eq!(crds.len(), 2);
    for crd in crds {
        assert!(crd["metadata"].get("annotations").is_none(), "{}", name(crd));
    }
}

#[test]
fn service_monitor_and_network_policy_when_enabled() {
    let docs = render(&[]);
    assert!(of_kind(&docs, "ServiceMonitor").is_empty());
    assert!(of_kind(&docs, "NetworkPolicy").is_empty());

    let docs = render(VARIANTS[5].1);
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    let service_labels = &one(&docs, "Service")["metadata"]["labels"];
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
    {
        assert_eq!(
            &service_labels[key], value,
            "the ServiceMonitor selects the metrics Service"
        );
    }
    assert_eq!(monitor["spec"]["namespaceSelector"], json!({"matchNames": [NAMESPACE]}));

    let policy = one(&docs, "NetworkPolicy");
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{
            "ports": [{"port": "metrics", "protocol": "TCP"}],
            "from": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
        }])
    );
    let egress = policy["spec"]["egress"].as_array().expect("egress");
    assert_eq!(egress.len(), 3);
    assert_eq!(
        egress[0],
        json!({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]})
    );
    assert_eq!(egress[1]["to"], json!([{"ipBlock": {"cidr": "172.20.0.10/32"}}]));
    assert_eq!(
        egress[1]["ports"],
        json!([{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}])
    );
    assert_eq!(
        egress[2],
        json!({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 443, "protocol": "TCP"}]})
    );

    let err = template(&["--set", "networkPolicy.enabled=true"]).expect_err("API server CIDRs are required");
    assert!(err.contains("networkPolicy.apiServer.cidrs"), "{err}");
}

/// Values that must fail with the schema's message naming the field.
#[test]
fn schema_rejects_bad_values() {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "unknown top-level key",
            &["--set", "replica=2"],
            "'replica' not allowed",
        ),
        (
            "unknown nested key",
            &["--set", "image.tags=1.0.0"],
            "'tags' not allowed",
        ),
        (
            "unknown key under crds",
            &["--set", "crds.enabled=true"],
            "'enabled' not allowed",
        ),
        ("replicas as a string", &["--set-string", "replicas=2"], "/replicas"),
        ("replicas not a number", &["--set", "replicas=two"], "/replicas"),
        (
            "boolean as a string",
            &["--set", "leaderElection.enabled=yes"],
            "/leaderElection/enabled",
        ),
        (
            "list as a string",
            &["--set", "watchNamespaces=team-a"],
            "/watchNamespaces",
        ),
        (
            "bad namespace name",
            &["--set", "watchNamespaces={Team_A}"],
            "/watchNamespaces/0",
        ),
        ("bad log level", &["--set", "log.level=verbose"], "/log/level"),
        ("bad log format", &["--set", "log.format=logfmt"], "/log/format"),
        (
            "bad deletion policy",
            &["--set", "deletionPolicy=delete"],
            "/deletionPolicy",
        ),
        (
            "bad pull policy",
            &["--set", "image.pullPolicy=Sometimes"],
            "/image/pullPolicy",
        ),
        ("negative replicas", &["--set", "replicas=-1"], "/replicas"),
        ("privileged port", &["--set", "metrics.port=80"], "/metrics/port"),
        (
            "bad CIDR",
            &["--set", "networkPolicy.httpsEgressCIDRs={everywhere}"],
            "/networkPolicy/httpsEgressCIDRs/0",
        ),
        (
            "annotation not a string",
            &["--set", "serviceAccount.annotations.a=1"],
            "/serviceAccount/annotations/a",
        ),
        ("bad region", &["--set", "aws.region=Europe"], "/aws/region"),
    ];
    for (what, args, needle) in cases {
        let err = template(args).expect_err(what);
        assert!(err.contains("schema"), "{what}: not a schema error:\n{err}");
        assert!(err.contains(needle), "{what}: expected {needle:?} in:\n{err}");
    }

    // The same through a values file, as most people pass values.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, "replicas: \"1\"\nserviceAccount:\n  create: true\n  nmae: x\n").unwrap();
    let err = template(&["-f", file.to_str().unwrap()]).expect_err("values file");
    assert!(err.contains("/replicas") && err.contains("'nmae' not allowed"), "{err}");
}

/// Every key in values.yaml has a schema entry, and every schema property a default in values.yaml.
#[test]
fn values_schema_covers_every_value() {
    let values: Value = serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap())
        .expect("values.yaml");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(chart_dir().join("values.schema.json")).unwrap())
        .expect("schema");

    fn walk(path: &str, value: &Value, schema: &Value, problems: &mut Vec<String>) {
        let Some(props) = schema.get("properties").and_then(Value::as_object) else {
            return;
        };
        if schema["additionalProperties"] != json!(false) {
            problems.push(format!("{path}: additionalProperties is not false"));
        }
        let Some(map) = value.as_object() else {
            problems.push(format!("{path}: schema has properties but the value is not a map"));
            return;
        };
        for (key, child) in map {
            match props.get(key) {
                Some(s) => walk(&format!("{path}.{key}"), child, s, problems),
                None => problems.push(format!("{path}.{key}: not in the schema")),
            }
        }
        // Optional Kubernetes fields users may add to the security contexts need no default.
        let optional =
            path.is_empty() || path.starts_with(".podSecurityContext") || path.starts_with(".securityContext");
        for key in props.keys() {
            let may_be_absent = (path.is_empty() && key == "global") || (optional && !path.is_empty());
            if !map.contains_key(key) && !may_be_absent {
                problems.push(format!("{path}.{key}: in the schema but not in values.yaml"));
            }
        }
    }
    let mut problems = Vec::new();
    walk("", &values, &schema, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The chart's CRD template text: the `crds/` file wrapped in `crds.install` with the keep
/// annotation behind `crds.keep`, nothing else.
fn crd_template(file: &str, crd: &str) -> String {
    assert!(!crd.contains("{{"), "{file} contains template delimiters");
    assert!(
        !crd.contains("\n  annotations:"),
        "{file} has annotations; merge the keep annotation into them"
    );
    let mut out = format!(
        "{{{{- /* Generated from crds/{file} by tests/chart.rs (UPDATE_CRDS=1 cargo test --test chart); do not edit. */ -}}}}\n\
         {{{{- if .Values.crds.install }}}}\n"
    );
    let mut inserted = false;
    for line in crd.lines() {
        out.push_str(line);
        out.push('\n');
        if line == "metadata:" && !inserted {
            out.push_str(
                "  {{- if .Values.crds.keep }}\n  annotations:\n    helm.sh/resource-policy: keep\n  {{- end }}\n",
            );
            inserted = true;
        }
    }
    assert!(inserted, "{file} has no top-level metadata");
    out.push_str("{{- end }}\n");
    out
}

fn crd_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(root().join("crds"))
        .expect("crds/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "crds/ has both CRDs");
    files
}

#[test]
fn chart_crds_equal_the_crds_directory() {
    let update = std::env::var_os("UPDATE_CRDS").is_some();
    let template_dir = chart_dir().join("templates/crds");
    let files = crd_files();

    // The template text is the file plus wrapper and annotation lines, nothing else; and the
    // other way round, dropping the wrapper lines and the annotation leaves the file byte for byte.
    let mut stale = Vec::new();
    for (file, crd) in &files {
        let want = crd_template(file, crd);
        let path = template_dir.join(file);
        if update {
            std::fs::write(&path, &want).expect("write CRD template");
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        let stripped: String = have
            .lines()
            .filter(|l| !l.trim_start().starts_with("{{"))
            .filter(|l| *l != "  annotations:" && *l != "    helm.sh/resource-policy: keep")
            .map(|l| format!("{l}\n"))
            .collect();
        if have != want || &stripped != crd {
            let line = stripped
                .lines()
                .zip(crd.lines())
                .position(|(a, b)| a != b)
                .map_or(0, |i| i + 1);
            stale.push(format!(
                "{} (first difference near line {line} of crds/{file})",
                path.display()
            ));
        }
    }
    let extra: Vec<String> = std::fs::read_dir(&template_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| !files.iter().any(|(name, _)| name == f))
        .collect();
    assert!(extra.is_empty(), "templates/crds has files crds/ has not: {extra:?}");
    assert!(
        stale.is_empty(),
        "chart CRDs differ from crds/; run `UPDATE_CRDS=1 cargo test --test chart` and deploy/render.sh: {stale:?}"
    );

    // What Helm renders equals crds/ as data, plus the keep annotation.
    let rendered = render(&[]);
    for (file, crd) in &files {
        let mut want: Value = serde_saphyr::from_str(crd).expect("CRD YAML");
        let got = rendered
            .iter()
            .find(|d| kind(d) == "CustomResourceDefinition" && name(d) == want["metadata"]["name"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{file} not rendered"));
        want["metadata"]["annotations"] = json!({KEEP_ANNOTATION: "keep"});
        assert!(got == &want, "{file}: rendered CRD differs from crds/");
    }
}

/// `deploy/connect-sso-operator.yaml` is exactly what `deploy/render.sh` produces now.
#[test]
fn deploy_manifest_equals_a_fresh_render() {
    let out = Command::new("bash")
        .arg(root().join("deploy/render.sh"))
        .arg("-")
        .env("HELM", helm())
        .stdin(Stdio::null())
        .output()
        .expect("deploy/render.sh runs");
    assert!(
        out.status.success(),
        "deploy/render.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = String::from_utf8(out.stdout).expect("utf-8");
    let committed = std::fs::read_to_string(root().join("deploy/connect-sso-operator.yaml")).unwrap_or_default();
    assert!(
        committed == fresh,
        "deploy/connect-sso-operator.yaml is stale: run deploy/render.sh and commit it"
    );

    let docs = parse(&committed);
    let namespace_doc = &docs[0];
    assert_eq!((kind(namespace_doc), name(namespace_doc)), ("Namespace", NAMESPACE));
    assert_eq!(docs[1..], render(&[])[..], "the rest is the chart with default values");

    let kustomization: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(root().join("deploy/kustomization.yaml")).unwrap()).unwrap();
    assert_eq!(kustomization["resources"], json!(["connect-sso-operator.yaml"]));
}

/// The "restricted" Pod Security Standard, checked on every container of every render.
#[test]
fn every_container_runs_restricted() {
    let mut renders = vec![("defaults".to_string(), render(&[]))];
    for (what, args) in VARIANTS {
        renders.push((what.to_string(), render(args)));
    }
    let committed = std::fs::read_to_string(root().join("deploy/connect-sso-operator.yaml")).unwrap();
    renders.push(("deploy/connect-sso-operator.yaml".to_string(), parse(&committed)));

    let mut checked = 0;
    for (what, docs) in &renders {
        for doc in docs
            .iter()
            .filter(|d| matches!(kind(d), "Deployment" | "StatefulSet" | "DaemonSet" | "Job"))
        {
            let pod = &doc["spec"]["template"]["spec"];
            let pod_sc = &pod["securityContext"];
            assert_eq!(pod["hostNetwork"], Value::Null, "{what}");
            let containers = ["initContainers", "containers"]
                .iter()
                .flat_map(|k| pod[*k].as_array().cloned().unwrap_or_default());
            for c in containers {
                let sc = &c["securityContext"];
                let who = format!("{what}: {}/{}", name(doc), c["name"]);
                let either = |key: &str| {
                    if sc[key].is_null() {
                        pod_sc[key].clone()
                    } else {
                        sc[key].clone()
                    }
                };
                assert_eq!(either("runAsNonRoot"), true, "{who}: runAsNonRoot");
                assert_ne!(either("runAsUser"), 0, "{who}: runAsUser 0");
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{who}: readOnlyRootFilesystem");
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{who}: allowPrivilegeEscalation");
                assert_eq!(sc["privileged"], Value::Null, "{who}: privileged");
                assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{who}: capabilities");
                assert_eq!(sc["capabilities"]["add"], Value::Null, "{who}: added capabilities");
                assert_eq!(
                    either("seccompProfile"),
                    json!({"type": "RuntimeDefault"}),
                    "{who}: seccomp"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, renders.len(), "one operator container per render");
}

/// Every RBAC rule in the templates has a comment right above it saying why it is there.
#[test]
fn every_rbac_rule_has_a_comment() {
    let mut rules_seen = 0;
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(chart_dir().join("templates")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.trim_start().starts_with("- apiGroups:") {
                continue;
            }
            rules_seen += 1;
            let previous = lines[..i]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim_start());
            if !previous.is_some_and(|l| l.starts_with('#')) {
                missing.push(format!("{}:{}", path.file_name().unwrap().to_string_lossy(), i + 1));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "RBAC rules without a comment above them: {missing:?}"
    );

    // Every rule the chart can render starts with apiGroups (so the scan above saw it), and the
    // distinct rules rendered are no more than the commented ones in the source.
    let mut distinct = BTreeSet::new();
    let mut all = render(&["--set", "leaderElection.enabled=true"]);
    all.extend(render(&["--set", "watchNamespaces={a}"]));
    for role in all.iter().filter(|d| matches!(kind(d), "ClusterRole" | "Role")) {
        for rule in role["rules"].as_array().unwrap() {
            let first_key = rule.as_object().and_then(|o| o.keys().next().cloned());
            assert!(
                rule.get("apiGroups").is_some(),
                "rule without apiGroups in {}: {first_key:?}",
                name(role)
            );
            distinct.insert(rule.to_string());
        }
    }
    assert!(
        distinct.len() <= rules_seen,
        "{} distinct rules rendered, {rules_seen} in the source",
        distinct.len()
    );
    // The comments reach the rendered manifests too (kubectl users read those).
    let text = template(&[]).unwrap();
    assert!(
        text.contains("# Write status by server-side apply"),
        "comments survive rendering"
    );
}
