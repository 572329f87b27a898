//! Behaviour of the OneLogin test server as a plain HTTP client (reqwest) observes it.

#[path = "support/onelogin/mod.rs"]
mod onelogin;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use onelogin::{Fault, NewUser, OneLoginServer, RateLimitConfig, SAML_CUSTOM_ADVANCED, Scope, ServerConfig};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn connect(server: &OneLoginServer) -> Self {
        let http = reqwest::Client::new();
        let token = token(&http, server).await;
        Self {
            http,
            base: server.base_url().to_owned(),
            token,
        }
    }

    async fn call(&self, method: Method, path: &str, query: &[(&str, &str)], body: Option<Value>) -> Reply {
        self.try_call(method, path, query, body).await.expect("transport error")
    }

    async fn try_call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await?).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, &[], None).await
    }

    async fn get_q(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        self.call(Method::GET, path, query, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, &[], Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, &[], Some(body)).await
    }

    async fn delete(&self, path: &str, body: Option<Value>) -> Reply {
        self.call(Method::DELETE, path, &[], body).await
    }

    /// A 110016 app; returns its full JSON.
    async fn create_app(&self, name: &str) -> Value {
        let r = self
            .post(
                "/api/2/apps",
                json!({"connector_id": SAML_CUSTOM_ADVANCED, "name": name}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.body
    }
}

async fn read(resp: reqwest::Response) -> Result<Reply, reqwest::Error> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        headers,
        body,
        text,
    })
}

