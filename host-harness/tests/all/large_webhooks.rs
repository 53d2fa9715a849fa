//! Webhooks at the size limit: memory follows the webhook, so a valid batch up to
//! `serve`'s body limit is never stopped for its size (Meta would redeliver it for 7 days
//! and every message in it would be lost). Each case goes through the component's trigger
//! (on a kept instance, whose peak memory is reported) and through `serve` over HTTP.

use std::path::Path;
use std::sync::{Arc, Mutex};

use host_harness::bindings::{Outcome, Properties, WebhookSecrets};
use host_harness::endpoint::{Endpoint, EndpointOptions};
use host_harness::fakes::loopback::Client;
use host_harness::fakes::signed_post;
use host_harness::serve::{DEFAULT_MAX_BODY, Running, ServeOptions};
use host_harness::{Allocation, COMPONENT_PATH, Connector, Limits};
use serde_json::{Value, json};

use crate::APP_SECRET;

/// A webhook of `text`-message batches, as large as fits in `size` bytes.
fn webhook_of(size: usize, text: &str) -> (Vec<u8>, usize) {
    let message = |i: usize| {
        json!({"from": "16505551234", "id": format!("wamid.{i}"), "timestamp": "1700000000", "type": "text", "text": {"body": text}})
            .to_string()
    };
    let head = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"messages":["#;
    let tail = "]}}]}]}";
    let mut body = head.to_owned();
    let mut count = 0;
    loop {
        let next = message(count);
        if body.len() + next.len() + 1 + tail.len() > size {
            break;
        }
        if count > 0 {
            body.push(',');
        }
        body.push_str(&next);
        count += 1;
    }
    body.push_str(tail);
    assert!(body.len() <= size);
    serde_json::from_str::<Value>(&body).expect("the webhook is JSON");
    (body.into_bytes(), count)
}

async fn every_event_gets_through(name: &str, body: Vec<u8>, messages: usize) {
    let limits = Limits::default();
    let connector = Connector::load(Path::new(COMPONENT_PATH), limits, Allocation::default())
        .unwrap()
        .keep_instance()
        .await
        .unwrap();
    let properties = Properties {
        sender_number: None,
    };
    let secrets = WebhookSecrets {
        app_secret: Some(APP_SECRET.into()),
        verify_token: None,
    };
    let request = signed_post(body.clone(), APP_SECRET);
    match connector
        .handle_webhook(&request, &properties, &secrets)
        .await
    {
        Ok(Ok(Outcome::Events(events))) => assert_eq!(events.len(), messages, "{name}"),
        other => panic!("{name}: {:?}", other.map(|o| o.map(|_| ()))),
    }
    let peak = connector.peak_memory();
    eprintln!(
        "{name}: {} bytes, {messages} messages: peak guest memory {peak} bytes ({:.1}× the body; budget {} bytes)",
        body.len(),
        peak as f64 / body.len() as f64,
        limits.memory_for_body(body.len())
    );
    assert!(peak <= limits.memory_for_body(body.len()));

    // The same through `serve`: every event written, one line each.
    let sink = Arc::new(Mutex::new(Vec::<u8>::new()));
    let options = EndpointOptions::new(properties, Some(APP_SECRET.into()), None);
    let endpoint = Endpoint::new(connector.clone(), options, sink.clone(), Arc::default());
    let framing = ServeOptions {
        access_log: false,
        ..ServeOptions::default()
    };
    let server = Running::start(Arc::new(endpoint), framing).await.unwrap();
    let mut client = Client::connect(server.address).await.unwrap();
    let answer = client
        .webhook("/webhook", signed_post(body, APP_SECRET))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{name}: {}", answer.text());
    server.stop().await.unwrap();
    let written = String::from_utf8(sink.lock().unwrap().clone()).unwrap();
    assert_eq!(written.lines().count(), messages, "{name}");
    let last: Value = serde_json::from_str(written.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["entry"]["changes"]["messages"]["id"],
        format!("wamid.{}", messages - 1)
    );
}

#[tokio::test]
async fn the_body_limit_filled_with_one_line_messages() {
    let (body, messages) = webhook_of(DEFAULT_MAX_BODY, "ok");
    assert!(messages > 30_000, "{messages}");
    every_event_gets_through("4 MiB of one-line messages", body, messages).await;
}

#[tokio::test]
async fn three_megabytes_of_4096_character_messages() {
    let (body, messages) = webhook_of(3_000_000, &"é".repeat(4096));
    every_event_gets_through("3 MB of 4,096-character messages", body, messages).await;
}
