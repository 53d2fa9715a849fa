//! The embedded store: SQLite (through `rusqlite`, bundled) in a directory of its own.
//!
//! - **Crash-safe:** WAL journal, `synchronous = FULL`: a commit that returned is on disk.
//! - **Private:** the directory is made 0700 and the database 0600 (SQLite gives its
//!   `-wal` and `-shm` files the database's mode).
//! - **Shared by processes on one machine:** `enable` runs beside a running `serve`;
//!   SQLite's locks order their writes (each waits up to [`BUSY_TIMEOUT`]).
//! - **Group commit:** one writer thread owns the connection. Jobs that arrive while a
//!   transaction commits are run together in the next one, each inside its own savepoint
//!   (a failing job rolls back alone), so N concurrent webhooks cost one fsync, not N.
//! - **An fsync only where someone waits on the disk:** a transaction with events (Meta's
//!   200 waits on it) or with a change of registrations is synced before it returns. One
//!   holding only the delivery workers' bookkeeping (acknowledgements, settlements,
//!   claims) is not ([`Durability::Deferred`]): losing it to a power cut only repeats a
//!   delivery, and the next synced commit makes it durable too, since SQLite's log keeps
//!   transactions in order.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension as _, params};

use super::{
    Change, DeadLetter, Depth, Entry, Outbox, Pending, Settlement, Store, now_ms as now_ms_u64,
    now_secs,
};
use crate::registration::Registered;

/// How long a write waits for another process's transaction.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Jobs run in one transaction at the most.
const MAX_GROUP: usize = 512;
/// Deduplication keys looked at (oldest first) by a purge, at most once a second: more
/// than a gateway accepts in a second, so expired keys never pile up.
const PURGE_BATCH: i64 = 20_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS registrations (phone TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dedup (key TEXT PRIMARY KEY, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    subscription TEXT NOT NULL,
    line BLOB NOT NULL,
    dedup_key TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS retries (
    subscription TEXT NOT NULL,
    id TEXT NOT NULL,
    record TEXT NOT NULL,
    due_ms INTEGER NOT NULL,
    PRIMARY KEY (subscription, id)
);
CREATE INDEX IF NOT EXISTS retries_by_due ON retries (subscription, due_ms);
CREATE TABLE IF NOT EXISTS dead_letters (
    subscription TEXT NOT NULL,
    id TEXT NOT NULL,
    record TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (subscription, id)
);
CREATE INDEX IF NOT EXISTS outbox_by_subscription ON outbox (subscription, seq);
CREATE TABLE IF NOT EXISTS cursors (subscription TEXT PRIMARY KEY, file_offset INTEGER);
CREATE TABLE IF NOT EXISTS claims (
    subscription TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
";

/// Runs on the writer thread inside its savepoint (`None`: the transaction could not
/// start), and gives what to do once the transaction's fate is known.
type Work = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Whether a job's transaction is on disk when the job is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Synced before the answer (`synchronous = FULL`): events, registrations, and
    /// anything an operator's command reports as done.
    Synced,
    /// In SQLite's log, synced by the next commit that is (`synchronous = NORMAL`): the
    /// delivery workers' bookkeeping, which a power cut may only roll back to an earlier
    /// state (an event delivered again, a claim taken again once it expired).
    Deferred,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Synced => "PRAGMA synchronous = FULL",
            Durability::Deferred => "PRAGMA synchronous = NORMAL",
        }
    }
}

struct Job {
    durability: Durability,
    work: Work,
}

/// SQLite in a directory; see the module's documentation.
pub struct EmbeddedStore {
    directory: PathBuf,
    jobs: mpsc::Sender<Job>,
    dedup_ttl: Duration,
    last_purge: AtomicU64,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EmbeddedStore({})", self.directory.display())
    }
}

