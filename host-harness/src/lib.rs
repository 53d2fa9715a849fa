//! host-harness: a wasmtime host for the WhatsApp connector component, in layers whose
//! dependencies point one way (see `ARCHITECTURE.md`):
//!
//! - [`runtime`]: load the component, call it under limits, with an outbound policy;
//!   every WIT ↔ host conversion. What a workflow host would copy; it imports nothing
//!   else from this crate.
//! - [`registration`]: a phone number's registration and its subscriptions.
//! - [`store`]: the gateway's state (registrations, deduplication keys, outboxes),
//!   embedded (SQLite) or shared (Redis).
//! - [`endpoint`]: the webhook endpoint, one front door for every webhook request;
//!   [`instances`]: its opt-in warm instances; [`delivery`]: the workers that write
//!   each subscription's events to its sink (files, standard output, signed HTTP
//!   deliveries with retries: [`standard_webhooks`]).
//! - [`serve`]: the HTTP framing around the endpoint; [`admin`]: the operator's
//!   `/healthz`, `/readyz` and `/metrics` ([`metrics`]).
//! - [`fakes`]: test doubles: the stub Graph API and loopback HTTP servers and clients.
//!
//! The `host-harness` binary (`main.rs` and `cli/`) is the only place that knows about
//! flags and exit codes.

pub mod admin;
pub mod delivery;
pub mod endpoint;
pub mod fakes;
pub mod instances;
pub mod metrics;
pub mod registration;
pub mod runtime;
pub mod serve;
pub mod standard_webhooks;
pub mod store;
pub mod triggers;

pub use runtime::{
    Allocation, Call, CallError, Connection, Connector, HostError, Limits, Outbound,
    OutboundLimits, RecordedRequest, StubResponse, bindings, json, precompile,
};
/// The wasmtime this harness is built on, for callers that inspect types.
pub use wasmtime;
pub use whatsapp_connector::registration::Registration;
pub use whatsapp_connector::signature::sign as sign_webhook;

/// The component built from this checkout by the build script.
pub const COMPONENT_PATH: &str = env!("WHATSAPP_CONNECTOR_WASM");
