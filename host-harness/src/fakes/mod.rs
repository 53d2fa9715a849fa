//! Test doubles, used by the tests, the demo and the CLI's offline mode: nothing in the
//! runtime depends on them.
//!
//! - [`stub_graph`]: the built-in stub Graph API, alternate callbacks included;
//! - [`loopback`]: a fake Graph API server and an HTTP client on 127.0.0.1.

pub mod loopback;
pub mod stub_graph;

use serde_json::{Value, json};

use crate::runtime::bindings::WebhookRequest;

/// A webhook POST as Meta sends it, with these headers.
pub fn webhook_post(body: Vec<u8>, headers: &[(&str, &str)]) -> WebhookRequest {
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

/// A webhook POST signed with `app_secret`, as Meta signs it (`X-Hub-Signature-256`).
pub fn signed_post(body: Vec<u8>, app_secret: &str) -> WebhookRequest {
    let signature = crate::sign_webhook(app_secret, &body);
    webhook_post(body, &[("x-hub-signature-256", &signature)])
}

/// A webhook with `n` text messages in one change, each with a distinct ID (`tag`).
pub fn webhook_with_messages(n: usize, tag: &str) -> Vec<u8> {
    let messages: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "from": "16505551234",
                "id": format!("wamid.{tag}.{i}"),
                "timestamp": "1700000000",
                "type": "text",
                "text": {"body": format!("Message number {i} of the batch")},
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                    "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
                    "messages": messages,
                },
            }],
        }],
    }))
    .expect("JSON")
}
