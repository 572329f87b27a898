//! The OpenAPI checks the API server makes before CEL: types, required and unknown fields,
//! enums, lengths, ranges and set uniqueness. Only the keywords our CRDs use are understood.

use std::collections::HashSet;

use serde_json::Value;

use super::FieldError;

pub fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let mut fail = |message: String| {
        errors.push(FieldError {
            field: path.to_string(),
            message,
        })
    };
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) {
            fail("must not be null".into());
        }
        return;
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    let type_ok = match ty {
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        _ => true,
    };
    if !type_ok {
        fail(format!("must be {}, not {}", article(ty), describe(value)));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        let allowed: Vec<&Value> = allowed.iter().filter(|v| !v.is_null()).collect();
        if !allowed.contains(&value) {
            let names: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
            fail(format!("{value} is not allowed; use one of {}", names.join(", ")));
        }
    }
    match value {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64).filter(|max| len > *max) {
                fail(format!("is {len} characters long; at most {max} are allowed"));
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64).filter(|min| len < *min) {
                fail(format!(
                    "must be at least {min} character{} long",
                    if min == 1 { "" } else { "s" }
                ));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64).filter(|max| n > *max) {
                fail(format!("{n} is more than the maximum, {max}"));
            }
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64).filter(|min| n < *min) {
                fail(format!("{n} is less than the minimum, {min}"));
            }
        }
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64).filter(|max| len > *max) {
                fail(format!("has {len} items; at most {max} are allowed"));
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64).filter(|min| len < *min) {
                fail(format!("needs at least {min} item(s)"));
            }
            if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
                let mut seen = HashSet::new();
                for item in items {
                    if !seen.insert(item.to_string()) {
                        fail(format!("lists {item} more than once; each item may appear once"));
                    }
                }
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        Value::Object(map) => {
            let len = map.len() as u64;
            if let Some(max) = schema
                .get("maxProperties")
                .and_then(Value::as_u64)
                .filter(|max| len > *max)
            {
                fail(format!("has {len} entries; at most {max} are allowed"));
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if let Some(key) = required.as_str().filter(|k| !map.contains_key(*k)) {
                    errors.push(FieldError {
                        field: join(path, key),
                        message: "is required".into(),
                    });
                }
            }
            for (key, child) in map {
                let child_path = join(path, key);
                match (properties.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                    (Some(child_schema), _) => check(child_schema, child, &child_path, errors),
                    (None, Some(extra)) if extra.is_object() => check(extra, child, &child_path, errors),
                    _ => errors.push(FieldError {
                        field: child_path,
                        message: match properties {
                            Some(p) => format!(
                                "unknown field; allowed here: {}",
                                p.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
                            ),
                            None => "unknown field".to_string(),
                        },
                    }),
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn article(ty: &str) -> String {
    match ty {
        "integer" => "an integer".into(),
        "object" => "a mapping of fields".into(),
        "array" => "a list".into(),
        other => format!("a {other}"),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {:?}", s.chars().take(60).collect::<String>()),
        Value::Number(n) => format!("the number {n}"),
        Value::Bool(b) => format!("{b}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
        Value::Null => "null".into(),
    }
}
