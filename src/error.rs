//! The one error-code table and the JSON envelope every error response uses:
//! `{"error":{"code","message","details","request_id"}}`.
//!
//! Handlers return `ApiError`; the observe middleware re-renders any other error that
//! reaches it (actix's own, actix-cors') through the same table, so a client never sees
//! a body of another shape. Internal failures are logged with their cause and answered
//! with a bare `internal` so nothing of the server's insides leaks.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};
use switchboard_actors::store::StoreError;

macro_rules! error_codes {
    ($($variant:ident => ($status:ident, $code:literal)),+ $(,)?) => {
        /// Every error a client can get, with its HTTP status. Codes are part of the API
        /// contract; statuses follow from them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),+ }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),+ }
            }
        }
    };
}

error_codes! {
    InvalidJson => (BAD_REQUEST, "invalid_json"),
    InvalidRequest => (BAD_REQUEST, "invalid_request"),
    Unauthenticated => (UNAUTHORIZED, "unauthenticated"),
    InvalidCredentials => (UNAUTHORIZED, "invalid_credentials"),
    InvalidSignature => (UNAUTHORIZED, "invalid_signature"),
    InvalidToken => (UNAUTHORIZED, "invalid_token"),
    Forbidden => (FORBIDDEN, "forbidden"),
    RegistrationClosed => (FORBIDDEN, "registration_closed"),
    NotFound => (NOT_FOUND, "not_found"),
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "method_not_allowed"),
    Conflict => (CONFLICT, "conflict"),
    LastOwner => (CONFLICT, "last_owner"),
    LimitReached => (CONFLICT, "limit_reached"),
    SessionNotReady => (CONFLICT, "session_not_ready"),
    SessionElsewhere => (CONFLICT, "session_elsewhere"),
    RequestTimeout => (REQUEST_TIMEOUT, "request_timeout"),
    PayloadTooLarge => (PAYLOAD_TOO_LARGE, "payload_too_large"),
    TemplateRequired => (UNPROCESSABLE_ENTITY, "template_required"),
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    RateLimited => (TOO_MANY_REQUESTS, "rate_limited"),
    Internal => (INTERNAL_SERVER_ERROR, "internal"),
    NotReady => (SERVICE_UNAVAILABLE, "not_ready"),
    Busy => (SERVICE_UNAVAILABLE, "busy"),
    ProviderUnavailable => (BAD_GATEWAY, "provider_unavailable"),
}

impl ErrorCode {
    /// The code for an error that did not come from our handlers, by its status.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
            StatusCode::FORBIDDEN => ErrorCode::Forbidden,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
            StatusCode::SERVICE_UNAVAILABLE => ErrorCode::NotReady,
            status if status.is_client_error() => ErrorCode::InvalidRequest,
            _ => ErrorCode::Internal,
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds, for `Retry-After` on 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut err = Self::new(ErrorCode::RateLimited, "too many requests; retry later");
        err.retry_after = Some(retry_after_secs.max(1));
        err
    }

    /// An unexpected failure: the cause goes to the log, the client gets `internal`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(ErrorCode::Internal, "internal error")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if self.code.status() == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(json!({
            "error": {
                "code": self.code.as_str(),
                "message": self.message,
                "details": self.details,
                "request_id": crate::http::request_id::current(),
            }
        }))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => {
                ApiError::new(ErrorCode::Conflict, format!("{what} already exists"))
            }
            StoreError::LastOwner => ApiError::new(
                ErrorCode::LastOwner,
                "the tenant must keep at least one active owner",
            ),
            StoreError::Busy => {
                tracing::warn!("database pool exhausted or ingest queue full; answering busy");
                let mut busy =
                    ApiError::new(ErrorCode::Busy, "the server is overloaded; retry shortly");
                busy.retry_after = Some(1);
                busy
            }
            StoreError::Backend(cause) => ApiError::internal(cause),
        }
    }
}

impl From<switchboard_actors::inbox::InboxError> for ApiError {
    fn from(err: switchboard_actors::inbox::InboxError) -> Self {
        use switchboard_actors::inbox::InboxError;
        match err {
            InboxError::NotFound(what) => ApiError::not_found(what),
            InboxError::Busy => {
                let mut busy =
                    ApiError::new(ErrorCode::Busy, "the conversation is busy; retry shortly");
                busy.retry_after = Some(1);
                busy
            }
            InboxError::TemplateRequired => ApiError::new(
                ErrorCode::TemplateRequired,
                InboxError::TemplateRequired.to_string(),
            ),
            err @ InboxError::TooManyConnections(_) => {
                ApiError::new(ErrorCode::RateLimited, err.to_string())
            }
            InboxError::Store(err) => err.into(),
        }
    }
}

impl From<switchboard_actors::session::SessionError> for ApiError {
    fn from(err: switchboard_actors::session::SessionError) -> Self {
        use switchboard_actors::session::SessionError;
        use switchboard_actors::session::driver::DriverError;
        match err {
            SessionError::NotNow(reason) => ApiError::new(ErrorCode::SessionNotReady, reason),
            SessionError::Elsewhere | SessionError::Gone => ApiError::new(
                ErrorCode::SessionElsewhere,
                "the session runs on another node right now; try again in a moment",
            ),
            SessionError::Driver(DriverError::Transient(reason)) => {
                let mut err = ApiError::new(ErrorCode::ProviderUnavailable, reason);
                err.retry_after = Some(5);
                err
            }
            SessionError::Driver(DriverError::Permanent(reason)) => ApiError::invalid(reason),
            SessionError::Store(cause) => ApiError::internal(cause),
        }
    }
}

impl From<switchboard_actors::domain::InvalidValue> for ApiError {
    fn from(err: switchboard_actors::domain::InvalidValue) -> Self {
        ApiError::invalid(err.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_unique_and_maps_to_an_error_status() {
        let codes: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        assert!(
            ErrorCode::ALL
                .iter()
                .all(|c| c.status().is_client_error() || c.status().is_server_error())
        );
    }

    #[test]
    fn foreign_errors_are_coded_by_their_status() {
        assert_eq!(
            ErrorCode::for_status(StatusCode::NOT_FOUND),
            ErrorCode::NotFound
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::BAD_REQUEST),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::BAD_GATEWAY),
            ErrorCode::Internal
        );
    }
}
