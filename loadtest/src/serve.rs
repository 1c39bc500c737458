//! A small HTTP/1.1 server on hyper for the fake provider and the bare peer.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::future::Future;
use tokio::net::TcpListener;

pub type Reply = Response<Full<Bytes>>;

/// Serves `handler` on `listener` until the task is dropped; connections may upgrade.
pub async fn run<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors or similar: keep serving the connections already open.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, std::convert::Infallible>(handler(req).await) }
            });
            // A peer that hangs up mid-request is no concern of the server's.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// The whole request body (at most `limit` bytes).
pub async fn body(req: Request<Incoming>, limit: usize) -> Option<Bytes> {
    let bytes = req.into_body().collect().await.ok()?.to_bytes();
    (bytes.len() <= limit).then_some(bytes)
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
