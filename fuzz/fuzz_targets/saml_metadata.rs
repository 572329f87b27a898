//! `saml::parse` on any text: never panics, and whatever it accepts is usable as IAM's trust anchor.
#![no_main]

use connect_sso_operator::saml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(metadata) = saml::parse(xml) else {
        return;
    };
    // What `parse` promises: an entity id, https sign-in endpoints and at least one certificate.
    assert!(!metadata.entity_id.trim().is_empty());
    assert!(!metadata.sso_services.is_empty());
    assert!(
        metadata
            .sso_services
            .iter()
            .all(|s| s.location.to_ascii_lowercase().starts_with("https://"))
    );
    let certificate = metadata
        .try_signing_certificate()
        .expect("parse never returns metadata without a signing certificate");
    assert_eq!(certificate.sha256_fingerprint.len(), 95, "AA:BB:... of 32 bytes");
    assert!(metadata.same_trust(&metadata));
    // Parsing is deterministic.
    assert_eq!(saml::parse(xml).as_ref(), Ok(&metadata));
});
