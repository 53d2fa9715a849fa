//! host-harness: a wasmtime host for the WhatsApp connector component.
//!
//! The CLI, the integration tests and the benchmark share this library:
//! - [`runtime`]: load the component once, call it with a fresh store per call;
//! - [`limits`]: what one call may use (memory, time, outbound), and how it is enforced;
//! - [`outbound`]: where the component's `graph.facebook.com` requests go (an
//!   in-process stub or a loopback server), and the journal of what it asked for;
//! - [`stub_graph`]: the built-in stub Graph API, alternate callbacks included;
//! - [`registration`]: where a trigger's registration is kept (memory or a 0600 file);
//! - [`serve`]: the HTTP webhook endpoint behind `host-harness serve`;
//! - [`loopback`]: a fake Graph API server and an HTTP client on 127.0.0.1;
//! - [`manifest`]: `component.json` as the host applies it (the outbound allowlist);
//! - [`json`]: the JSON forms of the WIT records the CLI prints;
//! - [`demo`]: the end-to-end demo;
//! - [`bench`]: the benchmark behind `host-harness bench`;
//! - [`bindings`]: the generated host bindings.

pub mod bench;
pub mod bindings;
pub mod demo;
pub mod json;
pub mod limits;
pub mod loopback;
pub mod manifest;
pub mod outbound;
pub mod registration;
pub mod runtime;
pub mod serve;
pub mod stub_graph;

pub use outbound::{Outbound, OutboundLimits, RecordedRequest, StubResponse};
pub use registration::{Registration, RegistrationStore};
pub use runtime::{
    Allocation, COMPONENT_PATH, Connection, Connector, HostError, Instance, Limits, precompile,
};
/// The wasmtime this harness is built on, for callers that inspect types.
pub use wasmtime;
pub use whatsapp_connector::signature::sign as sign_webhook;
