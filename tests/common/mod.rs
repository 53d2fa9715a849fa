//! Shared by the integration tests: the real component, loaded once per test binary.
#![allow(dead_code)]

use std::sync::LazyLock;

use host_harness::bindings::{Event, SendInput, WebhookRequest};
use host_harness::{Connection, Connector, json};

/// A token distinctive enough that any leak of it is found by a substring search.
pub const TOKEN: &str = "EAAGtestTOKENdoNotLeak0123456789";
pub const PHONE_NUMBER_ID: &str = "106540352242922";

static CONNECTOR: LazyLock<Connector> =
    LazyLock::new(|| Connector::load_default().expect("the built component loads"));

/// The component built from this checkout, with the built-in stub Graph API.
pub fn connector() -> Connector {
    CONNECTOR.clone()
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
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn post(body: Vec<u8>, headers: &[(&str, &str)]) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        query: String::new(),
        body,
    }
}

/// A loopback base URL where nothing listens: bound, noted, closed.
pub fn refused_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// An event's documented output, as a JSON tree to inspect.
pub fn event_json(event: &Event) -> serde_json::Value {
    serde_json::to_value(json::event(event.clone()).expect("the event's JSON fields are JSON"))
        .unwrap()
}
