//! `serve`: a real HTTP webhook endpoint that hands every request to the component.
//!
//! Meta's contract: answer the `hub.challenge` GET, answer 200 to a notification only
//! once it is safely handled (it redelivers anything else, for up to 7 days, and may
//! deliver twice), and answer fast. So each event is written and flushed before the 200
//! goes out, events whose deduplication key was already written are dropped, and
//! requests run concurrently, each in a fresh store.
//!
//! It faces the open internet: bodies are capped, headers and bodies must arrive within
//! the read timeout (a client sending a byte a second is cut off), and at most
//! `max_concurrency` requests are in flight; past that, 503 and Meta retries later.

use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
use whatsapp_connector::webhook;

use crate::bindings::{Outcome, Properties, WebhookRequest, WebhookSecrets};
use crate::json;
use crate::outbound::header_list;
use crate::registration::RegistrationStore;
use crate::runtime::Connector;

/// Meta's payloads can reach 3 MB; anything above this is refused with 413.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;
/// Time for a request's headers, and for its whole body.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in flight at once.
pub const DEFAULT_MAX_CONCURRENCY: usize = 64;
/// Deduplication keys remembered.
pub const DEFAULT_DEDUP_WINDOW: usize = 100_000;

/// Where events go: one JSON line each, flushed before Meta gets its 200.
pub type EventSink = Arc<Mutex<dyn Write + Send>>;

/// What `serve` runs with.
#[derive(Clone)]
pub struct ServeOptions {
    pub properties: Properties,
    pub secrets: WebhookSecrets,
    pub max_body: usize,
    pub read_timeout: Duration,
    pub max_concurrency: usize,
    /// How many deduplication keys to remember; 0 turns deduplication off.
    pub dedup_window: usize,
    /// One stderr line per request.
    pub access_log: bool,
    /// Where `enable` keeps the registration whose verify token the handshake checks
    /// (ahead of `secrets.verify_token`). Read at every GET.
    pub registration: Option<RegistrationStore>,
}

impl ServeOptions {
    /// What `host-harness serve` runs with by default, for these properties and secrets.
    pub fn new(properties: Properties, secrets: WebhookSecrets) -> Self {
        Self {
            properties,
            secrets,
            max_body: DEFAULT_MAX_BODY,
            read_timeout: DEFAULT_READ_TIMEOUT,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            access_log: true,
            registration: None,
        }
    }
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
            .field("read_timeout", &self.read_timeout)
            .field("max_concurrency", &self.max_concurrency)
            .field("dedup_window", &self.dedup_window)
            .field("access_log", &self.access_log)
            .field("registration", &self.registration)
            .finish()
    }
}

/// Counters for the summary printed when `serve` stops.
#[derive(Debug, Default)]
pub struct ServeStats {
    pub requests: AtomicU64,
    pub events: AtomicU64,
    pub duplicates: AtomicU64,
    pub refused: AtomicU64,
}

impl ServeStats {
    pub fn summary(&self) -> serde_json::Value {
        json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "events": self.events.load(Ordering::Relaxed),
            "duplicates": self.duplicates.load(Ordering::Relaxed),
            "refused": self.refused.load(Ordering::Relaxed),
        })
    }
}

/// The deduplication keys written most recently, oldest forgotten first.
pub struct DedupWindow {
    capacity: usize,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl DedupWindow {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Remembers `key`; false when it was already there (a duplicate).
    pub fn insert(&mut self, key: &str) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if self.seen.contains(key) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(key.to_owned());
        self.order.push_back(key.to_owned());
        true
    }

    /// Forgets `key` again (its event could not be written, so a redelivery must pass).
    pub fn forget(&mut self, key: &str) {
        if self.seen.remove(key) {
            self.order.retain(|k| k != key);
        }
    }
}

