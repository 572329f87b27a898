#!/usr/bin/env python3
"""Drives the OneLogin test server with the official Python SDK (onelogin==4.0.1).

Every response is validated with the SDK's own pydantic models. Where the SDK cannot make or
parse a call (gaps marked "SDK GAP"), the endpoint is called through the SDK's raw
`ApiClient.call_api` (or `requests`) and the body is validated with the model classes directly.

Environment (set by tests/onelogin_server_contract.rs):
  ONELOGIN_BASE_URL, ONELOGIN_CLIENT_ID, ONELOGIN_CLIENT_SECRET,
  ONELOGIN_USERS  JSON list of seeded users {id, email, username, status, state}
Exit status 0 when every check passed; failures are listed on stdout.
"""

import base64
import json
import os
import sys
import traceback
import xml.etree.ElementTree as ET

import requests
from cryptography import x509

from onelogin.api.apps_api import AppsApi
from onelogin.api.o_auth2_api import OAuth2Api
from onelogin.api.roles_api import RolesApi
from onelogin.api.users_v2_api import UsersV2Api
from onelogin.api_client import ApiClient
from onelogin.configuration import Configuration
from onelogin.exceptions import ApiException
from onelogin.models.alt_err import AltErr
from onelogin.models.app_parameters import AppParameters
from onelogin.models.configuration_saml import ConfigurationSaml
from onelogin.models.connector import Connector
from onelogin.models.create_app_request import CreateAppRequest
from onelogin.models.create_role201_response_inner import CreateRole201ResponseInner
from onelogin.models.error import Error
from onelogin.models.generate_token_request import GenerateTokenRequest
from onelogin.models.generic_app import GenericApp
from onelogin.models.get_rate_limit200_response import GetRateLimit200Response
from onelogin.models.get_role_apps200_response_inner import GetRoleApps200ResponseInner
from onelogin.models.get_user_apps200_response_inner import GetUserApps200ResponseInner
from onelogin.models.oauth_token import OauthToken
from onelogin.models.role import Role
from onelogin.models.saml_app import SamlApp
from onelogin.models.saml_app_all_of_parameters import SamlAppAllOfParameters
from onelogin.models.saml_app_all_of_parameters_saml_username import SamlAppAllOfParametersSamlUsername
from onelogin.models.sso_saml_certificate import SsoSamlCertificate
from onelogin.models.update_role200_response import UpdateRole200Response
from onelogin.models.user import User

BASE = os.environ["ONELOGIN_BASE_URL"].rstrip("/")
CLIENT_ID = os.environ["ONELOGIN_CLIENT_ID"]
CLIENT_SECRET = os.environ["ONELOGIN_CLIENT_SECRET"]
SEEDED = json.loads(os.environ.get("ONELOGIN_USERS", "[]"))

# 110016 configuration keys (reference §5.3); all strings except certificate_id.
SAML_ADVANCED_KEYS = [
    "relaystate", "audience", "recipient", "consumer_url", "validator", "login", "logout_url",
    "saml_issuer_type", "saml_nameid_format_id", "saml_nameid_format_id_slo", "saml_sign_element",
    "saml_initiater_id", "encrypt_assertion", "saml_encryption_method_id", "saml_notbefore",
    "saml_notonorafter", "saml_sessionnotonorafter", "generate_attribute_value_tags",
    "sign_slo_request", "sign_slo_response", "signature_algorithm", "certificate_id",
]
MD = "{urn:oasis:names:tc:SAML:2.0:metadata}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"

failures = []
passed = 0
seen_headers = []  # every response's headers, checked for x-request-id at the end


