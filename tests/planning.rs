//! Table-driven tests of the pure planning functions.

use connect_sso_operator::api::{Access, ConnectSsoAppSpec, IamSpec, SignInEndpoint, Subject};
use connect_sso_operator::plan::{
    self, Facts, InstanceArn, InstanceDomain, ResourceId, connect_user, endpoints, names, onelogin_app, policies,
    relay_state,
};
use serde_json::{Value, json};

const ID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

fn arn(partition: &str, region: &str) -> String {
    format!("arn:{partition}:connect:{region}:123456789012:instance/{ID}")
}

fn spec(extra: Value) -> ConnectSsoAppSpec {
    let mut base = json!({
        "access": "Agent",
        "connect": {"instanceArn": arn("aws", "us-east-1")},
        "oneLogin": {"credentialsSecretRef": {"name": "ol"}},
    });
    if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    serde_json::from_value(base).expect("valid spec")
}

fn id(namespace: &str, name: &str) -> ResourceId {
    ResourceId {
        namespace: namespace.into(),
        name: name.into(),
    }
}

#[test]
fn relay_state_for_every_access_domain_and_partition() {
    let commercial: InstanceArn = arn("aws", "eu-west-2").parse().expect("arn");
    let gov: InstanceArn = arn("aws-us-gov", "us-gov-west-1").parse().expect("arn");
    let base = format!("https://eu-west-2.console.aws.amazon.com/connect/federate/{ID}");
    let gov_base = format!("https://console.amazonaws-us-gov.com/connect/federate/{ID}");
    let cases: Vec<(&InstanceArn, Access, Option<&str>, InstanceDomain, String)> = vec![
        (
            &commercial,
            Access::Agent,
            None,
            InstanceDomain::MyConnectAws,
            format!("{base}?destination=%2Fccp-v2"),
        ),
        (
            &commercial,
            Access::Agent,
            None,
            InstanceDomain::AwsApps,
            format!("{base}?destination=%2Fconnect%2Fccp-v2"),
        ),
        (
            &commercial,
            Access::Admin,
            None,
            InstanceDomain::MyConnectAws,
            base.clone(),
        ),
        (&commercial, Access::Admin, None, InstanceDomain::AwsApps, base.clone()),
        (
            &commercial,
            Access::Custom,
            Some("/real-time-metrics"),
            InstanceDomain::MyConnectAws,
            format!("{base}?destination=%2Freal-time-metrics"),
        ),
        (
            &commercial,
            Access::Custom,
            Some("/real-time-metrics"),
            InstanceDomain::AwsApps,
            format!("{base}?destination=%2Fconnect%2Freal-time-metrics"),
        ),
        // Already in the legacy form: not prefixed twice.
        (
            &commercial,
            Access::Custom,
            Some("/connect/real-time-metrics"),
            InstanceDomain::AwsApps,
            format!("{base}?destination=%2Fconnect%2Freal-time-metrics"),
        ),
        // A query inside the destination is encoded into the one parameter.
        (
            &commercial,
            Access::Custom,
            Some("/agent-app-v2?VDIPlatform=CITRIX"),
            InstanceDomain::MyConnectAws,
            format!("{base}?destination=%2Fagent-app-v2%3FVDIPlatform%3DCITRIX"),
        ),
        (
            &gov,
            Access::Agent,
            None,
            InstanceDomain::MyConnectAws,
            format!("{gov_base}?destination=%2Fccp-v2"),
        ),
        (
            &gov,
            Access::Admin,
            None,
            InstanceDomain::MyConnectAws,
            gov_base.clone(),
        ),
    ];
    for (instance, access, custom, domain, want) in cases {
        let destination = relay_state::destination_path(access, custom);
        let got = relay_state::relay_state(instance, domain, destination.as_deref());
        assert_eq!(
            got,
            want,
            "{access:?} {custom:?} {domain:?} {}",
            instance.partition.as_str()
        );
    }
}

#[test]
fn instance_domain_from_the_access_url() {
    for (url, want) in [
        ("https://acme.my.connect.aws", InstanceDomain::MyConnectAws),
        ("https://acme.my.connect.aws/", InstanceDomain::MyConnectAws),
        ("https://acme.awsapps.com/connect", InstanceDomain::AwsApps),
        ("https://ACME.AWSAPPS.COM/connect/home", InstanceDomain::AwsApps),
        ("https://awsapps.com.evil.example", InstanceDomain::MyConnectAws),
    ] {
        assert_eq!(InstanceDomain::from_access_url(url), want, "{url}");
    }
}

