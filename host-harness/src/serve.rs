//! `serve`: the HTTP framing around a webhook [`Handler`]: the [`Endpoint`] (the
//! component), or in the benchmark a native baseline that does the same work, so that
//! the two are compared behind the same hyper stack.
//!
//! It faces the open internet: bodies are capped, headers and bodies must arrive within
//! the read timeout (a client sending a byte a second is cut off), and at most
//! `max_concurrency` requests are in flight, `max_per_peer` of them from one address;
//! past that, 503 and Meta retries later.
//! Everything else (the handshake, signatures, events, deduplication) is the endpoint's.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::endpoint::{Endpoint, Reply, Stats};
use crate::runtime::bindings::WebhookRequest;
use crate::runtime::outbound::header_list;

/// Meta's payloads can reach 3 MB; anything above this is refused with 413. The same
/// bound sizes a webhook call's memory ([`Limits::max_webhook_body`]).
///
/// [`Limits::max_webhook_body`]: crate::runtime::Limits::max_webhook_body
pub const DEFAULT_MAX_BODY: usize = crate::runtime::limits::DEFAULT_MAX_WEBHOOK_BODY;
/// Time for a request's headers, and for its whole body.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in flight at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;
/// Requests in flight at once from one IP address: a peer that trickles bodies can hold
/// this many slots for the read timeout, never all of them.
pub const DEFAULT_MAX_PER_PEER: usize = 16;

/// The HTTP framing's settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub max_body: usize,
    pub read_timeout: Duration,
    pub max_concurrency: usize,
    /// Requests in flight at once from one IP address.
    pub max_per_peer: usize,
    /// One stderr line per request.
    pub access_log: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_per_peer: DEFAULT_MAX_PER_PEER,
            access_log: true,
        }
    }
}

/// What `serve` hands each request to once it is framed.
pub trait Handler: Send + Sync + 'static {
    /// The reply to one request to `path`.
    fn handle(&self, path: String, request: WebhookRequest) -> impl Future<Output = Reply> + Send;
    /// Where `serve` counts requests.
    fn stats(&self) -> &Stats;
    /// Called once the server stopped accepting and in-flight requests finished: waits
    /// for what was accepted to be written, up to `grace`.
    fn drain(&self, grace: Duration) -> impl Future<Output = bool> + Send {
        let _ = grace;
        std::future::ready(true)
    }
}

impl Handler for Endpoint {
    async fn handle(&self, path: String, request: WebhookRequest) -> Reply {
        Endpoint::handle(self, &path, request).await
    }

    fn stats(&self) -> &Stats {
        Endpoint::stats(self)
    }

    fn drain(&self, grace: Duration) -> impl Future<Output = bool> + Send {
        Endpoint::drain(self, grace)
    }
}

/// How long a stopping `serve` waits for accepted events to reach their sinks (they stay
/// in the store's outbox either way, and the next start delivers them).
pub const DRAIN_GRACE: Duration = Duration::from_secs(10);

struct Shared<H> {
    endpoint: Arc<H>,
    options: ServeOptions,
    permits: Arc<Semaphore>,
    /// Requests in flight per peer address.
    peers: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One of a peer's [`ServeOptions::max_per_peer`] slots, given back when dropped.
struct PeerSlot<'a> {
    peers: &'a std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
    ip: std::net::IpAddr,
}

impl<'a> PeerSlot<'a> {
    fn take<H>(shared: &'a Shared<H>, ip: std::net::IpAddr) -> Option<Self> {
        let mut peers = shared.peers.lock().unwrap_or_else(|p| p.into_inner());
        let held = peers.entry(ip).or_default();
        if *held >= shared.options.max_per_peer.max(1) {
            return None;
        }
        *held += 1;
        Some(Self {
            peers: &shared.peers,
            ip,
        })
    }
}

impl Drop for PeerSlot<'_> {
    fn drop(&mut self) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = peers.get_mut(&self.ip) {
            *held -= 1;
            if *held == 0 {
                peers.remove(&self.ip);
            }
        }
    }
}

