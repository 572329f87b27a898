//! Bad input, catalogued: every row of `fixtures/bad-inputs.yaml` is run here and its outcome
//! compared with the table. A row without a test, a test without a row, an outcome other than the
//! table's, a message missing what the row says it must say (or showing what it must never show),
//! and any panic anywhere in the process (controller tasks included) fail the test.
//!
//! End-to-end rows run the real reconcilers against a real kube-apiserver, moto and the Amazon
//! Connect and OneLogin test servers (one `World` each), feeding the bad input where the row says.
//! After the failure they remove the bad input again and expect the resource to become Ready
//! without any change to it, which shows the controller is alive and retries on its own.
//!
//! `BAD_INPUT=<id prefix>` runs only the matching rows (for debugging one row).

#[path = "support/world/mod.rs"]
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use connect_sso_operator::api::{ConditionStatus, ConnectSsoApp};
use connect_sso_operator::manifest::{self, ManifestError};
use connect_sso_operator::onelogin::client::validate_base_url;
use connect_sso_operator::plan::policies::{DocumentError, decode_document, same_meaning, trust_policy};
use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde::Deserialize;
use serde_json::{Value, json};
use world::connect::{IdentityManagementType, InstanceSpec};
use world::onelogin::{Canned, Fault, JsonEdit, Scope};
use world::{SECRET, World, condition};

const TABLE: &str = "tests/fixtures/bad-inputs.yaml";
const MANIFEST_TABLE: &str = "tests/fixtures/malformed-manifests.yaml";
/// Rows run at once; each end-to-end row has its own test servers and namespace.
const PARALLEL: usize = 6;
/// A fault that lasts until the test clears it.
const FOREVER: u32 = 1_000_000;
const APP: &str = "agents";

// ---------------------------------------------------------------------------------------------
// the table

#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    category: String,
    input: String,
    #[serde(rename = "where")]
    place: String,
    expect: String,
    /// Every one must appear in the message (Ready condition, error or refusal).
    #[serde(default)]
    says: Vec<String>,
    /// None may appear in status, events or the message (secrets, file contents, page bodies).
    #[serde(default)]
    never: Vec<String>,
    /// For `manifest` rows: the `name` of the case in `malformed-manifests.yaml`.
    #[serde(default)]
    case: Option<String>,
    /// For rows that fail today: the change to the operator they are waiting for.
    #[serde(default)]
    needs: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ManifestCase {
    name: String,
    field: String,
    manifest: String,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(TABLE).expect("the catalogue is readable");
    serde_saphyr::from_str(&text).expect("the catalogue is valid YAML")
}

fn manifest_cases() -> Vec<ManifestCase> {
    let text = std::fs::read_to_string(MANIFEST_TABLE).expect("the manifest catalogue is readable");
    serde_saphyr::from_str(&text).expect("the manifest catalogue is valid YAML")
}

/// What a row's test observed.
#[derive(Debug, Default)]
struct Outcome {
    /// Compared with the row's `expect`.
    summary: String,
    /// Searched for the row's `says` and `never`.
    message: String,
    /// Everything else a user could see (status, events), searched for `never`.
    visible: String,
}

impl Outcome {
    fn unit(summary: impl Into<String>, message: impl Into<String>) -> Self {
        Outcome {
            summary: summary.into(),
            message: message.into(),
            visible: String::new(),
        }
    }
}

