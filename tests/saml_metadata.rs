//! Parsing and validation of OneLogin IdP SAML metadata (`connect_sso_operator::saml`).

use std::time::{Duration, Instant};

use base64::Engine as _;
use connect_sso_operator::saml::{self, IdpMetadata, MAX_METADATA_BYTES, MetadataError, SsoService};
use k8s_openapi::jiff::Timestamp;
use pretty_assertions::assert_eq;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, date_time_ymd};
use sha2::{Digest as _, Sha256};

const ENTITY_ID: &str = "https://app.onelogin.com/saml/metadata/6f1b3c2e-9d4a-4e8b-a1c7-0d2e5f6a7b8c";
const REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const SOAP: &str = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP";
const SSO_REDIRECT: &str =
    "https://example.onelogin.com/trust/saml2/http-redirect/sso/6f1b3c2e-9d4a-4e8b-a1c7-0d2e5f6a7b8c";
const SSO_POST: &str = "https://example.onelogin.com/trust/saml2/http-post/sso/6f1b3c2e-9d4a-4e8b-a1c7-0d2e5f6a7b8c";
const SSO_SOAP: &str = "https://example.onelogin.com/trust/saml2/soap/sso/6f1b3c2e-9d4a-4e8b-a1c7-0d2e5f6a7b8c";

/// A self-signed certificate valid from 2024-01-01 until `not_after` (y, m, d), as OneLogin would publish.
struct TestCert {
    der: Vec<u8>,
    not_after: Timestamp,
}

impl TestCert {
    fn new(common_name: &str, not_after: (i32, u8, u8)) -> TestCert {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "OneLogin Inc");
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.not_before = date_time_ymd(2024, 1, 1);
        params.not_after = date_time_ymd(not_after.0, not_after.1, not_after.2);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let not_after = format!("{:04}-{:02}-{:02}T00:00:00Z", not_after.0, not_after.1, not_after.2)
            .parse()
            .unwrap();
        TestCert {
            der: cert.der().to_vec(),
            not_after,
        }
    }

    /// Base64 wrapped at 64 columns with embedded newlines, as in OneLogin's documents.
    fn wrapped_base64(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        lines.join("\n")
    }

    /// Independently of the library: upper-case hex SHA-256, colon-separated.
    fn expected_fingerprint(&self) -> String {
        Sha256::digest(&self.der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// The shape OneLogin publishes (reference §6): default metadata namespace, `ds:` prefix for XML-DSig.
fn onelogin_metadata(entity_id: &str, certs: &[&TestCert]) -> String {
    let key_descriptors: String = certs
        .iter()
        .map(|c| {
            format!(
                r#"
    <KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
        <ds:X509Data>
          <ds:X509Certificate>{}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </KeyDescriptor>"#,
                c.wrapped_base64()
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity_id}">
  <IDPSSODescriptor xmlns:ds="http://www.w3.org/2000/09/xmldsig#" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{key_descriptors}
    <SingleLogoutService Binding="{REDIRECT}" Location="https://example.onelogin.com/trust/saml2/http-redirect/slo/1234567"/>
    <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
    <SingleSignOnService Binding="{REDIRECT}" Location="{SSO_REDIRECT}"/>
    <SingleSignOnService Binding="{POST}" Location="{SSO_POST}"/>
    <SingleSignOnService Binding="{SOAP}" Location="{SSO_SOAP}"/>
  </IDPSSODescriptor>
  <ContactPerson contactType="technical">
    <SurName>Support</SurName>
    <EmailAddress>support@onelogin.com</EmailAddress>
  </ContactPerson>
</EntityDescriptor>
"#
    )
}

/// The same trust as `onelogin_metadata` for one certificate, written differently: `md:` prefix, dsig declared on
/// the root under another prefix, attributes and elements reordered, one line, extra unrelated elements and
/// a comment splitting the base64.
fn reformatted_metadata(entity_id: &str, cert: &TestCert) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&cert.der);
    let (head, tail) = b64.split_at(100);
    format!(
        concat!(
            r#"<md:EntityDescriptor entityID="{entity_id}" xmlns:sig="http://www.w3.org/2000/09/xmldsig#" "#,
            r#"xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="x1">"#,
            r#"<md:Extensions><other xmlns="urn:example:ext">ignored</other></md:Extensions>"#,
            r#"<md:IDPSSODescriptor WantAuthnRequestsSigned="false" "#,
            r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol urn:oasis:names:tc:SAML:2.0:protocol">"#,
            r#"<md:SingleSignOnService Location="{soap}" Binding="{soap_b}"/>"#,
            r#"<md:SingleSignOnService Location="{post}" Binding="{post_b}"/>"#,
            r#"<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"#,
            r#"<md:KeyDescriptor><sig:KeyInfo><sig:KeyName>k</sig:KeyName><sig:X509Data>"#,
            r#"<sig:X509Certificate>  {head}<!-- split -->{tail}  </sig:X509Certificate>"#,
            r#"</sig:X509Data></sig:KeyInfo></md:KeyDescriptor>"#,
            r#"<md:SingleSignOnService Location="{redirect}" Binding="{redirect_b}"/>"#,
            r#"</md:IDPSSODescriptor>"#,
            r#"<md:Organization><md:OrganizationName xml:lang="en">Example</md:OrganizationName></md:Organization>"#,
            r#"</md:EntityDescriptor>"#,
        ),
        entity_id = entity_id,
        soap = SSO_SOAP,
        soap_b = SOAP,
        post = SSO_POST,
        post_b = POST,
        redirect = SSO_REDIRECT,
        redirect_b = REDIRECT,
        head = head,
        tail = tail,
    )
}

/// A document around one IDPSSODescriptor body, for the rejection tests.
fn with_idp_body(body: &str) -> String {
    format!(
        r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ENTITY_ID}">
  <IDPSSODescriptor xmlns:ds="http://www.w3.org/2000/09/xmldsig#" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
{body}
  </IDPSSODescriptor>
</EntityDescriptor>"#
    )
}

