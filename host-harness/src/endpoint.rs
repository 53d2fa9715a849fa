//! The webhook endpoint: the one front door for every request to a phone number's
//! webhook URL, whether it came over HTTP (`serve`) or in process (the stub Graph API's
//! verification GET). It owns the secrets, the registration store and the
//! subscriptions it keeps (each with its trigger, properties, sink and deduplication
//! window), and turns a request into a [`Reply`]; the HTTP framing around it (timeouts,
//! body caps, the concurrency cap) is `serve`'s.
//!
//! Each subscription's events come from the component (its `handle-request` with the
//! subscription's properties): the host never parses a webhook.
//!
//! Meta's contract: answer the `hub.challenge` GET, answer 200 to a notification only
//! once it is safely handled (it redelivers anything else, for up to 7 days, and may
//! deliver twice). So each event is written and flushed before the 200, events whose
//! deduplication key was already written are dropped, and a failure to write is not
//! acknowledged, so that Meta redelivers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::{Value, json};
use whatsapp_connector::secret::Secret;
use whatsapp_connector::{statuses, webhook};

use crate::instances::InstancePool;
use crate::registration::{DEFAULT_SINK, RegistrationStore, Subscription, TriggerSpec};
use crate::runtime::bindings::{
    self, Outcome, Properties, StatusOutcome, StatusProperties, WebhookError, WebhookRequest,
    WebhookResponse, WebhookSecrets,
};
use crate::runtime::{Connector, json};

/// Deduplication keys remembered by default.
pub const DEFAULT_DEDUP_WINDOW: usize = 100_000;

/// Where events go: one JSON line each, flushed before Meta gets its 200.
pub type EventSink = Arc<Mutex<dyn Write + Send>>;

