//! Self-signed X.509 signing certificates (the IdP certificate in the SAML metadata).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

#[derive(Debug, Clone)]
pub struct Certificate {
    pub id: i64,
    pub name: String,
    /// Full PEM (`-----BEGIN CERTIFICATE-----` …), as the API's `sso.certificate.value`.
    pub pem: String,
    pub der: Vec<u8>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Certificate {
    /// Base64 of the DER wrapped at 64 characters, as embedded in metadata XML.
    pub fn wrapped_base64(&self) -> String {
        let b64 = STANDARD.encode(&self.der);
        b64.as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// OneLogin account certificates are RSA and valid for a few years.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(3 * 365 * 86_400);

pub fn generate(id: i64, name: &str, not_after: SystemTime) -> Result<Certificate, String> {
    let not_before = SystemTime::now() - Duration::from_secs(86_400);
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .map_err(|e| format!("key generation: {e}"))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("OneLogin Account {id}"));
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "OneLogin Test Server");
    params.not_before = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(not_before);
    params.not_after = rcgen::date_time_ymd(1970, 1, 1) + since_epoch(not_after);
    params.serial_number = Some(rcgen::SerialNumber::from(id as u64));
    let cert = params.self_signed(&key).map_err(|e| format!("self-signing: {e}"))?;
    Ok(Certificate {
        id,
        name: name.to_owned(),
        pem: cert.pem(),
        der: cert.der().to_vec(),
        not_before,
        not_after,
    })
}

// rcgen takes `time::OffsetDateTime`; offsetting the epoch spares a direct `time` dependency.
fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}
