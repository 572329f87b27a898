//! The rendered install manifests against a real kube-apiserver (`tests/support/envtest`):
//! every object of `deploy/connect-sso-operator.yaml` and of a namespace-scoped render is
//! accepted by a server-side apply with `dryRun=All`; the operator's pod passes the "restricted"
//! Pod Security admission; and the ServiceAccount, bound by the chart's own RBAC, can do what the
//! operator needs and nothing beyond it.

#[path = "support/envtest/mod.rs"]
mod envtest;
#[path = "support/tools.rs"]
mod tools;

use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use serde_json::{Value, json};
use tools::{helm_template, root};

const FIELD_MANAGER: &str = "connect-sso-chart-test";

/// `helm template <release> charts/connect-sso-operator --namespace <namespace> <extra>` as YAML.
fn template(release: &str, namespace: &str, extra: &[&str]) -> String {
    helm_template(release, namespace, extra).unwrap_or_else(|e| panic!("helm template: {e}"))
}

fn parse(yaml: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).expect("rendered YAML");
    docs.into_iter().filter(|d| d.is_object()).collect()
}

fn describe_doc(doc: &Value) -> String {
    let ns = doc["metadata"]["namespace"]
        .as_str()
        .map(|n| format!("{n}/"))
        .unwrap_or_default();
    format!(
        "{} {ns}{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Server-side apply of `doc` as `client`, for real or with `dryRun=All`.
async fn apply(client: &Client, doc: &Value, dry_run: bool) -> Result<(), String> {
    let api_version = doc["apiVersion"].as_str().ok_or("no apiVersion")?;
    let kind = doc["kind"].as_str().ok_or("no kind")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, caps) = discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| format!("{api_version} {kind} is not served: {}", envtest::describe(&e)))?;
    let name = doc["metadata"]["name"].as_str().ok_or("no name")?;
    let api: Api<DynamicObject> = match (caps.scope, doc["metadata"]["namespace"].as_str()) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
        (Scope::Namespaced, None) => return Err("namespaced object without a namespace".into()),
        (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
    };
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    if dry_run {
        params = params.dry_run();
    }
    api.patch(name, &params, &Patch::Apply(doc))
        .await
        .map(|_| ())
        .map_err(|e| envtest::describe(&e))
}

/// Dry-runs every document; returns one line per refusal.
async fn dry_run_all(client: &Client, docs: &[Value]) -> Vec<String> {
    let mut refused = Vec::new();
    for doc in docs {
        if let Err(e) = apply(client, doc, true).await {
            refused.push(format!("{}: {e}", describe_doc(doc)));
        }
    }
    refused
}

/// A Pod from the Deployment's template, dry-run created: Pod Security admission enforces the
/// namespace's level on Pods (for Deployments it only warns).
async fn dry_run_pod(client: &Client, deployment: &Value) -> Result<(), String> {
    let namespace = deployment["metadata"]["namespace"].as_str().expect("namespace");
    let template = &deployment["spec"]["template"];
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "operator-pod-check", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }))
    .map_err(|e| format!("pod template does not decode as a Pod: {e}"))?;
    let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), namespace);
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&params, &pod)
        .await
        .map(|_| ())
        .map_err(|e| envtest::describe(&e))
}

fn deployment(docs: &[Value]) -> &Value {
    docs.iter().find(|d| d["kind"] == "Deployment").expect("a Deployment")
}

