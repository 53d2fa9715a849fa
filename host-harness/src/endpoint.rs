//! The webhook endpoint: the one front door for every request to a webhook URL, whether
//! it came over HTTP (`serve`) or in process (the stub Graph API's verification GET).
//!
//! It routes a request by its path to the phone number registered there (one gateway
//! serves any number of them; when the store holds none, every path is the single
//! number `serve`'s own flags describe), checks it with that number's secrets, and runs
//! it through each of the number's subscriptions: the component's `handle-request`
//! with the subscription's properties gives its events (the host never parses a
//! webhook).
//!
//! Meta's contract: answer the `hub.challenge` GET, answer 200 to a notification only
//! once it is safely kept (it redelivers anything else, for up to 7 days, and may deliver
//! twice). So the events of every subscription and their deduplication keys are
//! committed to the store in one atomic step before the 200; a repeat is dropped there;
//! a store that fails gets 503 with `Retry-After`, and nothing of the request is kept.
//! Writing each subscription's events to its sink is the delivery workers' job
//! (`delivery.rs`), after the 200.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use whatsapp_connector::secret::Secret;

use crate::delivery::{Deliveries, DeliveryOptions, Target};
use crate::instances::InstancePool;
pub use crate::metrics::Stats;
use crate::registration::{DEFAULT_STREAM_MAX_LEN, Registered, Sink};
use crate::runtime::bindings::{
    self, Properties, WebhookError, WebhookRequest, WebhookResponse, WebhookSecrets,
};
use crate::runtime::{Connector, json};
use crate::store::{Depth, EmbeddedStore, Pending, Store, StreamTarget};
use crate::triggers::{self, Trigger};

/// Where `-` sinks write: one JSON line per event.
pub type EventSink = Arc<Mutex<dyn Write + Send>>;

/// The subscription key of the number `serve`'s own flags describe, when the store
/// holds no registration.
pub const DEFAULT_SUBSCRIPTION: &str = "default";

/// How often a running endpoint looks for new or changed registrations.
pub const ROUTES_REFRESH: Duration = Duration::from_millis(250);

/// The `Retry-After` of a 503, in seconds.
pub const RETRY_AFTER_SECS: u32 = 5;

/// What an endpoint serves besides the store's registrations. `Debug` never shows a
/// secret.
#[derive(Clone)]
pub struct EndpointOptions {
    /// Trigger "Message received"'s properties for the single number served when the
    /// store holds no registration.
    pub properties: Properties,
    /// When set, every POST must carry a valid `X-Hub-Signature-256`: the default for
    /// registrations that have no app secret of their own.
    pub app_secret: Option<Secret<String>>,
    /// The token a handshake must present when the store holds no registration.
    pub verify_token: Option<Secret<String>>,
    /// The gateway's state; `None`: a store in memory, kept only by this process (tests,
    /// the benchmark).
    pub store: Option<Arc<dyn Store>>,
    /// Requests an instance may serve before a fresh one replaces it; 0 (the default):
    /// a fresh instance for every call ([`InstancePool`]).
    pub reuse_instances: u32,
    /// How HTTP sinks are delivered and retried.
    pub delivery: DeliveryOptions,
}

impl std::fmt::Debug for EndpointOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointOptions")
            .field("properties", &self.properties)
            .field("app_secret", &self.app_secret)
            .field("verify_token", &self.verify_token)
            .field("store", &self.store.as_ref().map(|s| s.describe()))
            .field("reuse_instances", &self.reuse_instances)
            .field("delivery", &self.delivery)
            .finish()
    }
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
            store: None,
            reuse_instances: 0,
            delivery: DeliveryOptions::default(),
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
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u32>,
}

impl Reply {
    pub fn text(status: u16, content_type: &str, body: impl Into<Vec<u8>>, note: String) -> Self {
        Self {
            status,
            content_type: content_type.to_owned(),
            body: body.into(),
            note,
            retry_after: None,
        }
    }

    /// `{"error": error}` as JSON; the note is the error's kind.
    pub fn error(status: u16, error: Value) -> Self {
        let note = error["kind"].as_str().unwrap_or_default().to_owned();
        let body = json!({ "error": error }).to_string();
        Self::text(status, "application/json", body, note)
    }

