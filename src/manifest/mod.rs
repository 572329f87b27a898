//! Reading a YAML stream of our resources and checking each the way the API server would:
//! schema, then the CRD's own CEL rules (the same rules, evaluated client-side), then typed
//! decoding. Every problem names the document, the field and what is allowed.

mod schema;

use std::fmt;

use kube::core::cel::Validator;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;

use crate::api::{ConnectSsoApp, ConnectUserMapping, GROUP, VERSION};
use crate::crds;

/// One of our resources read from a file.
#[allow(clippy::large_enum_variant)] // a few per file: not worth a box
#[derive(Clone, Debug)]
pub enum Resource {
    App(ConnectSsoApp),
    Mapping(ConnectUserMapping),
}

/// A problem with one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path from the document root, e.g. `spec.connect.instanceArn`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("{source_name}: not valid YAML: {message}")]
    Yaml { source_name: String, message: String },
    #[error("{source_name}: no documents")]
    Empty { source_name: String },
    #[error("{}", render_invalid(.source_name, .document, .what, .errors))]
    Invalid {
        source_name: String,
        document: usize,
        what: String,
        errors: Vec<FieldError>,
    },
}

fn render_invalid(source_name: &str, document: &usize, what: &str, errors: &[FieldError]) -> String {
    let mut out = format!("{source_name}, document {document}{what}:");
    for e in errors {
        out.push_str(&format!("\n  {e}"));
    }
    out
}

const API_VERSION: &str = "connectsso.io/v1alpha1";

/// What `read` found: our resources, and the other documents it passed over.
#[derive(Debug, Default)]
pub struct Read {
    pub resources: Vec<Resource>,
    /// `document N: <kind> <name>` for documents of other API groups, such as a Secret.
    pub skipped: Vec<String>,
}

/// Reads every document of `text`; `source_name` (a path, or `-`) appears in messages.
/// Empty documents and other API groups' documents are passed over; `default_namespace` fills in
/// a missing `metadata.namespace`.
pub fn read(text: &str, source_name: &str, default_namespace: &str) -> Result<Read, ManifestError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| ManifestError::Yaml {
        source_name: source_name.to_string(),
        message: e.to_string(),
    })?;
    let mut out = Read::default();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        if let Some(other) = foreign(&doc) {
            out.skipped.push(format!("{source_name}, document {}: {other}", i + 1));
            continue;
        }
        let invalid = |what: String, errors: Vec<FieldError>| ManifestError::Invalid {
            source_name: source_name.to_string(),
            document: i + 1,
            what,
            errors,
        };
        out.resources
            .push(read_document(doc, default_namespace).map_err(|(what, errors)| invalid(what, errors))?);
    }
    if out.resources.is_empty() {
        return Err(ManifestError::Empty {
            source_name: source_name.to_string(),
        });
    }
    Ok(out)
}

type DocError = (String, Vec<FieldError>);

/// `Some("<kind> <name>")` for a document of another API group with a kind not ours. A document
/// of our group, or of one of our kinds, is read (and so reported if its apiVersion is wrong).
fn foreign(doc: &Value) -> Option<String> {
    let api_version = doc.get("apiVersion").and_then(Value::as_str)?;
    let kind = doc.get("kind").and_then(Value::as_str)?;
    let ours = api_version.split('/').next() == Some(GROUP) || matches!(kind, "ConnectSsoApp" | "ConnectUserMapping");
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    (!ours).then(|| format!("{kind} {name} is not a {GROUP} resource; skipped"))
}

