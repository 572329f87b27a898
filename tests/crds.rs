//! `crds/` must equal what the Rust types generate. `UPDATE_CRDS=1 cargo test --test crds`
//! rewrites the files after a deliberate API change.

use std::path::Path;

use connect_sso_operator::crds;

const COPIES: &[&str] = &["crds"];

#[test]
fn committed_crds_match_the_rust_types() {
    let update = std::env::var_os("UPDATE_CRDS").is_some();
    let mut stale = Vec::new();
    for dir in COPIES {
        for (file, crd) in crds::all() {
            let want = crds::to_yaml(&crd).expect("CRD serializes");
            let path = Path::new(dir).join(file);
            if update {
                std::fs::create_dir_all(dir).expect("create dir");
                std::fs::write(&path, &want).expect("write CRD");
                continue;
            }
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if have != want {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{} differ from the Rust types; run `UPDATE_CRDS=1 cargo test --test crds` and commit: {stale:?}",
        stale.len()
    );
}

#[test]
fn crds_command_prints_both_crds() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_connect-sso-operator"))
        .arg("crds")
        .output()
        .expect("binary runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML");
    let names: Vec<&str> = docs
        .iter()
        .filter_map(|d| d.pointer("/metadata/name")?.as_str())
        .collect();
    assert_eq!(
        names,
        ["connectssoapps.connectsso.io", "connectusermappings.connectsso.io"]
    );
}

/// The API server writes schema defaults into stored objects, which GitOps tools then show as a
/// permanent diff; optional fields must be optional instead.
#[test]
fn no_schema_defaults() {
    for (file, crd) in crds::all() {
        let json = serde_json::to_string(&crd).expect("json");
        assert!(!json.contains("\"default\":"), "{file} has a schema default");
    }
}

#[test]
fn conditions_merge_by_type_under_server_side_apply() {
    for name in ["connectssoapps.connectsso.io", "connectusermappings.connectsso.io"] {
        let schema = crds::schema_of(name).expect("schema");
        let conditions = schema
            .pointer("/properties/status/properties/conditions")
            .expect("conditions");
        assert_eq!(conditions["x-kubernetes-list-type"], "map", "{name}");
        assert_eq!(
            conditions["x-kubernetes-list-map-keys"],
            serde_json::json!(["type"]),
            "{name}"
        );
    }
}