/// Serves `endpoint` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve<H: Handler>(
    endpoint: Arc<H>,
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        endpoint,
        permits: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
        peers: std::sync::Mutex::default(),
        options,
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "serve: accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service_shared = shared.clone();
        let service = service_fn(move |request| {
            let shared = service_shared.clone();
            async move { Ok::<_, Infallible>(handle(&shared, peer, request).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(shared.options.read_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that hangs up mid-request is its own problem, not the server's.
            let _ = connection.await;
        });
    }
    graceful.shutdown().await;
    if !shared.endpoint.drain(DRAIN_GRACE).await {
        tracing::warn!(
            "serve: some events are not delivered yet; they stay in the store for the next start"
        );
    }
    Ok(())
}

/// A [`serve`] on a free port of 127.0.0.1, in this runtime: for tests and the benchmark.
pub struct Running {
    pub address: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Starts serving.
    pub async fn start<H: Handler>(
        endpoint: Arc<H>,
        options: ServeOptions,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve(endpoint, listener, options, shutdown));
        Ok(Self {
            address,
            stop,
            task,
        })
    }

    /// Stops accepting, lets in-flight requests finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await?
    }
}

fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    // The handshake's content type comes from the component: never trust it to be valid.
    let content_type = hyper::header::HeaderValue::from_str(content_type)
        .unwrap_or(hyper::header::HeaderValue::from_static("text/plain"));
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, content_type);
    response
}

fn error(status: StatusCode, error: serde_json::Value) -> Response<Full<Bytes>> {
    let reply = Reply::error(status.as_u16(), error);
    text(status, &reply.content_type, reply.body)
}

fn too_large(max_body: usize) -> Response<Full<Bytes>> {
    let reason = format!("the body is larger than {max_body} bytes");
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({"kind": "payload-too-large", "reason": reason}),
    )
}

async fn handle<H: Handler>(
    shared: &Shared<H>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let (response, note) = respond(shared, peer, request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let stats = shared.endpoint.stats();
    stats.requests.inc();
    stats
        .responses
        .get_or_create(&crate::metrics::StatusLabels { status })
        .inc();
    stats.request_seconds.observe(elapsed.as_secs_f64());
    if !response.status().is_success() {
        stats.refused.inc();
    }
    // One line per request, and always one for a failure of ours (its detail is only
    // here: the caller was told nothing); the query (it holds the verify token) is
    // never logged.
    if shared.options.access_log || response.status().is_server_error() {
        let ms = (elapsed.as_secs_f64() * 1e4).round() / 10.0;
        if response.status().is_server_error() {
            tracing::warn!(%peer, %method, %path, status, note, ms, "request");
        } else {
            tracing::info!(%peer, %method, %path, status, note, ms, "request");
        }
    }
    response
}

async fn respond<H: Handler>(
    shared: &Shared<H>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> (Response<Full<Bytes>>, String) {
    if !matches!(*request.method(), hyper::Method::GET | hyper::Method::POST) {
        let mut response = error(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"kind": "method-not-allowed", "reason": "only GET (handshake) and POST (notifications)"}),
        );
        response.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, POST"),
        );
        return (response, "method not allowed".into());
    }
    let busy = |reason: &str| {
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"kind": "busy", "reason": reason}),
        );
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
        response
    };
    // A peer's own cap first, so that one that trickles bodies never takes the slots
    // others need.
    let Some(_peer_slot) = PeerSlot::take(shared, peer.ip()) else {
        let response = busy("too many requests in flight from this address; retry later");
        return (response, "busy (peer)".into());
    };
    let Ok(_permit) = shared.permits.clone().try_acquire_owned() else {
        return (
            busy("too many requests in flight; retry later"),
            "busy".into(),
        );
    };
    let (parts, body) = request.into_parts();
    // A body announced larger than the cap is refused before a byte of it is read (and
    // before hyper would answer `Expect: 100-continue`).
    let announced = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > shared.options.max_body as u64) {
        return (
            too_large(shared.options.max_body),
            "payload too large".into(),
        );
    }
    let read = Limited::new(body, shared.options.max_body).collect();
    let Ok(read) = tokio::time::timeout(shared.options.read_timeout, read).await else {
        let response = error(
            StatusCode::REQUEST_TIMEOUT,
            json!({"kind": "read-timeout", "reason": "the body did not arrive in time"}),
        );
        return (response, "read timeout".into());
    };
    let body = match read {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return (
                too_large(shared.options.max_body),
                "payload too large".into(),
            );
        }
        Err(_) => {
            let response = error(
                StatusCode::BAD_REQUEST,
                json!({"kind": "invalid-request", "reason": "the body could not be read"}),
            );
            return (response, "unreadable body".into());
        }
    };
    let path = parts.uri.path().to_owned();
    let request = WebhookRequest {
        method: parts.method.to_string(),
        headers: header_list(&parts.headers),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        body: body.to_vec(),
    };
    let reply = shared.endpoint.handle(path, request).await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = text(status, &reply.content_type, reply.body);
    if let Some(seconds) = reply.retry_after {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, seconds.into());
    }
    (response, reply.note)
}