impl EmbeddedStore {
    /// Opens (creating) the store in `directory`. Blocking.
    pub fn open(directory: &Path, dedup_ttl: Duration) -> anyhow::Result<Self> {
        create_private_dir(directory)?;
        let database = directory.join("state.sqlite3");
        // Created 0600 before SQLite opens it (its -wal and -shm take this mode).
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&database).with_context(|| {
            format!(
                "cannot create the store's database in {}",
                directory.display()
            )
        })?;
        let connection = Connection::open(&database)
            .with_context(|| format!("cannot open the store in {}", directory.display()))?;
        Self::start(connection, directory.to_owned(), dedup_ttl)
            .with_context(|| format!("cannot set up the store in {}", directory.display()))
    }

    /// A store in memory, kept only by this process: for the demo, tests and the
    /// benchmark (the same SQL, no file).
    pub fn in_memory(dedup_ttl: Duration) -> anyhow::Result<Self> {
        Self::start(
            Connection::open_in_memory()?,
            PathBuf::from(":memory:"),
            dedup_ttl,
        )
    }

    fn start(
        connection: Connection,
        directory: PathBuf,
        dedup_ttl: Duration,
    ) -> anyhow::Result<Self> {
        configure(&connection)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer(connection, queue))?;
        Ok(Self {
            directory,
            jobs,
            dedup_ttl,
            last_purge: AtomicU64::new(0),
        })
    }

    /// Runs `work` on the writer thread in a transaction (grouped with others); its
    /// result once that transaction committed and is on disk.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.run_with(Durability::Synced, work).await
    }

    /// [`Self::run`] for the delivery workers' bookkeeping: answered once committed,
    /// synced with the next transaction that needs it.
    async fn run_deferred<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.run_with(Durability::Deferred, work).await
    }

    async fn run_with<T: Send + 'static>(
        &self,
        durability: Durability,
        work: impl FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let work: Work = Box::new(move |connection| {
            let result = match connection {
                Some(connection) => in_savepoint(connection, work),
                None => Err(anyhow::anyhow!("no transaction")),
            };
            Box::new(move |committed| {
                let _ = answer.send(match committed {
                    Ok(()) => result,
                    Err(e) => Err(anyhow::anyhow!("the store could not commit: {e}")),
                });
            })
        });
        self.jobs
            .send(Job { durability, work })
            .ok()
            .context("the store's writer stopped")?;
        answered.await.context("the store's writer stopped")?
    }
}

/// Sets up a connection for the writer: its settings, then the schema.
fn configure(connection: &Connection) -> anyhow::Result<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // The query planner stability guarantee: a plan never depends on a bound value.
    // Without it (the bundled SQLite has STAT4), binding a statement's `LIMIT ?`
    // expires it, and every outbox read was parsed and planned again: 40% of the
    // writer thread's time when it only served the delivery workers' rounds.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .context("cannot switch the store to WAL")?;
    execute(connection, Durability::Synced.pragma())?;
    // A larger page cache, and checkpoints every 4,000 pages (16 MB of log) rather
    // than every 1,000: fewer copies of hot pages back into the database.
    connection.pragma_update(None, "cache_size", -16_000)?;
    connection.pragma_update(None, "wal_autocheckpoint", 4_000)?;
    connection.execute_batch(SCHEMA)?;
    // A store made before events carried their deduplication key in the outbox.
    let keyed: i64 = connection.query_row(
        "SELECT count(*) FROM pragma_table_info('outbox') WHERE name = 'dedup_key'",
        [],
        |r| r.get(0),
    )?;
    if keyed == 0 {
        connection
            .execute_batch("ALTER TABLE outbox ADD COLUMN dedup_key TEXT NOT NULL DEFAULT ''")?;
    }
    Ok(())
}

fn create_private_dir(directory: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(directory).with_context(|| {
        format!(
            "cannot create the store's directory {}",
            directory.display()
        )
    })?;
    let meta = std::fs::metadata(directory)?;
    if !meta.is_dir() {
        anyhow::bail!("{} is not a directory", directory.display());
    }
    Ok(())
}

