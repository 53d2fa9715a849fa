//! `serve --native-baseline`: the native baseline of the `serve` comparison (#15). It
//! does the endpoint's work — check the signature, parse, write one JSON line per
//! message, drop repeats, answer 200 once written — with the component crate compiled
//! natively instead of the component, behind the same `serve` framing (hyper, the body
//! cap, timeouts, the concurrency cap). The ratio between the two servers is then what
//! running the logic as a WebAssembly component costs. Not for production.

use std::sync::Mutex;

use host_harness::bindings::{self, WebhookRequest};
use std::collections::{HashSet, VecDeque};

use host_harness::endpoint::{EventSink, Reply, Stats};
use host_harness::runtime::json;
use host_harness::serve::Handler;
use serde_json::json;
use whatsapp_connector::secret::Secret;
use whatsapp_connector::trigger::{self, Outcome, Secrets};

/// Deduplication keys the baseline remembers: the in-memory window `serve` had before
/// the store (0.2.x), the baseline the stores are compared with.
pub const DEDUP_WINDOW: usize = 100_000;

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
}

pub struct NativeEndpoint {
    app_secret: Option<String>,
    sender_number: Option<String>,
    sink: EventSink,
    dedup: Mutex<DedupWindow>,
    stats: Stats,
}

impl NativeEndpoint {
    pub fn new(
        app_secret: Option<String>,
        sender_number: Option<String>,
        sink: EventSink,
        dedup_window: usize,
    ) -> Self {
        Self {
            app_secret,
            sender_number,
            sink,
            dedup: Mutex::new(DedupWindow::new(dedup_window)),
            stats: Stats::default(),
        }
    }

    /// The counters, as `serve` prints them when it stops.
    pub fn stats_summary(&self) -> serde_json::Value {
        self.stats.summary()
    }

    fn reply(&self, request: &WebhookRequest) -> Reply {
        let secrets = Secrets {
            app_secret: self.app_secret.as_deref().map(Secret::new),
            verify_token: None,
        };
        let request = bindings::trigger_request(request);
        let events = match trigger::handle(request, self.sender_number.as_deref(), secrets) {
            Ok(Outcome::Events(events)) => events,
            Ok(Outcome::Respond {
                status,
                content_type,
                body,
            }) => return Reply::text(status, content_type, body, "handshake".into()),
            Err(e) => {
                let error = json!({"kind": e.kind(), "reason": format!("{e:?}")});
                return Reply::error(e.http_status(), error);
            }
        };
        let fresh: Vec<_> = {
            let mut dedup = self.dedup.lock().unwrap_or_else(|p| p.into_inner());
            events
                .into_iter()
                .filter(|e| dedup.insert(&e.dedup_key))
                .collect()
        };
        let mut lines = Vec::with_capacity(fresh.len() * 512);
        for event in &fresh {
            if json::write_event_line(&mut lines, event).is_err() {
                return Reply::error(503, json!({"kind": "host", "message": "serialisation"}));
            }
        }
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        if sink.write_all(&lines).and_then(|()| sink.flush()).is_err() {
            return Reply::error(
                503,
                json!({"kind": "host", "message": "events could not be written"}),
            );
        }
        self.stats.events.inc_by(fresh.len() as u64);
        Reply::text(
            200,
            "text/plain",
            "EVENT_RECEIVED",
            format!("{} events", fresh.len()),
        )
    }
}

impl Handler for NativeEndpoint {
    async fn handle(&self, _path: String, request: WebhookRequest) -> Reply {
        self.reply(&request)
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }
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
        let mut off = DedupWindow::new(0);
        assert!(off.insert("a") && off.insert("a"));
    }
}
