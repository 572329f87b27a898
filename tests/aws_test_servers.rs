//! The AWS test servers as the real SDK clients see them: moto (IAM) and the in-process Connect
//! server (Connect user APIs, which moto lacks).

#[path = "support/connect/mod.rs"]
mod connect;
#[path = "support/moto/mod.rs"]
mod moto;

use aws_sdk_connect::error::ProvideErrorMetadata as _;
use aws_sdk_connect::operation::create_user::CreateUserError;
use aws_sdk_connect::types::{
    DirectoryType, InstanceStatus, StringComparisonType, StringCondition, UserIdentityInfo, UserPhoneConfig,
    UserSearchCriteria,
};
use connect::{ConnectServer, Created, Fault, InstanceSpec, NewUser};
use moto::MotoServer;
use serde_json::{Value, json};

/// Unique per call, so tests sharing one moto server do not collide.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

fn saml_metadata(entity: &str) -> String {
    // moto does not parse metadata; AWS requires ≥1000 chars of valid XML, so keep it realistic.
    format!(
        r#"<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://example.onelogin.com/trust/saml2/http-redirect/sso/1"/></md:IDPSSODescriptor>{}</md:EntityDescriptor>"#,
        "<!-- padding -->".repeat(60)
    )
}

fn trust_policy(provider_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
            "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}
        }]
    })
}

fn federation_policy(resource: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "Federate",
            "Effect": "Allow",
            "Action": "connect:GetFederationToken",
            "Resource": [resource]
        }]
    })
}

fn percent_decode(s: &str) -> String {
    // Not form decoding: '+' must stay '+'.
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .expect("utf-8")
        .into_owned()
}

// ---- moto: IAM ------------------------------------------------------------------------------

#[tokio::test]
async fn moto_iam_saml_provider_policy_versions_and_role() {
    let iam = moto::iam_client(&MotoServer::shared());

    let provider_name = unique("OneLogin");
    let metadata = saml_metadata("https://app.onelogin.com/saml/metadata/1");
    let provider = iam
        .create_saml_provider()
        .name(&provider_name)
        .saml_metadata_document(&metadata)
        .send()
        .await
        .expect("create SAML provider");
    let provider_arn = provider.saml_provider_arn().expect("provider ARN").to_owned();
    assert_eq!(
        provider_arn,
        format!("arn:aws:iam::{}:saml-provider/{provider_name}", moto::ACCOUNT_ID)
    );
    let got = iam
        .get_saml_provider()
        .saml_provider_arn(&provider_arn)
        .send()
        .await
        .expect("get SAML provider");
    assert_eq!(got.saml_metadata_document(), Some(metadata.as_str()));

    let policy_name = unique("connect-federation");
    let v1 = federation_policy("arn:aws:connect:us-east-1:123456789012:instance/one/user/${aws:userid}");
    let policy = iam
        .create_policy()
        .policy_name(&policy_name)
        .policy_document(v1.to_string())
        .send()
        .await
        .expect("create policy");
    let policy = policy.policy().expect("policy");
    assert_eq!(policy.default_version_id(), Some("v1"));
    let policy_arn = policy.arn().expect("policy ARN").to_owned();

    let v2 = federation_policy("arn:aws:connect:us-east-1:123456789012:instance/two/user/${aws:userid}");
    let v2_text = v2.to_string();
    let created = iam
        .create_policy_version()
        .policy_arn(&policy_arn)
        .policy_document(&v2_text)
        .set_as_default(true)
        .send()
        .await
        .expect("create policy version");
    let created = created.policy_version().expect("policy version");
    assert_eq!(created.version_id(), Some("v2"));
    assert!(created.is_default_version());

    let version = iam
        .get_policy_version()
        .policy_arn(&policy_arn)
        .version_id("v2")
        .send()
        .await
        .expect("get policy version");
    let document = version.policy_version().and_then(|v| v.document()).expect("document");
    // AWS URL-encodes this document; moto 5.2.5 returns it raw. If this starts failing, moto began
    // encoding (decode as for the trust policy below).
    assert_eq!(document, v2_text, "moto returns the policy version document unencoded");

    let role_name = unique("connect-agents");
    let trust = trust_policy(&provider_arn);
    iam.create_role()
        .role_name(&role_name)
        .assume_role_policy_document(trust.to_string())
        .max_session_duration(43_200)
        .send()
        .await
        .expect("create role");
    let role = iam.get_role().role_name(&role_name).send().await.expect("get role");
    let role = role.role().expect("role");
    assert_eq!(
        role.arn(),
        format!("arn:aws:iam::{}:role/{role_name}", moto::ACCOUNT_ID)
    );
    let encoded = role.assume_role_policy_document().expect("trust policy");
    assert!(
        !encoded.contains('{') && encoded.contains("%7B") && encoded.contains("%22"),
        "trust policy should be URL-encoded, got {encoded}"
    );
    // moto encodes with Python's `quote`, which leaves '/' as is (AWS may encode it); decoders
    // must accept both.
    assert!(encoded.contains("https%3A//signin.aws.amazon.com/saml"), "{encoded}");
    let decoded: Value = serde_json::from_str(&percent_decode(encoded)).expect("decoded trust policy is JSON");
    assert_eq!(decoded, trust);
}

