//! The gateway's state, in one place that every `serve`, `enable` and `disable` shares:
//! the phone numbers' registrations and their subscriptions, the deduplication keys of
//! the events already accepted, and each subscription's *outbox* of events accepted but
//! not yet written to its sink.
//!
//! One trait, [`Store`], two implementations chosen by `--store`:
//!
//! - [`EmbeddedStore`] (a directory, the default): SQLite in WAL mode, so that `enable`
//!   can run beside a running `serve`; concurrent commits are grouped into one
//!   transaction and one fsync.
//! - [`RedisStore`] (`redis://…`): every instance on every machine shares the state;
//!   secrets are sealed with `WHATSAPP_STORE_KEY` before they reach Redis.
//!
//! Why an outbox rather than writing sinks before the 200: checking an event's
//! deduplication key, recording it, and keeping the event must be **one** atomic step,
//! or a crash between them loses the event (key recorded, event not written) or doubles
//! it (event written, key not recorded). A file or a workflow engine cannot take part in
//! a store's transaction; the store's own outbox can. So [`Store::commit`] records keys
//! and events together, Meta gets its 200 once that is durable, and the delivery workers
//! (`delivery/`) move each subscription's events to its sink, acknowledging as they go.

pub mod embedded;
pub mod redis;
mod seal;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use self::embedded::EmbeddedStore;
pub use self::redis::RedisStore;
pub use self::seal::Key;
use crate::registration::Registered;

/// How long an event's deduplication key is kept: Meta redelivers for up to 7 days, and
/// a day's margin covers clocks and slow retries.
pub const DEFAULT_DEDUP_TTL: Duration = Duration::from_secs(8 * 24 * 3600);

/// The embedded store's directory when `--store` is not given.
pub const DEFAULT_LOCATION: &str = "whatsapp-state";

/// The environment variable holding the key that seals secrets in a shared store: 32
/// bytes as 64 hex digits.
pub const STORE_KEY_VARIABLE: &str = "WHATSAPP_STORE_KEY";

/// An event to commit: its subscription's key ([`Registered::subscription_key`]), its
/// deduplication key and its JSON line (newline included).
#[derive(Debug, Clone)]
pub struct Pending {
    pub subscription: String,
    pub dedup_key: String,
    pub line: Vec<u8>,
    /// Instead of the subscription's outbox, the Redis stream it goes to (a Redis
    /// store only).
    pub stream: Option<StreamTarget>,
}

/// A Redis stream sink: its key and `MAXLEN ~`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTarget {
    pub key: String,
    pub max_len: u64,
}

/// One event in an outbox, or set aside for a later attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Its position, increasing within the outbox (opaque to the caller); an entry set
    /// aside is named by its event (`k:` and its deduplication key), since a position
    /// may be taken again by a later event once the outbox emptied.
    pub id: String,
    /// Its deduplication key (what its `webhook-id` is made from).
    pub dedup_key: String,
    #[serde(with = "line")]
    pub line: Vec<u8>,
    /// Attempts made so far (0 in the outbox).
    pub attempt: u32,
}

/// Event lines are JSON text: stored as a string in JSON records.
mod line {
    pub fn serialize<S: serde::Serializer>(line: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(line))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        <String as serde::Deserialize>::deserialize(d).map(String::into_bytes)
    }
}

/// An event whose last attempt failed: it waits for `redrive`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    pub entry: Entry,
    /// Why the last attempt failed.
    pub reason: String,
    /// Unix seconds.
    pub at: u64,
}

/// What a round of deliveries did, settled in one atomic step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// The outbox's entries up to this one (an [`Entry::id`]) were all attempted.
    pub through: Option<String>,
    /// Entries set aside earlier that are done with: delivered, or dead now.
    pub done: Vec<String>,
    /// Entries to attempt again at a time (Unix milliseconds); each carries the
    /// attempts made so far.
    pub later: Vec<(Entry, u64)>,
    pub dead: Vec<DeadLetter>,
}

/// How many of a subscription's events wait, and where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Depth {
    pub outbox: u64,
    pub retrying: u64,
    pub dead: u64,
}

/// A subscription's undelivered events, oldest first, and where its sink stood when the
/// last of the delivered ones was acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    /// The length of the sink's file after the last acknowledged write; `None` before the
    /// first (or for a sink that is not a file).
    pub offset: Option<u64>,
    pub entries: Vec<Entry>,
}