#[test]
fn acs_url_and_audience_for_each_endpoint_and_partition() {
    let commercial: InstanceArn = arn("aws", "ap-southeast-2").parse().expect("arn");
    let gov: InstanceArn = arn("aws-us-gov", "us-gov-east-1").parse().expect("arn");
    for (instance, endpoint, want) in [
        (
            &commercial,
            SignInEndpoint::Regional,
            "https://ap-southeast-2.signin.aws.amazon.com/saml",
        ),
        (
            &commercial,
            SignInEndpoint::Global,
            "https://signin.aws.amazon.com/saml",
        ),
        (
            &gov,
            SignInEndpoint::Regional,
            "https://us-gov-east-1.signin.amazonaws-us-gov.com/saml",
        ),
        (&gov, SignInEndpoint::Global, "https://signin.amazonaws-us-gov.com/saml"),
    ] {
        assert_eq!(endpoints::acs_url(instance, endpoint), want);
    }
    assert_eq!(endpoints::audience(commercial.partition), "urn:amazon:webservices");
    assert_eq!(endpoints::audience(gov.partition), "urn:amazon:webservices:govcloud");
}

#[test]
fn instance_arns_are_parsed_or_refused_with_the_reason() {
    let ok: InstanceArn = arn("aws", "us-east-1").parse().expect("valid");
    assert_eq!(
        (ok.region.as_str(), ok.account.as_str(), ok.instance_id.as_str()),
        ("us-east-1", "123456789012", ID)
    );
    assert_eq!(ok.to_string(), arn("aws", "us-east-1"));
    for (bad, problem) in [
        ("", "six"),
        ("arn:aws:connect:us-east-1:123456789012:instance", "instance/"),
        ("arn:aws:connect:us-east-1:123456789012", "six"),
        ("arn:aws-cn:connect:cn-north-1:123456789012:instance/x", "partition"),
        ("arn:aws:iam:us-east-1:123456789012:instance/x", "service"),
        ("arn:aws:connect:useast1:123456789012:instance/x", "region"),
        ("arn:aws-us-gov:connect:us-east-1:123456789012:instance/x", "us-gov"),
        ("arn:aws:connect:us-east-1:12345678901a:instance/x", "12 digits"),
        (
            &format!("arn:aws:connect:us-east-1:123456789012:queue/{ID}"),
            "instance/",
        ),
        (
            "arn:aws:connect:us-east-1:123456789012:instance/0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
            "UUID",
        ),
    ] {
        let err = bad.parse::<InstanceArn>().expect_err(bad);
        assert!(err.problem.contains(problem), "{bad}: {}", err.problem);
    }
}

#[test]
fn derived_names_stay_within_iam_limits_and_distinct() {
    let short = id("cc", "agents");
    assert_eq!(names::derived(&short, names::ROLE_NAME_MAX), "connect-sso.cc.agents");

    // Exactly at the limit: kept whole. One over: shortened with a hash.
    let at_64 = id("cc", &"a".repeat(64 - "connect-sso.cc.".len()));
    assert_eq!(names::derived(&at_64, 64).len(), 64);
    assert!(!names::derived(&at_64, 64).contains('-') || names::derived(&at_64, 64).starts_with("connect-sso."));
    let over_64 = id("cc", &"a".repeat(65 - "connect-sso.cc.".len()));
    let shortened = names::derived(&over_64, 64);
    assert!(shortened.len() <= 64, "{shortened}");
    assert_ne!(shortened, names::derived(&at_64, 64));

    let at_128 = id("cc", &"b".repeat(128 - "connect-sso.cc.".len()));
    assert_eq!(names::derived(&at_128, 128).len(), 128);
    let long = id(&"n".repeat(63), &"x".repeat(253));
    for max in [names::ROLE_NAME_MAX, names::POLICY_NAME_MAX, names::PROVIDER_NAME_MAX] {
        let name = names::derived(&long, max);
        assert!(name.len() <= max, "{name}");
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
            "{name}"
        );
    }
    // Long names that share a prefix still differ.
    let a = id(&"n".repeat(63), &format!("{}-a", "x".repeat(200)));
    let b = id(&"n".repeat(63), &format!("{}-b", "x".repeat(200)));
    assert_ne!(names::derived(&a, 64), names::derived(&b, 64));
    // Joining with '.' keeps a-b/c and a/b-c apart.
    assert_ne!(names::derived(&id("a-b", "c"), 64), names::derived(&id("a", "b-c"), 64));
    // Deterministic.
    assert_eq!(names::derived(&long, 64), names::derived(&long, 64));
}

#[test]
fn explicit_iam_names_win_over_derived_ones() {
    let iam = IamSpec {
        identity_provider_name: Some("OneLogin".into()),
        role_name: Some("ConnectAgents".into()),
        policy_name: Some("ConnectFederation".into()),
        path: Some("/cc/".into()),
        ..Default::default()
    };
    let n = names::iam_names(&id("cc", "agents"), Some(&iam));
    assert_eq!(
        (
            n.identity_provider.as_str(),
            n.role.as_str(),
            n.policy.as_str(),
            n.path.as_str()
        ),
        ("OneLogin", "ConnectAgents", "ConnectFederation", "/cc/")
    );
    let d = names::iam_names(&id("cc", "agents"), None);
    assert_eq!(d.path, "/connect-sso/");
}