type Run = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// The test of each row id that is not a `manifest` case.
fn tests() -> BTreeMap<&'static str, fn() -> Run> {
    let mut t: BTreeMap<&'static str, fn() -> Run> = BTreeMap::new();
    // 1. What admission cannot check.
    t.insert("manifest/instance-not-found", || Box::pin(instance_not_found()));
    t.insert("manifest/instance-existing-directory", || {
        Box::pin(instance_of_type(json!("EXISTING_DIRECTORY")))
    });
    t.insert("manifest/role-name-of-another-resource", || {
        Box::pin(name_taken(json!({"iam": {"roleName": "shared-connect-role"}})))
    });
    t.insert("manifest/app-name-of-another-resource", || {
        Box::pin(name_taken(json!({"oneLogin": {"appName": "Shared agents app"}})))
    });
    // 2. OneLogin answers.
    t.insert("onelogin/metadata-not-xml", || {
        Box::pin(bad_metadata(Fault::Serve(xml("this is not <xml"))))
    });
    t.insert("onelogin/metadata-huge", || {
        Box::pin(bad_metadata(Fault::Serve(huge_metadata())))
    });
    t.insert("onelogin/metadata-xxe", || {
        Box::pin(bad_metadata(Fault::Serve(xml(XXE))))
    });
    t.insert("onelogin/metadata-billion-laughs", || {
        Box::pin(bad_metadata(Fault::Serve(xml(BILLION_LAUGHS))))
    });
    t.insert("onelogin/metadata-http-sso-location", || {
        Box::pin(bad_metadata(Fault::EditText(vec![(
            "https://acme.onelogin.com/trust/saml2/http-post/".into(),
            "http://acme.onelogin.com/trust/saml2/http-post/".into(),
        )])))
    });
    t.insert("onelogin/metadata-without-certificate", || {
        Box::pin(bad_metadata(Fault::EditText(vec![(
            "use=\"signing\"".into(),
            "use=\"encryption\"".into(),
        )])))
    });
    t.insert("onelogin/metadata-not-utf8", || {
        Box::pin(bad_metadata(Fault::Serve(Canned::new(
            200,
            "application/xml",
            b"<?xml version=\"1.0\"?><EntityDescriptor entityID=\"\xff\xfe\"/>".to_vec(),
        ))))
    });
    t.insert("onelogin/metadata-url-plain-http", || {
        Box::pin(app_answer(
            "GET /api/2/apps/{id}",
            Fault::EditJson(vec![JsonEdit::Set(
                "/sso/metadata_url".into(),
                json!("http://metadata.example.com/saml/metadata/1"),
            )]),
        ))
    });
    t.insert("onelogin/app-id-as-string", || {
        Box::pin(app_answer(
            "GET /api/2/apps/{id}",
            Fault::EditJson(vec![JsonEdit::Stringify("/id".into())]),
        ))
    });
    t.insert("onelogin/app-configuration-as-list", || {
        Box::pin(app_answer(
            "GET /api/2/apps/{id}",
            Fault::EditJson(vec![JsonEdit::Set("/configuration".into(), json!(["a", "b"]))]),
        ))
    });
    t.insert("onelogin/created-app-answer-id-as-string", || {
        Box::pin(app_answer(
            "POST /api/2/apps",
            Fault::EditJson(vec![JsonEdit::Stringify("/id".into())]),
        ))
    });
    t.insert("onelogin/app-truncated-json", || {
        Box::pin(app_answer(
            "GET /api/2/apps/{id}",
            Fault::Serve(Canned::new(
                200,
                "application/json",
                r#"{"id": 1, "name": "Amazon Conn"#,
            )),
        ))
    });
    t.insert("onelogin/app-empty-200", || {
        Box::pin(app_answer(
            "GET /api/2/apps/{id}",
            Fault::Serve(Canned::new(200, "application/json", "")),
        ))
    });
    t.insert("onelogin/list-html-200", || {
        Box::pin(app_answer("GET /api/2/apps", Fault::Serve(html_page(200))))
    });
    t.insert("onelogin/list-html-502", || {
        Box::pin(app_answer("GET /api/2/apps", Fault::Serve(html_page(502))))
    });
    t.insert("onelogin/list-same-cursor", || {
        Box::pin(app_answer(
            "GET /api/2/apps",
            Fault::AfterCursor(Some(world::onelogin::encode_cursor(1000, 1))),
        ))
    });
    t.insert("onelogin/list-endless-cursors", || {
        Box::pin(app_answer("GET /api/2/apps", Fault::AfterCursor(None)))
    });
    t.insert("onelogin/list-huge-json", || {
        Box::pin(app_answer("GET /api/2/apps", Fault::Serve(huge_json())))
    });
    t.insert("onelogin/app-huge-json-chunked", || {
        Box::pin(app_answer("GET /api/2/apps/{id}", Fault::Serve(huge_json().chunked())))
    });
    t.insert("onelogin/create-app-422-odd-error-shape", || {
        Box::pin(app_answer(
            "POST /api/2/apps",
            Fault::Serve(Canned::new(
                422,
                "application/json",
                r#"{"status": {"error": true, "code": 422, "type": "Unprocessable", "message": {"field": ["is odd"], "nested": {"deeper": [1, 2, {"x": null}]}}}}"#,
            )),
        ))
    });
    t.insert("onelogin/created-role-answer-without-id", || {
        Box::pin(app_answer(
            "POST /api/2/roles",
            Fault::EditJson(vec![JsonEdit::Set(String::new(), json!([]))]),
        ))
    });
    t.insert("onelogin/token-401-always", || {
        Box::pin(token_fault(Fault::Unauthorized))
    });
    t.insert("onelogin/token-without-access-token", || {
        Box::pin(token_fault(Fault::Serve(Canned::new(
            200,
            "application/json",
            r#"{"token_type": "bearer", "expires_in": 36000}"#,
        ))))
    });
    t.insert("onelogin/token-access-token-as-number", || {
        Box::pin(token_fault(Fault::Serve(Canned::new(
            200,
            "application/json",
            r#"{"access_token": 12345, "expires_in": 36000}"#,
        ))))
    });
    // 3. The credentials Secret.
    t.insert("secret/missing", || Box::pin(secret_missing()));
    t.insert("secret/missing-clientId", || Box::pin(secret_without("clientId")));
    t.insert("secret/missing-clientSecret", || {
        Box::pin(secret_without("clientSecret"))
    });
    t.insert("secret/missing-apiUrl", || Box::pin(secret_without("apiUrl")));
    t.insert("secret/empty-clientId", || Box::pin(secret_with("clientId", b"")));
    t.insert("secret/blank-clientSecret", || {
        Box::pin(secret_with("clientSecret", b"  \n"))
    });
    t.insert("secret/non-utf8-clientSecret", || {
        Box::pin(secret_with("clientSecret", b"\xff\xfeTOPSECRET42"))
    });
    t.insert("secret/apiUrl-not-a-url", || {
        Box::pin(secret_with("apiUrl", b"acme.onelogin.com hunter2"))
    });
    t.insert("secret/apiUrl-plain-http-remote", || {
        Box::pin(secret_with("apiUrl", b"http://acme.onelogin.com"))
    });
    t.insert("secret/apiUrl-with-credentials", || {
        Box::pin(secret_with("apiUrl", b"https://admin:hunter2@acme.onelogin.com"))
    });
    t.insert("secret/wrong-clientSecret", || Box::pin(secret_wrong_client_secret()));
    t.insert("secret/url-loopback-http-without-flag", || {
        Box::pin(url_check("http://127.0.0.1:8080", false))
    });
    t.insert("secret/url-loopback-http-with-flag", || {
        Box::pin(url_check("http://127.0.0.1:8080", true))
    });
    t.insert("secret/url-ipv6-loopback-http-with-flag", || {
        Box::pin(url_check("http://[::1]:8080", true))
    });
    t.insert("secret/url-localhost-lookalike-with-flag", || {
        Box::pin(url_check("http://localhost.evil.example:8080", true))
    });
    t.insert("secret/url-unspecified-address-with-flag", || {
        Box::pin(url_check("http://0.0.0.0:8080", true))
    });
    t.insert("secret/url-private-address-with-flag", || {
        Box::pin(url_check("http://10.0.0.1", true))
    });
    t.insert("secret/url-other-scheme", || {
        Box::pin(url_check("ftp://acme.onelogin.com", true))
    });
    t.insert("secret/url-credentials-not-echoed", || {
        Box::pin(url_check("https://admin:hunter2@acme.onelogin.com", false))
    });
    // 4. AWS answers.
    t.insert("aws/policy-not-json", || Box::pin(policy("%7Bnot%20json%7D")));
    t.insert("aws/policy-invalid-utf8", || Box::pin(policy("%FF%FE%7B%7D")));
    t.insert("aws/policy-empty", || Box::pin(policy("")));
    t.insert("aws/policy-trailing-garbage", || Box::pin(policy("%7B%7D%7D")));
    t.insert("aws/policy-deep-nesting", || Box::pin(policy_deep()));
    t.insert("aws/policy-json-string", || Box::pin(policy("\"%2541\"")));
    t.insert("aws/policy-condition-key-serde-raw-value", || {
        Box::pin(policy_hidden_key())
    });
    t.insert("aws/connect-unknown-identity-type", || {
        Box::pin(instance_of_type(json!("LDAP_FROM_THE_FUTURE")))
    });
    t.insert("aws/connect-no-identity-type", || {
        Box::pin(instance_of_type(Value::Null))
    });
    t.insert("aws/connect-truncated-answer", || {
        Box::pin(connect_answer(world::connect::Fault::Truncated))
    });
    t.insert("aws/connect-html-502", || {
        Box::pin(connect_answer(world::connect::Fault::HtmlBadGateway))
    });
    t
}