/// A read-modify-write of one phone number's registration: given what is kept (or
/// nothing), what to keep (or nothing). It may run more than once when another writer
/// got there first, so it must not have effects of its own.
pub type Change<'a> =
    &'a (dyn Fn(Option<Registered>) -> anyhow::Result<Option<Registered>> + Send + Sync);

/// Everything the gateway keeps. Every method is one atomic step of the store; an error
/// means nothing of it was done.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Where the store is, for logs: never a password.
    fn describe(&self) -> String;

    /// Succeeds when the store answers (readiness).
    async fn ping(&self) -> anyhow::Result<()>;

    /// Every registration, with its subscriptions.
    async fn registrations(&self) -> anyhow::Result<Vec<Registered>>;

    /// A number that changes whenever a registration or subscription does, so that a
    /// reader need not read them all again when it did not.
    async fn version(&self) -> anyhow::Result<u64>;

    /// Changes one phone number's registration atomically: two `enable`s at once both
    /// end up subscribed. Returns what is kept afterwards.
    async fn update(
        &self,
        phone_number_id: &str,
        change: Change<'_>,
    ) -> anyhow::Result<Option<Registered>>;

    /// For each event in order: when its subscription has not seen its deduplication key
    /// within the TTL, records the key and appends the event to the subscription's
    /// outbox (`true`); otherwise does nothing (`false`, a duplicate). All of it is one
    /// atomic step, durable when this returns.
    async fn commit(&self, events: Vec<Pending>) -> anyhow::Result<Vec<bool>>;

    /// Up to `limit` of a subscription's undelivered events.
    async fn outbox(&self, subscription: &str, limit: usize) -> anyhow::Result<Outbox>;

    /// The events up to `through` (an [`Entry::id`]; `None`: no event) are written, and
    /// the sink's file is now `offset` bytes long: they leave the outbox.
    async fn acknowledge(
        &self,
        subscription: &str,
        through: Option<&str>,
        offset: Option<u64>,
    ) -> anyhow::Result<()>;

    /// Up to `limit` events set aside whose next attempt is due at `now_ms` (Unix
    /// milliseconds) or before, the most overdue first.
    async fn due(
        &self,
        subscription: &str,
        now_ms: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<Entry>>;

    /// A round's work: the retries due (as [`Store::due`]) and the outbox's first events,
    /// `limit` in all. One step of the store where it can.
    async fn work(
        &self,
        subscription: &str,
        now_ms: u64,
        limit: usize,
    ) -> anyhow::Result<(Vec<Entry>, Vec<Entry>)> {
        let due = self.due(subscription, now_ms, limit).await?;
        let fresh = self.outbox(subscription, limit - due.len()).await?.entries;
        Ok((due, fresh))
    }

    /// Records a round of deliveries ([`Settlement`]) in one atomic step.
    async fn settle(&self, subscription: &str, settlement: Settlement) -> anyhow::Result<()>;

    /// The subscription's dead letters, oldest first.
    async fn dead_letters(&self, subscription: &str) -> anyhow::Result<Vec<DeadLetter>>;

    /// Gives dead letters (those with these [`Entry::id`]s; `None`: all) a new schedule
    /// starting now. How many were moved.
    async fn redrive(&self, subscription: &str, ids: Option<Vec<String>>) -> anyhow::Result<usize>;

    /// How many events wait in the outbox, for a retry, and dead.
    async fn depth(&self, subscription: &str) -> anyhow::Result<Depth>;

    /// Whether [`Pending::stream`] can be committed (a Redis store).
    fn has_streams(&self) -> bool {
        false
    }

    /// Takes or renews the right to deliver a subscription's events for `ttl`: only one
    /// holder at a time, and a holder that dies loses it when `ttl` runs out.
    async fn claim(&self, subscription: &str, holder: &str, ttl: Duration) -> anyhow::Result<bool>;
}

/// Opens the store `location` names: `redis://…` or `rediss://…`, or else a directory
/// for the embedded store (created, mode 0700).
pub async fn open(location: &str, dedup_ttl: Duration) -> anyhow::Result<Arc<dyn Store>> {
    if location.starts_with("redis://") || location.starts_with("rediss://") {
        let key = seal::Key::from_env()?;
        Ok(Arc::new(
            RedisStore::connect(location, dedup_ttl, key).await?,
        ))
    } else {
        let directory = std::path::PathBuf::from(location);
        let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&directory, dedup_ttl))
            .await??;
        Ok(Arc::new(store))
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