#[tokio::test]
async fn deploy_manifest_is_accepted_by_the_api_server() {
    let server = envtest::shared().await;
    let admin = server.admin_client().await;
    let text = std::fs::read_to_string(root().join("deploy/connect-sso-operator.yaml")).unwrap();
    let docs = parse(&text);
    assert_eq!(docs[0]["kind"], "Namespace");

    // Namespaced objects can only be dry-run in a namespace that exists: dry-run the Namespace,
    // then create it (with its restricted Pod Security label) for real.
    apply(&admin, &docs[0], true).await.expect("Namespace accepted");
    apply(&admin, &docs[0], false).await.expect("Namespace created");

    let refused = dry_run_all(&admin, &docs).await;
    assert!(refused.is_empty(), "refused with dryRun=All:\n{}", refused.join("\n"));
    dry_run_pod(&admin, deployment(&docs))
        .await
        .unwrap_or_else(|e| panic!("the operator pod is refused in a restricted namespace: {e}"));

    // Controls: the server does check what is dry-run, and does enforce the restricted level.
    let mut bad = deployment(&docs).clone();
    bad["spec"]["strategy"] = json!({"type": "Sideways"});
    assert!(
        apply(&admin, &bad, true).await.is_err(),
        "an invalid Deployment must be refused"
    );
    let mut lax = deployment(&docs).clone();
    lax["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    let err = dry_run_pod(&admin, &lax)
        .await
        .expect_err("a pod allowing privilege escalation must be refused");
    assert!(err.contains("allowPrivilegeEscalation"), "{err}");
}

#[tokio::test]
async fn namespace_scoped_render_is_accepted_by_the_api_server() {
    let server = envtest::shared().await;
    let release_ns = server.namespace("chart-release").await;
    let watched_a = server.namespace("chart-watched-a").await;
    let watched_b = server.namespace("chart-watched-b").await;
    let admin = release_ns.admin().clone();

    let watch = format!("watchNamespaces={{{},{}}}", watched_a.name(), watched_b.name());
    let yaml = template(
        "scoped",
        release_ns.name(),
        &[
            "--set",
            &watch,
            "--set",
            "leaderElection.enabled=true",
            "--set",
            "replicas=2",
            "--set",
            "crds.keep=false",
            "--set",
            "networkPolicy.enabled=true",
            "--set",
            "networkPolicy.apiServer.cidrs={127.0.0.1/32}",
            "--set",
            "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
            "--set",
            "aws.region=eu-west-2",
        ],
    );
    let docs = parse(&yaml);
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for wanted in [
        "Role",
        "RoleBinding",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "CustomResourceDefinition",
    ] {
        assert!(kinds.contains(&wanted), "the render has a {wanted}: {kinds:?}");
    }
    let refused = dry_run_all(&admin, &docs).await;
    assert!(refused.is_empty(), "refused with dryRun=All:\n{}", refused.join("\n"));

    // Pod Security "restricted" on the release namespace, enforced for real on a Pod dry-run.
    let label = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": release_ns.name(), "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
    apply(&admin, &label, false).await.expect("label the namespace");
    dry_run_pod(&admin, deployment(&docs))
        .await
        .unwrap_or_else(|e| panic!("the operator pod is refused in a restricted namespace: {e}"));
}

/// `kubectl auth can-i` as the ServiceAccount: (verb, group, resource, subresource, namespace).
async fn can_i(client: &Client, verb: &str, group: &str, resource: &str, sub: &str, namespace: &str) -> bool {
    let review: SelfSubjectAccessReview = serde_json::from_value(json!({
        "spec": {"resourceAttributes": {
            "verb": verb, "group": group, "resource": resource, "subresource": sub, "namespace": namespace
        }}
    }))
    .expect("review");
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SelfSubjectAccessReview")
        .status
        .is_some_and(|s| s.allowed)
}

/// The namespace-scoped install's RBAC, as the operator's ServiceAccount sees it.
#[tokio::test]
async fn namespace_scoped_rbac_grants_what_the_operator_needs_and_no_more() {
    let server = envtest::shared().await;
    let release_ns = server.namespace("rbac-release").await;
    let watched = server.namespace("rbac-watched").await;
    let elsewhere = server.namespace("rbac-elsewhere").await;

    let release = "rbac";
    let service_account = "rbac-connect-sso-operator";
    let watch = format!("watchNamespaces={{{}}}", watched.name());
    let yaml = template(
        release,
        release_ns.name(),
        &[
            "--set",
            &watch,
            "--set",
            "leaderElection.enabled=true",
            "--set",
            "rbac.aggregateToUserRoles=false",
        ],
    );
    let identity = release_ns
        .service_account(service_account, Some(&yaml))
        .await
        .unwrap_or_else(|e| panic!("apply the chart's RBAC: {e}"));
    let sa = identity.client().await;

    let (w, r, other) = (watched.name(), release_ns.name(), elsewhere.name());
    let allowed: &[(&str, &str, &str, &str, &str)] = &[
        ("list", "connectsso.io", "connectssoapps", "", w),
        ("watch", "connectsso.io", "connectusermappings", "", w),
        ("patch", "connectsso.io", "connectssoapps", "", w),
        ("patch", "connectsso.io", "connectusermappings", "status", w),
        ("update", "connectsso.io", "connectssoapps", "finalizers", w),
        ("get", "", "secrets", "", w),
        ("watch", "", "secrets", "", w),
        ("create", "events.k8s.io", "events", "", w),
        ("create", "coordination.k8s.io", "leases", "", r),
        ("update", "coordination.k8s.io", "leases", "", r),
    ];
    let denied: &[(&str, &str, &str, &str, &str)] = &[
        ("list", "connectsso.io", "connectssoapps", "", ""),
        ("list", "connectsso.io", "connectssoapps", "", other),
        ("get", "", "secrets", "", other),
        ("list", "", "secrets", "", ""),
        ("create", "connectsso.io", "connectssoapps", "", w),
        ("update", "connectsso.io", "connectssoapps", "", w),
        ("delete", "connectsso.io", "connectusermappings", "", w),
        ("update", "connectsso.io", "connectssoapps", "status", w),
        ("create", "", "secrets", "", w),
        ("update", "", "secrets", "", w),
        ("list", "", "configmaps", "", w),
        ("create", "", "events", "", w),
        ("create", "coordination.k8s.io", "leases", "", w),
        ("list", "apiextensions.k8s.io", "customresourcedefinitions", "", ""),
    ];
    let mut wrong = Vec::new();
    for (verb, group, resource, sub, ns) in allowed {
        if !can_i(&sa, verb, group, resource, sub, ns).await {
            wrong.push(format!("cannot {verb} {group}/{resource}/{sub} in {ns:?}"));
        }
    }
    for (verb, group, resource, sub, ns) in denied {
        if can_i(&sa, verb, group, resource, sub, ns).await {
            wrong.push(format!("may {verb} {group}/{resource}/{sub} in {ns:?}"));
        }
    }
    assert!(wrong.is_empty(), "the operator's RBAC:\n{}", wrong.join("\n"));
}

/// The default (cluster-wide) install's RBAC: every namespace, but no leases without leader election.
#[tokio::test]
async fn cluster_wide_rbac_covers_every_namespace() {
    let server = envtest::shared().await;
    let release_ns = server.namespace("rbac-cluster").await;
    let yaml = template(
        "rbac-cluster",
        release_ns.name(),
        &["--set", "rbac.aggregateToUserRoles=false"],
    );
    let identity = release_ns
        .service_account("rbac-cluster-connect-sso-operator", Some(&yaml))
        .await
        .unwrap_or_else(|e| panic!("apply the chart's RBAC: {e}"));
    let sa = identity.client().await;
    assert!(can_i(&sa, "list", "connectsso.io", "connectssoapps", "", "").await);
    assert!(can_i(&sa, "watch", "", "secrets", "", "").await);
    assert!(
        can_i(
            &sa,
            "patch",
            "connectsso.io",
            "connectusermappings",
            "status",
            "anywhere"
        )
        .await
    );
    assert!(!can_i(&sa, "create", "coordination.k8s.io", "leases", "", release_ns.name()).await);
    assert!(!can_i(&sa, "delete", "connectsso.io", "connectssoapps", "", "anywhere").await);
    assert!(!can_i(&sa, "get", "", "configmaps", "", "anywhere").await);
}