fn key_descriptor(use_attr: &str, base64: &str) -> String {
    format!(
        r#"<KeyDescriptor {use_attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{base64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></KeyDescriptor>"#
    )
}

fn sso(binding: &str, location: &str) -> String {
    format!(r#"<SingleSignOnService Binding="{binding}" Location="{location}"/>"#)
}

fn cert() -> TestCert {
    TestCert::new("app.onelogin.com", (2031, 6, 30))
}

#[track_caller]
fn rejected(xml: &str) -> MetadataError {
    let err = saml::parse(xml).expect_err("metadata should be refused");
    assert_eq!(err.reason(), "InvalidMetadata");
    err
}

#[track_caller]
fn assert_message(err: &MetadataError, fragments: &[&str]) {
    let message = err.to_string();
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "message {message:?} should mention {fragment:?}"
        );
    }
}

#[test]
fn parses_onelogin_metadata() {
    let cert = cert();
    let metadata = saml::parse(&onelogin_metadata(ENTITY_ID, &[&cert])).unwrap();

    assert_eq!(metadata.entity_id, ENTITY_ID);
    let service = |binding: &str, location: &str| SsoService {
        binding: binding.into(),
        location: location.into(),
    };
    assert_eq!(
        metadata.sso_services,
        vec![
            service(REDIRECT, SSO_REDIRECT),
            service(POST, SSO_POST),
            service(SOAP, SSO_SOAP)
        ]
    );
    assert_eq!(metadata.signing_certificates.len(), 1);
    let signing = metadata.signing_certificate();
    assert_eq!(signing.der, cert.der);
    assert_eq!(signing.not_after, "2031-06-30T00:00:00Z".parse::<Timestamp>().unwrap());
    assert_eq!(signing.not_before, "2024-01-01T00:00:00Z".parse::<Timestamp>().unwrap());
    assert!(
        signing.subject.contains("CN=app.onelogin.com"),
        "subject {:?}",
        signing.subject
    );
    assert!(
        signing.subject.contains("O=OneLogin Inc"),
        "subject {:?}",
        signing.subject
    );
}

#[test]
fn fingerprint_is_sha256_of_der_in_colon_separated_upper_hex() {
    let cert = cert();
    let metadata = saml::parse(&onelogin_metadata(ENTITY_ID, &[&cert])).unwrap();
    let fingerprint = &metadata.signing_certificate().sha256_fingerprint;
    assert_eq!(fingerprint, &cert.expected_fingerprint());
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    assert!(
        fingerprint
            .chars()
            .all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase())
    );
}

