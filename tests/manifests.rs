//! Reading manifests: every malformed case in `fixtures/malformed-manifests.yaml` is refused with
//! a message naming its field, and every example under `deploy/examples/` plans cleanly.

use std::process::Command;

use connect_sso_operator::manifest::{self, ManifestError};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    name: String,
    field: String,
    says: Vec<String>,
    manifest: String,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string("tests/fixtures/malformed-manifests.yaml").expect("catalogue is readable");
    serde_saphyr::from_str(&text).expect("catalogue is valid YAML")
}

#[test]
fn every_malformed_manifest_is_refused_naming_its_field() {
    let cases = cases();
    assert!(
        cases.len() >= 20,
        "the catalogue must keep at least 20 cases, has {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        match manifest::read(&case.manifest, "case.yaml", "default") {
            Ok(_) => failures.push(format!("{}: accepted", case.name)),
            Err(err @ ManifestError::Invalid { .. }) => {
                let ManifestError::Invalid { errors, .. } = &err else {
                    unreachable!()
                };
                let message = err.to_string();
                let names_field = errors.iter().any(|e| e.field == case.field);
                let missing: Vec<&String> = case.says.iter().filter(|s| !message.contains(s.as_str())).collect();
                if !names_field || !missing.is_empty() {
                    failures.push(format!(
                        "{}: expected field {} and {:?}, got:\n{message}",
                        case.name, case.field, missing
                    ));
                }
            }
            Err(other) => failures.push(format!("{}: wrong kind of error: {other}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_examples_are_valid_and_plan_cleanly() {
    let mut planned = 0;
    for entry in std::fs::read_dir("deploy/examples").expect("deploy/examples exists") {
        let path = entry.expect("readable dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("example is readable");
        let read = manifest::read(&text, &path.display().to_string(), "default")
            .unwrap_or_else(|e| panic!("{} is refused:\n{e}", path.display()));
        let plans = connect_sso_operator::cli::plan::plan_all(&read.resources, &Default::default())
            .unwrap_or_else(|e| panic!("{} does not plan: {e}", path.display()));
        planned += plans.len();
    }
    assert!(
        planned >= 4,
        "expected the agent, admin, manager and mapping examples, planned {planned}"
    );
}

#[test]
fn other_kinds_in_the_same_file_are_passed_over_with_a_note() {
    let text = std::fs::read_to_string("deploy/examples/agent-app.yaml").expect("example exists");
    let read = manifest::read(&text, "agent-app.yaml", "default").expect("valid");
    assert_eq!(read.resources.len(), 1);
    assert_eq!(read.skipped.len(), 1);
    assert!(read.skipped[0].contains("Secret onelogin-api"), "{:?}", read.skipped);
}

#[test]
fn invalid_yaml_is_reported_as_such() {
    let err = manifest::read("spec: [unclosed", "bad.yaml", "default").expect_err("refused");
    assert!(matches!(err, ManifestError::Yaml { .. }), "{err}");
    assert!(err.to_string().starts_with("bad.yaml: not valid YAML"), "{err}");
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_connect-sso-operator"))
}

#[test]
fn plan_command_fails_with_a_readable_message_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("plan-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.yaml");
    let bad = &cases()[8];
    std::fs::write(&file, &bad.manifest).expect("write case");
    let out = binary().args(["plan", "-f"]).arg(&file).output().expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(&bad.field), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing is planned from a bad file");
}

#[test]
fn plan_reads_stdin_and_prints_json_for_machines() {
    use std::io::Write;
    let mut child = binary()
        .args(["plan", "-f", "-", "-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("binary runs");
    let text = std::fs::read_to_string("deploy/examples/manager-deep-link-app.yaml").expect("example");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("finishes");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(json[0]["kind"], "ConnectSsoApp");
    assert_eq!(
        json[0]["plan"]["relayState"],
        "https://eu-west-2.console.aws.amazon.com/connect/federate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0?destination=%2Freal-time-metrics"
    );
}

#[test]
fn plan_of_the_agent_example_shows_what_the_readme_promises() {
    let out = binary()
        .args(["plan", "-f", "deploy/examples/agent-app.yaml"])
        .output()
        .expect("binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("?destination=%2Fccp-v2"), "{text}");
    assert!(
        text.contains("/user/${aws:userid}"),
        "the policy variable must stay intact:\n{text}"
    );
    // The trust policy's audience is exactly the ACS URL OneLogin posts to.
    let acs = "https://eu-west-2.signin.aws.amazon.com/saml";
    assert!(text.contains(&format!("\"SAML:aud\": \"{acs}\"")), "{text}");
    assert!(text.contains(&format!("\"consumer_url\": \"{acs}\"")), "{text}");
    assert!(text.contains(&format!("\"recipient\": \"{acs}\"")), "{text}");
}
