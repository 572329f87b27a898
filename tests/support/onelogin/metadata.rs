//! The read-only `sso` section and the unauthenticated SAML metadata document (reference §6).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::ApiError;
use super::format::xml_escape;
use super::state::{App, Shared, Store};

/// Where browsers sign in. Real OneLogin publishes its https host here; it is never fetched by
/// the operator, so it need not be this server (which serves only http on loopback).
pub const SIGN_IN_ORIGIN: &str = "https://acme.onelogin.com";

pub fn metadata_url(store: &Store, app: &App) -> String {
    format!("{}/saml/metadata/{}", store.base_url, app.uuid)
}

/// Specific issuer (`"0"`) is per app; Generic (`"1"`) is shared by the account.
pub fn issuer(store: &Store, app: &App) -> String {
    if app.config_str("saml_issuer_type") == Some("1") {
        format!("{}/saml/metadata/{}", store.base_url, store.account_id)
    } else {
        metadata_url(store, app)
    }
}

pub fn sso_json(store: &Store, app: &App) -> Value {
    let cert = app.certificate_id().and_then(|id| store.certs.get(&id));
    json!({
        "metadata_url": metadata_url(store, app),
        "acs_url": format!("{SIGN_IN_ORIGIN}/trust/saml2/http-post/sso/{}", app.id),
        "sls_url": format!("{SIGN_IN_ORIGIN}/trust/saml2/http-redirect/slo/{}", app.id),
        "issuer": issuer(store, app),
        "certificate": cert.map(|c| json!({"id": c.id, "name": c.name, "value": c.pem})),
    })
}

fn name_id_format(app: &App) -> &'static str {
    match app.config_str("saml_nameid_format_id") {
        Some("1") => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        Some("2") => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        Some("3") => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        _ => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    }
}

pub fn render(store: &Store, app: &App) -> Option<String> {
    let cert = store.certs.get(&app.certificate_id()?)?;
    let base = SIGN_IN_ORIGIN;
    let sso = |binding: &str, kind: &str| {
        format!(
            "    <SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:{binding}\" Location=\"{}\"/>\n",
            xml_escape(&format!("{base}/trust/saml2/{kind}/sso/{}", app.uuid))
        )
    };
    Some(format!(
        concat!(
            "<?xml version=\"1.0\"?>\n",
            "<EntityDescriptor xmlns=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"{entity}\">\n",
            "  <IDPSSODescriptor xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n",
            "    <KeyDescriptor use=\"signing\">\n",
            "      <ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\n",
            "        <ds:X509Data>\n",
            "          <ds:X509Certificate>{cert}</ds:X509Certificate>\n",
            "        </ds:X509Data>\n",
            "      </ds:KeyInfo>\n",
            "    </KeyDescriptor>\n",
            "    <SingleLogoutService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"{slo}\"/>\n",
            "    <NameIDFormat>{nameid}</NameIDFormat>\n",
            "{redirect}{post}{soap}",
            "  </IDPSSODescriptor>\n",
            "  <ContactPerson contactType=\"technical\">\n",
            "    <SurName>Support</SurName>\n",
            "    <EmailAddress>support@example.invalid</EmailAddress>\n",
            "  </ContactPerson>\n",
            "</EntityDescriptor>\n"
        ),
        entity = xml_escape(&issuer(store, app)),
        cert = cert.wrapped_base64(),
        slo = xml_escape(&format!("{base}/trust/saml2/http-redirect/slo/{}", app.id)),
        nameid = name_id_format(app),
        redirect = sso("HTTP-Redirect", "http-redirect"),
        post = sso("HTTP-POST", "http-post"),
        soap = sso("SOAP", "soap"),
    ))
}

/// Unauthenticated, like the real `sso.metadata_url`.
pub async fn serve(State(shared): State<Arc<Shared>>, Path(uuid): Path<String>) -> Response {
    let store = shared.lock();
    let xml = store
        .apps
        .values()
        .find(|a| a.uuid == uuid)
        .and_then(|app| render(&store, app));
    match xml {
        Some(xml) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            xml,
        )
            .into_response(),
        None => ApiError::not_found().into_response(),
    }
}
