//! `InstanceArn::from_str` on any text: never panics; what it accepts prints back as itself and
//! parses to the same value (parse → Display → parse).
#![no_main]

use connect_sso_operator::plan::InstanceArn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<InstanceArn>() {
        Ok(arn) => {
            let shown = arn.to_string();
            assert_eq!(
                shown.parse::<InstanceArn>().as_ref(),
                Ok(&arn),
                "round trip of {text:?}"
            );
            // The parser is strict, so the accepted text is already the canonical form.
            assert_eq!(shown, text);
        }
        Err(e) => {
            // The message quotes at most a prefix of the input (it ends up in conditions).
            let _ = e.to_string();
            assert!(e.input.chars().count() <= 300);
        }
    }
});
