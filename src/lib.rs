//! connect-sso-operator: single sign-on from OneLogin into Amazon Connect, declared in Kubernetes.
//!
//! Layout: `api` (the custom resources), `crds` (their YAML), `plan` (pure functions from a spec
//! to the desired OneLogin and IAM state), `manifest` (reading and checking YAML files), `cli`
//! (the commands of the binary).

pub mod api;
pub mod aws;
pub mod cli;
pub mod controller;
pub mod crds;
pub mod manifest;
pub mod onelogin;
pub mod plan;
pub mod saml;
pub mod telemetry;