/// What an endpoint serves: the trigger's properties and the secrets. `Debug` never
/// shows a secret.
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    /// The trigger "Message received" properties the endpoint serves when the
    /// registration store keeps no subscription (or there is no store).
    pub properties: Properties,
    /// When set, every POST must carry a valid `X-Hub-Signature-256`.
    pub app_secret: Option<Secret<String>>,
    /// The token a handshake must present when no registration gives one.
    pub verify_token: Option<Secret<String>>,
    /// Where `enable` keeps the registration whose verify token the handshake checks
    /// (ahead of `verify_token`), and the subscriptions every POST is routed to. Read
    /// at every GET, and at a POST when it changed.
    pub registration: Option<RegistrationStore>,
    /// How many deduplication keys each subscription remembers; 0 turns deduplication
    /// off.
    pub dedup_window: usize,
    /// Requests an instance may serve before a fresh one replaces it; 0 (the default):
    /// a fresh instance for every call ([`InstancePool`]).
    pub reuse_instances: u32,
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
            reuse_instances: 0,
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
    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>, note: String) -> Self {
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

/// One subscription as the endpoint runs it: its trigger, its sink, its own
/// deduplication window.
struct Route {
    subscription: Subscription,
    trigger: Trigger,
    sink: EventSink,
    dedup: Mutex<DedupWindow>,
}

/// A subscription's trigger, in the component's terms.
enum Trigger {
    Messages(Properties),
    Statuses(StatusProperties),
}

/// The routes of the subscriptions kept now, and the store's stamp they were read at.
struct Routes {
    stamp: Option<(Option<std::time::SystemTime>, u64)>,
    routes: Arc<Vec<Arc<Route>>>,
}

/// A trigger's webhook endpoint: one phone number's, routing each request to every
/// subscription the registration store keeps, or to the one its options describe when
/// the store keeps none.
pub struct Endpoint {
    connector: Connector,
    options: EndpointOptions,
    /// The secrets as the component takes them, made once.
    secrets: WebhookSecrets,
    stats: Arc<Stats>,
    /// The route of `options.properties` to the sink given at construction.
    default: Arc<Route>,
    routes: Mutex<Routes>,
    /// The files subscriptions write to, opened once each.
    files: Mutex<HashMap<String, EventSink>>,
    /// Warm instances, when `options.reuse_instances` allows them.
    pool: Option<InstancePool>,
}

impl Endpoint {
    pub fn new(
        connector: Connector,
        options: EndpointOptions,
        sink: EventSink,
        stats: Arc<Stats>,
    ) -> Self {
        let expose = |s: &Option<Secret<String>>| s.as_ref().map(|s| s.expose().clone());
        let default = Arc::new(Route {
            subscription: Subscription {
                id: String::new(),
                trigger: TriggerSpec::MessageReceived {
                    sender_number: options.properties.sender_number.clone(),
                },
                sink: DEFAULT_SINK.into(),
            },
            trigger: Trigger::Messages(options.properties.clone()),
            sink,
            dedup: Mutex::new(DedupWindow::new(options.dedup_window)),
        });
        Self {
            secrets: WebhookSecrets {
                app_secret: expose(&options.app_secret),
                verify_token: expose(&options.verify_token),
            },
            routes: Mutex::new(Routes {
                stamp: None,
                routes: Arc::new(vec![default.clone()]),
            }),
            default,
            files: Mutex::default(),
            pool: (options.reuse_instances > 0)
                .then(|| InstancePool::new(connector.clone(), options.reuse_instances)),
            connector,
            options,
            stats,
        }
    }

    pub fn options(&self) -> &EndpointOptions {
        &self.options
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Instances made for reuse so far (0 without `reuse_instances`).
    pub fn instances_made(&self) -> u64 {
        self.pool.as_ref().map_or(0, InstancePool::instances_made)
    }

    /// Handles one request: the component answers the handshake, or turns the body into
    /// each subscription's events, which are written (repeats dropped) before the 200.
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
        let routes = match self.routes() {
            Ok(routes) => routes,
            Err(e) => {
                let message = format!("the subscriptions could not be read: {e:#}");
                return Reply::error(503, json!({"kind": "host", "message": message}));
            }
        };
        // Every subscription sees the request: the first refusal (a bad signature is
        // every subscription's) or failure answers it, and Meta redelivers. Those that
        // wrote their events already drop them then as duplicates.
        let (mut events, mut duplicates) = (0, 0);
        for route in routes.iter() {
            match self.handle_route(route, &request, secrets).await {
                Handled::Delivered(fresh, repeated) => {
                    events += fresh;
                    duplicates += repeated;
                }
                Handled::Answer(reply) => return reply,
            }
            // A handshake needs one answer.
            if request.method != "POST" {
                break;
            }
        }
        let note = format!("{events} events, {duplicates} duplicates");
        Reply::text(200, "text/plain", "EVENT_RECEIVED", note)
    }

    /// The routes of the subscriptions kept now. A file store is read again only when
    /// it changed, and a subscription that stays keeps its deduplication window.
    fn routes(&self) -> anyhow::Result<Arc<Vec<Arc<Route>>>> {
        let Some(store) = &self.options.registration else {
            return Ok(self.routes.lock().unwrap().routes.clone());
        };
        let stamp = store.stamp();
        let mut current = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        if stamp.is_some() && stamp == current.stamp {
            return Ok(current.routes.clone());
        }
        let subscriptions = store
            .load()?
            .map(|registered| registered.subscriptions)
            .unwrap_or_default();
        let routes = if subscriptions.is_empty() {
            vec![self.default.clone()]
        } else {
            let mut routes = Vec::with_capacity(subscriptions.len());
            for subscription in subscriptions {
                let kept = current
                    .routes
                    .iter()
                    .find(|r| r.subscription == subscription)
                    .cloned();
                routes.push(match kept {
                    Some(route) => route,
                    None => Arc::new(self.route(subscription)?),
                });
            }
            routes
        };
        *current = Routes {
            stamp,
            routes: Arc::new(routes),
        };
        Ok(current.routes.clone())
    }

    fn route(&self, subscription: Subscription) -> anyhow::Result<Route> {
        let trigger = match &subscription.trigger {
            TriggerSpec::MessageReceived { sender_number } => Trigger::Messages(Properties {
                sender_number: sender_number.clone(),
            }),
            TriggerSpec::StatusUpdated {
                statuses,
                recipient,
            } => Trigger::Statuses(bindings::status_properties(statuses, recipient.clone())?),
        };
        let sink = match subscription.sink.as_str() {
            DEFAULT_SINK => self.default.sink.clone(),
            path => self.file_sink(path)?,
        };
        Ok(Route {
            subscription,
            trigger,
            sink,
            dedup: Mutex::new(DedupWindow::new(self.options.dedup_window)),
        })
    }

    /// The sink of a file, opened once for appending (created with mode 0600: events
    /// carry customers' messages).
    fn file_sink(&self, path: &str) -> anyhow::Result<EventSink> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sink) = files.get(path) {
            return Ok(sink.clone());
        }
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(path)
            .with_context(|| format!("cannot open the events file {path}"))?;
        let sink: EventSink = Arc::new(Mutex::new(file));
        files.insert(path.to_owned(), sink.clone());
        Ok(sink)
    }

    /// One subscription's part of a request.
    async fn handle_route(
        &self,
        route: &Route,
        request: &WebhookRequest,
        secrets: &WebhookSecrets,
    ) -> Handled {
        let lease = match &self.pool {
            Some(pool) => match pool.take().await {
                Ok(lease) => Some(lease),
                Err(e) => return Handled::Answer(Reply::error(503, json::host_error(&e))),
            },
            None => None,
        };
        let connector = lease.as_ref().map_or(&self.connector, |l| &l.connector);
        let (handled, came_back) = self.run_route(connector, route, request, secrets).await;
        if let (Some(pool), Some(lease)) = (&self.pool, lease) {
            pool.put(lease, came_back);
        }
        handled
    }

    /// One subscription's part of a request on `connector`; and whether the call came
    /// back from the component (not stopped by a limit, not trapped).
    async fn run_route(
        &self,
        connector: &Connector,
        route: &Route,
        request: &WebhookRequest,
        secrets: &WebhookSecrets,
    ) -> (Handled, bool) {
        let stopped = |e: &crate::runtime::CallError| {
            (
                Handled::Answer(Reply::error(503, json::host_error(e))),
                false,
            )
        };
        let events = match &route.trigger {
            Trigger::Messages(properties) => {
                match connector.handle_webhook(request, properties, secrets).await {
                    Ok(Ok(Outcome::Respond(r))) => return (Handled::respond(r), true),
                    Ok(Ok(Outcome::Events(events))) => {
                        convert(events, bindings::event).map(Lines::Messages)
                    }
                    Ok(Err(e)) => return (Handled::refused(&e), true),
                    Err(e) => return stopped(&e),
                }
            }
            Trigger::Statuses(properties) => {
                match connector
                    .handle_status_webhook(request, properties, secrets)
                    .await
                {
                    Ok(Ok(StatusOutcome::Respond(r))) => return (Handled::respond(r), true),
                    Ok(Ok(StatusOutcome::Events(events))) => {
                        convert(events, bindings::status_event).map(Lines::Statuses)
                    }
                    Ok(Err(e)) => return (Handled::refused(&e), true),
                    // The component was stopped (deadline, memory) or trapped: not
                    // acknowledged, so Meta redelivers; the endpoint goes on.
                    Err(e) => return stopped(&e),
                }
            }
        };
        match events {
            Ok(Lines::Messages(events)) => (self.deliver(route, events, |e| &e.dedup_key), true),
            Ok(Lines::Statuses(events)) => (self.deliver(route, events, |e| &e.dedup_key), true),
            // The component broke its contract: not acknowledged, so Meta redelivers, and
            // the instance is not reused.
            Err(e) => (
                Handled::Answer(Reply::error(
                    503,
                    json!({"kind": "host", "message": e.to_string()}),
                )),
                false,
            ),
        }
    }

    /// Writes the events not seen before by this subscription; flushed before the 200.
    fn deliver<E: serde::Serialize>(
        &self,
        route: &Route,
        events: Vec<E>,
        key: impl Fn(&E) -> &str,
    ) -> Handled {
        let (fresh, duplicates): (Vec<_>, Vec<_>) = {
            let mut dedup = route.dedup.lock().unwrap_or_else(|p| p.into_inner());
            events
                .into_iter()
                .partition(|event| dedup.insert(key(event)))
        };
        if let Err(e) = write_events(&route.sink, &fresh) {
            let mut dedup = route.dedup.lock().unwrap_or_else(|p| p.into_inner());
            for event in &fresh {
                dedup.forget(key(event));
            }
            // Not acknowledged, so Meta redelivers: nothing is lost.
            let message = format!("events could not be written: {e}");
            return Handled::Answer(Reply::error(
                503,
                json!({"kind": "host", "message": message}),
            ));
        }
        let stats = &self.stats;
        stats
            .events
            .fetch_add(fresh.len() as u64, Ordering::Relaxed);
        stats
            .duplicates
            .fetch_add(duplicates.len() as u64, Ordering::Relaxed);
        Handled::Delivered(fresh.len(), duplicates.len())
    }
}

/// What one subscription made of a request.
enum Handled {
    /// Its events were written: how many, and how many were repeats.
    Delivered(usize, usize),
    /// The request is answered with this, whatever the other subscriptions say.
    Answer(Reply),
}

impl Handled {
    fn respond(r: WebhookResponse) -> Self {
        Handled::Answer(Reply::text(
            r.status,
            &r.content_type,
            r.body,
            "handshake".into(),
        ))
    }

    fn refused(e: &WebhookError) -> Self {
        Handled::Answer(Reply::error(
            bindings::webhook_error_status(e),
            json::webhook_error(e),
        ))
    }
}

/// A subscription's events, as the component's domain types.
enum Lines {
    Messages(Vec<webhook::Event>),
    Statuses(Vec<statuses::StatusEvent>),
}

fn convert<W, D>(
    events: Vec<W>,
    f: impl Fn(W) -> Result<D, bindings::InvalidEventJson>,
) -> Result<Vec<D>, bindings::InvalidEventJson> {
    events.into_iter().map(f).collect()
}

fn write_events<E: serde::Serialize>(sink: &EventSink, events: &[E]) -> std::io::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut lines = Vec::with_capacity(events.len() * 512);
    for event in events {
        json::write_event_line(&mut lines, event)?;
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