async fn token(http: &reqwest::Client, server: &OneLoginServer) -> String {
    let resp = http
        .post(format!("{}/auth/oauth2/v2/token", server.base_url()))
        .basic_auth(server.client_id(), Some(server.client_secret()))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn start() -> (OneLoginServer, Api) {
    let server = OneLoginServer::start(ServerConfig::default()).await;
    let api = Api::connect(&server).await;
    (server, api)
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().expect("id")
}

fn unauthorized_body() -> Value {
    json!({"message": "Unauthorized", "statusCode": 401, "name": "UnauthorizedError"})
}

// ---- authentication --------------------------------------------------------------------------

#[tokio::test]
async fn token_endpoint_accepts_basic_legacy_header_and_form_and_reuses_the_token() {
    let server = OneLoginServer::start(ServerConfig::default()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/auth/oauth2/v2/token", server.base_url());

    let basic = read(
        http.post(&url)
            .basic_auth(server.client_id(), Some(server.client_secret()))
            .json(&json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(basic.status, StatusCode::OK);
    assert_eq!(basic.body["expires_in"], 36000);
    assert_eq!(basic.body["token_type"], "bearer");
    assert!(basic.body["account_id"].is_i64());
    assert!(basic.body["created_at"].as_str().unwrap().ends_with('Z'));
    let token = basic.body["access_token"].as_str().unwrap().to_owned();

    let legacy = read(
        http.post(&url)
            .header(
                "Authorization",
                format!(
                    "client_id:{}, client_secret:{}",
                    server.client_id(),
                    server.client_secret()
                ),
            )
            .json(&json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(legacy.body["access_token"], token.as_str());
    assert_eq!(legacy.body["created_at"], basic.body["created_at"]);

    let form = read(
        http.post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={}&client_secret={}",
                server.client_id(),
                server.client_secret()
            ))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(form.body["access_token"], token.as_str());
    assert_eq!(server.tokens_issued(), 1);

    let wrong = read(
        http.post(&url)
            .basic_auth(server.client_id(), Some("nope"))
            .json(&json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body,
        json!({"status": {"error": true, "code": 401, "type": "Unauthorized", "message": "Authentication Failure"}})
    );

    let no_grant = read(
        http.post(&url)
            .basic_auth(server.client_id(), Some(server.client_secret()))
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(no_grant.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_grant.body["status"]["code"], 400);
}

#[tokio::test]
async fn bearer_check_rejects_missing_and_unknown_tokens_with_alt_err() {
    let (server, api) = start().await;
    let http = reqwest::Client::new();
    let none = read(
        http.get(format!("{}/api/2/apps", server.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.body, unauthorized_body());
    let bogus = read(
        http.get(format!("{}/api/2/apps", server.base_url()))
            .bearer_auth("bogus")
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(bogus.body, unauthorized_body());
    // Scheme is case-insensitive (docs write `bearer <token>`).
    let lower = read(
        http.get(format!("{}/api/2/apps", server.base_url()))
            .header("Authorization", format!("bearer {}", api.token))
            .send()
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(lower.status, StatusCode::OK);
}

#[tokio::test]
async fn revoked_token_is_refused_and_a_new_one_is_minted() {
    let (server, api) = start().await;
    assert_eq!(api.get("/api/2/apps").await.status, StatusCode::OK);
    server.revoke_token();
    let r = api.get("/api/2/apps").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, unauthorized_body());
    let fresh = Api::connect(&server).await;
    assert_ne!(fresh.token, api.token);
    assert_eq!(fresh.get("/api/2/apps").await.status, StatusCode::OK);
}

#[tokio::test]
async fn expired_token_is_refused_and_the_endpoint_then_issues_a_new_one() {
    let (server, api) = start().await;
    server.expire_token();
    assert_eq!(api.get("/api/2/apps").await.body, unauthorized_body());
    let fresh = Api::connect(&server).await;
    assert_ne!(fresh.token, api.token);
    assert_eq!(server.tokens_issued(), 2);
    assert_eq!(fresh.get("/api/2/apps").await.status, StatusCode::OK);
}

#[tokio::test]
async fn new_credential_pair_invalidates_old_credentials_and_tokens() {
    let (server, api) = start().await;
    let (old_id, old_secret) = (server.client_id(), server.client_secret());
    server.set_credentials("rotated-id", "rotated-secret");
    assert_eq!(api.get("/api/2/apps").await.status, StatusCode::UNAUTHORIZED);
    let http = reqwest::Client::new();
    let old = http
        .post(format!("{}/auth/oauth2/v2/token", server.base_url()))
        .basic_auth(old_id, Some(old_secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let fresh = Api::connect(&server).await;
    assert_eq!(fresh.get("/api/2/apps").await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_has_a_request_id_and_resource_responses_rate_limit_headers() {
    let (server, api) = start().await;
    let app = api.create_app("hdr").await;
    let ok = api.get("/api/2/apps").await;
    let missing = api.get("/api/2/apps/1").await;
    for r in [&ok, &missing] {
        assert!(r.header("x-request-id").is_some_and(|v| !v.is_empty()));
        assert_eq!(r.header("X-RateLimit-Limit"), Some("5000"));
        assert!(r.header("X-RateLimit-Remaining").is_some());
        assert!(r.header("X-RateLimit-Reset").is_some());
    }
    let metadata = reqwest::get(app["sso"]["metadata_url"].as_str().unwrap())
        .await
        .unwrap();
    assert!(metadata.headers().contains_key("x-request-id"));
    let rate = api.get("/auth/rate_limit").await;
    assert_eq!(rate.body["status"]["code"], 200);
    assert_eq!(rate.body["data"]["X-RateLimit-Limit"], 5000);
    assert!(rate.body["data"]["X-RateLimit-Remaining"].as_u64().unwrap() < 5000);
    assert!(server.calls().total() >= 5);
}

// ---- apps ---------------------------------------------------------------------------------------

#[tokio::test]
async fn created_saml_app_has_defaults_saml_username_and_server_hosted_sso() {
    let (server, api) = start().await;
    let app = api.create_app("Connect").await;
    assert_eq!(app["connector_id"], SAML_CUSTOM_ADVANCED);
    assert_eq!(app["auth_method"], 2);
    let config = app["configuration"].as_object().unwrap();
    assert!(config.len() >= 20, "{config:?}");
    assert_eq!(config["saml_issuer_type"], "0");
    assert_eq!(config["saml_sessionnotonorafter"], "1440");
    assert_eq!(config["signature_algorithm"], "SHA-1");
    assert!(config["certificate_id"].is_i64());
    for (k, v) in config.iter().filter(|(k, _)| *k != "certificate_id") {
        assert!(v.is_string(), "configuration.{k} = {v}");
    }
    let nameid = &app["parameters"]["saml_username"];
    assert_eq!(nameid["user_attribute_mappings"], "email");
    assert!(nameid["id"].is_i64());
    let sso = &app["sso"];
    let metadata_url = sso["metadata_url"].as_str().unwrap();
    assert!(metadata_url.starts_with(&format!("{}/saml/metadata/", server.base_url())));
    assert_eq!(sso["issuer"], metadata_url);
    assert!(
        sso["certificate"]["value"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert_eq!(sso["certificate"]["id"], config["certificate_id"]);
    assert_eq!(app["role_ids"], json!([]));
    assert_eq!(api.get(&format!("/api/2/apps/{}", id(&app))).await.body, app);
}

#[tokio::test]
async fn create_rejects_unknown_connector_blank_name_and_unknown_configuration_keys() {
    let (server, api) = start().await;
    let r = api.post("/api/2/apps", json!({"connector_id": 1, "name": "x"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.body,
        json!({"message": "Validation failed: Connector ID is invalid", "statusCode": 422, "name": "UnprocessableEntityError"})
    );
    let r = api
        .post("/api/2/apps", json!({"connector_id": SAML_CUSTOM_ADVANCED}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = api
        .post(
            "/api/2/apps",
            json!({"connector_id": SAML_CUSTOM_ADVANCED, "name": "x", "configuration": {"provider_arn": "arn"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"message": "Unknown parameter on configuration section: provider_arn", "statusCode": 400, "name": "BadRequestError"})
    );
    let r = api.post("/api/2/apps", json!(["not", "an", "object"])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(server.apps().is_empty(), "failed creates leave nothing behind");
}

#[tokio::test]
async fn text_fields_come_back_html_escaped() {
    let (server, api) = start().await;
    let app = api
        .post(
            "/api/2/apps",
            json!({"connector_id": SAML_CUSTOM_ADVANCED, "name": "Tom & Jerry's", "description": "<b>", "notes": "\"q\""}),
        )
        .await
        .body;
    assert_eq!(app["name"], "Tom &amp; Jerry&#39;s");
    assert_eq!(app["description"], "&lt;b&gt;");
    assert_eq!(app["notes"], "&quot;q&quot;");
    assert_eq!(server.app(id(&app)).unwrap().name, "Tom & Jerry's");
    let listed = api.get_q("/api/2/apps", &[("name", "Tom & Jerry's")]).await;
    assert_eq!(listed.body[0]["name"], "Tom &amp; Jerry&#39;s");
}

#[tokio::test]
async fn put_merges_fields_configuration_and_parameters() {
    let (_server, api) = start().await;
    let app = api.create_app("merge").await;
    let path = format!("/api/2/apps/{}", id(&app));
    let role = "https://aws.amazon.com/SAML/Attributes/Role";
    let r = api
        .put(
            &path,
            json!({
                "notes": "keep me",
                "configuration": {"audience": "urn:amazon:webservices", "saml_issuer_type": 0},
                "parameters": {
                    role: {"label": "Role", "user_attribute_mappings": "_macro_", "user_attribute_macros": "m",
                           "include_in_saml_assertion": true, "values": [""], "default_values": "d"},
                    "saml_username": {"user_attribute_mappings": "username"}
                },
                "sso": {"metadata_url": "https://elsewhere.invalid/"}
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let body = r.body;
    assert_eq!(body["configuration"]["audience"], "urn:amazon:webservices");
    assert_eq!(
        body["configuration"]["saml_issuer_type"], "0",
        "scalars are stored as strings"
    );
    assert_eq!(
        body["configuration"]["consumer_url"], "",
        "other keys keep their defaults"
    );
    let param = &body["parameters"][role];
    assert!(param["id"].is_i64());
    assert_eq!(param["values"], json!([""]));
    assert_eq!(param["default_values"], "d");
    assert_eq!(
        body["parameters"]["saml_username"]["user_attribute_mappings"],
        "username"
    );
    assert_eq!(
        body["sso"]["metadata_url"], app["sso"]["metadata_url"],
        "sso is read-only"
    );

    // Omitted fields keep their value; "" is stored; null clears; label never changes.
    let r = api
        .put(
            &path,
            json!({"description": "", "parameters": {role: {"label": "Changed"}}}),
        )
        .await
        .body;
    assert_eq!(r["notes"], "keep me");
    assert_eq!(r["description"], "");
    assert_eq!(r["parameters"][role]["label"], "Role");
    assert_eq!(r["parameters"][role]["user_attribute_mappings"], "_macro_");
    assert_eq!(r["parameters"][role]["id"], param["id"]);
    let r = api.put(&path, json!({"notes": null, "parameters": {}})).await.body;
    assert_eq!(r["notes"], Value::Null);
    assert!(
        r["parameters"].get(role).is_some(),
        "parameters absent from the body are kept"
    );

    let bad = api
        .put(
            &path,
            json!({"configuration": {"provider_arn": "x"}, "notes": "not applied"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.get(&path).await.body["notes"],
        Value::Null,
        "rejected PUT changes nothing"
    );
    assert_eq!(
        api.put("/api/2/apps/424242", json!({"notes": "x"})).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn parameter_deletion_custom_204_connector_403_missing_404() {
    let (_server, api) = start().await;
    let app = api.create_app("params").await;
    let path = format!("/api/2/apps/{}", id(&app));
    let body = api
        .put(
            &path,
            json!({"parameters": {"department": {"user_attribute_mappings": "department"}}}),
        )
        .await
        .body;
    let custom = body["parameters"]["department"]["id"].as_i64().unwrap();
    let nameid = body["parameters"]["saml_username"]["id"].as_i64().unwrap();

    let r = api.delete(&format!("{path}/parameters/{nameid}"), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.body,
        json!({"message": format!("not allowed to destroy Parameter {nameid}:saml_username"), "statusCode": 403, "name": "ForbiddenError"})
    );
    let r = api.delete(&format!("{path}/parameters/{custom}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.text.is_empty());
    assert!(api.get(&path).await.body["parameters"].get("department").is_none());
    assert_eq!(
        api.delete(&format!("{path}/parameters/{custom}"), None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn connectors_without_new_parameters_reject_unknown_keys() {
    let (_server, api) = start().await;
    let r = api.get("/api/2/connectors").await;
    let connectors = r.body.as_array().unwrap();
    let custom = connectors.iter().find(|c| c["id"] == 110016).unwrap();
    assert_eq!(custom["name"], "SAML Custom Connector (Advanced)");
    assert_eq!(custom["allows_new_parameters"], true);
    assert!(connectors.iter().any(|c| c["id"] == 50534));
    let closed = connectors.iter().find(|c| c["allows_new_parameters"] == false).unwrap();
    let app = api
        .post("/api/2/apps", json!({"connector_id": closed["id"], "name": "closed"}))
        .await
        .body;
    let r = api
        .put(
            &format!("/api/2/apps/{}", id(&app)),
            json!({"parameters": {"extra": {}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn app_listing_filters_by_exact_or_wildcard_name_and_connector() {
    let (_server, api) = start().await;
    let a = api.create_app("connect-prod").await;
    let b = api.create_app("connect-dev").await;
    let other = api
        .post("/api/2/apps", json!({"connector_id": 50534, "name": "connect-aws"}))
        .await
        .body;
    let ids = |r: &Reply| r.body.as_array().unwrap().iter().map(id).collect::<Vec<_>>();
    assert_eq!(
        ids(&api.get_q("/api/2/apps", &[("name", "connect-prod")]).await),
        vec![id(&a)]
    );
    assert_eq!(
        ids(&api.get_q("/api/2/apps", &[("name", "connect")]).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(&api.get_q("/api/2/apps", &[("name", "connect-*")]).await),
        vec![id(&a), id(&b), id(&other)]
    );
    assert_eq!(
        ids(&api
            .get_q("/api/2/apps", &[("name", "connect-*"), ("connector_id", "110016")])
            .await),
        vec![id(&a), id(&b)]
    );
    let item = &api.get_q("/api/2/apps", &[("name", "connect-prod")]).await.body[0];
    assert_eq!(item["auth_method_description"], "SAML2.0");
    assert!(item.get("configuration").is_none(), "list items are summaries");
}

#[tokio::test]
async fn deleted_apps_are_gone_and_missing_ids_are_404() {
    let (_server, api) = start().await;
    let app = api.create_app("doomed").await;
    let path = format!("/api/2/apps/{}", id(&app));
    let r = api.delete(&path, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.text.is_empty());
    let r = api.get(&path).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.body,
        json!({"message": "The resource with the given id could not be found", "statusCode": 404, "name": "NotFoundError"})
    );
    assert_eq!(api.delete(&path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/api/2/apps/not-a-number").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reqwest::get(app["sso"]["metadata_url"].as_str().unwrap())
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

// ---- SAML metadata ------------------------------------------------------------------------------

fn cert_in(xml: &str) -> String {
    let start = xml.find("<ds:X509Certificate>").unwrap() + "<ds:X509Certificate>".len();
    let end = xml.find("</ds:X509Certificate>").unwrap();
    xml[start..end].to_owned()
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

#[tokio::test]
async fn metadata_is_served_unauthenticated_and_follows_app_state() {
    let (server, api) = start().await;
    let app = api.create_app("meta").await;
    let url = app["sso"]["metadata_url"].as_str().unwrap();
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().contains("xml"));
    let xml = resp.text().await.unwrap();
    assert!(xml.contains(&format!("entityID=\"{url}\"")));
    assert!(xml.contains("<KeyDescriptor use=\"signing\">"));
    assert!(xml.contains("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"));
    assert_eq!(xml.matches("<SingleSignOnService ").count(), 3);
    assert!(xml.contains("<SingleLogoutService "));
    let cert = cert_in(&xml);
    assert!(
        cert.lines().all(|l| l.len() <= 64) && cert.lines().count() > 1,
        "wrapped at 64"
    );
    let der = STANDARD.decode(cert.replace('\n', "")).unwrap();
    assert_eq!(der[0], 0x30, "DER SEQUENCE");
    assert_eq!(
        cert.replace('\n', ""),
        pem_body(app["sso"]["certificate"]["value"].as_str().unwrap())
    );
    assert_eq!(server.metadata_xml(id(&app)).unwrap(), xml);

    // Persistent NameID and a Generic issuer show up in the document.
    api.put(
        &format!("/api/2/apps/{}", id(&app)),
        json!({"configuration": {"saml_nameid_format_id": "2", "saml_issuer_type": "1"}}),
    )
    .await;
    let xml = reqwest::get(url).await.unwrap().text().await.unwrap();
    assert!(xml.contains("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"));
    assert!(
        !xml.contains(&format!("entityID=\"{url}\"")),
        "Generic issuer is account-wide"
    );
    let after = api.get(&format!("/api/2/apps/{}", id(&app))).await.body;
    assert_eq!(after["sso"]["metadata_url"], url);
    assert_ne!(after["sso"]["issuer"], url);

    assert_eq!(
        reqwest::get(format!("{}/saml/metadata/unknown", server.base_url()))
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn certificate_rotation_and_expiry_change_metadata_and_sso() {
    let (server, api) = start().await;
    let app = api.create_app("rotate").await;
    let app_id = id(&app);
    let url = app["sso"]["metadata_url"].as_str().unwrap().to_owned();
    let before = cert_in(&reqwest::get(&url).await.unwrap().text().await.unwrap());

    let new_id = server.rotate_app_certificate(app_id).unwrap();
    let after = cert_in(&reqwest::get(&url).await.unwrap().text().await.unwrap());
    assert_ne!(before, after);
    let body = api.get(&format!("/api/2/apps/{app_id}")).await.body;
    assert_eq!(body["sso"]["certificate"]["id"], new_id);
    assert_eq!(body["configuration"]["certificate_id"], new_id);
    assert_eq!(
        pem_body(body["sso"]["certificate"]["value"].as_str().unwrap()),
        after.replace('\n', "")
    );

    let soon = SystemTime::now() + Duration::from_secs(10 * 86_400);
    let expiring = server.set_app_certificate_not_after(app_id, soon).unwrap();
    let cert = server.app_certificate(app_id).unwrap();
    assert_eq!(cert.id, expiring);
    assert_eq!(cert.not_after, soon);
    assert_eq!(
        pem_body(&cert.pem),
        cert_in(&reqwest::get(&url).await.unwrap().text().await.unwrap()).replace('\n', "")
    );
    assert!(server.rotate_app_certificate(999).is_none());
}

// ---- pagination ---------------------------------------------------------------------------------

#[tokio::test]
async fn pagination_headers_cursors_and_cursor_xor_limit() {
    let (server, api) = start().await;
    for i in 0..5 {
        server.add_user(NewUser::with_email(&format!("u{i}@example.com")));
    }
    let first = api.get_q("/api/2/users", &[("limit", "2")]).await;
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    assert_eq!(first.header("Current-Page"), Some("1"));
    assert_eq!(first.header("Page-Items"), Some("2"));
    assert_eq!(first.header("Total-Count"), Some("5"));
    assert_eq!(first.header("Total-Pages"), Some("3"));
    assert_eq!(first.header("Before-Cursor"), None);
    let cursor = first.header("After-Cursor").unwrap().to_owned();
    assert_eq!(STANDARD.decode(&cursor).unwrap(), b"limit=2&page=2");

    let mut seen: Vec<i64> = first.body.as_array().unwrap().iter().map(id).collect();
    let mut next = Some(cursor);
    let mut pages = 1;
    while let Some(c) = next {
        let page = api.get_q("/api/2/users", &[("cursor", c.as_str())]).await;
        assert!(page.header("Before-Cursor").is_some());
        seen.extend(page.body.as_array().unwrap().iter().map(id));
        next = page.header("After-Cursor").map(str::to_owned);
        pages += 1;
    }
    assert_eq!(pages, 3);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);

    let page3 = api.get_q("/api/2/users", &[("limit", "2"), ("page", "3")]).await;
    assert_eq!(page3.body.as_array().unwrap().len(), 1);
    assert_eq!(page3.header("After-Cursor"), None);

    let both = api
        .get_q(
            "/api/2/users",
            &[("limit", "2"), ("cursor", &onelogin::encode_cursor(2, 2))],
        )
        .await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        both.body,
        json!({"status": 400, "error": "BadRequestError", "description": "Requests can only have cursor xor pagination arguments"})
    );
    for path in ["/api/2/apps", "/api/2/roles", "/api/2/connectors"] {
        let r = api.get_q(path, &[("page", "1"), ("cursor", "x")]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
    }
    assert_eq!(
        api.get_q("/api/2/users", &[("cursor", "!!!")]).await.status,
        StatusCode::BAD_REQUEST
    );
}

// ---- roles --------------------------------------------------------------------------------------

#[tokio::test]
async fn roles_create_get_rename_delete() {
    let (server, api) = start().await;
    let r = api.post("/api/2/roles", json!({"name": "Agents"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let role = id(&r.body);
    assert_eq!(r.body, json!({"id": role}), "bare object, not an array");
    let path = format!("/api/2/roles/{role}");
    assert_eq!(api.get(&path).await.body, json!({"id": role, "name": "Agents"}));
    let r = api.put(&path, json!({"name": "Agents (renamed)"})).await;
    assert_eq!(r.body, json!({"id": role}));
    assert_eq!(api.get(&path).await.body["name"], "Agents (renamed)");
    let listed = api.get_q("/api/2/roles", &[("name", "Agents*")]).await;
    assert_eq!(listed.body, json!([{"id": role, "name": "Agents (renamed)"}]));
    assert!(listed.header("Total-Count").is_some());
    assert_eq!(
        api.post("/api/2/roles", json!({})).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(api.delete(&path, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&path).await.status, StatusCode::NOT_FOUND);
    assert!(server.role(role).is_none());
}

#[tokio::test]
async fn role_apps_put_replaces_the_whole_list() {
    let (server, api) = start().await;
    let a = id(&api.create_app("a").await);
    let b = id(&api.create_app("b").await);
    let role = id(&api.post("/api/2/roles", json!({"name": "r"})).await.body);
    let path = format!("/api/2/roles/{role}/apps");
    let r = api.put(&path, json!([a, b])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!([{"id": a}, {"id": b}]));
    api.put(&path, json!([b])).await;
    let listed = api.get(&path).await;
    assert_eq!(
        listed.body.as_array().unwrap().iter().map(id).collect::<Vec<_>>(),
        vec![b]
    );
    assert!(listed.body[0]["name"].is_string() && listed.body[0].get("icon_url").is_some());
    assert_eq!(
        api.get(&format!("/api/2/apps/{b}")).await.body["role_ids"],
        json!([role])
    );
    assert_eq!(api.get(&format!("/api/2/apps/{a}")).await.body["role_ids"], json!([]));
    let unassigned = api.get_q(&path, &[("assigned", "false")]).await;
    assert_eq!(
        unassigned.body.as_array().unwrap().iter().map(id).collect::<Vec<_>>(),
        vec![a]
    );

    assert_eq!(api.put(&path, json!([424242])).await.status, StatusCode::NOT_FOUND);
    let object = api.put(&path, json!({"apps": [a]})).await;
    assert_eq!(object.status, StatusCode::BAD_REQUEST);
    assert_eq!(object.body["description"], "Expected array in request");
    assert_eq!(server.role_apps(role).unwrap(), vec![b]);

    // role_ids on the app side replaces that app's role list.
    api.put(&format!("/api/2/apps/{a}"), json!({"role_ids": [role]})).await;
    assert_eq!(server.role_apps(role).unwrap(), vec![a, b]);
    api.put(&format!("/api/2/apps/{b}"), json!({"role_ids": []})).await;
    assert_eq!(server.role_apps(role).unwrap(), vec![a]);
    let r = api
        .put(&format!("/api/2/apps/{b}"), json!({"role_ids": [424242]}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn role_users_take_raw_arrays_and_reject_objects() {
    let (server, api) = start().await;
    let u1 = server.add_user(NewUser::with_email("one@example.com"));
    let u2 = server.add_user(NewUser::with_email("two@example.com"));
    let app = id(&api.create_app("granted").await);
    let role = id(&api.post("/api/2/roles", json!({"name": "r", "apps": [app]})).await.body);
    let path = format!("/api/2/roles/{role}/users");

    let r = api.post(&path, json!([u1, u2])).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!([{"id": u1}, {"id": u2}]));
    let listed = api.get(&path).await;
    assert_eq!(
        listed.body.as_array().unwrap().iter().map(id).collect::<Vec<_>>(),
        vec![u1, u2]
    );
    assert_eq!(listed.body[0]["username"], "one@example.com");
    assert_eq!(listed.body[0]["assigned"], true);
    assert!(listed.body[0]["added_at"].is_string());
    let app_users = api.get(&format!("/api/2/apps/{app}/users")).await.body;
    assert_eq!(app_users.as_array().unwrap().len(), 2);
    assert_eq!(api.get(&format!("/api/2/users/{u1}/apps")).await.body[0]["id"], app);

    let expected_array = json!({"status": 400, "error": "BadRequestError", "description": "Expected array in request"});
    let r = api.delete(&path, Some(json!({"user_id": [u1]}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, expected_array);
    assert_eq!(api.post(&path, json!({"user_id": [u1]})).await.body, expected_array);
    assert_eq!(
        server.role_users(role).unwrap(),
        vec![u1, u2],
        "rejected bodies change nothing"
    );

    let r = api.delete(&path, Some(json!([u1]))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(server.role_users(role).unwrap(), vec![u2]);
    assert_eq!(
        api.post(&path, json!([424242])).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let all = api.get_q(&path, &[("include_unassigned", "true")]).await.body;
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(
        api.get_q(&path, &[("name", "two")])
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(api.get("/api/2/roles/424242/users").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn role_update_with_empty_member_arrays_wipes_members() {
    let (server, api) = start().await;
    let u = server.add_user(NewUser::with_email("w@example.com"));
    let role = id(&api.post("/api/2/roles", json!({"name": "r", "users": [u]})).await.body);
    assert_eq!(server.role_users(role).unwrap(), vec![u]);
    api.put(&format!("/api/2/roles/{role}"), json!({"name": "r2", "users": []}))
        .await;
    assert_eq!(server.role_users(role).unwrap(), Vec::<i64>::new());
}

#[tokio::test]
async fn membership_reads_lag_writes_when_configured() {
    let (server, api) = start().await;
    let u = server.add_user(NewUser::with_email("lag@example.com"));
    let role = id(&api.post("/api/2/roles", json!({"name": "lag"})).await.body);
    server.set_membership_lag(2);
    let path = format!("/api/2/roles/{role}/users");
    api.post(&path, json!([u])).await;
    assert_eq!(api.get(&path).await.body, json!([]));
    assert_eq!(api.get(&path).await.body, json!([]));
    assert_eq!(api.get(&path).await.body[0]["id"], u);
    assert_eq!(server.role_users(role).unwrap(), vec![u], "true state is immediate");
}

// ---- users --------------------------------------------------------------------------------------

#[tokio::test]
async fn users_filter_by_exact_and_wildcard_email_and_username() {
    let (server, api) = start().await;
    let ada = server.add_user(NewUser::with_email("ada@example.com"));
    let bob = server.add_user(NewUser {
        status: 3,
        state: 2,
        ..NewUser::with_email("bob@example.com")
    });
    let eve = server.add_user(NewUser {
        username: Some("eve".into()),
        ..NewUser::with_email("eve@other.example")
    });
    let ids = |r: Reply| r.body.as_array().unwrap().iter().map(id).collect::<Vec<_>>();
    assert_eq!(
        ids(api.get_q("/api/2/users", &[("email", "ada@example.com")]).await),
        vec![ada]
    );
    assert_eq!(
        ids(api.get_q("/api/2/users", &[("email", "ada@example")]).await),
        Vec::<i64>::new()
    );
    assert_eq!(
        ids(api.get_q("/api/2/users", &[("email", "*@example.com")]).await),
        vec![ada, bob]
    );
    assert_eq!(ids(api.get_q("/api/2/users", &[("email", "e*")]).await), vec![eve]);
    assert_eq!(ids(api.get_q("/api/2/users", &[("username", "eve")]).await), vec![eve]);
    let user = api.get(&format!("/api/2/users/{bob}")).await.body;
    assert_eq!((user["status"].as_i64(), user["state"].as_i64()), (Some(3), Some(2)));
    assert_eq!(user["email"], "bob@example.com");
    assert_eq!(api.get("/api/2/users/424242").await.status, StatusCode::NOT_FOUND);
}

// ---- call accounting ----------------------------------------------------------------------------

#[tokio::test]
async fn calls_are_counted_by_route_template_and_write_flag() {
    let (server, api) = start().await;
    let app = id(&api.create_app("count").await);
    api.get(&format!("/api/2/apps/{app}")).await;
    api.get(&format!("/api/2/apps/{app}")).await;
    api.put(&format!("/api/2/apps/{app}"), json!({"notes": "n"})).await;
    let calls = server.calls();
    assert_eq!(calls.count("POST /auth/oauth2/v2/token"), 1);
    assert_eq!(calls.count("POST /api/2/apps"), 1);
    assert_eq!(calls.count("GET /api/2/apps/{id}"), 2);
    assert_eq!(server.call_count("PUT /api/2/apps/{id}"), 1);
    assert_eq!(calls.writes(), 2);
    assert_eq!(calls.reads(), 3, "token + two GETs");
    assert_eq!(calls.by_route().len(), 4);
    assert!(calls.records().iter().all(|r| r.status.is_some()));
    server.reset_calls();
    assert_eq!(server.calls().total(), 0);
    api.get("/api/2/users").await;
    assert_eq!(server.calls().total(), 1);
}

// ---- faults -------------------------------------------------------------------------------------

#[tokio::test]
async fn next_requests_get_429_with_or_without_rate_limit_headers() {
    let (server, api) = start().await;
    server.fail_next(
        1,
        Fault::TooManyRequests {
            rate_limit_headers: true,
            reset_secs: 42,
        },
        Scope::Api,
    );
    server.fail_next(
        1,
        Fault::TooManyRequests {
            rate_limit_headers: false,
            reset_secs: 0,
        },
        Scope::Api,
    );
    let first = api.get("/api/2/apps").await;
    assert_eq!(first.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(first.header("X-RateLimit-Remaining"), Some("0"));
    assert_eq!(first.header("X-RateLimit-Reset"), Some("42"));
    let second = api.get("/api/2/apps").await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(second.header("X-RateLimit-Remaining"), None);
    assert!(second.header("x-request-id").is_some());
    assert_eq!(api.get("/api/2/apps").await.status, StatusCode::OK);
    assert_eq!(server.pending_faults(), 0);
}

#[tokio::test]
async fn server_errors_hit_only_the_scoped_route_and_run_out() {
    let (server, api) = start().await;
    let app = id(&api.create_app("flaky").await);
    server.fail_next(2, Fault::Status(502), Scope::Route("GET /api/2/apps/{id}".into()));
    server.fail_next(1, Fault::Status(503), Scope::Writes);
    server.fail_next(1, Fault::Status(500), Scope::Token);
    assert_eq!(
        api.get("/api/2/apps").await.status,
        StatusCode::OK,
        "other routes unaffected"
    );
    let r = api.get(&format!("/api/2/apps/{app}")).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.body.is_null(), "gateway errors are not JSON");
    assert_eq!(
        api.get(&format!("/api/2/apps/{app}")).await.status,
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(api.get(&format!("/api/2/apps/{app}")).await.status, StatusCode::OK);
    assert_eq!(
        api.put(&format!("/api/2/apps/{app}"), json!({"notes": "x"}))
            .await
            .status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(server.app(app).unwrap().notes, None, "failed write not applied");
    let token = reqwest::Client::new()
        .post(format!("{}/auth/oauth2/v2/token", server.base_url()))
        .basic_auth(server.client_id(), Some(server.client_secret()))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::INTERNAL_SERVER_ERROR);
    server.fail_next(5, Fault::Status(500), Scope::All);
    server.clear_faults();
    assert_eq!(api.get("/api/2/apps").await.status, StatusCode::OK);
}

#[tokio::test]
async fn connection_reset_fails_the_request_but_not_the_next_one() {
    let (server, api) = start().await;
    let app = id(&api.create_app("reset").await);
    server.fail_next(
        1,
        Fault::ConnectionReset {
            after_processing: false,
        },
        Scope::Api,
    );
    let err = api
        .try_call(
            Method::PUT,
            &format!("/api/2/apps/{app}"),
            &[],
            Some(json!({"notes": "lost"})),
        )
        .await;
    assert!(err.is_err(), "client must see a transport error");
    assert_eq!(server.app(app).unwrap().notes, None);
    assert_eq!(api.get(&format!("/api/2/apps/{app}")).await.status, StatusCode::OK);

    // After processing: the write happened although the client saw an error.
    server.fail_next(1, Fault::ConnectionReset { after_processing: true }, Scope::Writes);
    let err = api
        .try_call(
            Method::PUT,
            &format!("/api/2/apps/{app}"),
            &[],
            Some(json!({"notes": "applied"})),
        )
        .await;
    assert!(err.is_err());
    assert_eq!(server.app(app).unwrap().notes.as_deref(), Some("applied"));
    assert!(server.calls().records().iter().any(|r| r.status.is_none()));
}

#[tokio::test]
async fn delays_latency_and_forced_401_still_answer() {
    let (server, api) = start().await;
    server.fail_next(1, Fault::Delay(Duration::from_millis(20)), Scope::Api);
    server.set_latency(Duration::from_millis(5));
    assert_eq!(api.get("/api/2/apps").await.status, StatusCode::OK);
    server.fail_next(1, Fault::Unauthorized, Scope::Api);
    let r = api.get("/api/2/apps").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, unauthorized_body());
    assert_eq!(
        api.get("/api/2/apps").await.status,
        StatusCode::OK,
        "token itself still valid"
    );
}

#[tokio::test]
async fn rate_limit_budget_counts_down_and_refuses_when_exhausted() {
    let server = OneLoginServer::start(ServerConfig {
        rate_limit: RateLimitConfig {
            limit: 3,
            window: Duration::from_secs(600),
            enforce: true,
        },
        ..ServerConfig::default()
    })
    .await;
    let api = Api::connect(&server).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = api.get("/api/2/apps").await;
        assert_eq!(r.status, StatusCode::OK);
        remaining.push(r.header("X-RateLimit-Remaining").unwrap().to_owned());
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let refused = api.get("/api/2/apps").await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header("X-RateLimit-Remaining"), Some("0"));
    let reset: u64 = refused.header("X-RateLimit-Reset").unwrap().parse().unwrap();
    assert!(reset > 0 && reset <= 600);
    let status = api.get("/auth/rate_limit").await;
    assert_eq!(status.status, StatusCode::OK, "the status endpoint is not budgeted");
    assert_eq!(status.body["data"]["X-RateLimit-Remaining"], 0);
    server.set_rate_limit(RateLimitConfig {
        limit: 10,
        window: Duration::from_secs(600),
        enforce: true,
    });
    assert_eq!(api.get("/api/2/apps").await.status, StatusCode::OK);
    assert_eq!(server.rate_limit_status().remaining, 9);
}

// ---- out-of-band seeding and drift --------------------------------------------------------------

#[tokio::test]
async fn out_of_band_changes_are_visible_to_the_client() {
    let (server, api) = start().await;
    let seeded = server
        .create_app(json!({"connector_id": SAML_CUSTOM_ADVANCED, "name": "seeded", "configuration": {"audience": "a"}}))
        .unwrap();
    assert_eq!(
        api.get(&format!("/api/2/apps/{seeded}")).await.body["configuration"]["audience"],
        "a"
    );
    assert!(server.create_app(json!({"connector_id": 1, "name": "x"})).is_err());

    server.modify_app(seeded, |app| {
        app.configuration
            .insert("consumer_url".into(), json!("https://drifted.invalid"));
        app.parameters.remove("saml_username");
    });
    let body = api.get(&format!("/api/2/apps/{seeded}")).await.body;
    assert_eq!(body["configuration"]["consumer_url"], "https://drifted.invalid");
    assert!(body["parameters"].get("saml_username").is_none());
    assert_eq!(server.app_json(seeded).unwrap(), body);

    let err = server
        .update_app(seeded, json!({"configuration": {"bogus": "1"}}))
        .unwrap_err();
    assert_eq!(err["statusCode"], 400);
    server.update_app(seeded, json!({"name": "renamed"})).unwrap();
    assert_eq!(api.get(&format!("/api/2/apps/{seeded}")).await.body["name"], "renamed");

    let role = server.create_role("oob");
    let user = server.add_user(NewUser::with_email("oob@example.com"));
    server.set_role_apps(role, &[seeded]);
    server.add_role_users(role, &[user]);
    assert_eq!(api.get(&format!("/api/2/roles/{role}/users")).await.body[0]["id"], user);
    server.remove_role_users(role, &[user]);
    assert_eq!(api.get(&format!("/api/2/roles/{role}/users")).await.body, json!([]));
    assert!(server.remove_user(user));
    assert!(server.delete_role(role));
    assert!(server.delete_app(seeded));
    assert_eq!(
        api.get(&format!("/api/2/apps/{seeded}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(server.roles().is_empty() && server.apps().is_empty());
}
