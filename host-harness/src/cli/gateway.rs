//! The gateway's subcommands, everything that uses the store: `serve`, `enable`,
//! `disable`, `registrations` and `import-registration`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use host_harness::Connector;
use host_harness::bindings::{Properties, removal_name};
use host_harness::delivery::DeliveryOptions;
use host_harness::endpoint::{Endpoint, EndpointOptions, Stats};
use host_harness::fakes::stub_graph::{self, StubGraph};
use host_harness::registration::{
    self, HttpDelivery, Registered, Sink, StaticHeader, callback_path, check_http_sink, check_sink,
    check_stream_sink,
};
use host_harness::serve::{self, ServeOptions};
use host_harness::standard_webhooks::{SigningSecret, webhook_id};
use host_harness::store::{self, Store};
use serde_json::json;

use super::{Failure, answered, baseline, graph_setup, print_json, subscription_trigger};
use crate::{
    DeadLettersArgs, DisableArgs, EnableArgs, ImportArgs, RedriveArgs, RegistrationsArgs,
    ServeArgs, StoreArgs,
};

impl StoreArgs {
    /// The embedded store's directory (`None` for Redis).
    fn directory(&self) -> Option<&std::path::Path> {
        (!self.store.contains("://")).then(|| std::path::Path::new(&self.store))
    }

    fn is_redis(&self) -> bool {
        self.store.starts_with("redis://") || self.store.starts_with("rediss://")
    }

    /// Opens the store `--store` names.
    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        let ttl = Duration::from_secs(self.dedup_ttl_secs.max(1));
        store::open(&self.store, ttl).await
    }
}

/// A connector refusal of one input, exit 1.
fn invalid(field: &str, reason: impl Into<String>) -> Failure {
    Failure::Connector(json!({"kind": "invalid-input", "field": field, "reason": reason.into()}))
}

/// Switches a trigger on. The phone number's first subscription makes the registration
/// and points the number's webhooks at it (Meta verifies the URL first); a later one,
/// for the same URL, is only added to the store. A registration whose `enable` did not
/// hear back from Meta stays marked pending, and the next `enable` calls Meta again.
pub async fn enable(connector: &Connector, args: EnableArgs) -> Result<(), Failure> {
    let (mut graph_connector, connection) = graph_setup(connector, &args.graph)?;
    let trigger = subscription_trigger(&args)?;
    let (sink, delivery, signing_secret) = checked_sink(&args)?;
    let properties = Properties {
        sender_number: args.sender_number.clone(),
    };
    // Validates the connection, the sender number and the URL, with no network.
    let registration = answered(
        graph_connector
            .new_registration(&connection, &properties, &args.webhook_url)
            .await,
    )?;
    let store = args.store.open().await?;
    if args.graph.graph_url.is_none() {
        let stub = verifying_stub(connector, store.clone());
        graph_connector = graph_connector.with_outbound(stub.outbound());
    }
    let phone = registration.phone_number_id.clone();
    let path = callback_path(&args.webhook_url);
    for other in store.registrations().await? {
        if other.registration.phone_number_id == phone {
            if other.registration.callback_url != args.webhook_url {
                return Err(invalid(
                    "webhook-url",
                    format!(
                        "phone number {phone} is registered for {}: a phone number has one \
                         callback URL, so subscribe with that URL (or disable it first)",
                        other.registration.callback_url
                    ),
                ));
            }
        } else if other.path() == path {
            return Err(invalid(
                "webhook-url",
                format!(
                    "the path {path} already routes phone number {}'s webhooks: give each number its own path",
                    other.registration.phone_number_id
                ),
            ));
        }
        if matches!(Sink::parse(&sink), Sink::File(_))
            && other.subscriptions.iter().any(|s| s.sink == sink)
        {
            return Err(invalid(
                "events",
                format!(
                    "{sink} already receives another subscription's events: give each its own file"
                ),
            ));
        }
    }
    let app_secret = args.app_secret.clone().map(Into::into);
    let created = AtomicBool::new(false);
    let subscribed = Mutex::new(String::new());
    let kept = store
        .update(&phone, &|current| {
            created.store(current.is_none(), Ordering::SeqCst);
            let mut registered = match current {
                Some(registered) if registered.registration.callback_url == args.webhook_url => {
                    registered
                }
                Some(_) => {
                    anyhow::bail!("phone number {phone} was registered for another URL meanwhile")
                }
                None => {
                    let mut registered = Registered::new(registration.clone());
                    registered.app_secret = app_secret.clone();
                    registered.pending = true;
                    registered
                }
            };
            let id = registered.subscribe(trigger.clone(), sink.clone());
            if let Some(subscription) = registered.subscription_mut(&id) {
                subscription.delivery = delivery.clone();
                if matches!(Sink::parse(&sink), Sink::Stream(_)) {
                    subscription.stream_max_len = Some(args.stream_max_len.max(1));
                }
            }
            *subscribed.lock().unwrap() = id;
            Ok(Some(registered))
        })
        .await?
        .context("the registration vanished")?;
    let id = subscribed.into_inner().unwrap();
    // The signing secret is shown this once: the receiver needs it, the store keeps it.
    let shown_once = |mut output: serde_json::Value| {
        if let Some(secret) = &signing_secret {
            output["signing_secret"] = secret.expose().clone().into();
        }
        output
    };
    if !kept.pending {
        return print_json(&shown_once(json!({
            "subscribed": id,
            "meta": "not called: the phone number's callback already points at this registration",
            "registration": kept.redacted(),
            "store": store.describe(),
        })));
    }
    let enabled = graph_connector
        .enable(&connection, &kept.registration)
        .await;
    let confirmed = matches!(enabled, Ok(Ok(())));
    let namespace = kept.namespace.clone();
    store
        .update(&phone, &|current| {
            Ok(current.and_then(|mut registered| {
                if registered.namespace != namespace {
                    return Some(registered);
                }
                if confirmed {
                    registered.pending = false;
                } else if created.load(Ordering::SeqCst) {
                    // Meta refused or could not be asked: this subscription goes, and the
                    // registration with it when it was the only one, so that no secret is
                    // kept for nothing.
                    registered.unsubscribe(&id);
                    if registered.subscriptions.is_empty() {
                        return None;
                    }
                }
                Some(registered)
            }))
        })
        .await?;
    answered(enabled)?;
    print_json(&shown_once(json!({
        "subscribed": id,
        "enabled": kept.registration.redacted(),
        "path": kept.path(),
        "store": store.describe(),
    })))
}