class CheckFailed(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def step(name):
    """Decorator: run the function now, record pass/fail, keep going."""

    def run(fn):
        global passed
        try:
            fn()
            passed += 1
            print(f"ok   {name}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, not raised
            failures.append(name)
            print(f"FAIL {name}: {e!r}")
            if not isinstance(e, CheckFailed):
                traceback.print_exc(file=sys.stdout)
        return fn

    return run


def validate(model, data, required=()):
    """Parse with the SDK model (strict types) and require the named fields to be present."""
    obj = model.from_dict(data)
    expect(obj is not None, f"{model.__name__}: no object from {data!r}")
    for field in required:
        expect(getattr(obj, field) is not None, f"{model.__name__}.{field} missing in {data!r}")
    return obj


def sdk_client(access_token=None, username=None, password=None):
    config = Configuration(host=BASE, username=username, password=password)
    config.access_token = access_token
    return ApiClient(config)


def record(headers):
    seen_headers.append(headers)
    return headers


def raw(client, method, path, query=None, body=None, auth=True):
    """The SDK's own transport without its response parsing; returns (status, headers, json)."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        r = client.call_api(
            path, method, {}, list((query or {}).items()), headers, body=body,
            response_types_map={}, auth_settings=["OAuth2"] if auth else [],
            _return_http_data_only=False,
        )
        return r.status_code, record(r.headers), (json.loads(r.raw_data) if r.raw_data else None)
    except ApiException as e:
        return e.status, record(e.headers or {}), (json.loads(e.body) if e.body else None)


def expect_error(call, status):
    """Run an SDK call that must fail with `status`; returns the parsed JSON error body."""
    try:
        call()
    except ApiException as e:
        record(e.headers or {})
        expect(e.status == status, f"expected HTTP {status}, got {e.status}: {e.body}")
        return json.loads(e.body) if e.body else None
    raise CheckFailed(f"expected HTTP {status}, call succeeded")


def alt_err(body, status, name, message=None):
    err = validate(AltErr, body, required=("status_code", "name", "message"))
    expect(err.status_code == status and err.name == name, f"AltErr mismatch: {body}")
    if message is not None:
        expect(err.message == message, f"AltErr message {err.message!r} != {message!r}")
    return err


def roles_err(body, description):
    # The roles-service 400 shape has no SDK model; check it structurally.
    expect(isinstance(body, dict), f"roles error body not an object: {body!r}")
    expect(body.get("status") == 400 and body.get("error") == "BadRequestError", f"roles error: {body}")
    expect(isinstance(body.get("status"), int), "status must be an integer")
    expect(body.get("description") == description, f"description {body.get('description')!r}")


def header(headers, name):
    return headers.get(name) if headers is not None else None


def pagination_headers(headers):
    for h in ("Current-Page", "Page-Items", "Total-Count", "Total-Pages"):
        expect(header(headers, h) is not None, f"missing pagination header {h}")
        int(header(headers, h))


state = {}

# ---------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------


@step("token: SDK generate_token (Basic auth) returns an OauthToken")
def _():
    api = OAuth2Api(sdk_client(username=CLIENT_ID, password=CLIENT_SECRET))
    r = api.generate_token_with_http_info(GenerateTokenRequest(grant_type="client_credentials"))
    record(r.headers)
    expect(r.status_code == 200, f"status {r.status_code}")
    tok = r.data
    expect(isinstance(tok, OauthToken), "not an OauthToken")
    validate(OauthToken, json.loads(r.raw_data),
             required=("access_token", "created_at", "expires_in", "token_type", "account_id"))
    expect(tok.expires_in == 36000, f"expires_in {tok.expires_in}")
    expect(tok.token_type == "bearer", f"token_type {tok.token_type}")
    state["token"] = tok.access_token
    again = api.generate_token(GenerateTokenRequest(grant_type="client_credentials"))
    expect(again.access_token == tok.access_token, "same credentials must get the same token")


@step("token: legacy client_id/client_secret header and form body get the same token")
def _():
    r = requests.post(f"{BASE}/auth/oauth2/v2/token",
                      headers={"Authorization": f"client_id:{CLIENT_ID}, client_secret:{CLIENT_SECRET}"},
                      json={"grant_type": "client_credentials"})
    record(r.headers)
    expect(r.status_code == 200, f"legacy header: {r.status_code} {r.text}")
    expect(validate(OauthToken, r.json(), required=("access_token",)).access_token == state["token"], "legacy token")
    r = requests.post(f"{BASE}/auth/oauth2/v2/token",
                      data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    record(r.headers)
    expect(r.status_code == 200, f"form body: {r.status_code} {r.text}")
    expect(validate(OauthToken, r.json(), required=("access_token",)).access_token == state["token"], "form token")


@step("token: bad credentials -> 401 v1 status envelope")
def _():
    api = OAuth2Api(sdk_client(username=CLIENT_ID, password="wrong-secret"))
    body = expect_error(lambda: api.generate_token(GenerateTokenRequest(grant_type="client_credentials")), 401)
    # The SDK declares no model for the v1 envelope itself; its `status` member is the `Error` model.
    err = validate(Error, body["status"], required=("error", "code", "type", "message"))
    expect(err.code == 401 and err.error is True, f"v1 error {body}")


@step("rate limit: SDK get_rate_limit returns GetRateLimit200Response")
def _():
    api = OAuth2Api(sdk_client(access_token=state["token"]))
    r = api.get_rate_limit_with_http_info()
    record(r.headers)
    validate(GetRateLimit200Response, json.loads(r.raw_data), required=("status", "data"))
    d = r.data.data
    expect(None not in (d.x_rate_limit_limit, d.x_rate_limit_remaining, d.x_rate_limit_reset), f"rate data {d}")
    expect(0 <= d.x_rate_limit_remaining <= d.x_rate_limit_limit, "remaining within limit")


@step("auth: bad bearer token -> 401 AltErr")
def _():
    apps = AppsApi(sdk_client(access_token="not-a-token"))
    body = expect_error(lambda: apps.list_apps(), 401)
    alt_err(body, 401, "UnauthorizedError", "Unauthorized")


# ---------------------------------------------------------------------------------------------
# Connectors
# ---------------------------------------------------------------------------------------------


@step("connectors: list validates as Connector items (110016 and 50534)")
def _():
    client = sdk_client(access_token=state["token"])
    # SDK GAP: list_connectors is typed as a single Connector, but the endpoint returns an array.
    status, headers, body = raw(client, "GET", "/api/2/connectors")
    expect(status == 200 and isinstance(body, list), f"{status} {body}")
    pagination_headers(headers)
    items = {c.id: c for c in (validate(Connector, c, required=("id", "name", "auth_method")) for c in body)}
    expect(110016 in items and items[110016].name == "SAML Custom Connector (Advanced)", "110016 missing")
    expect(items[110016].allows_new_parameters is True, "110016 must allow new parameters")
    expect(50534 in items, "50534 missing")
    status, _, body = raw(client, "GET", "/api/2/connectors", {"name": "SAML Custom Connector"})
    expect([c["id"] for c in body] == [110016], f"name filter: {body}")


# ---------------------------------------------------------------------------------------------
# Apps
# ---------------------------------------------------------------------------------------------


def full_app(client, app_id):
    status, headers, body = raw(client, "GET", f"/api/2/apps/{app_id}")
    expect(status == 200, f"GET app {status} {body}")
    return body


@step("apps: SDK create_app (SAML app, 110016)")
def _():
    apps = AppsApi(sdk_client(access_token=state["token"]))
    app = SamlApp(
        connector_id=110016,
        name="SDK & Co's app",
        description="<contract>",
        configuration=ConfigurationSaml(signature_algorithm="SHA-256"),
        parameters=SamlAppAllOfParameters(
            saml_username=SamlAppAllOfParametersSamlUsername(user_attribute_mappings="email")),
    )
    # SDK GAP: the response type is a oneOf(OidcApp, SamlApp, GenericApp); any SAML app matches
    # SamlApp and GenericApp, so the SDK's parser always raises "Multiple matches". The request
    # is still built and sent by the SDK; the body is validated with SamlApp directly.
    r = apps.create_app_with_http_info(create_app_request=CreateAppRequest(app), _preload_content=False)
    record(r.headers)
    expect(r.status_code == 200, f"create status {r.status_code}")
    body = json.loads(r.raw_data)
    saml = validate(SamlApp, body, required=("id", "name", "connector_id", "auth_method", "configuration",
                                             "parameters", "sso", "created_at", "updated_at", "role_ids"))
    validate(GenericApp, body, required=("id",))
    expect(saml.connector_id == 110016 and int(saml.auth_method) == 2, "connector/auth_method")
    expect(saml.name == "SDK &amp; Co&#39;s app", f"name must come back HTML-escaped: {saml.name!r}")
    expect(saml.description == "&lt;contract&gt;", f"description escaped: {saml.description!r}")
    expect(saml.configuration.signature_algorithm == "SHA-256", "signature_algorithm stored")
    expect(isinstance(saml.configuration.certificate_id, int), "certificate_id is an integer")
    for key in SAML_ADVANCED_KEYS:
        expect(key in body["configuration"], f"configuration default {key} missing")
        if key != "certificate_id":
            expect(isinstance(body["configuration"][key], str), f"configuration.{key} must be a string")
    expect(saml.parameters.saml_username.user_attribute_mappings == "email", "saml_username")
    expect(isinstance(body["parameters"]["saml_username"]["id"], int), "saml_username id")
    for key, p in body["parameters"].items():
        validate(AppParameters, p)
    sso = saml.sso
    expect(sso.metadata_url.startswith(BASE + "/saml/metadata/"), f"metadata_url {sso.metadata_url}")
    expect(sso.issuer == sso.metadata_url, "issuer equals metadata_url (Specific issuer)")
    expect(sso.acs_url and sso.sls_url, "acs/sls urls")
    validate(SsoSamlCertificate, body["sso"]["certificate"], required=("id", "name", "value"))
    state["app"] = saml.id
    state["sso"] = body["sso"]


@step("apps: SDK get_app returns GenericApp; raw body also validates as SamlApp")
def _():
    apps = AppsApi(sdk_client(access_token=state["token"]))
    r = apps.get_app_with_http_info(state["app"])
    record(r.headers)
    expect(isinstance(r.data, GenericApp) and r.data.id == state["app"], "GenericApp")
    body = json.loads(r.raw_data)
    validate(SamlApp, body, required=("sso", "configuration", "parameters"))
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        expect(header(r.headers, h) is not None, f"missing {h}")


@step("apps: SDK update_app merges configuration and creates new parameters with ids")
def _():
    apps = AppsApi(sdk_client(access_token=state["token"]))
    client = apps.api_client
    role_key = "https://aws.amazon.com/SAML/Attributes/Role"
    r = apps.update_app_with_http_info(state["app"], {
        "configuration": {
            "audience": "urn:amazon:webservices",
            "recipient": "https://signin.aws.amazon.com/saml",
            "consumer_url": "https://signin.aws.amazon.com/saml",
            "validator": "^https:\\/\\/signin\\.aws\\.amazon\\.com\\/saml$",
            "relaystate": "https://example.invalid/connect/federate/1",
        },
        "parameters": {
            role_key: {"label": "Role", "user_attribute_mappings": "_macro_",
                       "user_attribute_macros": "arn:aws:iam::123456789012:role/A,arn:aws:iam::123456789012:saml-provider/B",
                       "include_in_saml_assertion": True, "values": [""]},
        },
        "sso": {"metadata_url": "https://attacker.invalid/"},
    })
    record(r.headers)
    expect(r.status_code == 200 and isinstance(r.data, GenericApp), f"update {r.status_code}")
    body = json.loads(r.raw_data)
    validate(SamlApp, body, required=("parameters", "configuration"))
    expect(body["configuration"]["audience"] == "urn:amazon:webservices", "audience set")
    expect(body["configuration"]["signature_algorithm"] == "SHA-256", "untouched config key kept")
    p = validate(AppParameters, body["parameters"][role_key], required=("label", "user_attribute_mappings"))
    expect(isinstance(body["parameters"][role_key]["id"], int), "new parameter gets an integer id")
    expect(body["parameters"][role_key]["values"] == [""], "values stored verbatim")
    expect(p.include_in_saml_assertion is True, "include_in_saml_assertion")
    expect("saml_username" in body["parameters"], "parameters merge by key")
    expect(body["sso"]["metadata_url"] == state["sso"]["metadata_url"], "sso is read-only")
    state["role_param_id"] = body["parameters"][role_key]["id"]
    state["saml_username_id"] = body["parameters"]["saml_username"]["id"]

    # A second, partial PUT keeps everything it does not mention; label is immutable.
    apps.update_app(state["app"], {"notes": "n", "parameters": {role_key: {"label": "Other"}}})
    body = full_app(client, state["app"])
    expect(body["notes"] == "n" and body["configuration"]["audience"] == "urn:amazon:webservices", "merge")
    expect(body["parameters"][role_key]["label"] == "Role", "label cannot be updated")
    expect(body["parameters"][role_key]["user_attribute_mappings"] == "_macro_", "parameter fields kept")


@step("apps: unknown configuration key -> 400 AltErr")
def _():
    apps = AppsApi(sdk_client(access_token=state["token"]))
    body = expect_error(lambda: apps.update_app(state["app"], {"configuration": {"provider_arn": "x"}}), 400)
    alt_err(body, 400, "BadRequestError", "Unknown parameter on configuration section: provider_arn")


@step("apps: unknown connector -> 422 AltErr")
def _():
    apps = AppsApi(sdk_client(access_token=state["token"]))
    req = CreateAppRequest(GenericApp(connector_id=999999, name="nope"))
    body = expect_error(lambda: apps.create_app(create_app_request=req), 422)
    alt_err(body, 422, "UnprocessableEntityError", "Validation failed: Connector ID is invalid")


@step("apps: missing app -> 404 AltErr")
def _():
    apps = AppsApi(sdk_client(access_token=state["token"]))
    body = expect_error(lambda: apps.get_app(987654321), 404)
    alt_err(body, 404, "NotFoundError")


@step("apps: SDK list_apps returns List[GenericApp]; name/connector filters via raw call")
def _():
    apps = AppsApi(sdk_client(access_token=state["token"]))
    listed = apps.list_apps()
    expect(all(isinstance(a, GenericApp) for a in listed), "List[GenericApp]")
    expect(state["app"] in [a.id for a in listed], "created app listed")
    # SDK GAP: list_apps exposes no query parameters (name, connector_id, limit, page, cursor).
    status, headers, body = raw(apps.api_client, "GET", "/api/2/apps", {"name": "SDK & Co*", "connector_id": 110016})
    expect(status == 200 and [a["id"] for a in body] == [state["app"]], f"filtered list {body}")
    pagination_headers(headers)
    for a in body:
        validate(GenericApp, a, required=("id", "name", "connector_id", "auth_method"))
    status, _, body = raw(apps.api_client, "GET", "/api/2/apps", {"name": "SDK"})
    expect(status == 200 and body == [], "name without wildcard is exact")


@step("metadata: unauthenticated GET of sso.metadata_url renders XML with a real certificate")
def _():
    r = requests.get(state["sso"]["metadata_url"])
    record(r.headers)
    expect(r.status_code == 200, f"metadata {r.status_code}")
    root = ET.fromstring(r.content)
    expect(root.tag == MD + "EntityDescriptor", f"root {root.tag}")
    expect(root.get("entityID") == state["sso"]["issuer"], "entityID equals issuer")
    idp = root.find(MD + "IDPSSODescriptor")
    expect(idp is not None, "IDPSSODescriptor")
    cert_el = idp.find(f"{MD}KeyDescriptor[@use='signing']/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    expect(cert_el is not None, "signing X509Certificate")
    lines = cert_el.text.strip().split("\n")
    expect(all(len(line) <= 64 for line in lines) and len(lines) > 1, "base64 wrapped at 64 chars")
    der = base64.b64decode("".join(lines))
    cert = x509.load_der_x509_certificate(der)
    api_cert = x509.load_pem_x509_certificate(state["sso"]["certificate"]["value"].encode())
    expect(cert == api_cert, "metadata certificate equals sso.certificate.value")
    expect(cert.subject == cert.issuer, "self-signed")
    expect(idp.find(MD + "NameIDFormat").text.endswith("emailAddress"), "NameIDFormat follows saml_nameid_format_id")
    bindings = {s.get("Binding").rsplit(":", 1)[1] for s in idp.findall(MD + "SingleSignOnService")}
    expect(bindings == {"HTTP-Redirect", "HTTP-POST", "SOAP"}, f"SSO bindings {bindings}")
    expect(idp.find(MD + "SingleLogoutService") is not None, "SLO service")


# ---------------------------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------------------------


@step("roles: SDK create_role -> 201 bare {id}")
def _():
    roles = RolesApi(sdk_client(access_token=state["token"]))
    r = roles.create_role_with_http_info(Role(name="SDK role"))
    record(r.headers)
    expect(r.status_code == 201, f"status {r.status_code}")
    body = json.loads(r.raw_data)
    expect(isinstance(body, dict) and list(body) == ["id"], f"bare object: {body}")
    expect(isinstance(r.data, CreateRole201ResponseInner) and isinstance(r.data.id, int), "parsed id")
    state["role"] = r.data.id


@step("roles: SDK get_role returns the base object only")
def _():
    roles = RolesApi(sdk_client(access_token=state["token"]))
    r = roles.get_role_with_http_info(str(state["role"]))
    record(r.headers)
    expect(isinstance(r.data, Role) and r.data.name == "SDK role", "Role")
    expect(sorted(json.loads(r.raw_data)) == ["id", "name"], f"base object: {r.raw_data}")


@step("roles: SDK list_roles (role_name filter) returns List[Role] with pagination headers")
def _():
    roles = RolesApi(sdk_client(access_token=state["token"]))
    r = roles.list_roles_with_http_info(role_name="SDK role", limit=10)
    record(r.headers)
    expect([x.id for x in r.data] == [state["role"]], f"roles {r.data}")
    pagination_headers(r.headers)


@step("roles: SDK set_role_apps replaces the app list; get_role_apps validates")
def _():
    roles = RolesApi(sdk_client(access_token=state["token"]))
    out = roles.set_role_apps(str(state["role"]), [state["app"]])
    expect([x.id for x in out] == [state["app"]], f"set_role_apps {out}")
    expect(all(isinstance(x, CreateRole201ResponseInner) for x in out), "items")
    r = roles.get_role_apps_with_http_info(str(state["role"]))
    record(r.headers)
    expect([a.id for a in r.data] == [state["app"]], f"role apps {r.data}")
    for a in json.loads(r.raw_data):
        validate(GetRoleApps200ResponseInner, a, required=("id", "name"))
    pagination_headers(r.headers)
    expect(roles.set_role_apps(str(state["role"]), []) == [], "empty list")
    expect(roles.get_role_apps(str(state["role"])) == [], "PUT replaces (no apps left)")
    roles.set_role_apps(str(state["role"]), [state["app"]])
    body = expect_error(lambda: roles.set_role_apps(str(state["role"]), [987654321]), 404)
    alt_err(body, 404, "NotFoundError")
    expect([a.id for a in roles.get_role_apps(str(state["role"]))] == [state["app"]], "failed PUT changes nothing")


@step("roles: SDK add_role_users / get_role_users (limit, cursor) / remove_role_users")
def _():
    roles = RolesApi(sdk_client(access_token=state["token"]))
    ids = [u["id"] for u in SEEDED[:3]]
    expect(len(ids) == 3, "three seeded users needed")
    out = roles.add_role_users(str(state["role"]), ids)
    expect(sorted(x.id for x in out) == sorted(ids), f"add_role_users {out}")
    r = roles.get_role_users_with_http_info(str(state["role"]), limit=2)
    record(r.headers)
    expect(len(r.data) == 2 and all(isinstance(u, User) for u in r.data), "first page List[User]")
    expect(header(r.headers, "Total-Count") == "3" and header(r.headers, "Total-Pages") == "2", "totals")
    expect(header(r.headers, "Current-Page") == "1", "current page")
    cursor = header(r.headers, "After-Cursor")
    expect(cursor, "After-Cursor on first page")
    expect(base64.b64decode(cursor).decode() == "limit=2&page=2", f"cursor encodes limit/page: {cursor}")
    r2 = roles.get_role_users_with_http_info(str(state["role"]), cursor=cursor)
    record(r2.headers)
    expect(len(r2.data) == 1 and not header(r2.headers, "After-Cursor"), "last page has no After-Cursor")
    expect(header(r2.headers, "Before-Cursor"), "Before-Cursor on second page")
    expect(sorted(u.id for u in r.data + r2.data) == sorted(ids), "pages cover all members")
    for u in json.loads(r.raw_data):
        validate(User, u, required=("id",))
    body = expect_error(lambda: roles.get_role_users(str(state["role"]), limit=2, cursor=cursor), 400)
    roles_err(body, "Requests can only have cursor xor pagination arguments")
    expect(roles.remove_role_users(str(state["role"]), [ids[0]]) is None, "204 -> None")
    expect(sorted(u.id for u in roles.get_role_users(str(state["role"]))) == sorted(ids[1:]), "removed")
    state["members"] = ids[1:]


@step("roles: object body on role users -> 400 roles-service shape")
def _():
    client = sdk_client(access_token=state["token"])
    # SDK GAP (by design since 4.0.1): remove_role_users always sends a raw array, so the
    # rejected object form has to go through the raw transport.
    status, _, body = raw(client, "DELETE", f"/api/2/roles/{state['role']}/users", body={"user_id": [1]})
    expect(status == 400, f"status {status}")
    roles_err(body, "Expected array in request")
    status, _, body = raw(client, "POST", f"/api/2/roles/{state['role']}/users", body={"user_id": [1]})
    expect(status == 400, f"status {status}")
    roles_err(body, "Expected array in request")


@step("apps: SDK get_app_users lists users granted through roles")
def _():
    apps = AppsApi(sdk_client(access_token=state["token"]))
    users = apps.get_app_users(state["app"])
    expect(sorted(u.id for u in users) == sorted(state["members"]), f"app users {users}")


@step("roles: SDK update_role -> UpdateRole200Response, membership untouched")
def _():
    roles = RolesApi(sdk_client(access_token=state["token"]))
    out = roles.update_role(str(state["role"]), Role(name="SDK role renamed"))
    expect(isinstance(out, UpdateRole200Response) and out.id == state["role"], f"update_role {out}")
    expect(roles.get_role(str(state["role"])).name == "SDK role renamed", "renamed")
    expect(len(roles.get_role_users(str(state["role"]))) == len(state["members"]), "members kept")


# ---------------------------------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------------------------------


@step("users: SDK list_users with exact and wildcard email/username filters")
def _():
    users = UsersV2Api(sdk_client(access_token=state["token"]))
    first = SEEDED[0]
    r = users.list_users2_with_http_info(email=first["email"])
    record(r.headers)
    expect([u.id for u in r.data] == [first["id"]], f"exact email {r.data}")
    for u in json.loads(r.raw_data):
        validate(User, u, required=("id", "email", "username", "state", "status", "created_at"))
    pagination_headers(r.headers)
    domain = first["email"].split("@")[1]
    want = sorted(u["id"] for u in SEEDED if u["email"].endswith("@" + domain))
    expect(sorted(u.id for u in users.list_users2(email="*@" + domain)) == want, "wildcard email")
    expect([u.id for u in users.list_users2(username=first["username"])] == [first["id"]], "exact username")
    expect(users.list_users2(email=first["email"][:-1]) == [], "no partial match without *")
    by_id = {u.id: u for u in users.list_users2()}
    for seed in SEEDED:
        expect(by_id[seed["id"]].status == seed["status"] and by_id[seed["id"]].state == seed["state"], "state/status ints")
    body = expect_error(lambda: users.list_users2(limit=1, cursor="bGltaXQ9MSZwYWdlPTI="), 400)
    roles_err(body, "Requests can only have cursor xor pagination arguments")


@step("users: SDK get_user / get_user_apps; missing user -> 404")
def _():
    users = UsersV2Api(sdk_client(access_token=state["token"]))
    member = state["members"][0]
    r = users.get_user2_with_http_info(member)
    record(r.headers)
    expect(isinstance(r.data, User) and r.data.id == member, "User")
    expect(state["role"] in r.data.role_ids, "role_ids lists the role")
    apps = users.get_user_apps2(member)
    expect([a.id for a in apps] == [state["app"]] and all(isinstance(a, GetUserApps200ResponseInner) for a in apps),
           f"user apps {apps}")
    body = expect_error(lambda: users.get_user2(987654321), 404)
    alt_err(body, 404, "NotFoundError")


# ---------------------------------------------------------------------------------------------
# Deletes
# ---------------------------------------------------------------------------------------------


@step("apps: SDK delete_app_parameter (custom -> 204, connector-defined -> 403)")
def _():
    apps = AppsApi(sdk_client(access_token=state["token"]))
    r = apps.delete_app_parameter_with_http_info(state["app"], str(state["role_param_id"]))
    record(r.headers)
    expect(r.status_code == 204, f"status {r.status_code}")
    body = expect_error(lambda: apps.delete_app_parameter(state["app"], str(state["saml_username_id"])), 403)
    alt_err(body, 403, "ForbiddenError", f"not allowed to destroy Parameter {state['saml_username_id']}:saml_username")
    expect_error(lambda: apps.delete_app_parameter(state["app"], str(state["role_param_id"])), 404)


@step("roles/apps: SDK delete_role and delete_app -> 204, then 404")
def _():
    roles = RolesApi(sdk_client(access_token=state["token"]))
    apps = AppsApi(roles.api_client)
    r = roles.delete_role_with_http_info(str(state["role"]))
    record(r.headers)
    expect(r.status_code == 204, f"delete role {r.status_code}")
    alt_err(expect_error(lambda: roles.get_role(str(state["role"])), 404), 404, "NotFoundError")
    r = apps.delete_app_with_http_info(state["app"])
    record(r.headers)
    expect(r.status_code == 204 and not r.raw_data, f"delete app {r.status_code}")
    alt_err(expect_error(lambda: apps.get_app(state["app"]), 404), 404, "NotFoundError")
    status, _, _ = raw(apps.api_client, "GET", state["sso"]["metadata_url"][len(BASE):], auth=False)
    expect(status == 404, "metadata gone with the app")


@step("headers: every response carried x-request-id")
def _():
    missing = [h for h in seen_headers if not header(h, "x-request-id")]
    expect(seen_headers and not missing, f"{len(missing)} of {len(seen_headers)} responses lack x-request-id")


print(f"\n{passed} passed, {len(failures)} failed")
for name in failures:
    print(f"  failed: {name}")
sys.exit(1 if failures else 0)
