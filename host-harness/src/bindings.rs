//! Host-side bindings for the `whatsapp:connector/connector` world, reusing
//! wasmtime-wasi-http's `wasi:http` and wasmtime-wasi's `wasi:io` types.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
    },
});

pub use exports::whatsapp::connector::connection::{
    Account, Connection, Error as ConnectorError, FieldError, GraphError,
};
pub use exports::whatsapp::connector::message_received::{
    Event, Outcome, Properties, Registration, Removal, WebhookError, WebhookRequest,
    WebhookResponse, WebhookSecrets,
};
pub use exports::whatsapp::connector::send_message::{Input as SendInput, Output as SendOutput};