/// Headers a delivery sets itself: a static header may not replace them.
const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
];

/// `enable --events` checked, in the form to store; an HTTP sink's secrets (a new
/// signing secret, the static headers, Basic auth from the URL) and the signing secret's
/// text, to show once.
#[allow(clippy::type_complexity)]
fn checked_sink(
    args: &EnableArgs,
) -> Result<
    (
        String,
        Option<HttpDelivery>,
        Option<whatsapp_connector::secret::Secret<String>>,
    ),
    Failure,
> {
    let sink = Sink::parse(&args.events);
    if !matches!(sink, Sink::Http(_)) && !args.events_header.is_empty() {
        return Err(invalid(
            "events-header",
            "static headers are for an HTTP sink (--events https://…)",
        ));
    }
    match sink {
        Sink::Http(_) => {
            let (url, basic_auth) = check_http_sink(&args.events, args.events_allow_http)
                .map_err(|e| invalid("events", format!("{e:#}")))?;
            if args.events_allow_http && url.starts_with("http://") {
                eprintln!(
                    "enable: WARNING: --events-allow-http: events, their signatures and any \
                     static header cross the network in clear to {url}"
                );
            }
            let mut headers = Vec::new();
            for header in &args.events_header {
                let (name, value) = header
                    .split_once(':')
                    .map(|(n, v)| (n.trim(), v.trim()))
                    .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                    .ok_or_else(|| invalid("events-header", "a header is 'Name: value'"))?;
                if http::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                    || http::header::HeaderValue::from_str(value).is_err()
                {
                    return Err(invalid(
                        "events-header",
                        format!("header {name:?} is not a valid name and value"),
                    ));
                }
                if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                    || (basic_auth.is_some() && name.eq_ignore_ascii_case("authorization"))
                {
                    return Err(invalid(
                        "events-header",
                        format!("header {name} is set by the delivery itself"),
                    ));
                }
                headers.push(StaticHeader {
                    name: name.to_owned(),
                    value: value.to_owned().into(),
                });
            }
            let (_, text) = SigningSecret::generate()?;
            let delivery = HttpDelivery {
                signing_secret: text.clone(),
                headers,
                basic_auth,
            };
            Ok((url, Some(delivery), Some(text)))
        }
        Sink::Stream(name) => {
            check_stream_sink(&name, args.store.is_redis())
                .map_err(|e| invalid("events", format!("{e:#}")))?;
            Ok((args.events.clone(), None, None))
        }
        Sink::Stdout | Sink::File(_) => {
            let sink = check_sink(&args.events, args.store.directory())
                .map_err(|e| invalid("events", format!("{e:#}")))?;
            Ok((sink, None, None))
        }
    }
}