// ---------------------------------------------------------------------------------------------
// the test

/// Panics anywhere in the process, with their location, recorded by the hook.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn count_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANICS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("thread {thread} at {at}: {info}"));
        default(info);
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_in_the_catalogue_has_the_outcome_the_table_says() {
    count_panics();
    let rows = rows();
    let tests = tests();
    let cases = manifest_cases();
    let mut problems = Vec::new();

    // The table itself: enough rows, unique ids, every row a test and every test a row.
    assert!(
        rows.len() >= 40,
        "the catalogue must keep at least 40 rows, has {}",
        rows.len()
    );
    let mut ids = BTreeSet::new();
    for row in &rows {
        if !ids.insert(row.id.as_str()) {
            problems.push(format!("{}: the id is used twice", row.id));
        }
        let tested = match &row.case {
            Some(case) => row.category == "manifest" && cases.iter().any(|c| &c.name == case),
            None => tests.contains_key(row.id.as_str()),
        };
        if !tested {
            problems.push(format!("{}: the row has no test", row.id));
        }
    }
    for id in tests.keys() {
        if !ids.contains(id) {
            problems.push(format!("{id}: the test has no row in {TABLE}"));
        }
    }
    for case in &cases {
        let refs = rows.iter().filter(|r| r.case.as_deref() == Some(&case.name)).count();
        if refs != 1 {
            problems.push(format!(
                "{MANIFEST_TABLE} case {:?} is referenced by {refs} rows; expected one",
                case.name
            ));
        }
    }

    let only = std::env::var("BAD_INPUT").unwrap_or_default();
    let selected: Vec<&Row> = rows.iter().filter(|r| r.id.starts_with(&only)).collect();
    let started = Instant::now();
    let results: Vec<(String, Result<Outcome, String>)> = futures::stream::iter(selected.iter().map(|row| {
        let run: Option<Run> = match &row.case {
            Some(case) => cases
                .iter()
                .find(|c| &c.name == case)
                .map(|c| Box::pin(std::future::ready(manifest_outcome(c))) as Run),
            None => tests.get(row.id.as_str()).map(|t| t()),
        };
        let id = row.id.clone();
        async move {
            let Some(run) = run else {
                return (id, Err("no test".to_string()));
            };
            // Each row on its own task: a failing assertion in a row is that row's failure.
            let result = tokio::spawn(run)
                .await
                .map_err(|e| format!("the row's test panicked: {e}"));
            (id, result)
        }
    }))
    .buffer_unordered(PARALLEL)
    .collect()
    .await;
    eprintln!("{} rows in {:?}", results.len(), started.elapsed());

    for (id, result) in results {
        let row = rows.iter().find(|r| r.id == id).expect("row");
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => {
                problems.push(format!("{id}: {e}"));
                continue;
            }
        };
        let mut wrong = Vec::new();
        if outcome.summary != row.expect {
            wrong.push(format!(
                "outcome {:?}, the table says {:?}",
                outcome.summary, row.expect
            ));
        }
        for s in &row.says {
            if !outcome.message.contains(s.as_str()) {
                wrong.push(format!("the message does not say {s:?}"));
            }
        }
        for n in &row.never {
            if outcome.message.contains(n.as_str()) || outcome.visible.contains(n.as_str()) {
                wrong.push(format!("{n:?} is shown to the user"));
            }
        }
        if !wrong.is_empty() {
            let needs = row
                .needs
                .as_deref()
                .map(|n| format!("\n  needs: {n}"))
                .unwrap_or_default();
            problems.push(format!(
                "{id} ({}; {} at {}): {}\n  message: {}{needs}",
                row.category,
                row.input,
                row.place,
                wrong.join("; "),
                outcome.message
            ));
        }
    }

    let panics = PANICS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for p in panics {
        problems.push(format!("panic: {p}"));
    }
    assert!(
        problems.is_empty(),
        "{} problems with the bad-input catalogue:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------------------
// category 1: manifests

fn manifest_outcome(case: &ManifestCase) -> Outcome {
    match manifest::read(&case.manifest, "case.yaml", "default") {
        Ok(_) => Outcome::unit("plan: accepted", ""),
        Err(err @ ManifestError::Invalid { .. }) => {
            let ManifestError::Invalid { errors, .. } = &err else {
                unreachable!()
            };
            let named = errors.iter().any(|e| e.field == case.field);
            let summary = if named {
                format!("plan: refused naming {}", case.field)
            } else {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("plan: refused naming {}", fields.join(", "))
            };
            Outcome::unit(summary, err.to_string())
        }
        Err(other) => Outcome::unit("plan: refused as unreadable", other.to_string()),
    }
}

async fn instance_not_found() -> Outcome {
    let mut w = World::new("bad-instance-missing").await;
    w.start_operator();
    let arn = "arn:aws:connect:us-east-1:123456789012:instance/00000000-1111-4222-8333-444444444444";
    w.apply_app(APP, json!({"connect": {"instanceArn": arn}})).await;
    let mut outcome = first_failure(&w).await;
    // The ARN is immutable: there is no fix to wait for, only nothing to have been made.
    if !w.onelogin.apps().is_empty() {
        outcome.summary.push_str(", a OneLogin app was created");
    }
    outcome
}

/// An instance whose DescribeInstance reports `identity` as its IdentityManagementType.
async fn instance_of_type(identity: Value) -> Outcome {
    let mut w = World::new("bad-instance-type").await;
    let instance = w.connect.add_instance(InstanceSpec {
        identity_management_type: IdentityManagementType::ExistingDirectory,
        ..InstanceSpec::saml("odd")
    });
    w.connect
        .override_instance_field(&instance.id, "IdentityManagementType", identity);
    w.start_operator();
    w.apply_app(APP, json!({"connect": {"instanceArn": instance.arn}}))
        .await;
    let mut outcome = first_failure(&w).await;
    if !w.onelogin.apps().is_empty() {
        outcome.summary.push_str(", a OneLogin app was created");
    }
    outcome
}

/// Two resources naming the same thing: the second is refused, the first stays Ready.
async fn name_taken(names: Value) -> Outcome {
    let mut w = World::new("bad-name-taken").await;
    w.start_operator();
    w.apply_app("first", names.clone()).await;
    if wait_for(&w, "first", Duration::from_secs(90), is_ready).await.is_none() {
        return Outcome::unit("the first resource never became Ready", "");
    }
    w.apply_app(APP, names).await;
    let mut outcome = first_failure(&w).await;
    let first = w.apps().get("first").await.expect("first");
    if !is_ready(&first) {
        outcome.summary.push_str(", the first resource was disturbed");
    }
    if w.onelogin.apps().len() > 2 {
        outcome.summary.push_str(", something was created twice");
    }
    outcome
}

// ---------------------------------------------------------------------------------------------
// category 2: OneLogin

fn xml(body: &str) -> Canned {
    Canned::new(200, "application/xml; charset=utf-8", body.to_string())
}

const XXE: &str = r#"<?xml version="1.0"?>
<!DOCTYPE EntityDescriptor [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://acme.onelogin.com/sso"/>
  </IDPSSODescriptor>
</EntityDescriptor>
"#;

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol9;"/>
"#;

/// Well-formed metadata padded past 1 MiB with a comment.
fn huge_metadata() -> Canned {
    let padding = "x".repeat(1_100_000);
    xml(&format!(
        "<?xml version=\"1.0\"?>\n<!-- {padding} -->\n<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"https://acme.onelogin.com/saml\"/>\n"
    ))
}

/// A JSON array of 17 MiB (past the client's 16 MiB limit).
fn huge_json() -> Canned {
    let item = r#"{"id": 1, "name": "Amazon Connect", "connector_id": 110016, "padding": "0123456789abcdef0123456789abcdef"},"#;
    let mut body = String::with_capacity(17 * 1024 * 1024 + item.len());
    body.push('[');
    while body.len() < 17 * 1024 * 1024 {
        body.push_str(item);
    }
    body.push_str(r#"{"id": 2}]"#);
    Canned::new(200, "application/json", body)
}

/// An HTML page from a proxy, with a detail far into the page that must never be shown.
fn html_page(status: u16) -> Canned {
    let filler = "<p>Please try again later.</p>".repeat(20);
    Canned::new(
        status,
        "text/html",
        format!(
            "<!DOCTYPE html><html><head><title>{status} Bad Gateway</title></head><body><h1>Bad Gateway</h1>{filler}<!-- upstream=10.1.2.3 PROXY-INTERNAL-DETAIL --></body></html>"
        ),
    )
}

/// The metadata document is replaced or edited; once fixed, the app becomes Ready.
async fn bad_metadata(fault: Fault) -> Outcome {
    let mut w = World::new("bad-metadata").await;
    w.onelogin.fail_next(FOREVER, fault, Scope::Metadata);
    w.start_operator();
    w.apply_app(APP, json!({})).await;
    let mut outcome = first_failure(&w).await;
    if provider_exists(&w).await {
        outcome.summary.push_str(", IAM trusts the bad metadata");
    }
    w.onelogin.clear_faults();
    recover(&w, outcome).await
}

/// One OneLogin route answers badly until the fault is cleared.
async fn app_answer(route: &str, fault: Fault) -> Outcome {
    let mut w = World::new("bad-onelogin").await;
    w.onelogin.fail_next(FOREVER, fault, Scope::Route(route.to_string()));
    w.start_operator();
    w.apply_app(APP, json!({})).await;
    let outcome = first_failure(&w).await;
    w.onelogin.clear_faults();
    recover(&w, outcome).await
}

async fn token_fault(fault: Fault) -> Outcome {
    let mut w = World::new("bad-token").await;
    w.onelogin.fail_next(FOREVER, fault, Scope::Token);
    w.start_operator();
    w.apply_app(APP, json!({})).await;
    let outcome = first_failure(&w).await;
    w.onelogin.clear_faults();
    recover(&w, outcome).await
}

// ---------------------------------------------------------------------------------------------
// category 3: the credentials Secret

fn secrets(w: &World) -> Api<Secret> {
    Api::namespaced(w.kube.clone(), &w.namespace)
}

/// Replaces the World's Secret with exactly these keys.
async fn replace_secret(w: &World, data: BTreeMap<String, Vec<u8>>) {
    let _ = secrets(w).delete(SECRET, &DeleteParams::default()).await;
    let mut secret = Secret::default();
    secret.metadata.name = Some(SECRET.to_string());
    secret.data = Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect());
    // The delete may still be in progress.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match secrets(w).create(&PostParams::default(), &secret).await {
            Ok(_) => return,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("creating the Secret: {e}"),
        }
    }
}

