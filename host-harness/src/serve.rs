//! `serve`: a real HTTP webhook endpoint that hands every request to the component.
//!
//! Meta's contract: answer the `hub.challenge` GET, answer 200 to a notification only
//! once it is safely handled (it redelivers anything else), and answer fast. So each
//! event is written and flushed before the 200 goes out, and requests run concurrently,
//! each in a fresh store.

use std::borrow::Cow;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use crate::bindings::{Outcome, Properties, WebhookRequest, WebhookSecrets};
use crate::json;
use crate::registration::RegistrationStore;
use crate::runtime::Connector;

/// Meta's payloads can reach 3 MB; anything above this is refused with 413.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

/// Where events go: one JSON line each, flushed before Meta gets its 200.
pub type EventSink = Arc<Mutex<dyn Write + Send>>;

/// What `serve` runs with.
#[derive(Clone)]
pub struct ServeOptions {
    pub properties: Properties,
    pub secrets: WebhookSecrets,
    pub max_body: usize,
    /// Where `enable` keeps the registration whose verify token the handshake checks
    /// (ahead of `secrets.verify_token`). Read at every GET.
    pub registration: Option<RegistrationStore>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("sender_number", &self.properties.sender_number)
            .field(
                "app_secret",
                &self.secrets.app_secret.as_ref().map(|_| "[set]"),
            )
            .field(
                "verify_token",
                &self.secrets.verify_token.as_ref().map(|_| "[set]"),
            )
            .field("max_body", &self.max_body)
            .field("registration", &self.registration)
            .finish()
    }
}

/// Counters for the summary printed when `serve` stops.
#[derive(Debug, Default)]
pub struct ServeStats {
    pub requests: AtomicU64,
    pub events: AtomicU64,
    pub refused: AtomicU64,
}

impl ServeStats {
    pub fn summary(&self) -> serde_json::Value {
        json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "events": self.events.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
        })
    }
}

struct Shared {
    connector: Connector,
    options: ServeOptions,
    sink: EventSink,
    stats: Arc<ServeStats>,
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    connector: Connector,
    listener: TcpListener,
    options: ServeOptions,
    sink: EventSink,
    stats: Arc<ServeStats>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        connector,
        options,
        sink,
        stats,
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("serve: accept failed: {e}");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let shared = shared.clone();
        let service = service_fn(move |request| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(handle(&shared, peer, request).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that hangs up mid-request is its own problem, not the server's.
            let _ = connection.await;
        });
    }
    graceful.shutdown().await;
    Ok(())
}

fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        content_type.parse().expect("static content type"),
    );
    response
}

fn error(status: StatusCode, error: serde_json::Value) -> Response<Full<Bytes>> {
    text(
        status,
        "application/json",
        json!({ "error": error }).to_string(),
    )
}

async fn handle(
    shared: &Shared,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let (response, note) = respond(shared, request).await;
    let stats = &shared.stats;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    if !response.status().is_success() {
        stats.refused.fetch_add(1, Ordering::Relaxed);
    }
    // One line per request; the query (it holds the verify token) is never logged.
    eprintln!(
        "serve: {peer} {method} {path} {} {note} {:.1}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1e3
    );
    response
}

async fn respond(shared: &Shared, request: Request<Incoming>) -> (Response<Full<Bytes>>, String) {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, shared.options.max_body).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let reason = format!("the body is larger than {} bytes", shared.options.max_body);
            let response = error(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"kind": "payload-too-large", "reason": reason}),
            );
            return (response, "payload too large".into());
        }
        Err(_) => {
            let response = error(
                StatusCode::BAD_REQUEST,
                json!({"kind": "invalid-request", "reason": "the body could not be read"}),
            );
            return (response, "unreadable body".into());
        }
    };
    let webhook_request = WebhookRequest {
        method: parts.method.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        body: body.to_vec(),
    };
    let registered = match &shared.options.registration {
        Some(store) if parts.method == hyper::Method::GET => store.verify_token(),
        _ => None,
    };
    let secrets = match registered {
        Some(token) => Cow::Owned(WebhookSecrets {
            verify_token: Some(token),
            ..shared.options.secrets.clone()
        }),
        None => Cow::Borrowed(&shared.options.secrets),
    };
    let outcome = shared
        .connector
        .handle_webhook(&webhook_request, &shared.options.properties, &secrets)
        .await;
    match outcome {
        Ok(Ok(Outcome::Respond(r))) => {
            let status =
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (text(status, &r.content_type, r.body), "handshake".into())
        }
        Ok(Ok(Outcome::Events(events))) => {
            if let Err(e) = write_events(&shared.sink, &events) {
                // Not acknowledged, so Meta redelivers: nothing is lost.
                let response = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"kind": "host", "message": format!("events could not be written: {e}")}),
                );
                return (response, "sink failed".into());
            }
            shared
                .stats
                .events
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            let note = format!("{} events", events.len());
            (text(StatusCode::OK, "text/plain", "EVENT_RECEIVED"), note)
        }
        Ok(Err(e)) => {
            let status = StatusCode::from_u16(json::webhook_error_status(&e))
                .unwrap_or(StatusCode::BAD_REQUEST);
            let body = json::webhook_error(&e);
            let note = body["kind"].as_str().unwrap_or_default().to_owned();
            (error(status, body), note)
        }
        Err(e) => (
            error(StatusCode::INTERNAL_SERVER_ERROR, json::host_error(&e)),
            "host error".into(),
        ),
    }
}

fn write_events(sink: &EventSink, events: &[crate::bindings::Event]) -> std::io::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut lines = Vec::with_capacity(events.len() * 512);
    for event in events {
        serde_json::to_writer(&mut lines, &json::event(event))?;
        lines.push(b'\n');
    }
    let mut sink = sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    sink.write_all(&lines)?;
    sink.flush()
}