    /// 503 with `Retry-After`, a generic reason for the caller (the untrusted side
    /// learns nothing of the host), and `detail` for the log only.
    pub fn unavailable(detail: String) -> Self {
        let mut reply = Self::error(
            503,
            json!({"kind": "unavailable", "reason": "the webhook could not be kept; retry later"}),
        );
        reply.note = format!("unavailable: {detail}");
        reply.retry_after = Some(RETRY_AFTER_SECS);
        reply
    }
}

/// One subscription as the endpoint runs it.
struct Route {
    /// Its key in the store ([`Registered::subscription_key`]).
    key: String,
    target: Target,
    /// A Redis stream sink: its events go there in the commit, not to the outbox.
    stream: Option<StreamTarget>,
    trigger: Trigger,
}

/// A phone number as the endpoint serves it: its secrets and its subscriptions.
struct Number {
    secrets: WebhookSecrets,
    routes: Vec<Route>,
}

/// The numbers registered now, by the path of their callback URL, and the store's
/// version they were read at.
#[derive(Default)]
struct Routing {
    version: Option<u64>,
    by_path: HashMap<String, Arc<Number>>,
}

/// The webhook endpoint; see the module's documentation.
pub struct Endpoint {
    connector: Connector,
    options: EndpointOptions,
    store: Arc<dyn Store>,
    deliveries: Arc<Deliveries>,
    stats: Arc<Stats>,
    /// The number `options` describes, served when the store holds no registration.
    single: Arc<Number>,
    /// Answers a handshake (the same for every subscription), and checks a POST to a
    /// number that has no subscription (its events go nowhere: nobody asked for them).
    probe: Route,
    /// [`Endpoint::start`] ran: this endpoint delivers whatever its store's outboxes hold
    /// (an endpoint that only answers handshakes, like `enable`'s, does not).
    started: std::sync::atomic::AtomicBool,
    routing: Mutex<Arc<Routing>>,
    /// Warm instances, when `options.reuse_instances` allows them.
    pool: Option<InstancePool>,
}

