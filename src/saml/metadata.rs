//! Parse and validate the SAML 2.0 metadata of an identity provider (OneLogin's `sso.metadata_url` document).
//!
//! The same document is uploaded verbatim to AWS IAM, so everything that AWS would trust (entity id, SSO endpoints,
//! signing certificates) is checked here first, where the error can be reported on the custom resource.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use base64::Engine as _;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use roxmltree::{Document, Node, ParsingOptions};
use sha2::{Digest as _, Sha256};

/// Largest metadata document accepted. A OneLogin document is a few KiB; callers stop reading past this.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

const MD_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SAML2_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const BINDING_HTTP_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const BINDING_HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// SAML metadata schema limit on `entityID`.
const MAX_ENTITY_ID_CHARS: usize = 1024;
/// Far above any real metadata, low enough that a hostile document cannot make the tree huge.
const NODES_LIMIT: u32 = 100_000;
/// Input-derived text quoted in error messages is cut to this, as messages end up in Kubernetes conditions.
const MAX_QUOTED_CHARS: usize = 120;

/// What a SAML identity provider's metadata establishes: who it is, where users sign in, and which keys sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// Every `SingleSignOnService` of the identity provider, in document order (all with `https://` locations).
    pub sso_services: Vec<SsoService>,
    /// Every distinct certificate usable for signing, in document order. Never empty when built by [`parse`].
    pub signing_certificates: Vec<SigningCertificate>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SsoService {
    pub binding: String,
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningCertificate {
    pub der: Vec<u8>,
    /// Upper-case hex SHA-256 of the DER bytes, colon-separated (AA:BB:...), as shown in status.
    pub sha256_fingerprint: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub subject: String,
}

/// Why a metadata document was refused. Messages quote at most a short prefix of any input-derived text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("SAML metadata is {size} bytes, more than the {max} bytes accepted")]
    TooLarge { size: usize, max: usize },

    #[error(
        "SAML metadata contains a document type declaration (<!DOCTYPE ...>); DTDs are refused because they allow \
         external entity (XXE) and entity-expansion attacks, and IdP metadata never needs one"
    )]
    DtdNotAllowed,

    #[error("SAML metadata is not well-formed XML: {0}")]
    NotXml(String),

    #[error(
        "SAML metadata root element is {found}; expected EntityDescriptor (or an EntitiesDescriptor holding one \
         identity provider) in namespace {MD_NS}"
    )]
    WrongRoot { found: String },

    #[error(
        "SAML metadata EntitiesDescriptor holds {count} EntityDescriptor elements with an IDPSSODescriptor; \
         expected exactly one, so it is clear which identity provider to trust"
    )]
    AmbiguousEntities { count: usize },

    #[error("SAML metadata EntityDescriptor has no entityID attribute, or it is empty")]
    MissingEntityId,

    #[error("SAML metadata entityID is {chars} characters long; SAML allows at most {MAX_ENTITY_ID_CHARS}")]
    EntityIdTooLong { chars: usize },

    #[error("SAML metadata has no IDPSSODescriptor (in namespace {MD_NS}); it does not describe an identity provider")]
    MissingIdpDescriptor,

    #[error(
        "SAML metadata IDPSSODescriptor protocolSupportEnumeration is \"{found}\"; it must include {SAML2_PROTOCOL}"
    )]
    UnsupportedProtocol { found: String },

    #[error(
        "SAML metadata EntityDescriptor has {count} IDPSSODescriptor elements supporting SAML 2.0; expected exactly one"
    )]
    MultipleIdpDescriptors { count: usize },

    #[error("SAML metadata SingleSignOnService #{index} has no {attribute} attribute, or it is empty")]
    IncompleteSsoService { index: usize, attribute: &'static str },

    #[error(
        "SAML metadata SingleSignOnService #{index} (binding {binding}) has location \"{location}\"; sign-in \
         endpoints must use https://"
    )]
    InsecureSsoLocation {
        index: usize,
        binding: String,
        location: String,
    },

    #[error(
        "SAML metadata has no SingleSignOnService with binding {BINDING_HTTP_POST} or {BINDING_HTTP_REDIRECT}; \
         users could not be sent to the identity provider to sign in"
    )]
    NoUsableSsoService,

    #[error(
        "SAML metadata has no signing certificate: no KeyDescriptor with use=\"signing\" (or without use) contains a \
         ds:KeyInfo/ds:X509Data/ds:X509Certificate"
    )]
    NoSigningCertificate,

    #[error("SAML metadata signing certificate #{index} is empty")]
    EmptyCertificate { index: usize },

    #[error("SAML metadata signing certificate #{index} is not valid base64: {detail}")]
    CertificateNotBase64 { index: usize, detail: String },

    #[error(
        "SAML metadata signing certificate #{index} is base64 but not a DER X.509 certificate ({detail}); expected \
         the body of a PEM certificate without its BEGIN/END lines"
    )]
    NotACertificate { index: usize, detail: String },
}