#[test]
fn parses_md_and_custom_dsig_prefixes_in_any_order() {
    let cert = cert();
    let metadata = saml::parse(&reformatted_metadata(ENTITY_ID, &cert)).unwrap();
    assert_eq!(metadata.entity_id, ENTITY_ID);
    assert_eq!(metadata.sso_services.len(), 3);
    assert_eq!(
        metadata.signing_certificate().sha256_fingerprint,
        cert.expected_fingerprint()
    );
}

#[test]
fn parses_dsig_as_default_namespace() {
    let cert = cert();
    // Metadata under prefix `saml2md`, XML-DSig as the default namespace inside KeyInfo, CDATA around the base64.
    let xml = format!(
        r#"<saml2md:EntityDescriptor xmlns:saml2md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ENTITY_ID}">
  <saml2md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <saml2md:KeyDescriptor use="signing">
      <KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate><![CDATA[
{}
]]></X509Certificate></X509Data></KeyInfo>
    </saml2md:KeyDescriptor>
    <saml2md:SingleSignOnService Binding="{POST}" Location="{SSO_POST}"/>
  </saml2md:IDPSSODescriptor>
</saml2md:EntityDescriptor>"#,
        cert.wrapped_base64()
    );
    let metadata = saml::parse(&xml).unwrap();
    assert_eq!(
        metadata.sso_services,
        vec![SsoService {
            binding: POST.into(),
            location: SSO_POST.into()
        }]
    );
    assert_eq!(
        metadata.signing_certificate().sha256_fingerprint,
        cert.expected_fingerprint()
    );
}