impl Endpoint {
    /// `output` is where `-` sinks (and the single number's events) are written.
    pub fn new(
        connector: Connector,
        options: EndpointOptions,
        output: EventSink,
        stats: Arc<Stats>,
    ) -> Self {
        let store = options.store.clone().unwrap_or_else(|| {
            Arc::new(
                EmbeddedStore::in_memory(crate::store::DEFAULT_DEDUP_TTL)
                    .expect("an in-memory SQLite database"),
            )
        });
        let expose = |s: &Option<Secret<String>>| s.as_ref().map(|s| s.expose().clone());
        let single = Arc::new(Number {
            secrets: WebhookSecrets {
                app_secret: expose(&options.app_secret),
                verify_token: expose(&options.verify_token),
            },
            routes: vec![Route {
                key: DEFAULT_SUBSCRIPTION.into(),
                target: Target::stdout(),
                stream: None,
                trigger: Trigger::Messages(options.properties.clone()),
            }],
        });
        Self {
            // Only a TLS backend that cannot start (rustls with its own roots) or a
            // thread the system refuses fails here.
            deliveries: Deliveries::new(
                store.clone(),
                output,
                options.delivery.clone(),
                stats.clone(),
            )
            .expect("the delivery HTTP client and thread"),
            store,
            single,
            probe: Route {
                key: String::new(),
                target: Target::stdout(),
                stream: None,
                trigger: Trigger::Messages(Properties {
                    sender_number: None,
                }),
            },
            started: std::sync::atomic::AtomicBool::new(false),
            routing: Mutex::default(),
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

    /// Succeeds when the store answers (`/readyz`).
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.store.ping().await
    }

    /// What waits in the store for each subscription routed now (`/metrics`).
    pub async fn depths(&self) -> anyhow::Result<Vec<(String, Depth)>> {
        let routing = self
            .routing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut keys: Vec<String> = routing
            .by_path
            .values()
            .flat_map(|number| number.routes.iter())
            .filter(|route| route.stream.is_none())
            .map(|route| route.key.clone())
            .collect();
        if routing.by_path.is_empty() {
            keys.push(DEFAULT_SUBSCRIPTION.into());
        }
        keys.sort();
        let mut depths = Vec::with_capacity(keys.len());
        for key in keys {
            let depth = self.store.depth(&key).await?;
            depths.push((key, depth));
        }
        Ok(depths)
    }

    /// Instances made for reuse so far (0 without `reuse_instances`).
    pub fn instances_made(&self) -> u64 {
        self.pool.as_ref().map_or(0, InstancePool::instances_made)
    }

    /// Reads the registrations, starts the delivery of whatever the outboxes still hold
    /// (events accepted before a restart), and keeps the routes current: a registration
    /// or subscription made by any process is routed within [`ROUTES_REFRESH`].
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        self.started.store(true, Ordering::Relaxed);
        // Forget the routes read so far, so that this refresh wakes every subscription.
        *self.routing.lock().unwrap_or_else(|p| p.into_inner()) = Arc::default();
        self.refresh().await?;
        self.deliveries
            .wake(DEFAULT_SUBSCRIPTION, &Target::stdout());
        let endpoint = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::time::sleep(ROUTES_REFRESH).await;
                let Some(endpoint) = endpoint.upgrade() else {
                    return;
                };
                match endpoint.refresh().await {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("serve: the store answers again");
                    }
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(error = %format!("{e:#}"), "serve: cannot read the registrations");
                    }
                    _ => {}
                }
            }
        });
        Ok(())
    }

    /// Waits (up to `timeout`) until every event accepted so far is written to its sink;
    /// whether it was.
    pub async fn drain(&self, timeout: Duration) -> bool {
        self.deliveries.drain(timeout).await
    }

    /// Reads the registrations again when the store's version changed.
    async fn refresh(&self) -> anyhow::Result<()> {
        let version = self.store.version().await?;
        if self
            .routing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .version
            == Some(version)
        {
            return Ok(());
        }
        let registrations = self.store.registrations().await?;
        let started = self.started.load(Ordering::Relaxed);
        let mut by_path = HashMap::new();
        let mut keys = vec![DEFAULT_SUBSCRIPTION.to_owned()];
        for registered in registrations {
            let number = self.number(&registered);
            for route in &number.routes {
                keys.push(route.key.clone());
                if started {
                    self.deliveries.wake(&route.key, &route.target);
                }
            }
            by_path.insert(registered.path(), Arc::new(number));
        }
        self.deliveries.retain(&keys);
        *self.routing.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(Routing {
            version: Some(version),
            by_path,
        });
        Ok(())
    }

    fn number(&self, registered: &Registered) -> Number {
        let routes = registered
            .subscriptions
            .iter()
            .filter_map(|subscription| {
                let trigger = match Trigger::from_spec(&subscription.trigger) {
                    Ok(trigger) => trigger,
                    // `enable` checked it: a stored one that is not valid is skipped,
                    // loudly, rather than stopping the number's other subscriptions.
                    Err(e) => {
                        tracing::error!(
                            subscription = subscription.id,
                            error = %format!("{e:#}"),
                            "serve: the subscription is skipped"
                        );
                        return None;
                    }
                };
                let sink = Sink::parse(&subscription.sink);
                let stream = match &sink {
                    Sink::Stream(name) if self.store.has_streams() => Some(StreamTarget {
                        key: name.clone(),
                        max_len: subscription
                            .stream_max_len
                            .unwrap_or(DEFAULT_STREAM_MAX_LEN),
                    }),
                    Sink::Stream(_) => {
                        tracing::error!(
                            subscription = subscription.id,
                            "serve: a Redis stream sink needs a Redis store: the subscription is skipped"
                        );
                        return None;
                    }
                    _ => None,
                };
                Some(Route {
                    key: registered.subscription_key(&subscription.id),
                    target: Target {
                        phone: registered.registration.phone_number_id.clone(),
                        id: subscription.id.clone(),
                        sink,
                        http: subscription.delivery.clone(),
                        gone: subscription.gone.is_some(),
                    },
                    stream,
                    trigger,
                })
            })
            .collect();
        let app_secret = registered
            .app_secret
            .as_ref()
            .or(self.options.app_secret.as_ref())
            .map(|s| s.expose().clone());
        Number {
            secrets: WebhookSecrets {
                app_secret,
                verify_token: Some(registered.registration.verify_token.expose().clone()),
            },
            routes,
        }
    }

    /// The number served at `path`: `Ok(None)` when none is. A handshake reads the store
    /// first (a registration `enable` just made is verified by Meta at once); a POST uses
    /// the routes as last read (kept current every [`ROUTES_REFRESH`]): Meta posts to a
    /// URL only after its handshake, so no POST waits on a store read.
    async fn serving(&self, path: &str, fresh: bool) -> anyhow::Result<Option<Arc<Number>>> {
        let read = self
            .routing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .version
            .is_some();
        if fresh || !read {
            self.refresh().await?;
        }
        let routing = self
            .routing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if routing.by_path.is_empty() {
            return Ok(Some(self.single.clone()));
        }
        Ok(routing.by_path.get(path).cloned())
    }

    /// Handles one request to `path`: the component answers the handshake, or turns the
    /// body into each subscription's events, which are committed (repeats dropped)
    /// before the 200.
    pub async fn handle(&self, path: &str, request: WebhookRequest) -> Reply {
        let number = match self.serving(path, request.method == "GET").await {
            Ok(Some(number)) => number,
            Ok(None) => {
                return Reply::error(
                    404,
                    json!({"kind": "not-found", "reason": "no phone number is registered at this path"}),
                );
            }
            Err(e) => {
                return Reply::unavailable(format!("the registrations could not be read: {e:#}"));
            }
        };
        // A handshake needs one answer, the same for every subscription; a number with no
        // subscription only has its requests checked.
        if request.method != "POST" || number.routes.is_empty() {
            return match self
                .handle_route(&self.probe, &request, &number.secrets)
                .await
            {
                Handled::Answer(reply) => reply,
                Handled::Events(events) => Reply::text(
                    200,
                    "text/plain",
                    "EVENT_RECEIVED",
                    format!("{} events, no subscription", events.len()),
                ),
            };
        }
        // Every subscription sees the request: the first refusal (a bad signature is
        // every subscription's) or failure answers it, and nothing is kept.
        let mut pending = Vec::new();
        let mut owners = Vec::new();
        for (index, route) in number.routes.iter().enumerate() {
            match self.handle_route(route, &request, &number.secrets).await {
                Handled::Events(events) => {
                    owners.extend(std::iter::repeat_n(index, events.len()));
                    pending.extend(events.into_iter().map(|(dedup_key, line)| Pending {
                        subscription: route.key.clone(),
                        dedup_key,
                        line,
                        stream: route.stream.clone(),
                    }));
                }
                Handled::Answer(reply) => return reply,
            }
        }
        let fresh = match self.store.commit(pending).await {
            Ok(fresh) => fresh,
            Err(e) => return Reply::unavailable(format!("the events could not be kept: {e:#}")),
        };
        let mut woken = vec![false; number.routes.len()];
        for (&new, &owner) in fresh.iter().zip(&owners) {
            if new && !woken[owner] {
                woken[owner] = true;
                let route = &number.routes[owner];
                self.deliveries.nudge(&route.key, &route.target);
            }
        }
        let events = fresh.iter().filter(|&&f| f).count();
        let duplicates = fresh.len() - events;
        self.stats.events.inc_by(events as u64);
        self.stats.duplicates.inc_by(duplicates as u64);
        let note = format!("{events} events, {duplicates} duplicates");
        Reply::text(200, "text/plain", "EVENT_RECEIVED", note)
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
                Err(e) => return Handled::Answer(stopped(&e)),
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
        let events = match route.trigger.handle(connector, request, secrets).await {
            Ok(Ok(Ok(triggers::Handled::Respond(r)))) => return (Handled::respond(r), true),
            Ok(Ok(Ok(triggers::Handled::Events(events)))) => Ok(events),
            Ok(Ok(Err(broken))) => Err(broken.to_string()),
            Ok(Err(e)) => return (Handled::refused(&e), true),
            // The component was stopped (deadline, memory) or trapped: not acknowledged,
            // so Meta redelivers; the endpoint goes on.
            Err(e) => return (Handled::Answer(stopped(&e)), false),
        };
        match events.and_then(|events| events.lines()) {
            Ok(lines) => (Handled::Events(lines), true),
            // The component broke its contract: not acknowledged, so Meta redelivers, and
            // the instance is not reused.
            Err(e) => (
                Handled::Answer(Reply::unavailable(format!(
                    "the component's events are not valid: {e}"
                ))),
                false,
            ),
        }
    }
}

/// The component was stopped (deadline, memory) or trapped, or no instance could be
/// made: 503, so that Meta redelivers; what happened goes to the log, not to the caller.
fn stopped(error: &crate::runtime::CallError) -> Reply {
    Reply::unavailable(format!(
        "the component stopped: {}",
        json::host_error(error)
    ))
}

/// What one subscription made of a request.
enum Handled {
    /// Its events: each one's deduplication key and JSON line.
    Events(Vec<(String, Vec<u8>)>),
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
