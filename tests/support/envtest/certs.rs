//! Key material for one server: a throwaway CA, the serving certificate it signs (for
//! 127.0.0.1 and localhost, so clients verify TLS for real), the service-account signing key,
//! and the bearer tokens of the static token file.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use super::Error;

/// Files written into the server's directory, plus the CA that clients trust.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    /// PKCS#8 private key: `--service-account-signing-key-file`.
    pub sa_signing_key: PathBuf,
    /// SPKI public key: `--service-account-key-file` (kube-apiserver does not read public keys
    /// out of a PKCS#8 EC private key, so the public half gets its own file).
    pub sa_public_key: PathBuf,
}

fn err(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::msg(format!("generating {what}: {e}"))
}

pub fn generate(dir: &Path) -> Result<Pki, Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err("CA params"))?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "connect-sso envtest CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().map_err(err("CA key"))?;
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err("CA certificate"))?;

    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(err("serving params"))?;
    params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(err("serving key"))?;
    let cert = params.signed_by(&key, &ca).map_err(err("serving certificate"))?;

    let sa = KeyPair::generate().map_err(err("service-account key"))?;

    let pki = Pki {
        ca_pem: ca.pem(),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        sa_signing_key: dir.join("sa.key"),
        sa_public_key: dir.join("sa.pub"),
    };
    write(&pki.serving_cert, &cert.pem())?;
    write(&pki.serving_key, &key.serialize_pem())?;
    write(&pki.sa_signing_key, &sa.serialize_pem())?;
    write(&pki.sa_public_key, &sa.public_key_pem())?;
    write(&dir.join("ca.crt"), &pki.ca_pem)?;
    Ok(pki)
}

pub fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::msg(format!("writing {}: {e}", path.display())))
}

/// A random bearer token (128 bits, hex).
pub fn token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// One line of `--token-auth-file`: `token,user,uid,"group1,group2"`.
pub fn token_line(token: &str, user: &str, groups: &[&str]) -> String {
    if groups.is_empty() {
        format!("{token},{user},{user}")
    } else {
        format!("{token},{user},{user},\"{}\"", groups.join(","))
    }
}