fn good_secret(w: &World) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("clientId".to_string(), w.onelogin.client_id().into_bytes()),
        ("clientSecret".to_string(), w.onelogin.client_secret().into_bytes()),
        ("apiUrl".to_string(), w.onelogin.base_url().as_bytes().to_vec()),
    ])
}

/// Runs the app against a Secret holding `data`, then puts the right Secret back.
async fn with_secret(hint: &str, data: impl FnOnce(&World) -> Option<BTreeMap<String, Vec<u8>>>) -> Outcome {
    let mut w = World::new(hint).await;
    match data(&w) {
        Some(data) => replace_secret(&w, data).await,
        None => {
            secrets(&w)
                .delete(SECRET, &DeleteParams::default())
                .await
                .expect("delete the Secret");
        }
    }
    w.start_operator();
    w.apply_app(APP, json!({})).await;
    let outcome = first_failure(&w).await;
    if !w.onelogin.apps().is_empty() {
        return Outcome {
            summary: format!("{}, a OneLogin app was created", outcome.summary),
            ..outcome
        };
    }
    let good = good_secret(&w);
    replace_secret(&w, good).await;
    recover(&w, outcome).await
}

async fn secret_missing() -> Outcome {
    with_secret("bad-secret-missing", |_| None).await
}

async fn secret_without(key: &'static str) -> Outcome {
    with_secret("bad-secret-key", move |w| {
        let mut data = good_secret(w);
        data.remove(key);
        Some(data)
    })
    .await
}

