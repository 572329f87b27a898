//! `connect-sso-operator plan`: reads manifests and prints the plan, for people or for machines.

use std::collections::HashMap;
use std::io::{Read, Write};

use serde::Serialize;
use thiserror::Error;

use super::{DomainArg, OutputFormat, PlanArgs};
use crate::api::{Access, ConnectUsersMode, Subject};
use crate::manifest::{self, ManifestError, Resource};
use crate::plan::{self, AppPlan, Facts, InstanceDomain, MappingPlan, PlanError};

#[derive(Debug, Error)]
pub enum PlanCommandError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{resource}: {source}")]
    Plan { resource: String, source: PlanError },
    #[error("cannot write the plan: {0}")]
    Write(#[from] std::io::Error),
    #[error("cannot encode the plan as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// One entry of the output, tagged with its kind.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", content = "plan")]
pub enum Planned {
    ConnectSsoApp(Box<AppPlan>),
    ConnectUserMapping(MappingPlan),
}

pub fn run(args: &PlanArgs, out: &mut impl Write) -> Result<(), PlanCommandError> {
    let mut resources = Vec::new();
    for path in &args.files {
        let text = read_source(path)?;
        let read = manifest::read(&text, path, &args.namespace)?;
        for note in read.skipped {
            eprintln!("note: {note}");
        }
        resources.extend(read.resources);
    }
    let facts = Facts {
        instance_domain: match args.instance_domain {
            DomainArg::MyConnectAws => InstanceDomain::MyConnectAws,
            DomainArg::Awsapps => InstanceDomain::AwsApps,
        },
        uid: None,
    };
    let planned = plan_all(&resources, &facts)?;
    match args.output {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &planned)?;
            writeln!(out)?;
        }
        OutputFormat::Text => {
            for (i, p) in planned.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                match p {
                    Planned::ConnectSsoApp(app) => write_app(out, app)?,
                    Planned::ConnectUserMapping(m) => write_mapping(out, m)?,
                }
            }
        }
    }
    Ok(())
}

fn read_source(path: &str) -> Result<String, PlanCommandError> {
    let read_err = |source| PlanCommandError::Read {
        path: path.to_string(),
        source,
    };
    if path == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(read_err)?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).map_err(read_err)
    }
}

/// Plans every resource; a mapping learns its app's subject when the app is in the same input.
pub fn plan_all(resources: &[Resource], facts: &Facts) -> Result<Vec<Planned>, PlanCommandError> {
    let subjects: HashMap<(String, String), Subject> = resources
        .iter()
        .filter_map(|r| match r {
            Resource::App(app) => {
                let id = r.id();
                Some((
                    (id.namespace, id.name),
                    app.spec.one_login.subject.unwrap_or(Subject::Email),
                ))
            }
            Resource::Mapping(_) => None,
        })
        .collect();
    resources
        .iter()
        .map(|r| {
            let id = r.id();
            match r {
                Resource::App(app) => plan::plan_app(&id, &app.spec, facts)
                    .map(|p| Planned::ConnectSsoApp(Box::new(p)))
                    .map_err(|source| PlanCommandError::Plan {
                        resource: format!("ConnectSsoApp {id}"),
                        source,
                    }),
                Resource::Mapping(m) => {
                    let subject = subjects
                        .get(&(id.namespace.clone(), m.spec.app_ref.name.clone()))
                        .copied();
                    Ok(Planned::ConnectUserMapping(plan::plan_mapping(&id, &m.spec, subject)))
                }
            }
        })
        .collect()
}