#[tokio::test]
async fn moto_iam_errors_map_to_typed_variants() {
    let iam = moto::iam_client(&MotoServer::shared());

    let err = iam
        .get_role()
        .role_name(unique("missing"))
        .send()
        .await
        .expect_err("unknown role");
    let err = err.into_service_error();
    assert!(err.is_no_such_entity_exception(), "{err:?}");
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchEntity")
    );

    let err = iam
        .get_policy_version()
        .policy_arn(format!(
            "arn:aws:iam::{}:policy/{}",
            moto::ACCOUNT_ID,
            unique("missing")
        ))
        .version_id("v1")
        .send()
        .await
        .expect_err("unknown policy");
    assert!(err.into_service_error().is_no_such_entity_exception());

    let role_name = unique("dup");
    let trust = trust_policy("arn:aws:iam::123456789012:saml-provider/OneLogin").to_string();
    iam.create_role()
        .role_name(&role_name)
        .assume_role_policy_document(&trust)
        .send()
        .await
        .expect("first create");
    let err = iam
        .create_role()
        .role_name(&role_name)
        .assume_role_policy_document(&trust)
        .send()
        .await
        .expect_err("duplicate role");
    let err = err.into_service_error();
    assert!(err.is_entity_already_exists_exception(), "{err:?}");
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("EntityAlreadyExists")
    );
}

