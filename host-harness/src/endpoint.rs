//! The webhook endpoint: the one front door for every request to a trigger's webhook
//! URL, whether it came over HTTP (`serve`) or in process (the stub Graph API's
//! verification GET). It owns the trigger's properties, the secrets, the registration
//! store, the deduplication window and the event sink, and turns a request into a
//! [`Reply`]; the HTTP framing around it (timeouts, body caps, the concurrency cap) is
//! `serve`'s.
//!
//! Meta's contract: answer the `hub.challenge` GET, answer 200 to a notification only
//! once it is safely handled (it redelivers anything else, for up to 7 days, and may
//! deliver twice). So each event is written and flushed before the 200, events whose
//! deduplication key was already written are dropped, and a failure to write is not
//! acknowledged, so that Meta redelivers.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use whatsapp_connector::secret::Secret;
use whatsapp_connector::webhook;

use crate::registration::RegistrationStore;
use crate::runtime::bindings::{self, Outcome, Properties, WebhookRequest, WebhookSecrets};
use crate::runtime::{Connector, json};

/// Deduplication keys remembered by default.
pub const DEFAULT_DEDUP_WINDOW: usize = 100_000;

/// Where events go: one JSON line each, flushed before Meta gets its 200.
pub type EventSink = Arc<Mutex<dyn Write + Send>>;

/// What an endpoint serves: the trigger's properties and the secrets. `Debug` never
/// shows a secret.
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    pub properties: Properties,
    /// When set, every POST must carry a valid `X-Hub-Signature-256`.
    pub app_secret: Option<Secret<String>>,
    /// The token a handshake must present when no registration gives one.
    pub verify_token: Option<Secret<String>>,
    /// Where `enable` keeps the registration whose verify token the handshake checks
    /// (ahead of `verify_token`). Read at every GET.
    pub registration: Option<RegistrationStore>,
    /// How many deduplication keys to remember; 0 turns deduplication off.
    pub dedup_window: usize,
}

impl EndpointOptions {
    /// The defaults for these properties and secrets.
    pub fn new(
        properties: Properties,
        app_secret: Option<Secret<String>>,
        verify_token: Option<Secret<String>>,
    ) -> Self {
        Self {
            properties,
            app_secret,
            verify_token,
            registration: None,
            dedup_window: DEFAULT_DEDUP_WINDOW,
        }
    }
}

/// Counters for the summary printed when `serve` stops.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub events: AtomicU64,
    pub duplicates: AtomicU64,
    pub refused: AtomicU64,
}

impl Stats {
    pub fn summary(&self) -> Value {
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

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// As the component gave it for a handshake: `serve` checks it is a valid header.
    pub content_type: String,
    pub body: Vec<u8>,
    /// What happened, for the access log (never a secret).
    pub note: String,
}

impl Reply {
    fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>, note: String) -> Self {
        Self {
            status,
            content_type: content_type.to_owned(),
            body: body.into(),
            note,
        }
    }

    /// `{"error": error}` as JSON; the note is the error's kind.
    pub fn error(status: u16, error: Value) -> Self {
        let note = error["kind"].as_str().unwrap_or_default().to_owned();
        let body = json!({ "error": error }).to_string();
        Self::text(status, "application/json", body, note)
    }
}

/// A trigger's webhook endpoint.
pub struct Endpoint {
    connector: Connector,
    options: EndpointOptions,
    /// The secrets as the component takes them, made once.
    secrets: WebhookSecrets,
    sink: EventSink,
    stats: Arc<Stats>,
    dedup: Mutex<DedupWindow>,
}

impl Endpoint {
    pub fn new(
        connector: Connector,
        options: EndpointOptions,
        sink: EventSink,
        stats: Arc<Stats>,
    ) -> Self {
        let expose = |s: &Option<Secret<String>>| s.as_ref().map(|s| s.expose().clone());
        Self {
            secrets: WebhookSecrets {
                app_secret: expose(&options.app_secret),
                verify_token: expose(&options.verify_token),
            },
            dedup: Mutex::new(DedupWindow::new(options.dedup_window)),
            connector,
            options,
            sink,
            stats,
        }
    }

    pub fn options(&self) -> &EndpointOptions {
        &self.options
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Handles one request: the component answers the handshake or turns the body into
    /// events, which are written (repeats dropped) before the 200.
    pub async fn handle(&self, request: WebhookRequest) -> Reply {
        let registered = match &self.options.registration {
            Some(store) if request.method == "GET" => store.verify_token(),
            _ => None,
        };
        let registered_secrets;
        let secrets = match registered {
            Some(token) => {
                registered_secrets = WebhookSecrets {
                    verify_token: Some(token.into_inner()),
                    ..self.secrets.clone()
                };
                &registered_secrets
            }
            None => &self.secrets,
        };
        let outcome = self
            .connector
            .handle_webhook(&request, &self.options.properties, secrets)
            .await;
        match outcome {
            Ok(Ok(Outcome::Respond(r))) => {
                Reply::text(r.status, &r.content_type, r.body, "handshake".into())
            }
            Ok(Ok(Outcome::Events(events))) => self.deliver(events),
            Ok(Err(e)) => Reply::error(bindings::webhook_error_status(&e), json::webhook_error(&e)),
            // The component was stopped (deadline, memory) or trapped: not acknowledged,
            // so Meta redelivers; the endpoint goes on.
            Err(e) => Reply::error(503, json::host_error(&e)),
        }
    }

    /// Writes the events not seen before; 200 once they are flushed.
    fn deliver(&self, events: Vec<bindings::Event>) -> Reply {
        let events = match events
            .into_iter()
            .map(bindings::event)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(events) => events,
            // The component broke its contract: not acknowledged, so Meta redelivers.
            Err(e) => return Reply::error(503, json!({"kind": "host", "message": e.to_string()})),
        };
        let (fresh, duplicates): (Vec<_>, Vec<_>) = {
            let mut dedup = self.dedup.lock().unwrap_or_else(|p| p.into_inner());
            events
                .into_iter()
                .partition(|event| dedup.insert(&event.dedup_key))
        };
        if let Err(e) = write_events(&self.sink, &fresh) {
            let mut dedup = self.dedup.lock().unwrap_or_else(|p| p.into_inner());
            for event in &fresh {
                dedup.forget(&event.dedup_key);
            }
            // Not acknowledged, so Meta redelivers: nothing is lost.
            let message = format!("events could not be written: {e}");
            return Reply::error(503, json!({"kind": "host", "message": message}));
        }
        let stats = &self.stats;
        stats
            .events
            .fetch_add(fresh.len() as u64, Ordering::Relaxed);
        stats
            .duplicates
            .fetch_add(duplicates.len() as u64, Ordering::Relaxed);
        let note = format!("{} events, {} duplicates", fresh.len(), duplicates.len());
        Reply::text(200, "text/plain", "EVENT_RECEIVED", note)
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