/// Runs one statement without parameters, prepared once per connection.
fn execute(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn in_savepoint<T>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    execute(connection, "SAVEPOINT job")?;
    let result = work(connection);
    if result.is_err() {
        execute(connection, "ROLLBACK TO job")?;
    }
    execute(connection, "RELEASE job")?;
    result
}

/// The writer thread: takes every job waiting, runs them in one transaction, commits
/// once (synced if any job needs it), then tells each.
fn writer(connection: Connection, queue: mpsc::Receiver<Job>) {
    let mut current = Durability::Synced;
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP
            && let Ok(job) = queue.try_recv()
        {
            group.push(job);
        }
        let durability = if group.iter().any(|job| job.durability == Durability::Synced) {
            Durability::Synced
        } else {
            Durability::Deferred
        };
        match set_durability(&connection, &mut current, durability)
            .and_then(|()| execute(&connection, "BEGIN IMMEDIATE"))
        {
            Ok(()) => {
                let finishes: Vec<Finish> = group
                    .into_iter()
                    .map(|job| (job.work)(Some(&connection)))
                    .collect();
                let committed = execute(&connection, "COMMIT").map_err(|e| e.to_string());
                if committed.is_err() {
                    let _ = execute(&connection, "ROLLBACK");
                }
                for finish in finishes {
                    finish(committed.clone());
                }
            }
            Err(e) => {
                let reason = format!("cannot start a transaction: {e}");
                for job in group {
                    (job.work)(None)(Err(reason.clone()));
                }
            }
        }
    }
}

/// Sets `synchronous` for the next transaction, between transactions. Failing to relax
/// it only costs an fsync; failing to restore it is an error, so that a transaction that
/// needs the disk never commits unsynced.
fn set_durability(
    connection: &Connection,
    current: &mut Durability,
    wanted: Durability,
) -> rusqlite::Result<()> {
    if *current == wanted {
        return Ok(());
    }
    match execute(connection, wanted.pragma()) {
        Ok(()) => {
            *current = wanted;
            Ok(())
        }
        Err(_) if wanted == Durability::Deferred => Ok(()),
        Err(e) => Err(e),
    }
}

const OUTBOX_SQL: &str =
    "SELECT seq, line, dedup_key FROM outbox WHERE subscription = ?1 ORDER BY seq LIMIT ?2";
const DUE_SQL: &str = "SELECT record FROM retries WHERE subscription = ?1 AND due_ms <= ?2
     ORDER BY due_ms LIMIT ?3";