#[test]
fn collects_every_signing_certificate_and_picks_the_one_expiring_last() {
    let old = TestCert::new("old.onelogin.com", (2026, 3, 1));
    let new = TestCert::new("new.onelogin.com", (2034, 3, 1));
    let encryption = TestCert::new("encryption.onelogin.com", (2040, 1, 1));
    let xml = with_idp_body(&format!(
        "{}\n{}\n{}\n{}",
        key_descriptor(r#"use="signing""#, &new.wrapped_base64()),
        key_descriptor(r#"use="encryption""#, &encryption.wrapped_base64()),
        key_descriptor("", &old.wrapped_base64()),
        sso(REDIRECT, SSO_REDIRECT),
    ));
    let metadata = saml::parse(&xml).unwrap();
    let fingerprints: Vec<&str> = metadata
        .signing_certificates
        .iter()
        .map(|c| c.sha256_fingerprint.as_str())
        .collect();
    assert_eq!(
        fingerprints,
        vec![new.expected_fingerprint().as_str(), old.expected_fingerprint().as_str()]
    );
    assert_eq!(
        metadata.signing_certificate().sha256_fingerprint,
        new.expected_fingerprint()
    );
    assert_eq!(metadata.signing_certificate().not_after, new.not_after);
}

#[test]
fn expires_within_counts_days_from_now() {
    let cert = cert();
    let metadata = saml::parse(&onelogin_metadata(ENTITY_ID, &[&cert])).unwrap();
    let signing = metadata.signing_certificate();
    let now: Timestamp = "2031-05-31T00:00:00Z".parse().unwrap(); // 30 days before not_after
    assert!(signing.expires_within(now, 30));
    assert!(signing.expires_within(now, 31));
    assert!(!signing.expires_within(now, 29));
    assert!(!signing.expires_within("2026-01-01T00:00:00Z".parse().unwrap(), 30));
    // Already expired counts as expiring within any window.
    assert!(signing.expires_within("2032-01-01T00:00:00Z".parse().unwrap(), 0));
    // Extreme windows neither overflow nor panic.
    assert!(signing.expires_within(now, i64::MAX));
    assert!(!signing.expires_within(now, i64::MIN));
}

#[test]
fn same_trust_ignores_formatting_order_and_unrelated_elements() {
    let cert = cert();
    let original = saml::parse(&onelogin_metadata(ENTITY_ID, &[&cert])).unwrap();
    let reformatted = saml::parse(&reformatted_metadata(ENTITY_ID, &cert)).unwrap();
    assert!(original.same_trust(&reformatted));
    assert!(reformatted.same_trust(&original));
}

#[test]
fn same_trust_detects_certificate_rotation() {
    let before = cert();
    let after = TestCert::new("app.onelogin.com", (2031, 6, 30));
    let old = saml::parse(&onelogin_metadata(ENTITY_ID, &[&before])).unwrap();
    let rotated = saml::parse(&onelogin_metadata(ENTITY_ID, &[&after])).unwrap();
    let overlapping = saml::parse(&onelogin_metadata(ENTITY_ID, &[&before, &after])).unwrap();
    assert!(!old.same_trust(&rotated));
    assert!(
        !old.same_trust(&overlapping),
        "an added certificate is a change of trust"
    );
    assert!(!overlapping.same_trust(&rotated));
}

#[test]
fn same_trust_detects_entity_and_endpoint_changes() {
    let cert = cert();
    let original = saml::parse(&onelogin_metadata(ENTITY_ID, &[&cert])).unwrap();
    let other_entity = saml::parse(&onelogin_metadata(
        "https://app.onelogin.com/saml/metadata/SOMEACCOUNT",
        &[&cert],
    ))
    .unwrap();
    assert!(!original.same_trust(&other_entity));

    let mut moved: IdpMetadata = original.clone();
    moved.sso_services[1].location = "https://other.onelogin.com/trust/saml2/http-post/sso/1".into();
    assert!(!original.same_trust(&moved));
}

#[test]
fn accepts_entities_descriptor_with_one_identity_provider() {
    let cert = cert();
    let entity = onelogin_metadata(ENTITY_ID, &[&cert]).replace(r#"<?xml version="1.0"?>"#, "");
    let xml = format!(
        r#"<?xml version="1.0"?>
<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" Name="aggregate">
  <EntityDescriptor entityID="urn:amazon:webservices">
    <SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>
  </EntityDescriptor>
  {entity}
</EntitiesDescriptor>"#
    );
    let metadata = saml::parse(&xml).unwrap();
    assert_eq!(metadata.entity_id, ENTITY_ID);
}

#[test]
fn rejects_entities_descriptor_with_two_identity_providers() {
    let cert = cert();
    let one = onelogin_metadata(ENTITY_ID, &[&cert]).replace(r#"<?xml version="1.0"?>"#, "");
    let two = onelogin_metadata("https://app.onelogin.com/saml/metadata/other", &[&cert])
        .replace(r#"<?xml version="1.0"?>"#, "");
    let xml =
        format!(r#"<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata">{one}{two}</EntitiesDescriptor>"#);
    let err = rejected(&xml);
    assert!(matches!(err, MetadataError::AmbiguousEntities { count: 2 }), "{err:?}");
    assert_message(&err, &["EntitiesDescriptor", "2", "exactly one"]);
}

#[test]
fn rejects_text_that_is_not_xml() {
    let err = rejected("<html><body>502 Bad Gateway</body>");
    assert!(matches!(err, MetadataError::NotXml(_)), "{err:?}");
    assert_message(&err, &["not well-formed XML"]);
    assert!(matches!(rejected(""), MetadataError::NotXml(_)));
    assert!(matches!(rejected("{\"metadata\": \"nope\"}"), MetadataError::NotXml(_)));
}

#[test]
fn rejects_wrong_root_element() {
    let err = rejected(r#"<html xmlns="http://www.w3.org/1999/xhtml"><body>login</body></html>"#);
    assert!(matches!(err, MetadataError::WrongRoot { .. }), "{err:?}");
    assert_message(
        &err,
        &["html", "EntityDescriptor", "urn:oasis:names:tc:SAML:2.0:metadata"],
    );

    // The right local name without the metadata namespace is not metadata.
    let cert = cert();
    let no_namespace = onelogin_metadata(ENTITY_ID, &[&cert]).replace(
        r#"xmlns="urn:oasis:names:tc:SAML:2.0:metadata""#,
        r#"xmlns="urn:example:not-saml""#,
    );
    let err = rejected(&no_namespace);
    assert!(matches!(err, MetadataError::WrongRoot { .. }), "{err:?}");
    assert_message(&err, &["urn:example:not-saml"]);
}

#[test]
fn rejects_missing_or_empty_entity_id() {
    let cert = cert();
    let err = rejected(&onelogin_metadata("", &[&cert]));
    assert_eq!(err, MetadataError::MissingEntityId);
    assert_message(&err, &["entityID"]);
}

#[test]
fn rejects_missing_idp_descriptor() {
    let xml = format!(
        r#"<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{ENTITY_ID}">
  <SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>
</EntityDescriptor>"#
    );
    let err = rejected(&xml);
    assert_eq!(err, MetadataError::MissingIdpDescriptor);
    assert_message(&err, &["no IDPSSODescriptor", "identity provider"]);
}

#[test]
fn rejects_idp_without_saml2_protocol() {
    let cert = cert();
    let xml = onelogin_metadata(ENTITY_ID, &[&cert]).replace(
        r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol""#,
        r#"protocolSupportEnumeration="urn:oasis:names:tc:SAML:1.1:protocol urn:oasis:names:tc:SAML:2.0:protocolX""#,
    );
    let err = rejected(&xml);
    assert!(matches!(err, MetadataError::UnsupportedProtocol { .. }), "{err:?}");
    assert_message(
        &err,
        &["protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol"],
    );
}

#[test]
fn rejects_idp_without_browser_sso_service() {
    let cert = cert();
    let xml = with_idp_body(&format!(
        "{}\n{}",
        key_descriptor(r#"use="signing""#, &cert.wrapped_base64()),
        sso(SOAP, SSO_SOAP)
    ));
    let err = rejected(&xml);
    assert_eq!(err, MetadataError::NoUsableSsoService);
    assert_message(&err, &["SingleSignOnService", "HTTP-POST", "HTTP-Redirect"]);

    let none = with_idp_body(&key_descriptor(r#"use="signing""#, &cert.wrapped_base64()));
    assert_eq!(rejected(&none), MetadataError::NoUsableSsoService);
}

#[test]
fn rejects_plain_http_sso_location() {
    let cert = cert();
    let xml = with_idp_body(&format!(
        "{}\n{}\n{}",
        key_descriptor(r#"use="signing""#, &cert.wrapped_base64()),
        sso(POST, SSO_POST),
        sso(REDIRECT, "http://example.onelogin.com/trust/saml2/http-redirect/sso/1"),
    ));
    let err = rejected(&xml);
    assert!(
        matches!(err, MetadataError::InsecureSsoLocation { index: 2, .. }),
        "{err:?}"
    );
    assert_message(&err, &["http://example.onelogin.com", "https://", "HTTP-Redirect"]);

    let missing = with_idp_body(&format!(
        "{}\n<SingleSignOnService Binding=\"{POST}\"/>",
        key_descriptor(r#"use="signing""#, &cert.wrapped_base64())
    ));
    let err = rejected(&missing);
    assert_eq!(
        err,
        MetadataError::IncompleteSsoService {
            index: 1,
            attribute: "Location"
        }
    );
}

#[test]
fn rejects_metadata_without_signing_certificate() {
    let cert = cert();
    // Only an encryption key, and a "certificate" outside the XML-DSig namespace.
    let xml = with_idp_body(&format!(
        "{}\n<KeyDescriptor use=\"signing\"><KeyInfo xmlns=\"urn:example:not-dsig\"><X509Data><X509Certificate>{}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>\n{}",
        key_descriptor(r#"use="encryption""#, &cert.wrapped_base64()),
        cert.wrapped_base64(),
        sso(POST, SSO_POST),
    ));
    let err = rejected(&xml);
    assert_eq!(err, MetadataError::NoSigningCertificate);
    assert_message(&err, &["no signing certificate", "X509Certificate"]);
}

#[test]
fn rejects_certificate_that_is_not_base64() {
    let xml = with_idp_body(&format!(
        "{}\n{}",
        key_descriptor(r#"use="signing""#, "MIID*this is not base64*=="),
        sso(POST, SSO_POST)
    ));
    let err = rejected(&xml);
    assert!(
        matches!(err, MetadataError::CertificateNotBase64 { index: 1, .. }),
        "{err:?}"
    );
    assert_message(&err, &["certificate #1", "not valid base64"]);

    let empty = with_idp_body(&format!("{}\n{}", key_descriptor("", " \n "), sso(POST, SSO_POST)));
    assert_eq!(rejected(&empty), MetadataError::EmptyCertificate { index: 1 });
}

#[test]
fn rejects_base64_that_is_not_a_certificate() {
    let not_der = base64::engine::general_purpose::STANDARD.encode(b"-----BEGIN CERTIFICATE----- hello");
    let xml = with_idp_body(&format!(
        "{}\n{}",
        key_descriptor(r#"use="signing""#, &not_der),
        sso(POST, SSO_POST)
    ));
    let err = rejected(&xml);
    assert!(
        matches!(err, MetadataError::NotACertificate { index: 1, .. }),
        "{err:?}"
    );
    assert_message(&err, &["certificate #1", "not a DER X.509 certificate"]);

    // A real certificate followed by junk would change the fingerprint AWS computes.
    let cert = cert();
    let mut padded = cert.der.clone();
    padded.extend_from_slice(&[0, 0]);
    let padded = base64::engine::general_purpose::STANDARD.encode(&padded);
    let xml = with_idp_body(&format!("{}\n{}", key_descriptor("", &padded), sso(POST, SSO_POST)));
    let err = rejected(&xml);
    assert!(matches!(err, MetadataError::NotACertificate { .. }), "{err:?}");
    assert_message(&err, &["2 unexpected bytes"]);
}

#[test]
fn rejects_dtd_with_external_entity() {
    let cert = cert();
    let body = onelogin_metadata(ENTITY_ID, &[&cert]).replace(r#"<?xml version="1.0"?>"#, "");
    let xxe = format!("<?xml version=\"1.0\"?>\n<!DOCTYPE EntityDescriptor SYSTEM \"file:///etc/passwd\">\n{body}");
    let err = rejected(&xxe);
    assert_eq!(err, MetadataError::DtdNotAllowed);
    assert_message(&err, &["<!DOCTYPE", "XXE"]);

    let xxe_entity = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        body.replace("<SurName>Support</SurName>", "<SurName>&xxe;</SurName>")
    );
    assert_eq!(rejected(&xxe_entity), MetadataError::DtdNotAllowed);
}

#[test]
fn rejects_billion_laughs_quickly() {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n  <!ENTITY lol \"lol\">\n");
    xml.push_str("  <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..=9 {
        let prev = i - 1;
        let refs = format!("&lol{prev};").repeat(10);
        xml.push_str(&format!("  <!ENTITY lol{i} \"{refs}\">\n"));
    }
    xml.push_str("]>\n<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"&lol9;\"/>");
    let started = Instant::now();
    let err = rejected(&xml);
    assert_eq!(err, MetadataError::DtdNotAllowed);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn rejects_oversize_input_before_parsing() {
    let cert = cert();
    let mut xml = onelogin_metadata(ENTITY_ID, &[&cert]);
    let padding = MAX_METADATA_BYTES - xml.len() + 1;
    xml.push_str(&" ".repeat(padding));
    assert_eq!(xml.len(), MAX_METADATA_BYTES + 1);
    let err = rejected(&xml);
    assert_eq!(
        err,
        MetadataError::TooLarge {
            size: MAX_METADATA_BYTES + 1,
            max: MAX_METADATA_BYTES
        }
    );
    assert_message(&err, &["1048577 bytes", "1048576"]);

    // Exactly at the limit is still parsed.
    xml.pop();
    assert!(saml::parse(&xml).is_ok());
}

#[test]
fn every_truncation_of_a_valid_document_is_handled_without_panic() {
    let cert = cert();
    let xml = onelogin_metadata(ENTITY_ID, &[&cert]);
    let mut accepted = 0;
    for end in (0..xml.len()).filter(|&i| xml.is_char_boundary(i)) {
        if saml::parse(&xml[..end]).is_ok() {
            accepted += 1;
        }
    }
    // Only cuts inside the trailing whitespace leave a complete document.
    assert_eq!(
        accepted, 1,
        "only the cut after the closing tag leaves a whole document"
    );
}

#[test]
fn deeply_nested_input_is_handled_without_stack_overflow() {
    let depth = 100_000;
    let xml = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
    assert!(xml.len() <= MAX_METADATA_BYTES);
    let err = rejected(&xml);
    assert!(
        matches!(err, MetadataError::WrongRoot { .. } | MetadataError::NotXml(_)),
        "{err:?}"
    );
}

#[test]
fn error_messages_quote_input_briefly() {
    let cert = cert();
    let long_location = format!("http://example.com/{}", "x".repeat(10_000));
    let xml = with_idp_body(&format!(
        "{}\n{}",
        key_descriptor(r#"use="signing""#, &cert.wrapped_base64()),
        sso(POST, &long_location)
    ));
    let message = rejected(&xml).to_string();
    assert!(message.len() < 600, "message is {} bytes", message.len());
}