#[test]
fn the_whole_app_plan_is_consistent() {
    let p = plan::plan_app(&id("cc", "agents"), &spec(json!({})), &Facts::default()).expect("plans");
    let body = &p.one_login_app;
    // The role attribute names exactly the role and provider that IAM gets.
    assert_eq!(
        body.parameters[onelogin_app::ROLE_ATTRIBUTE]
            .user_attribute_macros
            .as_deref(),
        Some(format!("{},{}", p.iam.role_arn, p.iam.identity_provider_arn).as_str())
    );
    assert_eq!(
        p.iam.role_arn,
        "arn:aws:iam::123456789012:role/connect-sso/connect-sso.cc.agents"
    );
    assert_eq!(
        p.iam.policy_arn,
        "arn:aws:iam::123456789012:policy/connect-sso/connect-sso.cc.agents"
    );
    assert_eq!(
        p.iam.identity_provider_arn,
        "arn:aws:iam::123456789012:saml-provider/connect-sso.cc.agents"
    );
    // OneLogin posts to the same URL the trust policy admits.
    assert_eq!(body.configuration["consumer_url"], p.acs_url);
    assert_eq!(body.configuration["recipient"], p.acs_url);
    assert_eq!(
        p.iam.trust_policy["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"],
        json!(p.acs_url)
    );
    assert_eq!(
        p.iam.trust_policy["Statement"][0]["Principal"]["Federated"],
        json!(p.iam.identity_provider_arn)
    );
    assert_eq!(body.configuration["relaystate"], p.relay_state);
    assert_eq!(
        p.iam.permission_policy["Statement"][0]["Resource"],
        json!(format!("{}/user/${{aws:userid}}", arn("aws", "us-east-1")))
    );
    // The validator regex matches the ACS URL and nothing longer or different.
    let validator = &body.configuration["validator"];
    assert_eq!(validator, r"^https:\/\/us-east-1\.signin\.aws\.amazon\.com\/saml$");
    assert!(body.notes.contains("connectsso.io/owner=cc/agents"));
    assert_eq!(p.iam.tags["connectsso.io/owner"], "cc/agents");
    assert!(!p.iam.tags.contains_key("connectsso.io/uid"), "no uid offline");
    assert_eq!(p.iam.max_session_duration_seconds, 3600);
}

#[test]
fn subject_decides_name_id_and_role_session_name() {
    for (subject, attribute, format) in [(Subject::Email, "email", "0"), (Subject::Username, "username", "3")] {
        let s = spec(json!({"oneLogin": {"credentialsSecretRef": {"name": "ol"}, "subject": subject}}));
        let p = plan::plan_app(&id("cc", "agents"), &s, &Facts::default()).expect("plans");
        let params = &p.one_login_app.parameters;
        assert_eq!(
            params[onelogin_app::NAME_ID_PARAMETER].user_attribute_mappings,
            attribute
        );
        assert_eq!(
            params[onelogin_app::ROLE_SESSION_NAME_ATTRIBUTE].user_attribute_mappings,
            attribute
        );
        assert_eq!(
            params[onelogin_app::ROLE_SESSION_NAME_ATTRIBUTE].include_in_saml_assertion,
            Some(true)
        );
        assert_eq!(p.one_login_app.configuration["saml_nameid_format_id"], format);
    }
}

#[test]
fn session_duration_is_sent_only_when_asked_for() {
    let without = plan::plan_app(&id("cc", "a"), &spec(json!({})), &Facts::default()).expect("plans");
    assert!(
        !without
            .one_login_app
            .parameters
            .contains_key(onelogin_app::SESSION_DURATION_ATTRIBUTE)
    );
    let with = plan::plan_app(
        &id("cc", "a"),
        &spec(json!({"signIn": {"sessionDurationSeconds": 1800}, "iam": {"maxSessionDurationSeconds": 7200}})),
        &Facts::default(),
    )
    .expect("plans");
    let param = &with.one_login_app.parameters[onelogin_app::SESSION_DURATION_ATTRIBUTE];
    assert_eq!(param.user_attribute_macros.as_deref(), Some("1800"));
    assert_eq!(with.iam.max_session_duration_seconds, 7200);
}

