//! Installing CustomResourceDefinitions from YAML files and waiting until they are served.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use super::{Error, FIELD_MANAGER, describe};

/// `crds/*.yaml` of this crate, sorted.
pub fn default_files() -> Vec<PathBuf> {
    yaml_files(&super::assets::manifest_dir().join("crds"))
}

pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Every CRD document in `files`.
pub fn read(files: &[PathBuf]) -> Result<Vec<CustomResourceDefinition>, Error> {
    let mut crds = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| Error::msg(format!("reading {}: {e}", file.display())))?;
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| Error::msg(format!("parsing {}: {e}", file.display())))?;
        for doc in docs
            .into_iter()
            .filter(|d| d.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition"))
        {
            crds.push(serde_json::from_value(doc).map_err(|e| Error::msg(format!("CRD in {}: {e}", file.display())))?);
        }
    }
    Ok(crds)
}

/// Server-side applies every CRD, then waits until each is Established with its names accepted.
pub async fn install(
    client: &Client,
    crds: &[CustomResourceDefinition],
    timeout: Duration,
) -> Result<Vec<String>, Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for crd in crds {
        let name = crd
            .metadata
            .name
            .clone()
            .ok_or_else(|| Error::msg("a CRD without metadata.name"))?;
        let mut crd = crd.clone();
        crd.metadata.resource_version = None;
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&crd))
            .await
            .map_err(|e| Error::msg(format!("the API server rejected CRD {name}: {}", describe(&e))))?;
        names.push(name);
    }
    let deadline = Instant::now() + timeout;
    for name in &names {
        loop {
            let crd = api
                .get(name)
                .await
                .map_err(|e| Error::msg(format!("reading CRD {name}: {}", describe(&e))))?;
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            let is_true = |t: &str| conditions.iter().any(|c| c.type_ == t && c.status == "True");
            if is_true("Established") && is_true("NamesAccepted") {
                break;
            }
            if Instant::now() > deadline {
                let summary: Vec<String> = conditions
                    .iter()
                    .map(|c| format!("{}={} ({})", c.type_, c.status, c.message.as_deref().unwrap_or("")))
                    .collect();
                return Err(Error::timeout(format!(
                    "CRD {name} not Established after {timeout:?}: {summary:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(names)
}
