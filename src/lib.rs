//! WhatsApp Business Cloud API connector, shipped as a WebAssembly component.
//!
//! The contract is the WIT package in `wit/connector.wit`. This crate keeps the domain
//! logic in plain Rust modules that compile and unit-test on any target:
//!
//! - [`graph`]: where Graph API requests go and what its answers (and errors) mean;
//! - [`phone`]: phone numbers: recipients and sender numbers;
//! - [`identity`]: phone number or business-scoped user ID (BSUID): recipients and the
//!   sender filter;
//! - [`outgoing`]: what every action that sends a message shares (recipient, reply-to,
//!   the envelope, limits);
//! - [`send`], [`template`], [`media`], [`interactive`], [`reaction`], [`location`],
//!   [`read_receipt`]: the actions, each from inputs to a validated request;
//! - [`account`]: the connection test;
//! - [`webhook`]: a webhook body → one event per incoming message;
//! - [`signature`]: `X-Hub-Signature-256` verification;
//! - [`handshake`]: the `hub.challenge` verification GET;
//! - [`trigger`]: the "Message received" request handler that ties those together;
//! - [`statuses`]: trigger "Message status updated": one event per status;
//! - [`registration`]: switching the trigger on and off (Meta's webhook overrides);
//! - [`secret`]: a value whose `Debug` is `[redacted]`.
//!
//! Only when built for `wasm32` does it add the thin glue: the generated bindings
//! (`component`) and an HTTP client over `wasi:http` (`http_client`).

pub mod account;
pub mod graph;
pub mod handshake;
pub mod identity;
pub mod interactive;
pub mod location;
pub mod media;
pub mod media_download;
pub mod media_upload;
pub mod outgoing;
pub mod phone;
pub mod reaction;
pub mod read_receipt;
pub mod registration;
pub mod secret;
pub mod send;
pub mod signature;
pub mod statuses;
pub mod template;
pub mod transfer;
pub mod trigger;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod http_client;
#[cfg(target_arch = "wasm32")]
mod media_streams;