impl MetadataError {
    /// Stable reason for a Kubernetes condition; the message carries the detail.
    pub fn reason(&self) -> &'static str {
        "InvalidMetadata"
    }
}

/// Parse and validate IdP metadata. Refuses DTDs, oversize input, and anything AWS could not use to trust OneLogin.
pub fn parse(xml: &str) -> Result<IdpMetadata, MetadataError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(MetadataError::TooLarge {
            size: xml.len(),
            max: MAX_METADATA_BYTES,
        });
    }
    // allow_dtd stays false: roxmltree then rejects any <!DOCTYPE>, which shuts out XXE and entity expansion.
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => MetadataError::DtdNotAllowed,
        other => MetadataError::NotXml(other.to_string()),
    })?;

    let entity = entity_descriptor(doc.root_element())?;
    let entity_id = entity.attribute("entityID").unwrap_or_default();
    if entity_id.trim().is_empty() {
        return Err(MetadataError::MissingEntityId);
    }
    let chars = entity_id.chars().count();
    if chars > MAX_ENTITY_ID_CHARS {
        return Err(MetadataError::EntityIdTooLong { chars });
    }

    let idp = idp_descriptor(entity)?;
    let sso_services = sso_services(idp)?;
    let signing_certificates = signing_certificates(idp)?;

    Ok(IdpMetadata {
        entity_id: entity_id.to_owned(),
        sso_services,
        signing_certificates,
    })
}

impl IdpMetadata {
    /// The certificate AWS will verify signatures with: the one expiring last.
    ///
    /// # Panics
    /// Only on a hand-built value with no certificates; [`parse`] never returns one. See
    /// [`IdpMetadata::try_signing_certificate`].
    pub fn signing_certificate(&self) -> &SigningCertificate {
        self.try_signing_certificate()
            .expect("IdpMetadata from parse() always holds at least one signing certificate")
    }

    /// [`IdpMetadata::signing_certificate`], or `None` if there are no certificates at all.
    pub fn try_signing_certificate(&self) -> Option<&SigningCertificate> {
        // Ties broken by fingerprint so the choice does not depend on document order.
        self.signing_certificates
            .iter()
            .max_by(|a, b| (a.not_after, &a.sha256_fingerprint).cmp(&(b.not_after, &b.sha256_fingerprint)))
    }

    /// Whether two documents establish the same trust (entity id, SSO locations+bindings, set of
    /// certificate fingerprints), ignoring formatting, order and unrelated elements.
    pub fn same_trust(&self, other: &IdpMetadata) -> bool {
        fn services(m: &IdpMetadata) -> BTreeSet<&SsoService> {
            m.sso_services.iter().collect()
        }
        fn fingerprints(m: &IdpMetadata) -> BTreeSet<&str> {
            m.signing_certificates
                .iter()
                .map(|c| c.sha256_fingerprint.as_str())
                .collect()
        }
        self.entity_id == other.entity_id
            && services(self) == services(other)
            && fingerprints(self) == fingerprints(other)
    }
}

impl SigningCertificate {
    /// True if the certificate has expired by `now + days` (so also if it already has).
    pub fn expires_within(&self, now: Timestamp, days: i64) -> bool {
        // Saturating: an absurd `days` means "forever", not an overflow.
        let window = SignedDuration::from_secs(days.saturating_mul(86_400));
        self.not_after.duration_since(now) <= window
    }
}

fn is_md<'a>(node: Node<'a, '_>, local: &str) -> bool {
    node.is_element() && node.has_tag_name((MD_NS, local))
}

fn children<'a, 'i: 'a>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.has_tag_name((ns, local)))
}

fn entity_descriptor<'a, 'i>(root: Node<'a, 'i>) -> Result<Node<'a, 'i>, MetadataError> {
    if is_md(root, "EntityDescriptor") {
        return Ok(root);
    }
    if is_md(root, "EntitiesDescriptor") {
        // Only entities that are identity providers count; an aggregate may also list service providers.
        let mut idps = children(root, MD_NS, "EntityDescriptor")
            .filter(|e| children(*e, MD_NS, "IDPSSODescriptor").next().is_some());
        return match (idps.next(), idps.count()) {
            (Some(only), 0) => Ok(only),
            (None, _) => Err(MetadataError::AmbiguousEntities { count: 0 }),
            (Some(_), more) => Err(MetadataError::AmbiguousEntities {
                count: more.saturating_add(1),
            }),
        };
    }
    let name = root.tag_name();
    let found = match name.namespace() {
        Some(ns) => format!("{{{}}}{}", quote(ns), quote(name.name())),
        None => format!("{} (no namespace)", quote(name.name())),
    };
    Err(MetadataError::WrongRoot { found })
}

