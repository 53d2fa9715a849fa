//! What `serve` counts, for its stop summary and for `/metrics` (Prometheus text, through
//! the `prometheus-client` crate). The counters are the metrics themselves, so the
//! summary and a scrape can never disagree.
//!
//! Names are prefixed `whatsapp_gateway_`. Gauges of what waits in the store (outbox,
//! retries, dead letters) are read from the store at each scrape, not kept here: every
//! instance sharing a Redis store reports the same depths.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

use crate::store::Depth;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: u16,
}

/// A delivery attempt's outcome: `delivered`, `failed` (will be retried), `dead`
/// (its last attempt failed), `gone` (410: the subscription stopped).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SubscriptionLabels {
    pub subscription: String,
}

/// Counters for the summary printed when `serve` stops, and for `/metrics`.
#[derive(Debug)]
pub struct Stats {
    pub requests: Counter,
    pub events: Counter,
    pub duplicates: Counter,
    pub refused: Counter,
    pub responses: Family<StatusLabels, Counter>,
    pub request_seconds: Histogram,
    pub deliveries: Family<OutcomeLabels, Counter>,
    /// The counters of [`OUTCOMES`] in `deliveries`, looked up once rather than per
    /// attempt.
    outcomes: [Counter; 4],
    pub delivery_seconds: Histogram,
    outbox: Family<SubscriptionLabels, Gauge>,
    retrying: Family<SubscriptionLabels, Gauge>,
    dead_letters: Family<SubscriptionLabels, Gauge>,
}

/// A delivery attempt's outcomes, as `deliveries_total` labels them.
pub const OUTCOMES: [&str; 4] = ["delivered", "failed", "dead", "gone"];

impl Default for Stats {
    fn default() -> Self {
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        let outcomes =
            OUTCOMES.map(|outcome| deliveries.get_or_create(&OutcomeLabels { outcome }).clone());
        Self {
            requests: Counter::default(),
            events: Counter::default(),
            duplicates: Counter::default(),
            refused: Counter::default(),
            responses: Family::default(),
            // 0.25 ms to about 4 s.
            request_seconds: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            deliveries,
            outcomes,
            // 1 ms to about 33 s (the default attempt timeout is 30 s).
            delivery_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            outbox: Family::default(),
            retrying: Family::default(),
            dead_letters: Family::default(),
        }
    }
}

impl Stats {
    pub fn summary(&self) -> Value {
        json!({
            "requests": self.requests.get(),
            "events": self.events.get(),
            "duplicates": self.duplicates.get(),
            "refused": self.refused.get(),
        })
    }

    /// One delivery attempt; `outcome` is one of [`OUTCOMES`].
    pub fn delivery(&self, outcome: &'static str, seconds: f64) {
        match OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => self.outcomes[i].inc(),
            None => self
                .deliveries
                .get_or_create(&OutcomeLabels { outcome })
                .inc(),
        };
        self.delivery_seconds.observe(seconds);
    }

    /// The Prometheus text form, with the depths just read from the store.
    pub fn encode(&self, depths: &[(String, Depth)]) -> String {
        for family in [&self.outbox, &self.retrying, &self.dead_letters] {
            family.clear();
        }
        for (subscription, depth) in depths {
            let labels = SubscriptionLabels {
                subscription: subscription.clone(),
            };
            self.outbox.get_or_create(&labels).set(depth.outbox as i64);
            self.retrying
                .get_or_create(&labels)
                .set(depth.retrying as i64);
            self.dead_letters
                .get_or_create(&labels)
                .set(depth.dead as i64);
        }
        let mut registry = Registry::with_prefix("whatsapp_gateway");
        registry.register(
            "requests",
            "Webhook requests answered",
            self.requests.clone(),
        );
        registry.register(
            "responses",
            "Webhook requests answered, by HTTP status",
            self.responses.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a webhook request",
            self.request_seconds.clone(),
        );
        registry.register(
            "events",
            "Events committed (new, not duplicates)",
            self.events.clone(),
        );
        registry.register(
            "duplicates",
            "Events dropped as already seen",
            self.duplicates.clone(),
        );
        registry.register(
            "refused",
            "Webhook requests not answered 2xx",
            self.refused.clone(),
        );
        registry.register(
            "deliveries",
            "Delivery attempts, by outcome",
            self.deliveries.clone(),
        );
        registry.register(
            "delivery_attempt_duration_seconds",
            "Time of one delivery attempt",
            self.delivery_seconds.clone(),
        );
        registry.register(
            "outbox_depth",
            "Events waiting for their first delivery attempt",
            self.outbox.clone(),
        );
        registry.register(
            "retrying",
            "Events waiting for another delivery attempt",
            self.retrying.clone(),
        );
        registry.register(
            "dead_letters",
            "Events whose last delivery attempt failed",
            self.dead_letters.clone(),
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .expect("writing to a String");
        text
    }
}
