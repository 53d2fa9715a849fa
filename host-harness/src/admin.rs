//! The operator's address (`serve --admin-listen`), apart from Meta's:
//!
//! - `/healthz`: 200 while the process runs;
//! - `/readyz`: 200 when the store answers, 503 when it does not (a load balancer then
//!   sends Meta's webhooks to another instance);
//! - `/metrics`: the counters of [`crate::metrics`] and the depths of every routed
//!   subscription's outbox, retries and dead letters, in the text format Prometheus
//!   scrapes (OpenMetrics, through `prometheus-client`).
//!
//! It is a separate listener so that it can stay on a private interface while the
//! webhook endpoint faces the internet.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::endpoint::Endpoint;

/// Serves the admin routes on `listener` until the process stops.
pub async fn serve(endpoint: Arc<Endpoint>, listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let endpoint = endpoint.clone();
        let service = service_fn(move |request| {
            let endpoint = endpoint.clone();
            async move { Ok::<_, Infallible>(answer(&endpoint, &request).await) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(endpoint: &Endpoint, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != hyper::Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
    }
    match request.uri().path() {
        "/healthz" => text(StatusCode::OK, "text/plain", "ok\n"),
        "/readyz" => match endpoint.ready().await {
            Ok(()) => text(StatusCode::OK, "text/plain", "ready\n"),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "admin: not ready");
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "the store does not answer\n",
                )
            }
        },
        "/metrics" => {
            let depths = endpoint.depths().await.unwrap_or_else(|e| {
                tracing::warn!(error = %format!("{e:#}"), "admin: the store's depths are not in this scrape");
                Vec::new()
            });
            text(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                endpoint.stats().encode(&depths),
            )
        }
        _ => text(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    }
}

fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
