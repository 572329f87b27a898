//! REST-JSON error responses as Connect sends them.
//!
//! The SDK (`json_errors::parse_error_metadata`) takes the code from the `x-amzn-errortype` header
//! (trimming a `:<url>` suffix and a `<namespace>#` prefix) before `code`/`__type` in the body, and
//! the message from `message`/`Message`. The typed error variant is chosen by that code, so the
//! code must be the exception shape name exactly.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("valid status"),
            code,
            message: message.into(),
        }
    }

    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new(404, "ResourceNotFoundException", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameterException", message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequestException", message)
    }

    pub fn duplicate_resource(message: impl Into<String>) -> Self {
        Self::new(409, "DuplicateResourceException", message)
    }

    /// A real quota error; Connect models it as 429, so the SDK retries it like throttling.
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new(429, "LimitExceededException", message)
    }

    pub fn throttling() -> Self {
        Self::new(429, "ThrottlingException", "Rate exceeded")
    }

    pub fn internal() -> Self {
        Self::new(
            500,
            "InternalServiceException",
            "Request processing failed due to an internal error",
        )
    }

    pub fn missing_auth() -> Self {
        Self::new(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    }

    pub fn bad_signature(message: impl Into<String>) -> Self {
        Self::new(403, "InvalidSignatureException", message)
    }

    pub fn unknown_operation() -> Self {
        Self::new(404, "UnknownOperationException", "Unknown operation")
    }

    /// Resolves an `InstanceId` (id or ARN) or fails the way Connect does.
    pub fn no_instance(id: &str) -> Self {
        Self::resource_not_found(format!("Instance not found: {id}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(json!({ "Message": self.message }))).into_response();
        // Real services append the model namespace URL; the SDK strips it.
        let header = format!("{}:http://internal.amazon.com/coral/com.amazonaws.connect/", self.code);
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_str(&header).expect("ascii code"));
        response
    }
}