/// The registration of `phone` (or the only one), or why there is none to use.
fn registration_of(
    registrations: Vec<Registered>,
    phone: Option<&str>,
) -> Result<Registered, Failure> {
    let count = registrations.len();
    let found = match phone {
        Some(phone) => registrations
            .into_iter()
            .find(|r| r.registration.phone_number_id == phone),
        None if count == 1 => registrations.into_iter().next(),
        None if count > 1 => {
            return Err(invalid(
                "phone-number-id",
                "the store holds several phone numbers: say which one with --phone-number-id",
            ));
        }
        None => None,
    };
    found.ok_or_else(|| invalid("phone-number-id", "the store holds no such registration"))
}

/// One dead letter as `dead-letters` lists it.
fn dead_letter_json(
    registered: &Registered,
    subscription: &str,
    letter: &host_harness::store::DeadLetter,
) -> serde_json::Value {
    let key = registered.subscription_key(subscription);
    let event: serde_json::Value =
        serde_json::from_slice(&letter.entry.line).unwrap_or_else(|_| {
            String::from_utf8_lossy(&letter.entry.line)
                .into_owned()
                .into()
        });
    json!({
        "phone_number_id": registered.registration.phone_number_id,
        "subscription": subscription,
        "webhook_id": webhook_id(&key, &letter.entry.dedup_key),
        "dedup_key": letter.entry.dedup_key,
        "attempts": letter.entry.attempt,
        "reason": letter.reason,
        "dead_since": letter.at,
        "event": event,
    })
}

/// Lists dead letters, as JSON.
pub async fn dead_letters(args: &DeadLettersArgs) -> Result<(), Failure> {
    let store = args.store.open().await?;
    let mut letters = Vec::new();
    for registered in store.registrations().await? {
        if args
            .phone_number_id
            .as_ref()
            .is_some_and(|p| *p != registered.registration.phone_number_id)
        {
            continue;
        }
        for subscription in &registered.subscriptions {
            if args
                .subscription
                .as_ref()
                .is_some_and(|s| *s != subscription.id)
            {
                continue;
            }
            let key = registered.subscription_key(&subscription.id);
            for letter in store.dead_letters(&key).await? {
                letters.push(dead_letter_json(&registered, &subscription.id, &letter));
            }
        }
    }
    print_json(&json!({"store": store.describe(), "dead_letters": letters}))
}

/// Re-drives a subscription: clears its 410 mark, gives its dead letters (or one) a new
/// schedule. A running `serve` picks them up within a second.
pub async fn redrive(args: &RedriveArgs) -> Result<(), Failure> {
    let store = args.store.open().await?;
    let registered = registration_of(
        store.registrations().await?,
        args.phone_number_id.as_deref(),
    )?;
    let phone = registered.registration.phone_number_id.clone();
    let Some(subscription) = registered
        .subscriptions
        .iter()
        .find(|s| s.id == args.subscription)
    else {
        return Err(invalid(
            "subscription",
            format!(
                "phone number {phone} has no subscription {}",
                args.subscription
            ),
        ));
    };
    let key = registered.subscription_key(&subscription.id);
    let ids = match &args.event {
        None => None,
        Some(event) => {
            let found: Vec<String> = store
                .dead_letters(&key)
                .await?
                .into_iter()
                .filter(|l| webhook_id(&key, &l.entry.dedup_key) == *event)
                .map(|l| l.entry.id)
                .collect();
            if found.is_empty() {
                return Err(invalid(
                    "event",
                    format!(
                        "subscription {} has no dead letter {event}",
                        subscription.id
                    ),
                ));
            }
            Some(found)
        }
    };
    let resumed = subscription.gone.is_some();
    if resumed {
        let id = subscription.id.clone();
        store
            .update(&phone, &|current| {
                Ok(current.map(|mut registered| {
                    if let Some(s) = registered.subscription_mut(&id) {
                        s.gone = None;
                    }
                    registered
                }))
            })
            .await?;
    }
    let redriven = store.redrive(&key, ids).await?;
    print_json(&json!({
        "phone_number_id": phone,
        "subscription": subscription.id,
        "redriven": redriven,
        "resumed": resumed,
    }))
}