struct Shared {
    connector: Connector,
    options: ServeOptions,
    sink: EventSink,
    stats: Arc<ServeStats>,
    permits: Arc<Semaphore>,
    dedup: Mutex<DedupWindow>,
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
        permits: Arc::new(Semaphore::new(options.max_concurrency.max(1))),
        dedup: Mutex::new(DedupWindow::new(options.dedup_window)),
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
    pub async fn start(
        connector: Connector,
        options: ServeOptions,
        sink: EventSink,
        stats: Arc<ServeStats>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async {
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve(connector, listener, options, sink, stats, shutdown));
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
    let logged = shared
        .options
        .access_log
        .then(|| (request.method().clone(), request.uri().path().to_owned()));
    let (response, note) = respond(shared, request).await;
    let stats = &shared.stats;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    if !response.status().is_success() {
        stats.refused.fetch_add(1, Ordering::Relaxed);
    }
    // One line per request; the query (it holds the verify token) is never logged.
    if let Some((method, path)) = logged {
        eprintln!(
            "serve: {peer} {method} {path} {} {note} {:.1}ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    response
}

async fn respond(shared: &Shared, request: Request<Incoming>) -> (Response<Full<Bytes>>, String) {
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
    let Ok(_permit) = shared.permits.clone().try_acquire_owned() else {
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"kind": "busy", "reason": "too many requests in flight; retry later"}),
        );
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from_static("1"),
        );
        return (response, "busy".into());
    };
    let (parts, body) = request.into_parts();
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
        headers: header_list(&parts.headers),
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
            let events = match events
                .into_iter()
                .map(json::event)
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(events) => events,
                Err(e) => {
                    // The component broke its contract; not acknowledged, so Meta
                    // redelivers (to a fixed component, one hopes): nothing is lost.
                    let body = json!({"kind": "host", "message": e.to_string()});
                    return (
                        error(StatusCode::SERVICE_UNAVAILABLE, body),
                        "invalid event".into(),
                    );
                }
            };
            let (fresh, duplicates): (Vec<_>, Vec<_>) = {
                let mut dedup = shared.dedup.lock().unwrap_or_else(|p| p.into_inner());
                events
                    .into_iter()
                    .partition(|event| dedup.insert(&event.dedup_key))
            };
            if let Err(e) = write_events(&shared.sink, &fresh) {
                let mut dedup = shared.dedup.lock().unwrap_or_else(|p| p.into_inner());
                for event in &fresh {
                    dedup.forget(&event.dedup_key);
                }
                // Not acknowledged, so Meta redelivers: nothing is lost.
                let response = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"kind": "host", "message": format!("events could not be written: {e}")}),
                );
                return (response, "sink failed".into());
            }
            let stats = &shared.stats;
            stats
                .events
                .fetch_add(fresh.len() as u64, Ordering::Relaxed);
            stats
                .duplicates
                .fetch_add(duplicates.len() as u64, Ordering::Relaxed);
            let note = format!("{} events, {} duplicates", fresh.len(), duplicates.len());
            (text(StatusCode::OK, "text/plain", "EVENT_RECEIVED"), note)
        }
        Ok(Err(e)) => {
            let status = StatusCode::from_u16(json::webhook_error_status(&e))
                .unwrap_or(StatusCode::BAD_REQUEST);
            let body = json::webhook_error(&e);
            let note = body["kind"].as_str().unwrap_or_default().to_owned();
            (error(status, body), note)
        }
        Err(e) => {
            // The component was stopped (deadline, memory) or trapped: not acknowledged,
            // so Meta redelivers; the server goes on.
            let body = json::host_error(&e);
            let note = body["kind"].as_str().unwrap_or_default().to_owned();
            (error(StatusCode::SERVICE_UNAVAILABLE, body), note)
        }
    }
}

fn write_events(sink: &EventSink, events: &[webhook::Event]) -> std::io::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut lines = Vec::with_capacity(events.len() * 512);
    for event in events {
        serde_json::to_writer(&mut lines, event)?;
        lines.push(b'\n');
    }
    let mut sink = sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    sink.write_all(&lines)?;
    sink.flush()
}

#[cfg(test)]
mod tests {
    use super::DedupWindow;

    #[test]
    fn the_window_drops_repeats_and_forgets_the_oldest() {
        let mut window = DedupWindow::new(2);
        assert!(window.insert("a"));
        assert!(!window.insert("a"));
        assert!(window.insert("b"));
        assert!(window.insert("c"), "evicts a");
        assert!(window.insert("a"), "a was forgotten");
        assert!(!window.insert("c"));
        window.forget("c");
        assert!(window.insert("c"));
        let mut off = DedupWindow::new(0);
        assert!(off.insert("a") && off.insert("a"));
    }
}