#[tokio::test]
async fn moto_server_reset_clears_state_and_drop_kills_the_process() {
    let server = MotoServer::start().expect("start moto_server");
    let iam = moto::iam_client(&server.endpoint());
    let trust = trust_policy("arn:aws:iam::123456789012:saml-provider/OneLogin").to_string();
    iam.create_role()
        .role_name("ephemeral")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .expect("create role");
    server.reset().await.expect("reset");
    let err = iam
        .get_role()
        .role_name("ephemeral")
        .send()
        .await
        .expect_err("gone after reset");
    assert!(err.into_service_error().is_no_such_entity_exception());

    let pid = server.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    // Drop kills and reaps, so the pid no longer exists (not even as a zombie).
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

// ---- Connect test server ---------------------------------------------------------------------

struct Fixture {
    server: ConnectServer,
    client: aws_sdk_connect::Client,
    instance: Created,
    security_profile: Created,
    routing_profile: Created,
}

async fn fixture() -> Fixture {
    let server = ConnectServer::start().await;
    let client = moto::connect_client(&server.endpoint());
    let instance = server.add_instance(InstanceSpec::saml("acme-contact"));
    let security_profile = server.add_security_profile(&instance.id, "Agent");
    let routing_profile = server.add_routing_profile(&instance.id, "Basic Routing Profile");
    Fixture {
        server,
        client,
        instance,
        security_profile,
        routing_profile,
    }
}

impl Fixture {
    /// A CreateUser request valid for a SAML instance.
    fn create_user(
        &self,
        username: &str,
    ) -> aws_sdk_connect::operation::create_user::builders::CreateUserFluentBuilder {
        self.client
            .create_user()
            .instance_id(&self.instance.id)
            .username(username)
            .identity_info(
                UserIdentityInfo::builder()
                    .first_name("Ada")
                    .last_name("Lovelace")
                    .secondary_email("ada@example.com")
                    .build(),
            )
            .phone_config(
                UserPhoneConfig::builder()
                    .phone_type(aws_sdk_connect::types::PhoneType::SoftPhone)
                    .build(),
            )
            .security_profile_ids(&self.security_profile.id)
            .routing_profile_id(&self.routing_profile.id)
    }
}

fn username_is(value: &str, comparison: StringComparisonType) -> UserSearchCriteria {
    UserSearchCriteria::builder()
        .string_condition(
            StringCondition::builder()
                .field_name("Username")
                .value(value)
                .comparison_type(comparison)
                .build(),
        )
        .build()
}

#[tokio::test]
async fn connect_describe_instance_saml_and_connect_managed() {
    let f = fixture().await;
    let managed = f.server.add_instance(InstanceSpec {
        access_url: Some("https://legacy.awsapps.com/connect".into()),
        region: "eu-west-2".into(),
        account: "210987654321".into(),
        ..InstanceSpec::connect_managed("legacy")
    });
    assert!(
        managed
            .arn
            .starts_with("arn:aws:connect:eu-west-2:210987654321:instance/")
    );

    let out = f
        .client
        .describe_instance()
        .instance_id(&f.instance.id)
        .send()
        .await
        .expect("describe SAML instance");
    let inst = out.instance().expect("instance");
    assert_eq!(inst.id(), Some(f.instance.id.as_str()));
    assert_eq!(inst.arn(), Some(f.instance.arn.as_str()));
    assert_eq!(inst.identity_management_type(), Some(&DirectoryType::Saml));
    assert_eq!(inst.instance_status(), Some(&InstanceStatus::Active));
    assert_eq!(inst.instance_alias(), Some("acme-contact"));
    assert_eq!(inst.instance_access_url(), Some("https://acme-contact.my.connect.aws"));
    assert!(inst.created_time().is_some());

    // Connect also accepts the instance ARN as InstanceId (the SDK percent-encodes the label).
    let out = f
        .client
        .describe_instance()
        .instance_id(&managed.arn)
        .send()
        .await
        .expect("describe by ARN");
    let inst = out.instance().expect("instance");
    assert_eq!(inst.id(), Some(managed.id.as_str()));
    assert_eq!(inst.identity_management_type(), Some(&DirectoryType::ConnectManaged));
    assert_eq!(inst.instance_access_url(), Some("https://legacy.awsapps.com/connect"));
}

#[tokio::test]
async fn connect_unknown_instance_is_resource_not_found() {
    let f = fixture().await;
    let err = f
        .client
        .describe_instance()
        .instance_id("00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .expect_err("unknown instance");
    let err = err.into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert!(
        err.message()
            .unwrap_or_default()
            .contains("00000000-0000-4000-8000-000000000000")
    );

    let err = f
        .client
        .list_users()
        .instance_id("nope")
        .send()
        .await
        .expect_err("unknown instance");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn connect_list_users_paginates_through_the_sdk_paginator() {
    let f = fixture().await;
    let names: Vec<String> = (0..2500).map(|i| format!("agent{i:04}@example.com")).collect();
    for name in &names {
        f.server.add_user(&f.instance.id, NewUser::named(name));
    }

    let users: Vec<_> = f
        .client
        .list_users()
        .instance_id(&f.instance.id)
        .max_results(1000)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("list all users");
    let listed: Vec<&str> = users.iter().filter_map(|u| u.username()).collect();
    assert_eq!(listed, names.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(users.iter().all(|u| u.id().is_some() && u.arn().is_some()));
    assert!(users.iter().all(|u| u.last_modified_time().is_some()));
    assert_eq!(users[0].last_modified_region(), Some("us-east-1"));
    assert_eq!(f.server.call_count("ListUsers"), 3);
    assert_eq!(f.server.write_count(), 0);

    let err = f
        .client
        .list_users()
        .instance_id(&f.instance.id)
        .max_results(1001)
        .send()
        .await
        .expect_err("maxResults above 1000");
    assert!(err.into_service_error().is_invalid_parameter_exception());

    let err = f
        .client
        .list_users()
        .instance_id(&f.instance.id)
        .next_token("not-a-token")
        .send()
        .await
        .expect_err("forged token");
    assert!(err.into_service_error().is_invalid_parameter_exception());
}

#[tokio::test]
async fn connect_search_users_exact_username_is_case_sensitive() {
    let f = fixture().await;
    let upper = f
        .server
        .add_user(&f.instance.id, NewUser::named("Jane.Doe@example.com"));
    let lower = f
        .server
        .add_user(&f.instance.id, NewUser::named("jane.doe@example.com"));
    f.server
        .add_user(&f.instance.id, NewUser::named("john.roe@example.com"));

    let out = f
        .client
        .search_users()
        .instance_id(&f.instance.id)
        .search_criteria(username_is("jane.doe@example.com", StringComparisonType::Exact))
        .send()
        .await
        .expect("search exact");
    let ids: Vec<_> = out.users().iter().filter_map(|u| u.id()).collect();
    assert_eq!(ids, vec![lower.id.as_str()]);
    assert_eq!(out.approximate_total_count(), Some(1));
    assert_eq!(out.users()[0].username(), Some("jane.doe@example.com"));

    let out = f
        .client
        .search_users()
        .instance_id(&f.instance.id)
        .search_criteria(username_is("JANE.DOE@EXAMPLE.COM", StringComparisonType::Exact))
        .send()
        .await
        .expect("search exact, other case");
    assert!(out.users().is_empty());

    let either = UserSearchCriteria::builder()
        .or_conditions(username_is("Jane.Doe@example.com", StringComparisonType::Exact))
        .or_conditions(username_is("john.", StringComparisonType::StartsWith))
        .build();
    let users: Vec<_> = f
        .client
        .search_users()
        .instance_id(&f.instance.id)
        .search_criteria(either)
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("search with OrConditions");
    let found: Vec<_> = users.iter().filter_map(|u| u.username()).collect();
    assert_eq!(found, vec!["Jane.Doe@example.com", "john.roe@example.com"]);
    assert_eq!(f.server.call_count("SearchUsers"), 4);
    assert_ne!(upper.id, lower.id);

    let err = f
        .client
        .search_users()
        .instance_id(&f.instance.id)
        .max_results(501)
        .send()
        .await
        .expect_err("MaxResults above 500");
    assert!(err.into_service_error().is_invalid_parameter_exception());
}

#[tokio::test]
async fn connect_create_user_succeeds_and_is_visible() {
    let f = fixture().await;
    let out = f
        .create_user("ada.lovelace@example.com")
        .send()
        .await
        .expect("create user");
    let user_id = out.user_id().expect("UserId").to_owned();
    assert_eq!(
        out.user_arn(),
        Some(format!("{}/agent/{user_id}", f.instance.arn).as_str())
    );
    assert_eq!(f.server.write_count(), 1);
    assert_eq!(f.server.call_count("CreateUser"), 1);

    let described = f
        .client
        .describe_user()
        .instance_id(&f.instance.id)
        .user_id(&user_id)
        .send()
        .await
        .expect("describe user");
    let user = described.user().expect("user");
    assert_eq!(user.username(), Some("ada.lovelace@example.com"));
    let info = user.identity_info().expect("identity info");
    assert_eq!(info.first_name(), Some("Ada"));
    assert_eq!(info.last_name(), Some("Lovelace"));
    assert_eq!(info.email(), None);
    assert_eq!(info.secondary_email(), Some("ada@example.com"));
    assert_eq!(
        user.security_profile_ids(),
        std::slice::from_ref(&f.security_profile.id)
    );
    assert_eq!(user.routing_profile_id(), Some(f.routing_profile.id.as_str()));

    let stored = f.server.users(&f.instance.id);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, user_id);

    let err = f
        .client
        .describe_user()
        .instance_id(&f.instance.id)
        .user_id("00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .expect_err("unknown user");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn connect_create_user_rejections_are_typed_errors() {
    let f = fixture().await;
    f.create_user("taken@example.com").send().await.expect("first user");

    let expect = |label: &str, err: CreateUserError, check: fn(&CreateUserError) -> bool, needle: &str| {
        assert!(check(&err), "{label}: unexpected variant {err:?}");
        let message = err.message().unwrap_or_default();
        assert!(
            message.contains(needle),
            "{label}: message {message:?} lacks {needle:?}"
        );
    };
    let run = |b: aws_sdk_connect::operation::create_user::builders::CreateUserFluentBuilder| async move {
        b.send().await.expect_err("rejected").into_service_error()
    };

    // Username rules for SAML instances.
    expect(
        "plus sign",
        run(f.create_user("a+b@example.com")).await,
        CreateUserError::is_invalid_parameter_exception,
        "not allowed",
    );
    expect(
        "65 chars",
        run(f.create_user(&"a".repeat(65))).await,
        CreateUserError::is_invalid_parameter_exception,
        "64",
    );
    f.create_user(&"a".repeat(64)).send().await.expect("64 chars is fine");
    expect(
        "@ without domain",
        run(f.create_user("testuser@example")).await,
        CreateUserError::is_invalid_parameter_exception,
        "email",
    );

    // Identity rules for SAML instances.
    expect(
        "password",
        run(f.create_user("pw").password("Secret123!")).await,
        CreateUserError::is_invalid_request_exception,
        "Password",
    );
    let with_email = f.create_user("email").identity_info(
        UserIdentityInfo::builder()
            .first_name("A")
            .last_name("B")
            .email("a@example.com")
            .build(),
    );
    expect(
        "email",
        run(with_email).await,
        CreateUserError::is_invalid_request_exception,
        "Email",
    );
    let no_last_name = f
        .create_user("nolast")
        .identity_info(UserIdentityInfo::builder().first_name("A").build());
    expect(
        "no last name",
        run(no_last_name).await,
        CreateUserError::is_invalid_request_exception,
        "LastName",
    );

    // References to other resources.
    let no_profiles = f.create_user("noprofiles").set_security_profile_ids(Some(vec![]));
    expect(
        "zero security profiles",
        run(no_profiles).await,
        CreateUserError::is_invalid_parameter_exception,
        "SecurityProfileIds",
    );
    let eleven = f
        .create_user("eleven")
        .set_security_profile_ids(Some(vec![f.security_profile.id.clone(); 11]));
    expect(
        "eleven security profiles",
        run(eleven).await,
        CreateUserError::is_invalid_parameter_exception,
        "SecurityProfileIds",
    );
    let bad_profile = f
        .create_user("badprofile")
        .set_security_profile_ids(Some(vec!["11111111-1111-4111-8111-111111111111".into()]));
    expect(
        "unknown security profile",
        run(bad_profile).await,
        CreateUserError::is_resource_not_found_exception,
        "11111111-1111-4111-8111-111111111111",
    );
    let bad_routing = f
        .create_user("badrouting")
        .routing_profile_id("22222222-2222-4222-8222-222222222222");
    expect(
        "unknown routing profile",
        run(bad_routing).await,
        CreateUserError::is_resource_not_found_exception,
        "22222222-2222-4222-8222-222222222222",
    );

    // Uniqueness is exact and case-sensitive.
    let err = run(f.create_user("taken@example.com")).await;
    assert!(matches!(err, CreateUserError::DuplicateResourceException(_)), "{err:?}");
    assert!(err.message().unwrap_or_default().contains("taken@example.com"));
    f.create_user("Taken@example.com")
        .send()
        .await
        .expect("differs only in case, so not a duplicate");

    let usernames: Vec<_> = f.server.users(&f.instance.id).into_iter().map(|u| u.username).collect();
    assert_eq!(usernames, ["taken@example.com", &"a".repeat(64), "Taken@example.com"]);
}

#[tokio::test]
async fn connect_create_user_password_rules_for_connect_managed() {
    let f = fixture().await;
    let managed = f.server.add_instance(InstanceSpec::connect_managed("managed"));
    let sp = f.server.add_security_profile(&managed.id, "Agent");
    let rp = f.server.add_routing_profile(&managed.id, "Basic");
    let base = || {
        f.client
            .create_user()
            .instance_id(&managed.id)
            .security_profile_ids(&sp.id)
            .routing_profile_id(&rp.id)
    };
    let err = base()
        .username("nopassword")
        .send()
        .await
        .expect_err("password required")
        .into_service_error();
    assert!(err.is_invalid_request_exception(), "{err:?}");
    let err = base()
        .username("a".repeat(21))
        .password("Secret123!")
        .send()
        .await
        .expect_err("20-char limit")
        .into_service_error();
    assert!(err.is_invalid_parameter_exception(), "{err:?}");
    base()
        .username("agent1")
        .password("Secret123!")
        .send()
        .await
        .expect("valid CONNECT_MANAGED user");
}

#[tokio::test]
async fn connect_throttling_is_retried_by_the_sdk() {
    let f = fixture().await;
    f.server.throttle_next(2);
    f.client
        .describe_instance()
        .instance_id(&f.instance.id)
        .send()
        .await
        .expect("succeeds on the third attempt");
    let statuses: Vec<_> = f.server.calls().iter().map(|c| (c.operation, c.status)).collect();
    assert_eq!(
        statuses,
        [
            ("DescribeInstance", 429),
            ("DescribeInstance", 429),
            ("DescribeInstance", 200)
        ]
    );

    // Standard retry mode makes 3 attempts, then surfaces the typed error.
    f.server.reset_counts();
    f.server.fail_next(Fault::Throttling, Some("ListUsers"), 3);
    let err = f
        .client
        .list_users()
        .instance_id(&f.instance.id)
        .send()
        .await
        .expect_err("throttled 3 times");
    let err = err.into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    assert_eq!(f.server.call_count("ListUsers"), 3);
    assert_eq!(f.server.pending_faults(), 0);
}

#[tokio::test]
async fn connect_new_users_appear_in_list_and_search_after_lag() {
    let f = fixture().await;
    f.server.set_visibility_lag(2);
    let created = f.create_user("late@example.com").send().await.expect("create");
    let user_id = created.user_id().expect("id").to_owned();

    let listed = |f: &Fixture| {
        let req = f.client.list_users().instance_id(&f.instance.id);
        async move {
            req.send()
                .await
                .expect("list")
                .user_summary_list()
                .iter()
                .filter_map(|u| u.id().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    assert!(listed(&f).await.is_empty(), "first read");
    let search = f
        .client
        .search_users()
        .instance_id(&f.instance.id)
        .search_criteria(username_is("late@example.com", StringComparisonType::Exact))
        .send()
        .await
        .expect("search");
    assert!(search.users().is_empty(), "second read");
    // DescribeUser reads the record itself, not the index.
    f.client
        .describe_user()
        .instance_id(&f.instance.id)
        .user_id(&user_id)
        .send()
        .await
        .expect("describe at once");
    assert_eq!(listed(&f).await, vec![user_id]);
}

#[tokio::test]
async fn connect_list_security_and_routing_profiles() {
    let f = fixture().await;
    // Exercises the latency hook only; nothing asserts on time.
    f.server.set_latency(std::time::Duration::from_millis(1));
    for name in ["Admin", "CallCenterManager", "QualityAnalyst"] {
        f.server.add_security_profile(&f.instance.id, name);
    }
    f.server.add_routing_profile(&f.instance.id, "Sales");

    let security: Vec<_> = f
        .client
        .list_security_profiles()
        .instance_id(&f.instance.id)
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("security profiles");
    let names: Vec<_> = security.iter().filter_map(|p| p.name()).collect();
    assert_eq!(names, ["Agent", "Admin", "CallCenterManager", "QualityAnalyst"]);
    assert_eq!(security[0].id(), Some(f.security_profile.id.as_str()));
    assert_eq!(security[0].arn(), Some(f.security_profile.arn.as_str()));
    assert!(
        f.security_profile
            .arn
            .starts_with(&format!("{}/security-profile/", f.instance.arn))
    );
    assert_eq!(f.server.call_count("ListSecurityProfiles"), 2);

    let routing = f
        .client
        .list_routing_profiles()
        .instance_id(&f.instance.id)
        .send()
        .await
        .expect("routing profiles");
    let names: Vec<_> = routing
        .routing_profile_summary_list()
        .iter()
        .filter_map(|p| p.name())
        .collect();
    assert_eq!(names, ["Basic Routing Profile", "Sales"]);
    assert_eq!(routing.next_token(), None);
}

#[tokio::test]
async fn connect_requests_need_a_connect_sigv4_scope() {
    let f = fixture().await;
    let http = reqwest::Client::new();
    let url = format!("{}/instance/{}", f.server.endpoint(), f.instance.id);

    let unsigned = http.get(&url).send().await.expect("unsigned request");
    assert_eq!(unsigned.status(), 403);
    let errortype = unsigned.headers()["x-amzn-errortype"].to_str().unwrap().to_owned();
    assert!(
        errortype.starts_with("MissingAuthenticationTokenException:"),
        "{errortype}"
    );

    let wrong_service = http
        .get(&url)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00",
        )
        .send()
        .await
        .expect("wrong-service request");
    assert_eq!(wrong_service.status(), 403);
    let body: Value = wrong_service.json().await.expect("JSON error body");
    assert!(body["Message"].as_str().unwrap().contains("'connect'"), "{body}");

    // The SDK client signs for `connect`, so the same route answers it.
    f.client
        .describe_instance()
        .instance_id(&f.instance.id)
        .send()
        .await
        .expect("signed request");
    let statuses: Vec<_> = f.server.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [403, 403, 200]);
}

#[tokio::test]
async fn connect_limit_exceeded_is_retried_as_throttling_then_typed() {
    let f = fixture().await;
    f.server.set_user_quota(Some(1));
    f.create_user("first").send().await.expect("under quota");
    let err = f
        .create_user("second")
        .send()
        .await
        .expect_err("over quota")
        .into_service_error();
    assert!(err.is_limit_exceeded_exception(), "{err:?}");
    // Connect models LimitExceededException as 429, so standard retry spends all 3 attempts on it.
    assert_eq!(f.server.call_count("CreateUser"), 4);
    assert_eq!(f.server.write_count(), 4);
    assert_eq!(f.server.users(&f.instance.id).len(), 1);
}
