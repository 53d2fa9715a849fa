//! Any bytes as a webhook POST, through the trigger's whole request path: signature
//! check, sender filter, parse. It must answer events or an error, never panic; and
//! every event it answers must pass the filter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whatsapp_connector::phone;
use whatsapp_connector::trigger::{self, Outcome, Secrets, WebhookRequest};
use whatsapp_connector::webhook;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a sender filter, so both paths are covered.
    let (filter, body) = match data.split_first() {
        Some((selector, rest)) if selector % 2 == 1 => (Some("+1 650 555 1234"), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let request = WebhookRequest {
        method: "POST",
        headers: &[],
        query: "",
        body,
    };
    match trigger::handle(request, filter, Secrets::default()) {
        Ok(Outcome::Events(events)) => {
            let digits = phone::sender_filter(filter).unwrap();
            for event in &events {
                if let Some(digits) = &digits {
                    assert!(phone::same_number(&event.message.from, digits));
                }
            }
            // The fast path and the describing slow path agree that this parses.
            assert_eq!(
                webhook::events(body, digits.as_deref()).map(|e| e.len()),
                Ok(events.len())
            );
        }
        Ok(Outcome::Respond { .. }) => panic!("a POST is never answered directly"),
        Err(error) => assert!(!format!("{error:?}").is_empty()),
    }
});
