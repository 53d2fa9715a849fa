//! Test doubles, used by the tests, the demo and the CLI's offline mode: nothing in the
//! runtime depends on them.
//!
//! - [`stub_graph`]: the built-in stub Graph API, alternate callbacks included;
//! - [`loopback`]: a fake Graph API server and an HTTP client on 127.0.0.1.

pub mod loopback;
pub mod stub_graph;

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