fn read_document(mut doc: Value, default_namespace: &str) -> Result<Resource, DocError> {
    let err = |field: &str, message: String| {
        (
            String::new(),
            vec![FieldError {
                field: field.into(),
                message,
            }],
        )
    };
    let Some(map) = doc.as_object_mut() else {
        return Err(err(
            "(document)",
            "must be a mapping with apiVersion, kind, metadata and spec".into(),
        ));
    };
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version != API_VERSION {
        return Err(err(
            "apiVersion",
            format!("must be {API_VERSION}, not {:?}", api_version),
        ));
    }
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let crd_name = match kind.as_str() {
        "ConnectSsoApp" => "connectssoapps",
        "ConnectUserMapping" => "connectusermappings",
        other => {
            return Err(err(
                "kind",
                format!("must be ConnectSsoApp or ConnectUserMapping, not {other:?}"),
            ));
        }
    };
    // Status is the operator's; a manifest's status is ignored, as the API server would.
    map.remove("status");
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let what = format!(" ({kind} {name:?})");
    let mut errors = check_metadata(metadata, default_namespace);

    let schema = crds::schema_of(&format!("{crd_name}.{GROUP}")).map_err(|e| (what.clone(), vec![e]))?;
    let mut body = doc.clone();
    if let Some(body) = body.as_object_mut() {
        // The schema covers spec; metadata was checked above with Kubernetes' own rules.
        body.remove("metadata");
        body.remove("apiVersion");
        body.remove("kind");
    }
    schema::check(&strip_root(&schema), &body, "", &mut errors);
    if errors.is_empty() {
        errors.extend(cel_errors(&schema, &doc));
    }
    if !errors.is_empty() {
        return Err((what, errors));
    }
    let resource = match kind.as_str() {
        "ConnectSsoApp" => decode::<ConnectSsoApp>(doc).map(Resource::App),
        _ => decode::<ConnectUserMapping>(doc).map(Resource::Mapping),
    };
    resource.map_err(|e| (what, vec![e]))
}

/// The root schema without apiVersion/kind/metadata, which are checked separately.
fn strip_root(schema: &Value) -> Value {
    let mut s = schema.clone();
    if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
        props.remove("apiVersion");
        props.remove("kind");
        props.remove("metadata");
    }
    s
}

fn check_metadata(metadata: &mut Value, default_namespace: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(meta) = metadata.as_object_mut() else {
        return vec![FieldError {
            field: "metadata".into(),
            message: "must be a mapping with a name".into(),
        }];
    };
    match meta.get("name").and_then(Value::as_str) {
        None => errors.push(FieldError {
            field: "metadata.name".into(),
            message: "is required".into(),
        }),
        Some(name) => {
            if let Some(problem) = dns_problem(name, 253, true) {
                errors.push(FieldError {
                    field: "metadata.name".into(),
                    message: problem,
                });
            }
        }
    }
    match meta.get("namespace") {
        None => {
            meta.insert("namespace".into(), Value::String(default_namespace.to_string()));
        }
        Some(Value::String(ns)) => {
            if let Some(problem) = dns_problem(ns, 63, false) {
                errors.push(FieldError {
                    field: "metadata.namespace".into(),
                    message: problem,
                });
            }
        }
        Some(_) => errors.push(FieldError {
            field: "metadata.namespace".into(),
            message: "must be a string".into(),
        }),
    }
    errors
}

/// Kubernetes object names: DNS subdomains (with dots) or, for namespaces, DNS labels.
fn dns_problem(s: &str, max: usize, dots: bool) -> Option<String> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let ok = s.len() <= max && if dots { s.split('.').all(label_ok) } else { label_ok(s) };
    (!ok).then(|| {
        format!(
            "{s:?} is not a valid name: at most {max} lower-case letters, digits{} and '-', starting and ending with a letter or digit",
            if dots { ", '.'" } else { "" }
        )
    })
}

fn cel_errors(schema: &Value, doc: &Value) -> Vec<FieldError> {
    match Validator::new().validate(schema, doc, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| FieldError {
                field: e.field_path.trim_start_matches('.').to_string(),
                message: e.message.clone(),
            })
            .collect(),
    }
}

fn decode<T: DeserializeOwned>(doc: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(doc).map_err(|e| FieldError {
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

impl Resource {
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::App(_) => "ConnectSsoApp",
            Resource::Mapping(_) => "ConnectUserMapping",
        }
    }

    pub fn id(&self) -> crate::plan::ResourceId {
        let meta = match self {
            Resource::App(a) => &a.metadata,
            Resource::Mapping(m) => &m.metadata,
        };
        crate::plan::ResourceId {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

/// The API version our kinds are served at, for messages and tests.
pub fn api_version() -> String {
    format!("{GROUP}/{VERSION}")
}