/// Up to `limit` of a subscription's outbox entries, oldest first.
fn outbox_entries(c: &Connection, subscription: &str, limit: usize) -> anyhow::Result<Vec<Entry>> {
    let mut statement = c.prepare_cached(OUTBOX_SQL)?;
    let entries = statement
        .query_map(params![subscription, limit as i64], |r| {
            Ok(Entry {
                id: r.get::<_, i64>(0)?.to_string(),
                line: r.get(1)?,
                dedup_key: r.get(2)?,
                attempt: 0,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(entries)
}

/// The records of up to `limit` events set aside and due at `now_ms`, most overdue first.
fn due_records(
    c: &Connection,
    subscription: &str,
    now_ms: u64,
    limit: usize,
) -> anyhow::Result<Vec<String>> {
    let mut statement = c.prepare_cached(DUE_SQL)?;
    let rows = statement.query_map(params![subscription, now_ms as i64, limit as i64], |r| {
        r.get(0)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn parse_records(records: &[String]) -> anyhow::Result<Vec<Entry>> {
    records
        .iter()
        .map(|r| serde_json::from_str(r).context("an event set aside is damaged"))
        .collect()
}

fn bump_version(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO meta (name, value) VALUES ('version', 1)
         ON CONFLICT (name) DO UPDATE SET value = value + 1",
        [],
    )?;
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl Store for EmbeddedStore {
    fn describe(&self) -> String {
        format!("embedded store in {}", self.directory.display())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        self.run(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn registrations(&self) -> anyhow::Result<Vec<Registered>> {
        let records: Vec<String> = self
            .run(|c| {
                let mut statement = c.prepare("SELECT record FROM registrations ORDER BY phone")?;
                let rows = statement.query_map([], |row| row.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        records
            .iter()
            .map(|r| serde_json::from_str(r).context("a stored registration is damaged"))
            .collect()
    }

    async fn version(&self) -> anyhow::Result<u64> {
        self.run(|c| {
            let value: Option<i64> = c
                .query_row("SELECT value FROM meta WHERE name = 'version'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(value.unwrap_or(0) as u64)
        })
        .await
    }

    async fn update(
        &self,
        phone_number_id: &str,
        change: Change<'_>,
    ) -> anyhow::Result<Option<Registered>> {
        // Read, change here, then write only if nobody wrote in between (the change is
        // the caller's code, so it does not run on the writer thread).
        loop {
            let phone = phone_number_id.to_owned();
            let raw: Option<String> = self
                .run(move |c| {
                    Ok(c.query_row(
                        "SELECT record FROM registrations WHERE phone = ?1",
                        [phone],
                        |r| r.get(0),
                    )
                    .optional()?)
                })
                .await?;
            let current = raw
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .context("the stored registration is damaged")?;
            let next = change(current)?;
            let record = next.as_ref().map(serde_json::to_string).transpose()?;
            let phone = phone_number_id.to_owned();
            let swapped = self
                .run(move |c| {
                    let now: Option<String> = c
                        .query_row(
                            "SELECT record FROM registrations WHERE phone = ?1",
                            [&phone],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if now != raw {
                        return Ok(false);
                    }
                    match record {
                        Some(record) => c.execute(
                            "INSERT INTO registrations (phone, record) VALUES (?1, ?2)
                             ON CONFLICT (phone) DO UPDATE SET record = excluded.record",
                            params![phone, record],
                        )?,
                        None => c.execute("DELETE FROM registrations WHERE phone = ?1", [phone])?,
                    };
                    bump_version(c)?;
                    Ok(true)
                })
                .await?;
            if swapped {
                return Ok(next);
            }
        }
    }

    async fn commit(&self, events: Vec<Pending>) -> anyhow::Result<Vec<bool>> {
        let now = now_secs() as i64;
        let expires = now + self.dedup_ttl.as_secs() as i64;
        let purge = now as u64 > self.last_purge.load(Ordering::Relaxed);
        if purge {
            self.last_purge.store(now as u64, Ordering::Relaxed);
        }
        self.run(move |c| {
            if purge {
                // Rows are appended in time order, so the oldest rowids are the first to
                // expire: the oldest row says whether anything has (one row read, no
                // index on the expiry to keep up), then up to a batch of them goes.
                let oldest: Option<i64> = c
                    .prepare_cached("SELECT expires FROM dedup ORDER BY rowid LIMIT 1")?
                    .query_row([], |r| r.get(0))
                    .optional()?;
                if oldest.is_some_and(|expires| expires <= now) {
                    c.prepare_cached(
                        "DELETE FROM dedup WHERE rowid IN
                         (SELECT rowid FROM dedup ORDER BY rowid LIMIT ?2) AND expires <= ?1",
                    )?
                    .execute(params![now, PURGE_BATCH])?;
                }
            }
            let mut remember = c.prepare_cached(
                "INSERT INTO dedup (key, expires) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET expires = excluded.expires
                 WHERE dedup.expires <= ?3",
            )?;
            let mut keep = c.prepare_cached(
                "INSERT INTO outbox (subscription, line, dedup_key) VALUES (?1, ?2, ?3)",
            )?;
            let mut fresh = Vec::with_capacity(events.len());
            for event in events {
                if event.stream.is_some() {
                    anyhow::bail!("a Redis stream sink needs a Redis store");
                }
                let key = format!("{}\n{}", event.subscription, event.dedup_key);
                let new = remember.execute(params![key, expires, now])? == 1;
                if new {
                    keep.execute(params![event.subscription, event.line, event.dedup_key])?;
                }
                fresh.push(new);
            }
            Ok(fresh)
        })
        .await
    }

    async fn outbox(&self, subscription: &str, limit: usize) -> anyhow::Result<Outbox> {
        let subscription = subscription.to_owned();
        self.run(move |c| {
            let offset: Option<Option<i64>> = c
                .prepare_cached("SELECT file_offset FROM cursors WHERE subscription = ?1")?
                .query_row([&subscription], |r| r.get(0))
                .optional()?;
            let entries = outbox_entries(c, &subscription, limit)?;
            Ok(Outbox {
                offset: offset.flatten().map(|o| o as u64),
                entries,
            })
        })
        .await
    }

    async fn acknowledge(
        &self,
        subscription: &str,
        through: Option<&str>,
        offset: Option<u64>,
    ) -> anyhow::Result<()> {
        let subscription = subscription.to_owned();
        let through: Option<i64> = through
            .map(str::parse)
            .transpose()
            .context("not an outbox position")?;
        self.run_deferred(move |c| {
            // Cached statements: a round acknowledges many times a second.
            if let Some(through) = through {
                c.prepare_cached("DELETE FROM outbox WHERE subscription = ?1 AND seq <= ?2")?
                    .execute(params![subscription, through])?;
            }
            c.prepare_cached(
                "INSERT INTO cursors (subscription, file_offset) VALUES (?1, ?2)
                 ON CONFLICT (subscription) DO UPDATE SET file_offset = excluded.file_offset",
            )?
            .execute(params![subscription, offset.map(|o| o as i64)])?;
            Ok(())
        })
        .await
    }

    async fn due(
        &self,
        subscription: &str,
        now_ms: u64,
        limit: usize,
    ) -> anyhow::Result<Vec<Entry>> {
        let subscription = subscription.to_owned();
        let records = self
            .run(move |c| due_records(c, &subscription, now_ms, limit))
            .await?;
        parse_records(&records)
    }

    async fn work(
        &self,
        subscription: &str,
        now_ms: u64,
        limit: usize,
    ) -> anyhow::Result<(Vec<Entry>, Vec<Entry>)> {
        // One job on the writer thread instead of two.
        let subscription = subscription.to_owned();
        let (records, fresh) = self
            .run(move |c| {
                let records = due_records(c, &subscription, now_ms, limit)?;
                let fresh = outbox_entries(c, &subscription, limit - records.len())?;
                Ok((records, fresh))
            })
            .await?;
        Ok((parse_records(&records)?, fresh))
    }

    async fn settle(&self, subscription: &str, settlement: Settlement) -> anyhow::Result<()> {
        let subscription = subscription.to_owned();
        let through: Option<i64> = settlement
            .through
            .as_deref()
            .map(str::parse)
            .transpose()
            .context("not an outbox position")?;
        let later = settlement
            .later
            .iter()
            .map(|(entry, due)| Ok((entry.id.clone(), serde_json::to_string(entry)?, *due as i64)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let dead = settlement
            .dead
            .iter()
            .map(|letter| {
                Ok((
                    letter.entry.id.clone(),
                    serde_json::to_string(letter)?,
                    letter.at as i64,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let done = settlement.done;
        self.run_deferred(move |c| {
            if let Some(through) = through {
                c.prepare_cached("DELETE FROM outbox WHERE subscription = ?1 AND seq <= ?2")?
                    .execute(params![subscription, through])?;
            }
            let mut forget =
                c.prepare_cached("DELETE FROM retries WHERE subscription = ?1 AND id = ?2")?;
            for id in done {
                forget.execute(params![subscription, id])?;
            }
            let mut set_aside = c.prepare_cached(
                "INSERT INTO retries (subscription, id, record, due_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (subscription, id) DO UPDATE
                 SET record = excluded.record, due_ms = excluded.due_ms",
            )?;
            for (id, record, due) in later {
                set_aside.execute(params![subscription, id, record, due])?;
            }
            let mut bury = c.prepare_cached(
                "INSERT INTO dead_letters (subscription, id, record, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (subscription, id) DO UPDATE SET record = excluded.record, at = excluded.at",
            )?;
            for (id, record, at) in dead {
                bury.execute(params![subscription, id, record, at])?;
            }
            Ok(())
        })
        .await
    }

    async fn dead_letters(&self, subscription: &str) -> anyhow::Result<Vec<DeadLetter>> {
        let subscription = subscription.to_owned();
        let records: Vec<String> = self
            .run(move |c| {
                let mut statement = c.prepare_cached(
                    "SELECT record FROM dead_letters WHERE subscription = ?1 ORDER BY at, rowid",
                )?;
                let rows = statement.query_map([subscription], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await?;
        records
            .iter()
            .map(|r| serde_json::from_str(r).context("a dead letter is damaged"))
            .collect()
    }

    async fn redrive(&self, subscription: &str, ids: Option<Vec<String>>) -> anyhow::Result<usize> {
        let letters = self.dead_letters(subscription).await?;
        let subscription = subscription.to_owned();
        let now = now_ms_u64() as i64;
        let moved: Vec<(String, String)> = letters
            .into_iter()
            .filter(|l| ids.as_ref().is_none_or(|ids| ids.contains(&l.entry.id)))
            .map(|l| {
                let entry = Entry {
                    attempt: 0,
                    ..l.entry
                };
                Ok((entry.id.clone(), serde_json::to_string(&entry)?))
            })
            .collect::<anyhow::Result<_>>()?;
        self.run(move |c| {
            let mut count = 0;
            for (id, record) in moved {
                // Only a letter still dead moves (another redrive may have been first).
                if c.execute(
                    "DELETE FROM dead_letters WHERE subscription = ?1 AND id = ?2",
                    params![subscription, id],
                )? == 1
                {
                    c.execute(
                        "INSERT OR REPLACE INTO retries (subscription, id, record, due_ms)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![subscription, id, record, now],
                    )?;
                    count += 1;
                }
            }
            Ok(count)
        })
        .await
    }

    async fn depth(&self, subscription: &str) -> anyhow::Result<Depth> {
        let subscription = subscription.to_owned();
        self.run(move |c| {
            let count = |sql: &str| -> rusqlite::Result<u64> {
                c.prepare_cached(sql)?
                    .query_row([&subscription], |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
            };
            Ok(Depth {
                outbox: count("SELECT count(*) FROM outbox WHERE subscription = ?1")?,
                retrying: count("SELECT count(*) FROM retries WHERE subscription = ?1")?,
                dead: count("SELECT count(*) FROM dead_letters WHERE subscription = ?1")?,
            })
        })
        .await
    }

    async fn claim(&self, subscription: &str, holder: &str, ttl: Duration) -> anyhow::Result<bool> {
        let (subscription, holder) = (subscription.to_owned(), holder.to_owned());
        let now = now_ms();
        let expires = now + ttl.as_millis() as i64;
        self.run_deferred(move |c| {
            let changed = c
                .prepare_cached(
                    "INSERT INTO claims (subscription, holder, expires_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (subscription) DO UPDATE
                     SET holder = excluded.holder, expires_ms = excluded.expires_ms
                     WHERE claims.holder = excluded.holder OR claims.expires_ms <= ?4",
                )?
                .execute(params![subscription, holder, expires, now])?;
            Ok(changed == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;
    use crate::registration::{Registration, TriggerSpec};

    fn pending(subscription: &str, key: &str) -> Pending {
        Pending {
            subscription: subscription.into(),
            dedup_key: key.into(),
            line: format!("{{\"k\":\"{key}\"}}\n").into_bytes(),
            stream: None,
        }
    }

    fn registration() -> Registered {
        Registered::new(Registration {
            phone_number_id: "1065".into(),
            callback_url: "https://gw.example.com/whatsapp/1065".into(),
            verify_token: "TOKEN".into(),
            created_at: 1,
        })
    }

    #[test]
    fn reading_the_outbox_never_prepares_its_statements_again() {
        let c = Connection::open_in_memory().unwrap();
        configure(&c).unwrap();
        c.execute(
            "INSERT INTO outbox (subscription, line, dedup_key) VALUES ('s', x'0a', 'k')",
            [],
        )
        .unwrap();
        // A worker's rounds ask for different numbers of events.
        for limit in 1..=4 {
            assert_eq!(outbox_entries(&c, "s", limit).unwrap().len(), 1);
            assert!(due_records(&c, "s", 0, limit).unwrap().is_empty());
        }
        for sql in [OUTBOX_SQL, DUE_SQL] {
            let statement = c.prepare_cached(sql).unwrap();
            assert_eq!(statement.get_status(StatementStatus::RePrepare), 0, "{sql}");
        }
    }

    #[tokio::test]
    async fn deferred_jobs_commit_without_a_sync_and_the_others_with_one() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            EmbeddedStore::open(&dir.path().join("state"), Duration::from_secs(60)).unwrap();
        let level =
            |c: &Connection| Ok(c.pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))?);
        assert_eq!(store.run_deferred(level).await.unwrap(), 1, "NORMAL");
        assert_eq!(store.run(level).await.unwrap(), 2, "FULL");
        assert_eq!(store.run_deferred(level).await.unwrap(), 1, "NORMAL");
        assert_eq!(store.run(level).await.unwrap(), 2, "FULL");
    }

    #[tokio::test]
    async fn keys_events_and_acknowledgements_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        {
            let store = EmbeddedStore::open(&path, Duration::from_secs(60)).unwrap();
            let fresh = store
                .commit(vec![
                    pending("s", "a"),
                    pending("s", "b"),
                    pending("s", "a"),
                    pending("t", "a"),
                ])
                .await
                .unwrap();
            assert_eq!(
                fresh,
                [true, true, false, true],
                "per subscription, within one commit too"
            );
            let outbox = store.outbox("s", 10).await.unwrap();
            assert_eq!(outbox.offset, None);
            assert_eq!(outbox.entries.len(), 2);
            store
                .acknowledge("s", Some(&outbox.entries[0].id), Some(9))
                .await
                .unwrap();
        }
        let store = EmbeddedStore::open(&path, Duration::from_secs(60)).unwrap();
        assert_eq!(
            store.commit(vec![pending("s", "a")]).await.unwrap(),
            [false]
        );
        let outbox = store.outbox("s", 10).await.unwrap();
        assert_eq!(outbox.offset, Some(9));
        assert_eq!(outbox.entries.len(), 1);
        assert_eq!(outbox.entries[0].line, b"{\"k\":\"b\"}\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o700);
            for entry in std::fs::read_dir(&path).unwrap() {
                assert_eq!(mode(&entry.unwrap().path()), 0o600);
            }
        }
    }

    #[tokio::test]
    async fn retries_and_dead_letters_are_settled_in_one_step_and_redriven() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), Duration::from_secs(60)).unwrap();
        store
            .commit(vec![
                pending("s", "a"),
                pending("s", "b"),
                pending("s", "c"),
            ])
            .await
            .unwrap();
        let fresh = store.outbox("s", 10).await.unwrap().entries;
        assert_eq!(fresh[0].dedup_key, "a", "the key travels with the event");
        // a delivered, b failed (due at 1,000), c failed for the last time.
        let later = Entry {
            attempt: 1,
            ..fresh[1].clone()
        };
        let dead = DeadLetter {
            entry: Entry {
                attempt: 8,
                ..fresh[2].clone()
            },
            reason: "the receiver answered 500".into(),
            at: 5,
        };
        store
            .settle(
                "s",
                Settlement {
                    through: Some(fresh[2].id.clone()),
                    later: vec![(later.clone(), 1_000)],
                    dead: vec![dead.clone()],
                    ..Settlement::default()
                },
            )
            .await
            .unwrap();
        assert!(store.outbox("s", 10).await.unwrap().entries.is_empty());
        assert!(
            store.due("s", 999, 10).await.unwrap().is_empty(),
            "not due yet"
        );
        assert_eq!(
            store.due("s", 1_000, 10).await.unwrap(),
            std::slice::from_ref(&later)
        );
        assert_eq!(
            store.depth("s").await.unwrap(),
            Depth {
                outbox: 0,
                retrying: 1,
                dead: 1
            }
        );
        // b delivered on its retry: it leaves the retry set.
        store
            .settle(
                "s",
                Settlement {
                    done: vec![later.id.clone()],
                    ..Settlement::default()
                },
            )
            .await
            .unwrap();
        assert!(store.due("s", u64::MAX >> 1, 10).await.unwrap().is_empty());
        assert_eq!(
            store.dead_letters("s").await.unwrap(),
            std::slice::from_ref(&dead)
        );
        assert_eq!(store.redrive("s", Some(vec!["x".into()])).await.unwrap(), 0);
        assert_eq!(store.redrive("s", None).await.unwrap(), 1);
        assert_eq!(store.redrive("s", None).await.unwrap(), 0, "moved once");
        assert!(store.dead_letters("s").await.unwrap().is_empty());
        let again = store.due("s", now_ms_u64(), 10).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempt, 0, "a new schedule");
        assert_eq!(again[0].line, dead.entry.line);
    }

    #[tokio::test]
    async fn keys_expire_after_their_ttl() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), Duration::from_secs(1)).unwrap();
        assert_eq!(store.commit(vec![pending("s", "a")]).await.unwrap(), [true]);
        assert_eq!(
            store.commit(vec![pending("s", "a")]).await.unwrap(),
            [false]
        );
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(store.commit(vec![pending("s", "a")]).await.unwrap(), [true]);
    }

    #[tokio::test]
    async fn expired_keys_are_purged_not_kept_for_ever() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), Duration::from_secs(1)).unwrap();
        let keys = || async {
            store
                .run(|c| Ok(c.query_row("SELECT count(*) FROM dedup", [], |r| r.get::<_, i64>(0))?))
                .await
                .unwrap()
        };
        store
            .commit(vec![
                pending("s", "a"),
                pending("s", "b"),
                pending("s", "c"),
            ])
            .await
            .unwrap();
        assert_eq!(keys().await, 3);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        store.commit(vec![pending("s", "d")]).await.unwrap();
        assert_eq!(
            keys().await,
            1,
            "the three expired keys went with the next commit"
        );
    }

    #[tokio::test]
    async fn updates_from_two_openers_are_both_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = EmbeddedStore::open(dir.path(), Duration::from_secs(60)).unwrap();
        let b = EmbeddedStore::open(dir.path(), Duration::from_secs(60)).unwrap();
        let subscribe = |r: Option<Registered>| {
            let mut r = r.unwrap_or_else(registration);
            r.subscribe(
                TriggerSpec::MessageReceived {
                    sender_number: None,
                },
                "-".into(),
            );
            Ok(Some(r))
        };
        let version = a.version().await.unwrap();
        let (x, y) = tokio::join!(a.update("1065", &subscribe), b.update("1065", &subscribe));
        x.unwrap();
        y.unwrap();
        let kept = a.registrations().await.unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].subscriptions.len(), 2);
        assert!(b.version().await.unwrap() > version);
        a.update("1065", &|_| Ok(None)).await.unwrap();
        assert!(b.registrations().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn one_holder_claims_at_a_time_until_its_claim_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), Duration::from_secs(60)).unwrap();
        let ttl = Duration::from_millis(300);
        assert!(store.claim("s", "a", ttl).await.unwrap());
        assert!(!store.claim("s", "b", ttl).await.unwrap());
        assert!(store.claim("s", "a", ttl).await.unwrap(), "renewed");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(store.claim("s", "b", ttl).await.unwrap(), "taken over");
    }
}
