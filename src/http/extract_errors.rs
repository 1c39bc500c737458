//! Turns actix's extractor failures into coded errors: a body that is not JSON is
//! `invalid_json`, JSON of the wrong shape is `invalid_request`, too large is 413.

use crate::error::{ApiError, ErrorCode};
use actix_web::error::{JsonPayloadError, PathError};
use actix_web::{HttpRequest, web};

pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(json_error)
}

pub fn path_config() -> web::PathConfig {
    // A path segment that cannot be an id cannot name anything that exists.
    web::PathConfig::default()
        .error_handler(|_: PathError, _: &HttpRequest| ApiError::not_found("resource").into())
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(de) if de.is_data() => ApiError::invalid(de.to_string()),
        JsonPayloadError::Deserialize(de) => ApiError::new(
            ErrorCode::InvalidJson,
            format!("request body is not valid JSON: {de}"),
        ),
        other => ApiError::new(ErrorCode::InvalidJson, other.to_string()),
    };
    api.into()
}
