//! Delivery: moves each subscription's events from the store's outbox to its sink, in
//! order, one worker per subscription, after Meta already has its 200.
//!
//! - **One writer per subscription.** A worker delivers only while it holds the
//!   subscription's claim in the store ([`Store::claim`], renewed each round, expiring
//!   after [`CLAIM_TTL`]): two instances sharing a store never write the same events, and
//!   a dead instance's subscriptions are taken over.
//! - **Exactly once into a file.** The store keeps the file's length as of the last
//!   acknowledged write. A file found longer holds a tail that was never acknowledged
//!   (half a write cut by ENOSPC, or a whole one before a crash); its events are still
//!   in the outbox, so the tail is cut off and they are written again. Each write is
//!   fsynced before it is acknowledged.
//! - **Isolation.** A sink that fails is retried with backoff by its own worker and
//!   logged once per new error; the other subscriptions, and Meta's answers, go on.
//! - **Never on the runtime's threads.** File and standard-output writes run on the
//!   blocking pool: a stalled reader of `serve`'s output holds a blocking thread, not
//!   the threads that answer requests.

use std::collections::HashMap;
use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::Notify;

use crate::endpoint::EventSink;
use crate::registration::DEFAULT_SINK;
use crate::store::{Outbox, Store};

/// How long a claim lasts without renewal.
pub const CLAIM_TTL: Duration = Duration::from_secs(10);
/// Events written and acknowledged together at the most.
const BATCH: usize = 1000;
/// How often an idle worker looks at its outbox unasked (events committed by another
/// instance, a claim to take over).
const IDLE_POLL: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where a subscription's events go.
#[derive(Clone)]
enum Sink {
    /// `serve`'s own output (`-`).
    Shared(EventSink),
    File(PathBuf),
}

struct Worker {
    wake: Notify,
    /// The subscription is gone: stop once its outbox is empty.
    retired: AtomicBool,
}

/// The delivery workers of one process.
pub struct Deliveries {
    store: Arc<dyn Store>,
    /// This process's name in claims.
    holder: String,
    output: EventSink,
    workers: Mutex<HashMap<String, Arc<Worker>>>,
}

impl Deliveries {
    /// `output` is where `-` sinks write.
    pub fn new(store: Arc<dyn Store>, output: EventSink) -> Arc<Self> {
        Arc::new(Self {
            store,
            holder: crate::registration::new_namespace(),
            output,
            workers: Mutex::default(),
        })
    }