#[test]
fn global_endpoint_and_uid_reach_every_place_they_belong() {
    let facts = Facts {
        instance_domain: InstanceDomain::AwsApps,
        uid: Some("5b3c-uid".into()),
    };
    let p = plan::plan_app(&id("cc", "a"), &spec(json!({"signIn": {"endpoint": "Global"}})), &facts).expect("plans");
    assert_eq!(p.acs_url, "https://signin.aws.amazon.com/saml");
    assert_eq!(
        p.one_login_app.configuration["validator"],
        r"^https:\/\/signin\.aws\.amazon\.com\/saml$"
    );
    assert!(p.relay_state.ends_with("?destination=%2Fconnect%2Fccp-v2"));
    assert_eq!(p.iam.tags["connectsso.io/uid"], "5b3c-uid");
    assert!(p.one_login_app.notes.contains("connectsso.io/uid=5b3c-uid"));
}

#[test]
fn policy_documents_compare_by_meaning() {
    let planned = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:saml-provider/a+b"},
        "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
        "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}}}]});
    // As IAM returns it: percent-encoded, '+' encoded as %2B, keys and list reordered, a
    // one-element list for a single value.
    let from_iam = "%7B%22Statement%22%3A%5B%7B%22Action%22%3A%5B%22sts%3ATagSession%22%2C%22sts%3AAssumeRoleWithSAML%22%5D%2C%22Condition%22%3A%7B%22StringEquals%22%3A%7B%22SAML%3Aaud%22%3A%5B%22https%3A%2F%2Fsignin.aws.amazon.com%2Fsaml%22%5D%7D%7D%2C%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Federated%22%3A%22arn%3Aaws%3Aiam%3A%3A1%3Asaml-provider%2Fa%2Bb%22%7D%7D%5D%2C%22Version%22%3A%222012-10-17%22%7D";
    let decoded = policies::decode_document(from_iam).expect("decodes");
    assert!(policies::same_meaning(&planned, &decoded));
    // A literal '+' in an encoded document is a plus, not a space.
    let plus = policies::decode_document("%7B%22a%22%3A%22x+y%22%7D").expect("decodes");
    assert_eq!(plus, json!({"a": "x+y"}));
    // Raw JSON (as some emulators return) is read as is.
    assert_eq!(
        policies::decode_document("{\"a\": \"x+y\"}").expect("raw"),
        json!({"a": "x+y"})
    );
    // Real differences are differences.
    let mut other = planned.clone();
    other["Statement"][0]["Condition"]["StringEquals"]["SAML:aud"] =
        json!("https://eu-west-2.signin.aws.amazon.com/saml");
    assert!(!policies::same_meaning(&planned, &other));
    let mut fewer = planned.clone();
    fewer["Statement"][0]["Action"] = json!("sts:AssumeRoleWithSAML");
    assert!(!policies::same_meaning(&planned, &fewer));
    assert!(policies::decode_document("%7Bnot json").is_err());
}

#[test]
fn logins_that_can_never_be_connect_usernames() {
    for (login, problem) in [
        ("ana.silva@example.com", None),
        ("ana_silva-2", None),
        ("a+b@example.com", Some("'+'")),
        ("a", Some("shorter than 2")),
        (&*format!("{}@example.com", "x".repeat(60)), Some("at most 64")),
        ("ana silva", Some("' '")),
        ("ana@example", Some("not an email address")),
        ("ana@@example.com", Some("not an email address")),
        ("ána@example.com", Some("'á'")),
    ] {
        let got = connect_user::username_problem(login);
        match (problem, got) {
            (None, None) => {}
            (Some(want), Some(got)) => assert!(got.contains(want), "{login}: {got}"),
            (want, got) => panic!("{login}: wanted {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn mapping_plan_checks_usernames_only_when_the_login_is_what_onelogin_sends() {
    let spec: connect_sso_operator::api::ConnectUserMappingSpec = serde_json::from_value(json!({
        "appRef": {"name": "agents"}, "users": ["ok@example.com", "a+b@example.com"]
    }))
    .expect("spec");
    let known = plan::plan_mapping(&id("cc", "m"), &spec, Some(Subject::Email));
    assert_eq!(known.invalid_usernames.len(), 1);
    assert_eq!(known.invalid_usernames[0].login, "a+b@example.com");
    let unknown = plan::plan_mapping(&id("cc", "m"), &spec, None);
    assert!(unknown.invalid_usernames.is_empty());
    let other_attribute = plan::plan_mapping(&id("cc", "m"), &spec, Some(Subject::Username));
    assert!(other_attribute.invalid_usernames.is_empty());
    assert_eq!(known.users, 2);
}

#[test]
fn default_app_name_names_the_resource() {
    assert_eq!(
        names::app_name(&id("cc", "agents"), Access::Agent),
        "Amazon Connect Agent (cc/agents)"
    );
    assert!(
        names::app_name(&id(&"n".repeat(63), &"x".repeat(253)), Access::Admin)
            .chars()
            .count()
            <= 128
    );
}