/// Switches a trigger off: its subscription only, while others remain; the last one
/// out (or no --subscription: all of them) removes the phone number's callback.
pub async fn disable(connector: &Connector, args: DisableArgs) -> Result<(), Failure> {
    let store = args.store.open().await?;
    let registrations = store.registrations().await?;
    let phone = match (&args.graph.phone_number_id, registrations.as_slice()) {
        (Some(phone), _) => phone.clone(),
        (None, [only]) => only.registration.phone_number_id.clone(),
        (None, []) => {
            return print_json(&json!({
                "removal": "nothing-to-remove",
                "reason": format!("{} holds no registration", store.describe()),
            }));
        }
        (None, _) => {
            return Err(invalid(
                "phone-number-id",
                "the store holds several phone numbers: say which one with --phone-number-id",
            ));
        }
    };
    let Some(registered) = registrations
        .into_iter()
        .find(|r| r.registration.phone_number_id == phone)
    else {
        return print_json(&json!({
            "removal": "nothing-to-remove",
            "reason": format!("{} holds no registration for phone number {phone}", store.describe()),
        }));
    };
    if let Some(id) = &args.subscription {
        if !registered.subscriptions.iter().any(|s| &s.id == id) {
            return Err(invalid(
                "subscription",
                format!("phone number {phone} has no subscription {id}"),
            ));
        }
        let kept = store
            .update(&phone, &|current| {
                Ok(current.map(|mut registered| {
                    registered.unsubscribe(id);
                    registered
                }))
            })
            .await?;
        if let Some(kept) = kept
            && !kept.subscriptions.is_empty()
        {
            return print_json(&json!({
                "unsubscribed": id,
                "remaining": kept.subscriptions,
                "meta": "not called: other subscriptions still use the phone number's callback",
            }));
        }
    }
    let registration = &registered.registration;
    let mut graph = args.graph;
    graph.phone_number_id = Some(phone.clone());
    let (connector, connection) = graph_setup(connector, &graph)?;
    let removal = answered(connector.disable(&connection, registration).await)?;
    let namespace = registered.namespace.clone();
    store
        .update(&phone, &|current| {
            Ok(current.filter(|r| r.namespace != namespace))
        })
        .await?;
    print_json(&json!({
        "unsubscribed": args.subscription,
        "removal": removal_name(removal),
        "callback_url": registration.callback_url,
    }))
}

/// Lists every registration and its subscriptions, without secrets.
pub async fn registrations(args: &RegistrationsArgs) -> Result<(), Failure> {
    let store = args.store.open().await?;
    let registrations: Vec<_> = store
        .registrations()
        .await?
        .iter()
        .map(Registered::redacted)
        .collect();
    print_json(&json!({"store": store.describe(), "registrations": registrations}))
}

/// Imports a registration file written by 0.2.x (`enable --out`), its subscriptions and
/// verify token intact. Relative events files are resolved against this command's
/// working directory, and stored absolute.
pub async fn import(args: &ImportArgs) -> Result<(), Failure> {
    let mut registered = registration::read_file(&args.file)?;
    for subscription in &mut registered.subscriptions {
        subscription.sink = check_sink(&subscription.sink, args.store.directory())
            .with_context(|| format!("subscription {}'s events file", subscription.id))?;
    }
    let store = args.store.open().await?;
    let phone = registered.registration.phone_number_id.clone();
    let exists = AtomicBool::new(false);
    let kept = store
        .update(&phone, &|current| {
            exists.store(current.is_some(), Ordering::SeqCst);
            Ok(Some(current.unwrap_or_else(|| registered.clone())))
        })
        .await?;
    if exists.load(Ordering::SeqCst) {
        return Err(invalid(
            "file",
            format!(
                "{} already holds phone number {phone}'s registration: nothing imported",
                store.describe()
            ),
        ));
    }
    print_json(&json!({
        "imported": kept.as_ref().map(Registered::redacted),
        "from": args.file,
        "store": store.describe(),
    }))
}