    /// Makes sure a worker delivers `subscription`'s events to `sink`, and wakes it.
    /// Needs a tokio runtime.
    pub fn wake(self: &Arc<Self>, subscription: &str, sink: &str) {
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(worker) = workers.get(subscription) {
            worker.retired.store(false, Ordering::Relaxed);
            worker.wake.notify_one();
            return;
        }
        let worker = Arc::new(Worker {
            wake: Notify::new(),
            retired: AtomicBool::new(false),
        });
        workers.insert(subscription.to_owned(), worker.clone());
        let sink = match sink {
            DEFAULT_SINK => Sink::Shared(self.output.clone()),
            path => Sink::File(PathBuf::from(path)),
        };
        tokio::spawn(run(self.clone(), subscription.to_owned(), sink, worker));
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

    /// Waits until every worker's outbox is empty, or `timeout` passed; whether they all
    /// were.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let keys: Vec<String> = {
                let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
                workers.keys().cloned().collect()
            };
            let mut empty = true;
            for key in &keys {
                match self.store.outbox(key, 1).await {
                    Ok(outbox) if outbox.entries.is_empty() => {}
                    _ => empty = false,
                }
            }
            if empty {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// One round: claim, read, write, acknowledge. Whether events were delivered.
    async fn round(&self, subscription: &str, sink: &Sink) -> anyhow::Result<bool> {
        if !self
            .store
            .claim(subscription, &self.holder, CLAIM_TTL)
            .await?
        {
            return Ok(false);
        }
        let outbox = self.store.outbox(subscription, BATCH).await?;
        let Some(last) = outbox.entries.last() else {
            return Ok(false);
        };
        let through = last.id.clone();
        let offset = match sink {
            Sink::Shared(output) => {
                let output = output.clone();
                tokio::task::spawn_blocking(move || write_shared(&output, &outbox)).await??;
                None
            }
            Sink::File(path) => {
                let start = match outbox.offset {
                    Some(offset) => offset,
                    None => {
                        // The first write to this file: where it starts is recorded
                        // first, so that a write cut short before its acknowledgement is
                        // later cut off, not taken for the file's earlier content.
                        let file = path.clone();
                        let length =
                            tokio::task::spawn_blocking(move || file_length(&file)).await??;
                        self.store
                            .acknowledge(subscription, None, Some(length))
                            .await?;
                        length
                    }
                };
                let path = path.clone();
                Some(
                    tokio::task::spawn_blocking(move || write_file(&path, start, &outbox))
                        .await??,
                )
            }
        };
        self.store
            .acknowledge(subscription, Some(&through), offset)
            .await?;
        Ok(true)
    }
}

async fn run(deliveries: Arc<Deliveries>, subscription: String, sink: Sink, worker: Arc<Worker>) {
    let mut failing: Option<String> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        match deliveries.round(&subscription, &sink).await {
            Ok(true) => {
                if failing.take().is_some() {
                    eprintln!("delivery: subscription {subscription}: delivering again");
                }
                backoff = Duration::from_millis(50);
            }
            Ok(false) => {
                if worker.retired.load(Ordering::Relaxed) {
                    let mut workers = deliveries.workers.lock().unwrap_or_else(|p| p.into_inner());
                    if worker.retired.load(Ordering::Relaxed) {
                        workers.remove(&subscription);
                        return;
                    }
                }
                tokio::select! {
                    () = worker.wake.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            Err(e) => {
                let reason = format!("{e:#}");
                if failing.as_ref() != Some(&reason) {
                    eprintln!(
                        "delivery: subscription {subscription}: {reason}; the events stay in the outbox and are retried"
                    );
                    failing = Some(reason);
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn joined(outbox: &Outbox) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(outbox.entries.iter().map(|e| e.line.len()).sum());
    for entry in &outbox.entries {
        bytes.extend_from_slice(&entry.line);
    }
    bytes
}

fn write_shared(output: &EventSink, outbox: &Outbox) -> anyhow::Result<()> {
    let mut output = output.lock().unwrap_or_else(|p| p.into_inner());
    output.write_all(&joined(outbox))?;
    output.flush()?;
    Ok(())
}

/// The length of the events file (0 when it does not exist yet).
fn file_length(path: &std::path::Path) -> anyhow::Result<u64> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the outbox's events at `acknowledged`, the file's length after the last
/// acknowledged write; the file's new length.
fn write_file(path: &std::path::Path, acknowledged: u64, outbox: &Outbox) -> anyhow::Result<u64> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot open the events file {}", path.display()))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        anyhow::bail!("{} is not a regular file", path.display());
    }
    let start = if meta.len() > acknowledged {
        // A tail never acknowledged: its events are in this outbox.
        file.set_len(acknowledged)?;
        acknowledged
    } else {
        // Shorter than acknowledged: rotated or truncated by someone else; append.
        meta.len()
    };
    file.seek(SeekFrom::Start(start))?;
    let bytes = joined(outbox);
    file.write_all(&bytes)
        .with_context(|| format!("cannot write to {}", path.display()))?;
    file.sync_data()?;
    Ok(start + bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Entry;

    fn outbox(lines: &[&str]) -> Outbox {
        Outbox {
            offset: None,
            entries: lines
                .iter()
                .enumerate()
                .map(|(i, l)| Entry {
                    id: i.to_string(),
                    line: format!("{l}\n").into_bytes(),
                })
                .collect(),
        }
    }

    #[test]
    fn an_unacknowledged_tail_is_cut_and_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "old\n").unwrap();
        let start = file_length(&path).unwrap();
        let end = write_file(&path, start, &outbox(&["a"])).unwrap();
        assert_eq!(end, 6, "the first write goes after what the file held");
        // A crash after writing "b" but before acknowledging it, and half a line.
        std::fs::write(&path, "old\na\nb\n{\"half").unwrap();
        let end = write_file(&path, end, &outbox(&["b", "c"])).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\na\nb\nc\n");
        assert_eq!(end, 10);
        // Rotated away by someone else: appended to the new file.
        std::fs::write(&path, "").unwrap();
        write_file(&path, end, &outbox(&["d"])).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "d\n");
        assert!(write_file(dir.path(), 0, &outbox(&["x"])).is_err());
        assert_eq!(file_length(&dir.path().join("none")).unwrap(), 0);
    }
}
