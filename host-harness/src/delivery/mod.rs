//! Delivery: moves each subscription's events from the store's outbox to its sink, one
//! worker per subscription, after Meta already has its 200.
//!
//! - **One deliverer per subscription.** A worker delivers only while it holds the
//!   subscription's claim in the store ([`Store::claim`], renewed while it works,
//!   expiring after [`CLAIM_TTL`]): two instances sharing a store never deliver the same
//!   events at once, and a dead instance's subscriptions are taken over.
//! - **Files and standard output** ([`file`]): in order, exactly once into a file.
//! - **HTTP** ([`http`]): one signed POST per event, up to `concurrency` at once per
//!   subscription. A failed attempt sets the event aside in the store for its next
//!   attempt ([`retry`]); after the last one it is a dead letter, kept until `redrive`.
//!   A 410 stops the subscription and marks it. Events are first attempted in the order
//!   they were accepted; a retried event arrives after later ones (receivers order by
//!   the event's own timestamp, and recognise a retry by its `webhook-id`).
//! - **Isolation.** Each subscription has its own worker: a failing or hanging receiver
//!   delays only its own events, and Meta's answers never wait for any of them.

pub mod connections;
pub mod file;
pub mod http;
pub mod retry;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use tokio::sync::Notify;

use self::http::{Attempt, HttpSink};
use crate::endpoint::EventSink;
use crate::metrics::Stats;
use crate::registration::{Gone, HttpDelivery, Sink};
use crate::standard_webhooks::webhook_id;
use crate::store::{DeadLetter, Entry, Settlement, Store, now_ms, now_secs};

/// How long a claim lasts without renewal (renewed once half of it passed).
pub const CLAIM_TTL: Duration = Duration::from_secs(10);
/// Events written and acknowledged together at the most (files).
const BATCH: usize = 1000;
/// How long a file or standard-output worker waits after a round that emptied its
/// outbox before it looks again: the events of a busy gateway then go out in rounds of
/// many, each one read, one write and one acknowledgement, instead of a round per
/// webhook. (HTTP sinks do not wait: their receivers' latency is measured.)
const LOCAL_LINGER: Duration = Duration::from_millis(5);
/// Events attempted in one round of an HTTP sink at the most.
const HTTP_BATCH: usize = 256;
/// How often an idle worker looks at its store unasked (events committed by another
/// instance, retries coming due, a claim to take over).
const IDLE_POLL: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How HTTP deliveries are made and retried (`serve`'s flags).
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// The delays after each failed attempt; an event has `schedule.len() + 1` attempts.
    pub schedule: Vec<Duration>,
    pub connect_timeout: Duration,
    /// One attempt's whole time.
    pub timeout: Duration,
    /// Attempts in flight at once per subscription.
    pub concurrency: usize,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            schedule: retry::STANDARD_SCHEDULE.to_vec(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            concurrency: 16,
        }
    }
}

/// What a worker delivers to, as the registrations say now.
#[derive(Debug, Clone)]
pub struct Target {
    /// The phone number and subscription ID (to mark it gone); empty for the default
    /// subscription.
    pub phone: String,
    pub id: String,
    pub sink: Sink,
    pub http: Option<HttpDelivery>,
    pub gone: bool,
}

impl Target {
    /// `serve`'s standard output, for the default subscription.
    pub fn stdout() -> Self {
        Self {
            phone: String::new(),
            id: String::new(),
            sink: Sink::Stdout,
            http: None,
            gone: false,
        }
    }
}

struct Worker {
    wake: Notify,
    /// The subscription is gone: stop once its outbox is empty.
    retired: AtomicBool,
    target: Mutex<Target>,
}

/// The delivery workers of one process.
pub struct Deliveries {
    store: Arc<dyn Store>,
    /// This process's name in claims.
    holder: String,
    output: EventSink,
    options: DeliveryOptions,
    client: http::DeliveryClient,
    stats: Arc<Stats>,
    workers: Mutex<HashMap<String, Arc<Worker>>>,
    /// Draining: HTTP workers start no new round.
    stopping: AtomicBool,
    /// HTTP rounds under way.
    in_flight: AtomicUsize,
    /// Where the workers and their HTTP connections run: see [`DeliveryThread`].
    thread: DeliveryThread,
}