fn write_app(out: &mut impl Write, p: &AppPlan) -> std::io::Result<()> {
    let access = match p.access {
        Access::Agent => "Agent (Contact Control Panel)",
        Access::Admin => "Admin (the instance's admin website)",
        Access::Custom => "Custom (a page on the instance)",
    };
    let domain = match p.instance_domain {
        InstanceDomain::MyConnectAws => {
            "<alias>.my.connect.aws (offline assumption; --instance-domain awsapps for older instances)"
        }
        InstanceDomain::AwsApps => "<alias>.awsapps.com (legacy domain)",
    };
    let subject = match p.subject {
        Subject::Email => "email: each person's Amazon Connect username must be their OneLogin email",
        Subject::Username => "username: each person's Amazon Connect username must be their OneLogin username",
    };
    writeln!(out, "ConnectSsoApp {}", p.resource)?;
    writeln!(out, "  access:             {access}")?;
    writeln!(out, "  instance:           {}", p.instance_arn)?;
    writeln!(out, "  instance domain:    {domain}")?;
    writeln!(out, "  relay state:        {}", p.relay_state)?;
    writeln!(out, "  ACS URL:            {}", p.acs_url)?;
    writeln!(out, "  audience:           {}", p.audience)?;
    writeln!(out, "  RoleSessionName:    {subject}")?;
    writeln!(out, "  on delete:          {:?}", p.deletion_policy)?;
    writeln!(out)?;
    writeln!(out, "  IAM identity provider  {}", p.iam.identity_provider_arn)?;
    writeln!(out, "  IAM policy             {}", p.iam.policy_arn)?;
    writeln!(out, "  IAM role               {}", p.iam.role_arn)?;
    writeln!(out, "    max session          {} s", p.iam.max_session_duration_seconds)?;
    if let Some(boundary) = &p.iam.permissions_boundary_arn {
        writeln!(out, "    permissions boundary {boundary}")?;
    }
    writeln!(out, "  tags (all three)")?;
    for (k, v) in &p.iam.tags {
        writeln!(out, "    {k} = {v}")?;
    }
    writeln!(out)?;
    write_json(
        out,
        "permission policy (attached to the role)",
        &p.iam.permission_policy,
    )?;
    write_json(out, "trust policy (of the role)", &p.iam.trust_policy)?;
    write_json(
        out,
        "OneLogin app (connector 110016, SAML Custom Connector (Advanced))",
        &serde_json::to_value(&p.one_login_app).unwrap_or_default(),
    )?;
    writeln!(
        out,
        "  OneLogin role          {:?} (grants the app to mapped users)",
        p.one_login_role_name
    )
}

fn write_mapping(out: &mut impl Write, m: &MappingPlan) -> std::io::Result<()> {
    writeln!(out, "ConnectUserMapping {}", m.resource)?;
    writeln!(out, "  app:                {}", m.app)?;
    writeln!(
        out,
        "  users:              {} (matched by OneLogin {:?})",
        m.users, m.identify_by
    )?;
    let mode = match m.connect_users.mode {
        ConnectUsersMode::Require => "Require (report users without an Amazon Connect user)",
        ConnectUsersMode::Create => "Create (create missing Amazon Connect users)",
        ConnectUsersMode::Ignore => "Ignore (do not look at Amazon Connect)",
    };
    writeln!(out, "  Amazon Connect:     {mode}")?;
    if m.connect_users.mode == ConnectUsersMode::Create {
        writeln!(
            out,
            "    security profiles  {}",
            m.connect_users.security_profiles.join(", ")
        )?;
        writeln!(
            out,
            "    routing profile    {}",
            m.connect_users.routing_profile.as_deref().unwrap_or_default()
        )?;
        writeln!(
            out,
            "    phone              {:?}",
            m.connect_users.phone_type.unwrap_or(crate::api::PhoneType::SoftPhone)
        )?;
    }
    if m.invalid_usernames.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "  never valid as Amazon Connect usernames ({}):",
        m.invalid_usernames.len()
    )?;
    for invalid in &m.invalid_usernames {
        writeln!(out, "    {}: {}", invalid.login, invalid.problem)?;
    }
    Ok(())
}

fn write_json(out: &mut impl Write, title: &str, value: &serde_json::Value) -> std::io::Result<()> {
    writeln!(out, "  {title}:")?;
    let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
    for line in pretty.lines() {
        writeln!(out, "    {line}")?;
    }
    Ok(())
}