fn idp_descriptor<'a, 'i>(entity: Node<'a, 'i>) -> Result<Node<'a, 'i>, MetadataError> {
    let mut first_unsupported = None;
    let mut supported = Vec::new();
    for idp in children(entity, MD_NS, "IDPSSODescriptor") {
        let protocols = idp.attribute("protocolSupportEnumeration").unwrap_or_default();
        // A whitespace-separated list of URIs; substring matching would accept look-alikes.
        if protocols.split_whitespace().any(|p| p == SAML2_PROTOCOL) {
            supported.push(idp);
        } else if first_unsupported.is_none() {
            first_unsupported = Some(protocols);
        }
    }
    match (supported.as_slice(), first_unsupported) {
        ([only], _) => Ok(*only),
        ([], Some(found)) => Err(MetadataError::UnsupportedProtocol { found: quote(found) }),
        ([], None) => Err(MetadataError::MissingIdpDescriptor),
        (many, _) => Err(MetadataError::MultipleIdpDescriptors { count: many.len() }),
    }
}

fn sso_services(idp: Node) -> Result<Vec<SsoService>, MetadataError> {
    let mut services = Vec::new();
    for (i, node) in children(idp, MD_NS, "SingleSignOnService").enumerate() {
        let index = i.saturating_add(1);
        let binding = required_attribute(node, "Binding").ok_or(MetadataError::IncompleteSsoService {
            index,
            attribute: "Binding",
        })?;
        let location = required_attribute(node, "Location").ok_or(MetadataError::IncompleteSsoService {
            index,
            attribute: "Location",
        })?;
        // Every endpoint in a document AWS will trust must be https, not only the ones we use.
        if !is_https_url(location) {
            return Err(MetadataError::InsecureSsoLocation {
                index,
                binding: quote(binding),
                location: quote(location),
            });
        }
        let service = SsoService {
            binding: binding.to_owned(),
            location: location.to_owned(),
        };
        if !services.contains(&service) {
            services.push(service);
        }
    }
    if !services
        .iter()
        .any(|s| s.binding == BINDING_HTTP_POST || s.binding == BINDING_HTTP_REDIRECT)
    {
        return Err(MetadataError::NoUsableSsoService);
    }
    Ok(services)
}

/// Attribute value with XML-schema whitespace collapsing for URIs (leading/trailing only), `None` if blank.
fn required_attribute<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute(name).map(str::trim).filter(|v| !v.is_empty())
}

fn is_https_url(location: &str) -> bool {
    location
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        && location.len() > 8
}

fn signing_certificates(idp: Node) -> Result<Vec<SigningCertificate>, MetadataError> {
    let mut certificates: Vec<SigningCertificate> = Vec::new();
    let mut index = 0usize;
    for key in children(idp, MD_NS, "KeyDescriptor") {
        // Schema: use is "signing" or "encryption"; absent means both.
        if key.attribute("use").is_some_and(|u| u.trim() != "signing") {
            continue;
        }
        let x509_certs = children(key, DS_NS, "KeyInfo")
            .flat_map(|info| children(info, DS_NS, "X509Data"))
            .flat_map(|data| children(data, DS_NS, "X509Certificate"));
        for node in x509_certs {
            index = index.saturating_add(1);
            let certificate = decode_certificate(node, index)?;
            // The same certificate listed twice is one trust anchor.
            if !certificates
                .iter()
                .any(|c| c.sha256_fingerprint == certificate.sha256_fingerprint)
            {
                certificates.push(certificate);
            }
        }
    }
    if certificates.is_empty() {
        return Err(MetadataError::NoSigningCertificate);
    }
    Ok(certificates)
}

fn decode_certificate(node: Node, index: usize) -> Result<SigningCertificate, MetadataError> {
    // Text may be split by comments or CDATA sections; OneLogin wraps the base64 at 64 columns.
    let base64_text: String = node
        .children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .flat_map(str::chars)
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if base64_text.is_empty() {
        return Err(MetadataError::EmptyCertificate { index });
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(base64_text.as_bytes())
        .map_err(|e| MetadataError::CertificateNotBase64 {
            index,
            detail: e.to_string(),
        })?;

    let not_a_certificate = |detail: String| MetadataError::NotACertificate { index, detail };
    let (rest, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| not_a_certificate(e.to_string()))?;
    // The fingerprint must cover exactly the certificate, as AWS and OneLogin compute it.
    if !rest.is_empty() {
        return Err(not_a_certificate(format!(
            "{} unexpected bytes after the certificate",
            rest.len()
        )));
    }
    let validity = cert.validity();
    let timestamp = |t: &x509_parser::time::ASN1Time, which: &str| {
        Timestamp::from_second(t.timestamp()).map_err(|e| not_a_certificate(format!("{which} out of range: {e}")))
    };
    let not_before = timestamp(&validity.not_before, "notBefore")?;
    let not_after = timestamp(&validity.not_after, "notAfter")?;
    let subject = cert.subject().to_string();

    Ok(SigningCertificate {
        sha256_fingerprint: fingerprint(&der),
        der,
        not_before,
        not_after,
        subject,
    })
}

fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut out = String::with_capacity(digest.len() * 3);
    for (i, byte) in digest.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02X}");
    }
    out
}

/// Input-derived text for error messages: shortened on a character boundary, control characters escaped.
fn quote(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_QUOTED_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(MAX_QUOTED_CHARS).is_some() {
        out.push('…');
    }
    out
}