async fn secret_with(key: &'static str, value: &'static [u8]) -> Outcome {
    with_secret("bad-secret-value", move |w| {
        let mut data = good_secret(w);
        data.insert(key.to_string(), value.to_vec());
        Some(data)
    })
    .await
}

async fn secret_wrong_client_secret() -> Outcome {
    let mut w = World::new("bad-secret-wrong").await;
    w.put_secret(&w.onelogin.client_id(), "s3cr3t-that-must-never-be-shown")
        .await;
    w.start_operator();
    w.apply_app(APP, json!({})).await;
    let outcome = first_failure(&w).await;
    w.put_secret(&w.onelogin.client_id(), &w.onelogin.client_secret()).await;
    recover(&w, outcome).await
}

/// The check every client runs on `apiUrl`, with or without the test-only loopback flag.
async fn url_check(url: &'static str, allow_loopback_http: bool) -> Outcome {
    match validate_base_url(url, allow_loopback_http) {
        Ok(base) => Outcome::unit("accepted", base),
        Err(e) => Outcome::unit(format!("refused: {}", e.reason()), e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// category 4: AWS

async fn policy(raw: &'static str) -> Outcome {
    match decode_document(raw) {
        Ok(v) => Outcome::unit("decoded", v.to_string()),
        Err(e @ DocumentError::NotAnObject) => Outcome::unit("refused: not an object", e.to_string()),
        Err(e) => Outcome::unit("refused: not JSON after percent-decoding", e.to_string()),
    }
}

/// Nesting far past any parser's stack: refused, not a stack overflow.
async fn policy_deep() -> Outcome {
    let raw = "%5B".repeat(200_000);
    let result = tokio::task::spawn_blocking(move || decode_document(&raw).map_err(|e| e.to_string()))
        .await
        .expect("decoding finishes");
    match result {
        Ok(_) => Outcome::unit("decoded", ""),
        Err(e) => Outcome::unit("refused: not JSON after percent-decoding", e),
    }
}

/// The planned trust policy with its audience condition hidden behind serde_json's raw-value key:
/// IAM reads a condition on a key that never exists (so no sign-in works); the operator must not
/// take it for the planned one.
async fn policy_hidden_key() -> Outcome {
    let provider = "arn:aws:iam::123456789012:saml-provider/connect-sso.cc.agents";
    let acs = "https://signin.aws.amazon.com/saml";
    let planned = trust_policy(provider, acs);
    let mut tampered = planned.clone();
    tampered["Statement"][0]["Condition"]["StringEquals"] =
        json!({"$serde_json::private::RawValue": json!({"SAML:aud": acs}).to_string()});
    match decode_document(&tampered.to_string()) {
        Ok(decoded) if same_meaning(&decoded, &planned) => {
            Outcome::unit("decoded; taken for the planned trust policy", decoded.to_string())
        }
        Ok(decoded) => Outcome::unit("decoded; differs from the planned trust policy", decoded.to_string()),
        Err(e) => Outcome::unit("refused: not JSON after percent-decoding", e.to_string()),
    }
}

async fn connect_answer(fault: world::connect::Fault) -> Outcome {
    let mut w = World::new("bad-connect").await;
    w.connect.fail_next(fault, Some("DescribeInstance"), FOREVER);
    w.start_operator();
    w.apply_app(APP, json!({})).await;
    let outcome = first_failure(&w).await;
    w.connect.clear_faults();
    recover(&w, outcome).await
}

// ---------------------------------------------------------------------------------------------
// observing the resource

fn is_ready(app: &ConnectSsoApp) -> bool {
    condition(app, "Ready").is_some_and(|c| c.0 == ConditionStatus::True)
        && app.status.as_ref().and_then(|s| s.observed_generation) == app.metadata.generation
}

/// Ready=False for a reason other than "Reconciling", for the current generation.
fn has_failed(app: &ConnectSsoApp) -> bool {
    condition(app, "Ready").is_some_and(|c| c.0 == ConditionStatus::False && c.1 != "Reconciling")
        && app.status.as_ref().and_then(|s| s.observed_generation) == app.metadata.generation
}

async fn wait_for(
    w: &World,
    name: &str,
    timeout: Duration,
    done: impl Fn(&ConnectSsoApp) -> bool,
) -> Option<ConnectSsoApp> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(app)) = w.apps().get_opt(name).await
            && done(&app)
        {
            return Some(app);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Everything about the resource a user can see: status and events.
async fn visible(w: &World, name: &str) -> String {
    let status = w
        .apps()
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|a| a.status)
        .map(|s| serde_json::to_string(&s).unwrap_or_default())
        .unwrap_or_default();
    format!("{status}\n{:?}", w.events(name).await)
}

/// The first failure of the app `APP`: `Stalled: <reason>` when it waits for a person,
/// `Ready=False: <reason>` when the operator retries on its own.
async fn first_failure(w: &World) -> Outcome {
    // The endless listing takes 2,000 pages through the client's rate budget.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        // Events before the app: the operator writes the status, then publishes the Event, so
        // an Event read first is never newer than the status read after it.
        let warning = w.events(APP).await.into_iter().find(|e| e.0 == "Warning");
        let app = w.apps().get_opt(APP).await.ok().flatten();
        if let Some(app) = app.as_ref().filter(|a| has_failed(a)) {
            let (_, reason, message) = condition(app, "Ready").expect("Ready");
            let stalled = condition(app, "Stalled").is_some_and(|c| c.0 == ConditionStatus::True);
            let summary = if stalled {
                format!("Stalled: {reason}")
            } else {
                format!("Ready=False: {reason}")
            };
            return Outcome {
                summary,
                message,
                visible: visible(w, APP).await,
            };
        }
        // A failure that the next pass cleared before this poll saw it (a watch event can queue
        // that pass at once) is still told by the Warning Event published with it. Cleared on
        // its own, it was not one that waits for a person.
        if let Some((_, reason, note)) = warning {
            return Outcome {
                summary: format!("Ready=False: {reason}"),
                message: note,
                visible: visible(w, APP).await,
            };
        }
        if Instant::now() > deadline {
            return Outcome::unit("never failed", world::json_status(app.as_ref()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// With the bad input gone, the app must become Ready on its own, with one OneLogin app and role.
/// Transient failures say ", retried"; a stall that does not clear says so.
async fn recover(w: &World, mut outcome: Outcome) -> Outcome {
    let ready = wait_for(w, APP, Duration::from_secs(120), is_ready).await.is_some();
    let transient = outcome.summary.starts_with("Ready=False");
    match (ready, transient) {
        (true, true) => outcome.summary.push_str(", retried"),
        (true, false) => {}
        (false, true) => outcome.summary.push_str(", not retried"),
        (false, false) => outcome.summary.push_str(", still stalled after the fix"),
    }
    let apps = w.onelogin.apps().len();
    let roles = w.onelogin.roles().len();
    if apps > 1 || roles > 1 {
        outcome
            .summary
            .push_str(&format!(", created twice ({apps} OneLogin apps, {roles} roles)"));
    }
    outcome.visible.push_str(&visible(w, APP).await);
    outcome
}

async fn provider_exists(w: &World) -> bool {
    let arn = format!(
        "arn:aws:iam::123456789012:saml-provider/connect-sso.{}.{APP}",
        w.namespace
    );
    w.iam.get_saml_provider().saml_provider_arn(arn).send().await.is_ok()
}
