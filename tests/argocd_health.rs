//! The Argo CD health checks in `deploy/argocd/`, run by a real Lua 5.1 interpreter (Argo CD runs
//! gopher-lua, a Lua 5.1) on the status fixtures in `tests/fixtures/argocd/`.
//!
//! Each fixture's object becomes a Lua table literal; a small wrapper runs the script in an
//! environment with nothing but the base functions it may use (Argo CD opens no string or math
//! library for health checks unless told to) and prints the status and message it returns.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tools::{root, tool};

#[path = "support/tools.rs"]
mod tools;

/// `lua5.1`, installed by `tests/tools/install-lua.sh` when missing.
fn lua() -> PathBuf {
    tool("tests/tools/install-lua.sh")
}

fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// A Lua table constructor for a JSON value, as Argo CD converts objects: maps become tables with
/// string keys, lists become sequences from 1, null becomes nil (the key is left out).
fn lua_value(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua_value).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_value(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Runs `script` on `obj`: Ok((status, message)), or Err(what the interpreter said).
fn run_health(script: &Path, obj: &Value) -> Result<(String, String), String> {
    let wrapper = format!(
        r#"
local script = assert(loadfile({path}))
local obj = {obj}
-- Strings lose their methods (no string library), and the script sees only base functions.
getmetatable("").__index = nil
setfenv(script, {{
  obj = obj, type = type, ipairs = ipairs, pairs = pairs, next = next, tostring = tostring,
  tonumber = tonumber, select = select, error = error, pcall = pcall, unpack = unpack,
}})
local ok, hs = pcall(script)
if not ok then
  io.stderr:write("script failed: ", tostring(hs), "\n")
  os.exit(3)
end
if type(hs) ~= "table" then
  io.stderr:write("script returned ", type(hs), ", not a table\n")
  os.exit(4)
end
io.write(tostring(hs.status), "\n", tostring(hs.message), "\n")
"#,
        path = lua_string(script.to_str().expect("utf-8 path")),
        obj = lua_value(obj),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("wrapper.lua");
    std::fs::write(&file, wrapper).expect("write wrapper");
    let out = Command::new(lua())
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("lua5.1 runs");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let (status, message) = text.split_once('\n').expect("two lines");
    Ok((status.to_string(), message.trim_end_matches('\n').to_string()))
}

fn fixtures(file: &str) -> Vec<Value> {
    let path = root().join("tests/fixtures/argocd").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// Runs every fixture of `fixture_file` through `script`; returns the failures, one line each.
fn check(script: &str, fixture_file: &str) {
    let script_path = root().join("deploy/argocd").join(script);
    let cases = fixtures(fixture_file);
    assert!(cases.len() >= 8, "{fixture_file}: at least 8 fixtures");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("fixture name");
        let expect = &case["expect"];
        let (status, message) = match run_health(&script_path, &case["obj"]) {
            Ok(result) => result,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let want_status = expect["status"].as_str().expect("expect.status");
        if status != want_status {
            failures.push(format!(
                "{name}: status {status:?}, want {want_status:?} (message {message:?})"
            ));
        }
        if let Some(want) = expect["message"].as_str()
            && message != want
        {
            failures.push(format!("{name}: message {message:?}, want {want:?}"));
        }
        if let Some(want) = expect["messageContains"].as_str()
            && !message.contains(want)
        {
            failures.push(format!("{name}: message {message:?} lacks {want:?}"));
        }
        assert!(
            expect["message"].is_string() || expect["messageContains"].is_string(),
            "{name}: say what the message should be"
        );
    }
    assert!(failures.is_empty(), "{script}:\n{}", failures.join("\n"));
}

#[test]
fn connectssoapp_health() {
    check("health-connectssoapp.lua", "connectssoapp.yaml");
}

#[test]
fn connectusermapping_health() {
    check("health-connectusermapping.lua", "connectusermapping.yaml");
}

/// The fixtures cover the cases the health check is specified by.
#[test]
fn fixtures_cover_the_decision_table() {
    for file in ["connectssoapp.yaml", "connectusermapping.yaml"] {
        let cases = fixtures(file);
        let statuses: Vec<&str> = cases.iter().filter_map(|c| c["expect"]["status"].as_str()).collect();
        for wanted in ["Healthy", "Progressing", "Degraded"] {
            assert!(statuses.contains(&wanted), "{file}: no {wanted} fixture");
        }
        let names: Vec<&str> = cases.iter().filter_map(|c| c["name"].as_str()).collect();
        for topic in [
            "no status",
            "earlier generation",
            "reconciling",
            "stalled",
            "transient",
            "warning",
            "malformed conditions",
        ] {
            assert!(
                names.iter().any(|n| n.contains(topic)),
                "{file}: no fixture about {topic:?}"
            );
        }
    }
}

/// A script that fails must fail the test (the wrapper is not lenient), and a string method call
/// fails as it would in Argo CD without the string library.
#[test]
fn wrapper_reports_script_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.lua");
    std::fs::write(&broken, "return { status = obj.status.phase:lower() }\n").unwrap();
    let obj = serde_json::json!({"status": {"phase": "Ready"}});
    let err = run_health(&broken, &obj).expect_err("string methods are not available");
    assert!(err.contains("script failed"), "{err}");
}

/// `argocd-cm.yaml` carries the two scripts verbatim, under the keys Argo CD reads.
#[test]
fn argocd_cm_embeds_the_scripts() {
    let text = std::fs::read_to_string(root().join("deploy/argocd/argocd-cm.yaml")).unwrap();
    let cm: Value = serde_saphyr::from_str(&text).expect("argocd-cm.yaml");
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let data = cm["data"].as_object().expect("data");
    let keys: Vec<&String> = data.keys().collect();
    assert_eq!(
        keys,
        [
            "resource.customizations.health.connectsso.io_ConnectSsoApp",
            "resource.customizations.health.connectsso.io_ConnectUserMapping"
        ]
    );
    for (key, file) in [
        (
            "resource.customizations.health.connectsso.io_ConnectSsoApp",
            "health-connectssoapp.lua",
        ),
        (
            "resource.customizations.health.connectsso.io_ConnectUserMapping",
            "health-connectusermapping.lua",
        ),
    ] {
        let script = std::fs::read_to_string(root().join("deploy/argocd").join(file)).unwrap();
        assert!(data[key].as_str() == Some(script.as_str()), "{key} differs from {file}");
    }
}

/// The example Application syncs the examples directory.
#[test]
fn application_syncs_the_examples() {
    let text = std::fs::read_to_string(root().join("deploy/argocd/application.yaml")).unwrap();
    let app: Value = serde_saphyr::from_str(&text).expect("application.yaml");
    assert_eq!(app["kind"], "Application");
    assert_eq!(app["spec"]["source"]["path"], "deploy/examples");
    assert!(root().join("deploy/examples").is_dir());
}
