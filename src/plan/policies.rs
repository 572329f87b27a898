//! The two IAM policy documents, and comparing documents the way IAM means them.

use std::collections::BTreeSet;
use std::fmt;

use percent_encoding::percent_decode_str;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};
use thiserror::Error;

use super::arn::InstanceArn;

/// Allows `connect:GetFederationToken` only for the Connect user named by the role session,
/// so a session can never federate as someone else.
pub fn permission_policy(instance: &InstanceArn) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "FederateAsSessionUser",
            "Effect": "Allow",
            "Action": "connect:GetFederationToken",
            "Resource": format!("{instance}/user/${{aws:userid}}"),
        }]
    })
}

/// Trusts the SAML provider for `AssumeRoleWithSAML`, only for assertions posted to `acs_url`.
/// `sts:TagSession` lets an admin add session tags in OneLogin later without breaking sign-in.
pub fn trust_policy(provider_arn: &str, acs_url: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            "Condition": { "StringEquals": { "SAML:aud": acs_url } },
        }]
    })
}

#[derive(Debug, Error)]
pub enum DocumentError {
    #[error("the policy document IAM returned is not JSON after percent-decoding: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the policy document IAM returned is JSON but not an object")]
    NotAnObject,
}

/// Reads a document as IAM returns it: percent-encoded (RFC 3986, where '+' is a plus, not a
/// space) or, from some emulators, raw JSON. Only an object is a policy: a raw JSON string could
/// hold a '%' sequence, which would read differently the next time the document is compared.
pub fn decode_document(raw: &str) -> Result<Value, DocumentError> {
    let trimmed = raw.trim_start();
    let text = if trimmed.starts_with('{') {
        std::borrow::Cow::Borrowed(raw)
    } else {
        percent_decode_str(raw).decode_utf8_lossy()
    };
    let mut de = serde_json::Deserializer::from_str(&text);
    let Plain(document) = Plain::deserialize(&mut de)?;
    de.end()?;
    if !document.is_object() {
        return Err(DocumentError::NotAnObject);
    }
    Ok(document)
}

/// A JSON value read key by key. serde_json's own `Value`, with its `raw_value` feature on (axum
/// turns it on), reads an object whose first key is `$serde_json::private::RawValue` as the JSON
/// text in its value: a condition key of that name (IAM allows any) would be read as something
/// else, and could make a changed document look like the planned one (found by fuzzing).
struct Plain(Value);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PlainVisitor).map(Plain)
    }
}

struct PlainVisitor;

impl<'de> Visitor<'de> for PlainVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON text cannot hold NaN or infinity, so this is always a number.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Plain(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((key, Plain(value))) = map.next_entry::<String, Plain>()? {
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Whether two documents mean the same to IAM: key order, a string versus a one-element list,
/// and the order inside lists do not matter.
pub fn same_meaning(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

/// Canonical form: objects sorted (serde_json's map is ordered), every list turned into a sorted
/// set of canonical values, and single values into one-element sets.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let out: Map<String, Value> = map.iter().map(|(k, v)| (k.clone(), normalize_member(v))).collect();
            Value::Object(out)
        }
        other => normalize_member(other),
    }
}

fn normalize_member(v: &Value) -> Value {
    match v {
        Value::Array(items) => set_of(items.iter()),
        Value::Object(_) => set_of(std::iter::once(v)),
        scalar => set_of(std::iter::once(scalar)),
    }
}

fn set_of<'a>(items: impl Iterator<Item = &'a Value>) -> Value {
    let set: BTreeSet<String> = items
        .map(|item| match item {
            Value::Object(_) => normalize(item).to_string(),
            Value::Array(_) => normalize_member(item).to_string(),
            scalar => scalar.to_string(),
        })
        .collect();
    Value::Array(set.into_iter().map(Value::String).collect())
}
