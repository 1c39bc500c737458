//! The JSON body and query string extractors every handler uses: actix's own, with
//! the one text normalisation applied before the value is read into its type
//! (`switchboard_actors::domain::text`: NUL and other control characters removed).
//! Bodies keep actix's limit, content-type check and error mapping (`JsonConfig`).

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::{Ready, ready};
use switchboard_actors::domain::text::{clean, clean_json};

/// A JSON request body of type `T`, its text normalised.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            let mut value = body.await?.into_inner();
            clean_json(&mut value);
            serde_json::from_value(value)
                .map(Json)
                .map_err(|err| ApiError::invalid(err.to_string()).into())
        })
    }
}

/// A query string read into `T`, its text normalised.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            query(req.query_string())
                .map(Query)
                .map_err(|err| ApiError::invalid(err).into()),
        )
    }
}

fn query<T: DeserializeOwned>(raw: &str) -> Result<T, String> {
    // Control characters can only arrive percent-encoded.
    if !raw.contains('%') {
        return web::Query::<T>::from_query(raw)
            .map(web::Query::into_inner)
            .map_err(|err| err.to_string());
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw).map_err(|err| err.to_string())?;
    let cleaned: Vec<(String, String)> = pairs
        .iter()
        .map(|(key, value)| (clean(key).into_owned(), clean(value).into_owned()))
        .collect();
    let raw = serde_urlencoded::to_string(cleaned).map_err(|err| err.to_string())?;
    web::Query::<T>::from_query(&raw)
        .map(web::Query::into_inner)
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn query_strings_lose_their_control_characters_and_keep_the_rest() {
        let read: HashMap<String, String> = query("q=a%00b%20c&limit=5&x=%F0%9F%91%8B").unwrap();
        assert_eq!(read["q"], "ab c");
        assert_eq!(read["limit"], "5");
        assert_eq!(read["x"], "👋");
        let plain: HashMap<String, String> = query("q=plain").unwrap();
        assert_eq!(plain["q"], "plain");
    }
}
