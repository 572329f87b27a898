//! Decoding OneLogin answers (`App`, `User`, `Role`, app lists) and `error::parse_error_body` on any
//! bytes: never panics, and an error summary of a non-JSON body never echoes it whole.
#![no_main]

use connect_sso_operator::onelogin::error::parse_error_body;
use connect_sso_operator::onelogin::{App, AppSummary, Role, User};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(app) = serde_json::from_slice::<App>(data) {
        for key in app.configuration.keys() {
            let _ = app.config_str(key);
        }
        let _ = format!("{app:?}");
    }
    let _ = serde_json::from_slice::<Vec<AppSummary>>(data);
    let _ = serde_json::from_slice::<User>(data).map(|u| u.is_active());
    let _ = serde_json::from_slice::<Vec<User>>(data);
    let _ = serde_json::from_slice::<Role>(data);
    let _ = serde_json::from_slice::<Vec<Role>>(data);

    // The first two bytes pick the status, as any status can carry any body.
    let status = match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 500,
    };
    let body = String::from_utf8_lossy(data.get(2..).unwrap_or_default());
    let (name, message) = parse_error_body(status, &body);
    assert!(!name.is_empty());
    if serde_json::from_str::<serde_json::Value>(&body).is_err() {
        assert!(
            message.chars().count() <= 120,
            "a non-JSON body is summarised, not echoed"
        );
    }
});
