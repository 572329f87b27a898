//! SAML identity-provider metadata, as published by OneLogin and uploaded to an AWS IAM SAML provider.

pub mod metadata;

pub use metadata::{IdpMetadata, MAX_METADATA_BYTES, MetadataError, SigningCertificate, SsoService, parse};