/// The built-in stub Graph API, verifying a new callback URL as Meta does: its GET
/// reaches, in process, the same endpoint `serve` would run on `store`, which answers
/// with the stored verify token.
pub(crate) fn verifying_stub(connector: &Connector, store: Arc<dyn Store>) -> Arc<StubGraph> {
    let options = EndpointOptions {
        store: Some(store),
        ..EndpointOptions::new(
            Properties {
                sender_number: None,
            },
            None,
            None,
        )
    };
    let handshakes_only = Arc::new(Mutex::new(std::io::sink()));
    let endpoint = Endpoint::new(connector.clone(), options, handshakes_only, Arc::default());
    StubGraph::new(Some(stub_graph::in_process(Arc::new(endpoint))))
}

pub async fn serve(connector: Connector, args: ServeArgs) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr().context("no local address")?;
    let framing = ServeOptions {
        max_body: args.max_body,
        read_timeout: Duration::from_millis(args.read_timeout_ms),
        max_concurrency: args.max_concurrency,
        max_per_peer: args.max_per_peer,
        access_log: !args.no_access_log,
    };
    let app_secret = args.app_secret.map(Into::into);
    let sink: host_harness::endpoint::EventSink = Arc::new(Mutex::new(std::io::stdout()));
    if args.native_baseline {
        eprintln!("serve: listening on http://{address} (native baseline, {framing:?})");
        eprintln!("serve: --native-baseline: the component is not used (benchmark baseline)");
        let baseline = Arc::new(baseline::NativeEndpoint::new(
            app_secret
                .as_ref()
                .map(|s: &whatsapp_connector::secret::Secret<String>| s.expose().clone()),
            args.sender_number.clone(),
            sink,
            baseline::DEDUP_WINDOW,
        ));
        let shutdown = super::stop_signal();
        serve::serve(baseline.clone(), listener, framing, shutdown).await?;
        eprintln!("serve: stopped {}", baseline.stats_summary());
        return Ok(());
    }
    let store = args.store.open().await?;
    let options = EndpointOptions {
        store: Some(store.clone()),
        reuse_instances: args.reuse_instances,
        delivery: DeliveryOptions {
            schedule: args
                .retry_schedule
                .map_or_else(|| DeliveryOptions::default().schedule, |s| s.0),
            connect_timeout: Duration::from_millis(args.delivery_connect_timeout_ms),
            timeout: Duration::from_millis(args.delivery_timeout_ms),
            concurrency: usize::from(args.delivery_concurrency),
        },
        ..EndpointOptions::new(
            Properties {
                sender_number: args.sender_number,
            },
            app_secret,
            args.verify_token.map(Into::into),
        )
    };
    eprintln!("serve: listening on http://{address} ({options:?}, {framing:?})");
    if options.app_secret.is_none() {
        eprintln!(
            "serve: WARNING: --allow-unsigned: POSTs are accepted without X-Hub-Signature-256 \
             (unless their registration has an app secret). Anyone who finds this URL can \
             inject events, and a forged message carrying a genuine message's ID would make \
             the real one be dropped as a duplicate."
        );
    }
    let registrations = store.registrations().await?;
    if registrations.is_empty() {
        eprintln!(
            "serve: {} holds no registration: every path serves --sender-number's events to standard output until `enable` makes one",
            store.describe()
        );
    }
    for registered in &registrations {
        eprintln!(
            "serve: {} routes phone number {} ({} subscription(s))",
            registered.path(),
            registered.registration.phone_number_id,
            registered.subscriptions.len()
        );
    }
    let stats = Arc::new(Stats::default());
    let endpoint = Arc::new(Endpoint::new(connector, options, sink, stats.clone()));
    endpoint.start().await?;
    if let Some(admin) = args.admin_listen {
        let listener = tokio::net::TcpListener::bind(admin)
            .await
            .with_context(|| format!("cannot listen on {admin} (--admin-listen)"))?;
        let address = listener.local_addr().context("no local address")?;
        eprintln!("serve: admin on http://{address} (/healthz, /readyz, /metrics)");
        tokio::spawn(host_harness::admin::serve(endpoint.clone(), listener));
    }
    // SIGINT or SIGTERM (what an orchestrator sends): stop accepting, finish the
    // requests in flight, let the outboxes drain (up to serve::DRAIN_GRACE), exit 0.
    let shutdown = super::stop_signal();
    serve::serve(endpoint.clone(), listener, framing, shutdown).await?;
    let mut summary = stats.summary();
    if endpoint.options().reuse_instances > 0 {
        summary["instances_made"] = endpoint.instances_made().into();
    }
    eprintln!("serve: stopped {summary}");
    Ok(())
}