/// The thread every delivery of a process runs on, with a single-threaded runtime of
/// its own, apart from the runtime that answers Meta.
///
/// - **Meta's answers first.** A webhook's handler never shares a runtime thread, its
///   queue or its I/O driver with a delivery, so a burst of deliveries (a re-drive, a
///   receiver back after an outage) delays no 200.
/// - **Cheaper deliveries.** An attempt wakes its worker and its connection's task
///   several times; on one thread those wake-ups are a push onto a local queue, not a
///   hop between threads (the same reason the one-call subcommands use a current-thread
///   runtime).
///
/// One thread makes tens of thousands of attempts a second here (`delivery_bench`),
/// many times what a workflow engine takes. The runtime stops when this is dropped.
struct DeliveryThread {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl DeliveryThread {
    fn start() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("delivery".into())
            .spawn(move || {
                // Until the sender is dropped with the process's `Deliveries`.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }
}

/// What a round came to.
enum Round {
    /// Nothing to do (or another instance holds the claim).
    Idle,
    /// Events were delivered; `full`: as many as a round takes, so more may wait.
    Worked { full: bool },
    /// The receiver answered 410.
    Gone,
}

impl Deliveries {
    /// `output` is where `-` sinks write.
    pub fn new(
        store: Arc<dyn Store>,
        output: EventSink,
        options: DeliveryOptions,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Arc<Self>> {
        let client = http::client(
            options.connect_timeout,
            options.timeout,
            options.concurrency,
        )?;
        Ok(Arc::new(Self {
            store,
            holder: crate::registration::new_namespace(),
            output,
            options,
            client,
            stats,
            workers: Mutex::default(),
            stopping: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            thread: DeliveryThread::start().context("cannot start the delivery thread")?,
        }))
    }

    /// Makes sure a worker delivers `subscription`'s events to `target` (the
    /// registrations as just read), and wakes it.
    pub fn wake(self: &Arc<Self>, subscription: &str, target: &Target) {
        self.start(subscription, target, true);
    }

    /// Wakes `subscription`'s worker for new events (starting it with `target` if it has
    /// none), leaving what it knows of the subscription as it is: a worker that just met
    /// a 410 stays stopped, whatever the routes read before it say.
    pub fn nudge(self: &Arc<Self>, subscription: &str, target: &Target) {
        self.start(subscription, target, false);
    }

    fn start(self: &Arc<Self>, subscription: &str, target: &Target, current: bool) {
        if matches!(target.sink, Sink::Stream(_)) {
            // Written in the webhook's own commit: nothing to deliver.
            return;
        }
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(worker) = workers.get(subscription) {
            worker.retired.store(false, Ordering::Relaxed);
            if current {
                *worker.target.lock().unwrap_or_else(|p| p.into_inner()) = target.clone();
            }
            worker.wake.notify_one();
            return;
        }
        let worker = Arc::new(Worker {
            wake: Notify::new(),
            retired: AtomicBool::new(false),
            target: Mutex::new(target.clone()),
        });
        workers.insert(subscription.to_owned(), worker.clone());
        self.thread
            .handle
            .spawn(run(Arc::downgrade(self), subscription.to_owned(), worker));
    }

    /// Retires the workers of subscriptions not in `current` (each stops once its
    /// outbox is empty).
    pub fn retain(&self, current: &[String]) {
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        for (key, worker) in workers.iter() {
            if !current.contains(key) {
                worker.retired.store(true, Ordering::Relaxed);
                worker.wake.notify_one();
            }
        }
    }

    /// Stops starting HTTP attempts, and waits until the attempts under way finished
    /// and every file and standard-output outbox is empty, or `timeout` passed; whether
    /// all of it happened. Events not attempted stay in the store for the next start.
    pub async fn drain(&self, timeout: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let local: Vec<String> = {
                let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
                workers
                    .iter()
                    .filter(|(_, w)| {
                        w.target
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .sink
                            .is_local()
                    })
                    .map(|(key, _)| key.clone())
                    .collect()
            };
            let mut done = self.in_flight.load(Ordering::SeqCst) == 0;
            for key in &local {
                match self.store.outbox(key, 1).await {
                    Ok(outbox) if outbox.entries.is_empty() => {}
                    _ => done = false,
                }
            }
            if done {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// One round for a file or standard output: claim, read, write, acknowledge.
    async fn local_round(
        &self,
        subscription: &str,
        sink: &Sink,
        held: &mut Held,
    ) -> anyhow::Result<Round> {
        if !self.hold(subscription, held).await? {
            return Ok(Round::Idle);
        }
        let outbox = self.store.outbox(subscription, BATCH).await?;
        let Some(last) = outbox.entries.last() else {
            return Ok(Round::Idle);
        };
        let through = last.id.clone();
        let count = outbox.entries.len();
        let started = Instant::now();
        let offset = match sink {
            Sink::File(path) => {
                let start = match outbox.offset {
                    Some(offset) => offset,
                    None => {
                        // The first write to this file: where it starts is recorded
                        // first, so that a write cut short before its acknowledgement is
                        // later cut off, not taken for the file's earlier content.
                        let file = path.clone();
                        let length =
                            tokio::task::spawn_blocking(move || file::file_length(&file)).await??;
                        self.store
                            .acknowledge(subscription, None, Some(length))
                            .await?;
                        length
                    }
                };
                let path: PathBuf = path.clone();
                Some(
                    tokio::task::spawn_blocking(move || file::write_file(&path, start, &outbox))
                        .await??,
                )
            }
            _ => {
                let output = self.output.clone();
                tokio::task::spawn_blocking(move || file::write_shared(&output, &outbox)).await??;
                None
            }
        };
        self.store
            .acknowledge(subscription, Some(&through), offset)
            .await?;
        let seconds = started.elapsed().as_secs_f64() / count as f64;
        for _ in 0..count {
            self.stats.delivery("delivered", seconds);
        }
        Ok(Round::Worked {
            full: count == BATCH,
        })
    }

    /// One round for an HTTP sink: claim; take the outbox's first events and the
    /// retries due; attempt them, `concurrency` at a time, renewing the claim meanwhile;
    /// settle every outcome in one step.
    async fn http_round(
        &self,
        subscription: &str,
        target: &Target,
        sink: &HttpSink,
        held: &mut Held,
    ) -> anyhow::Result<Round> {
        if !self.hold(subscription, held).await? {
            return Ok(Round::Idle);
        }
        let (due, fresh) = self.store.work(subscription, now_ms(), HTTP_BATCH).await?;
        if fresh.is_empty() && due.is_empty() {
            return Ok(Round::Idle);
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let _in_flight = InFlight(&self.in_flight);
        let through = fresh.last().map(|e| e.id.clone());
        let work: Vec<(Entry, bool)> = fresh
            .into_iter()
            .map(|e| (e, false))
            .chain(due.into_iter().map(|e| (e, true)))
            .collect();
        let full = work.len() == HTTP_BATCH;
        let attempts: Vec<_> = work
            .iter()
            .map(|(entry, _)| {
                let id = webhook_id(subscription, &entry.dedup_key);
                let body = bytes::Bytes::copy_from_slice(
                    entry.line.strip_suffix(b"\n").unwrap_or(&entry.line),
                );
                async move {
                    let started = Instant::now();
                    let attempt = sink.attempt(&id, body).await;
                    (id, attempt, started.elapsed())
                }
            })
            .collect();
        let attempts = futures_util::stream::iter(attempts)
            .buffered(self.options.concurrency.max(1))
            .collect::<Vec<_>>();
        let results = self.renewing(subscription, held, attempts).await?;
        let now = now_ms();
        let mut settlement = Settlement {
            through,
            ..Settlement::default()
        };
        let mut gone = false;
        for ((entry, set_aside), (id, attempt, elapsed)) in work.into_iter().zip(results) {
            let seconds = elapsed.as_secs_f64();
            // Set aside under its event's own identity: an outbox position can be
            // taken again by a later event once the outbox was emptied (SQLite reuses
            // the highest rowid), so it cannot name an event for days.
            let entry = if set_aside {
                entry
            } else {
                Entry {
                    id: format!("k:{}", entry.dedup_key),
                    ..entry
                }
            };
            match attempt {
                Attempt::Delivered => {
                    self.stats.delivery("delivered", seconds);
                    if set_aside {
                        settlement.done.push(entry.id);
                    }
                }
                Attempt::Gone => {
                    // Kept as it is, for when `redrive` resumes the subscription.
                    self.stats.delivery("gone", seconds);
                    gone = true;
                    settlement.later.push((entry, now));
                }
                Attempt::Failed {
                    status,
                    reason,
                    retry_after,
                } => {
                    let made = entry.attempt + 1;
                    let entry = Entry {
                        attempt: made,
                        ..entry
                    };
                    match retry::next_attempt(&self.options.schedule, made, retry_after) {
                        Some(delay) => {
                            self.stats.delivery("failed", seconds);
                            tracing::warn!(
                                subscription,
                                webhook_id = %id,
                                attempt = made,
                                status,
                                error = %reason,
                                next_attempt_in_ms = delay.as_millis() as u64,
                                "delivery attempt failed"
                            );
                            settlement
                                .later
                                .push((entry, now + delay.as_millis() as u64));
                        }
                        None => {
                            self.stats.delivery("dead", seconds);
                            tracing::warn!(
                                subscription,
                                webhook_id = %id,
                                attempt = made,
                                status,
                                error = %reason,
                                "delivery attempt failed: the last one, the event is a dead letter"
                            );
                            if set_aside {
                                settlement.done.push(entry.id.clone());
                            }
                            settlement.dead.push(DeadLetter {
                                entry,
                                reason,
                                at: now_secs(),
                            });
                        }
                    }
                }
            }
        }
        self.store.settle(subscription, settlement).await?;
        if gone {
            self.mark_gone(subscription, target).await?;
            return Ok(Round::Gone);
        }
        Ok(Round::Worked { full })
    }

    /// Runs `work` while renewing the claim; fails (dropping the work) if the claim is
    /// lost, so that two instances never go on delivering one subscription.
    async fn renewing<T>(
        &self,
        subscription: &str,
        held: &mut Held,
        work: impl std::future::Future<Output = T>,
    ) -> anyhow::Result<T> {
        tokio::pin!(work);
        let period = CLAIM_TTL / 4;
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                done = &mut work => return Ok(done),
                _ = renew.tick() => {
                    if !self.hold(subscription, held).await? {
                        anyhow::bail!("another instance took over the subscription's claim");
                    }
                }
            }
        }
    }

    /// Whether this worker holds the subscription's claim. It is renewed in the store
    /// only once half its time has passed, so most rounds cost no write for it; the
    /// time kept here starts before the store granted it, so it never outlasts the
    /// store's own.
    async fn hold(&self, subscription: &str, held: &mut Held) -> anyhow::Result<bool> {
        let now = Instant::now();
        if held.until.is_some_and(|until| until > now + CLAIM_TTL / 2) {
            return Ok(true);
        }
        let granted = self
            .store
            .claim(subscription, &self.holder, CLAIM_TTL)
            .await?;
        held.until = granted.then_some(now + CLAIM_TTL);
        Ok(granted)
    }

    /// Marks the subscription gone in the store (the listing shows it; `redrive`
    /// clears it).
    async fn mark_gone(&self, subscription: &str, target: &Target) -> anyhow::Result<()> {
        tracing::warn!(
            subscription,
            "delivery: the receiver answered 410 Gone: this subscription's deliveries stop until `redrive` resumes them"
        );
        let since = now_secs();
        self.store
            .update(&target.phone, &|current| {
                Ok(current.map(|mut registered| {
                    if let Some(s) = registered.subscription_mut(&target.id)
                        && s.gone.is_none()
                    {
                        s.gone = Some(Gone {
                            since,
                            reason: "the receiver answered 410 Gone".into(),
                        });
                    }
                    registered
                }))
            })
            .await?;
        Ok(())
    }
}

/// A worker's claim as it knows it.
#[derive(Default)]
struct Held {
    until: Option<Instant>,
}

/// Counts an HTTP round as under way while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A worker's loop. It holds its `Deliveries` only during a round: once the endpoint
/// that made them is gone, the worker ends, and with the last one the delivery thread.
async fn run(deliveries: Weak<Deliveries>, subscription: String, worker: Arc<Worker>) {
    let mut failing: Option<String> = None;
    let mut backoff = Duration::from_millis(50);
    // The HTTP sink made from the target's secrets, kept while they do not change.
    let mut http: Option<(String, Option<HttpDelivery>, Arc<HttpSink>)> = None;
    let mut held = Held::default();
    loop {
        let Some(deliveries) = deliveries.upgrade() else {
            return;
        };
        let target = worker
            .target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let round = match &target.sink {
            _ if target.gone => Ok(Round::Idle),
            Sink::Stream(_) => Ok(Round::Idle),
            Sink::Http(_) if deliveries.stopping.load(Ordering::SeqCst) => return,
            Sink::Http(url) => {
                match sink_for(&mut http, url, target.http.as_ref(), &deliveries.client) {
                    Ok(sink) => {
                        deliveries
                            .http_round(&subscription, &target, &sink, &mut held)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            local => {
                deliveries
                    .local_round(&subscription, local, &mut held)
                    .await
            }
        };
        let stopping = deliveries.stopping.load(Ordering::SeqCst);
        if matches!(round, Ok(Round::Idle)) && worker.retired.load(Ordering::Relaxed) {
            let mut workers = deliveries.workers.lock().unwrap_or_else(|p| p.into_inner());
            if worker.retired.load(Ordering::Relaxed) {
                workers.remove(&subscription);
                return;
            }
        }
        drop(deliveries);
        match round {
            Ok(Round::Worked { full }) => {
                if failing.take().is_some() {
                    tracing::info!(subscription, "delivery: delivering again");
                }
                backoff = Duration::from_millis(50);
                if !full && target.sink.is_local() && !stopping {
                    tokio::time::sleep(LOCAL_LINGER).await;
                }
            }
            Ok(Round::Gone) => {
                worker.target.lock().unwrap_or_else(|p| p.into_inner()).gone = true;
            }
            Ok(Round::Idle) => {
                tokio::select! {
                    () = worker.wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            Err(e) => {
                let reason = format!("{e:#}");
                if failing.as_ref() != Some(&reason) {
                    tracing::warn!(
                        subscription,
                        error = %reason,
                        "delivery: the events stay in the store and are retried"
                    );
                    failing = Some(reason);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The HTTP sink for `url` and these secrets, made again only when they changed.
fn sink_for(
    kept: &mut Option<(String, Option<HttpDelivery>, Arc<HttpSink>)>,
    url: &str,
    delivery: Option<&HttpDelivery>,
    client: &http::DeliveryClient,
) -> anyhow::Result<Arc<HttpSink>> {
    if let Some((u, d, sink)) = kept
        && u == url
        && d.as_ref() == delivery
    {
        return Ok(sink.clone());
    }
    let delivery = delivery.ok_or_else(|| {
        anyhow::anyhow!("the subscription has no signing secret: enable it again")
    })?;
    let sink = Arc::new(HttpSink::new(url, delivery, client)?);
    *kept = Some((url.to_owned(), Some(delivery.clone()), sink.clone()));
    Ok(sink)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::store::{DEFAULT_DEDUP_TTL, EmbeddedStore, Pending};

    fn event(key: &str) -> Pending {
        Pending {
            subscription: "s".into(),
            dedup_key: key.into(),
            line: format!("{{\"key\":\"{key}\"}}\n").into_bytes(),
            stream: None,
        }
    }

    fn delivered(file: &Path) -> String {
        std::fs::read_to_string(file).unwrap_or_default()
    }

    /// Deliveries have a thread of their own: they go on while every thread of the
    /// runtime that answers Meta is busy (here its only one, blocked outright), and they
    /// end with the `Deliveries` that started them.
    #[tokio::test(flavor = "current_thread")]
    async fn deliveries_go_on_while_the_webhook_runtime_is_blocked_and_end_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(EmbeddedStore::open(&dir.path().join("store"), DEFAULT_DEDUP_TTL).unwrap());
        let file = dir.path().join("events");
        let target = Target {
            sink: Sink::File(file.clone()),
            ..Target::stdout()
        };
        store.commit(vec![event("first")]).await.unwrap();
        let output: EventSink = Arc::new(Mutex::new(std::io::sink()));
        let deliveries = Deliveries::new(
            store.clone(),
            output,
            DeliveryOptions::default(),
            Arc::default(),
        )
        .unwrap();
        deliveries.wake("s", &target);

        // Never yields: a worker on this runtime could not run until it is over.
        let deadline = Instant::now() + Duration::from_secs(10);
        while delivered(&file).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(delivered(&file), "{\"key\":\"first\"}\n");

        // Gone with its `Deliveries`: an event committed afterwards stays in the outbox,
        // though a live worker looks every IDLE_POLL.
        drop(deliveries);
        store.commit(vec![event("second")]).await.unwrap();
        tokio::time::sleep(IDLE_POLL * 4).await;
        assert_eq!(delivered(&file), "{\"key\":\"first\"}\n");
        assert_eq!(store.outbox("s", 10).await.unwrap().entries.len(), 1);
    }
}
