//! The three JSON error shapes OneLogin uses (reference §4).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub enum ApiError {
    /// v2 "AltErr": `{"message","statusCode","name"}`.
    Alt {
        status: u16,
        name: &'static str,
        message: String,
    },
    /// Roles-service shape: `{"status","error","description"}`.
    Roles {
        status: u16,
        error: &'static str,
        description: String,
    },
    /// v1 / auth shape: `{"status":{"error":true,"code","type","message"}}`.
    V1 {
        status: u16,
        kind: &'static str,
        message: String,
    },
}

impl ApiError {
    pub fn not_found() -> Self {
        Self::Alt {
            status: 404,
            name: "NotFoundError",
            message: "The resource with the given id could not be found".into(),
        }
    }
    pub fn unauthorized() -> Self {
        Self::Alt {
            status: 401,
            name: "UnauthorizedError",
            message: "Unauthorized".into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Alt {
            status: 400,
            name: "BadRequestError",
            message: message.into(),
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Alt {
            status: 403,
            name: "ForbiddenError",
            message: message.into(),
        }
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::Alt {
            status: 422,
            name: "UnprocessableEntityError",
            message: message.into(),
        }
    }
    pub fn roles_bad_request(description: impl Into<String>) -> Self {
        Self::Roles {
            status: 400,
            error: "BadRequestError",
            description: description.into(),
        }
    }
    pub fn expected_array() -> Self {
        Self::roles_bad_request("Expected array in request")
    }
    pub fn v1_unauthorized() -> Self {
        Self::V1 {
            status: 401,
            kind: "Unauthorized",
            message: "Authentication Failure".into(),
        }
    }
    pub fn v1_bad_request(message: impl Into<String>) -> Self {
        Self::V1 {
            status: 400,
            kind: "bad request",
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Alt { status, .. } | Self::Roles { status, .. } | Self::V1 { status, .. } => *status,
        }
    }

    pub fn body(&self) -> serde_json::Value {
        match self {
            Self::Alt { status, name, message } => {
                json!({"message": message, "statusCode": status, "name": name})
            }
            Self::Roles {
                status,
                error,
                description,
            } => {
                json!({"status": status, "error": error, "description": description})
            }
            Self::V1 { status, kind, message } => {
                json!({"status": {"error": true, "code": status, "type": kind, "message": message}})
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}

pub type ApiResult = Result<Response, ApiError>;
