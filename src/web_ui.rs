//! The web inbox: the files of `static/`, compiled into the binary so the server is
//! one file to deploy (in debug builds rust-embed reads them from disk, so a page
//! edit shows on reload without a rebuild).
//!
//! Names are not content-hashed (there is no build step), so every file is served
//! `no-cache` with a strong ETag: the browser revalidates each load and gets a bodiless
//! 304 while nothing changed, and a deploy can never leave a tab running a mix of old
//! and new modules.

use crate::error::{ApiError, ErrorCode};
use actix_web::http::{Method, header};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::RustEmbed;
use std::borrow::Cow;
use std::fmt::Write;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

/// What the page may load and talk to: only this origin (its REST API and `/ws`),
/// plus `blob:` for media previews fetched with the agent's token. No inline script
/// or style anywhere, so none is allowed.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; \
     font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// Anything no route claimed: a file of the web inbox for `GET`/`HEAD`, otherwise
/// the JSON `not_found` every unknown route gets.
#[utoipa::path(
    get,
    path = "/",
    operation_id = "web_inbox.serve",
    tag = "web inbox",
    summary = "The web inbox page and the files of static/",
    security(()),
    responses((status = 200, description = "the page", body = String, content_type = "text/html"))
)]
pub async fn serve(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such route");
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Err(not_found());
    }
    let path = match request.path().trim_start_matches('/') {
        "" => "index.html",
        path => path,
    };
    if path
        .split('/')
        .any(|part| part.is_empty() || part.starts_with('.'))
    {
        return Err(not_found());
    }
    let file = Assets::get(path).ok_or_else(not_found)?;
    let etag = etag(&file.metadata.sha256_hash());
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_POLICY));
    if fresh {
        return Ok(response.finish());
    }
    let mime = file.metadata.mimetype();
    // Every text file of the page is UTF-8; say so rather than let the browser guess.
    let content_type = if mime.starts_with("text/") || mime.ends_with("javascript") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    response.insert_header((header::CONTENT_TYPE, content_type));
    // Release builds hold the files in the binary: serve them without a copy. (actix
    // drops the body of a HEAD response itself and keeps its length.)
    let body = match file.data {
        Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        Cow::Owned(bytes) => Bytes::from(bytes),
    };
    Ok(response.body(body))
}

fn etag(hash: &[u8; 32]) -> String {
    let mut tag = String::with_capacity(2 + 64);
    tag.push('"');
    for byte in hash {
        let _ = write!(tag, "{byte:02x}");
    }
    tag.push('"');
    tag
}
