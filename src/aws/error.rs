//! AWS failures, classified by their wire error code so the reconciler can decide: absent,
//! conflict, a person must act (terminal), or try again (transient).

use std::error::Error as StdError;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use thiserror::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsErrorKind {
    NotFound,
    AlreadyExists,
    /// Needs something else done first (DeleteConflict) or a quota was hit (LimitExceeded).
    Conflict,
    /// A policy refers to something IAM does not see yet, or the document is malformed.
    MalformedPolicy,
    Invalid,
    AccessDenied,
    Transient,
}

#[derive(Clone, Debug, Error)]
#[error("{service} {operation} failed: {}{message}{}", code_prefix(.code), rid(.request_id))]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub kind: AwsErrorKind,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
}

fn code_prefix(code: &Option<String>) -> String {
    code.as_ref().map(|c| format!("{c}: ")).unwrap_or_default()
}

fn rid(request_id: &Option<String>) -> String {
    request_id
        .as_ref()
        .map(|r| format!(" (request id {r})"))
        .unwrap_or_default()
}

impl AwsError {
    /// The message without the request id (see `OneLoginError::stable_message`).
    pub fn stable_message(&self) -> String {
        AwsError {
            request_id: None,
            ..self.clone()
        }
        .to_string()
    }

    pub fn is(&self, kind: AwsErrorKind) -> bool {
        self.kind == kind
    }

    /// Stable reason for conditions, events and metrics.
    pub fn reason(&self) -> &'static str {
        match self.kind {
            AwsErrorKind::AccessDenied => "AwsAccessDenied",
            AwsErrorKind::Transient => "AwsUnavailable",
            AwsErrorKind::Invalid | AwsErrorKind::MalformedPolicy => "AwsRejected",
            AwsErrorKind::NotFound => "AwsNotFound",
            AwsErrorKind::AlreadyExists => "AlreadyExists",
            AwsErrorKind::Conflict => "AwsConflict",
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self.kind,
            AwsErrorKind::AccessDenied | AwsErrorKind::Invalid | AwsErrorKind::MalformedPolicy
        )
    }
}

/// Classifies an SDK error of any operation.
pub fn classify<E>(service: &'static str, operation: &'static str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let request_id = err.meta().extra("aws_request_id").map(str::to_string);
    let (kind, message) = match &err {
        SdkError::ServiceError(_) => (
            kind_of(code.as_deref()),
            // A body the SDK could not read (an HTML page from a proxy, an empty 500): the status
            // is all there is to go on.
            err.message()
                .map(str::to_string)
                .unwrap_or_else(|| match err.raw_response() {
                    Some(r) => format!("HTTP {} without an error code or message", r.status().as_u16()),
                    None => "no error code or message".to_string(),
                }),
        ),
        SdkError::ConstructionFailure(_) => (AwsErrorKind::Invalid, chain(&err)),
        // Timeouts, dispatch failures and unreadable responses: worth another try.
        _ => (AwsErrorKind::Transient, chain(&err)),
    };
    AwsError {
        service,
        operation,
        kind,
        code,
        message,
        request_id,
    }
}

fn kind_of(code: Option<&str>) -> AwsErrorKind {
    match code.unwrap_or_default() {
        "NoSuchEntity" | "ResourceNotFoundException" => AwsErrorKind::NotFound,
        "EntityAlreadyExists" | "DuplicateResourceException" => AwsErrorKind::AlreadyExists,
        "DeleteConflict" | "LimitExceeded" | "LimitExceededException" => AwsErrorKind::Conflict,
        "MalformedPolicyDocument" => AwsErrorKind::MalformedPolicy,
        "InvalidInput"
        | "InvalidParameterException"
        | "InvalidRequestException"
        | "ValidationError"
        | "UnmodifiableEntity"
        | "PolicyNotAttachable" => AwsErrorKind::Invalid,
        "AccessDenied"
        | "AccessDeniedException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException"
        | "ExpiredToken"
        | "AuthFailure"
        | "MissingAuthenticationToken" => AwsErrorKind::AccessDenied,
        _ => AwsErrorKind::Transient,
    }
}

/// An error and its sources in one line; the SDK nests the useful part.
fn chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
