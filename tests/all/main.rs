//! The component's tests, in one binary: the real `.wasm` loaded once, and the domain
//! modules compiled natively.
//!
//! - `message_received`: the trigger on Meta's documented webhooks, usernames and
//!   BSUIDs, signatures, the handshake, refused bodies;
//! - `status_updated`: the status trigger on Meta's status webhooks, its filters;
//! - `echoes_preferences_groups`: triggers "Message echoed", "Marketing preference
//!   changed" and "Group updated" on Meta's examples, and a batch every trigger shares;
//! - `send_message`: the action's requests, outputs and errors;
//! - `actions`: the other message actions: exact requests, every limit, hinted errors;
//! - `groups_and_blocking`: sending to a group, the group and blocklist actions, group
//!   filters;
//! - `media_files`: Download Media and Upload Media, streamed, checked, refused;
//! - `connection_test`: the connection test;
//! - `switching_on_and_off`: `new-registration`, `enable`, `disable` against loopback
//!   Graph API servers;
//! - `manifest_sync`: `component.json` against the `.wasm`'s exports and imports;
//! - `bad_input`: the catalogue of hostile and odd inputs;
//! - `webhook_properties`: property tests of the webhook path (native);
//! - `fuzz_seeds`: the fuzz targets' bodies (`fuzz/bodies/`) over their seed corpora.

mod actions;
mod bad_input;
mod connection_test;
mod echoes_preferences_groups;
mod fuzz_seeds;
#[path = "../../fuzz/bodies/signature.rs"]
mod fuzz_signature;
#[path = "../../fuzz/bodies/webhook.rs"]
mod fuzz_webhook;
mod groups_and_blocking;
mod manifest_sync;
mod media_files;
mod message_received;
mod send_message;
mod status_updated;
mod switching_on_and_off;
mod webhook_properties;

use std::path::Path;
use std::sync::LazyLock;

use host_harness::bindings::{Event, SendInput};
use host_harness::fakes::stub_graph::StubGraph;
use host_harness::{Allocation, COMPONENT_PATH, Connection, Connector, Limits, bindings};

/// A token distinctive enough that any leak of it is found by a substring search.
pub const TOKEN: &str = "EAAGtestTOKENdoNotLeak0123456789";
pub const PHONE_NUMBER_ID: &str = "106540352242922";

static CONNECTOR: LazyLock<Connector> = LazyLock::new(|| {
    Connector::load(
        Path::new(COMPONENT_PATH),
        Limits::default(),
        Allocation::default(),
    )
    .expect("the built component loads")
});

/// The component built from this checkout, with the built-in stub Graph API.
pub fn connector() -> Connector {
    CONNECTOR.with_outbound(StubGraph::new(None).outbound())
}

pub fn connection() -> Connection {
    Connection {
        system_user_access_token: TOKEN.into(),
        phone_number_id: PHONE_NUMBER_ID.into(),
        ..Connection::default()
    }
}

pub fn input(message: &str, to: &str) -> SendInput {
    SendInput {
        message: message.into(),
        send_message_to: to.into(),
        reply_to: None,
        preview_url: None,
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub use host_harness::fakes::{signed_post, webhook_post as post};

/// A Graph API call as the connector must make it: this method and path, the test
/// token as bearer, and a JSON body on a POST.
pub fn assert_graph_call(
    request: &host_harness::RecordedRequest,
    method: &str,
    path_and_query: &str,
) {
    assert_eq!(request.method, method);
    assert_eq!(request.path_and_query, path_and_query);
    assert_eq!(
        request.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    if method == "POST" || method == "DELETE" {
        assert_eq!(request.header("content-type"), Some("application/json"));
    }
}

/// A loopback base URL where nothing listens: bound, noted, closed.
pub fn refused_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// An event's documented output, as a JSON tree to inspect.
pub fn event_json(event: &Event) -> serde_json::Value {
    serde_json::to_value(bindings::event(event.clone()).expect("the event's JSON fields are JSON"))
        .unwrap()
}
