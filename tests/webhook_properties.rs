//! Properties of the webhook → events path, over generated inputs (bounded, so they run
//! in `cargo test`): the domain module the component runs, compiled natively.
//!
//! - For any batch of entries, changes and messages, with status updates mixed in, the
//!   events are exactly the messages, in order, with the sender filter applied exactly.
//! - For any bytes, the trigger answers events or an error; it never panics.

use proptest::prelude::*;
use serde_json::{Value, json};
use whatsapp_connector::phone;
use whatsapp_connector::signature;
use whatsapp_connector::trigger::{self, Outcome, Secrets, WebhookRequest};
use whatsapp_connector::webhook;

const SENDERS: [&str; 3] = ["16505551234", "447700900123", "5511987654321"];

/// One change: a batch of messages (index of the sender each) or status updates.
#[derive(Debug, Clone)]
enum Change {
    Messages(Vec<usize>),
    Statuses(usize),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        prop::collection::vec(0..SENDERS.len(), 0..5).prop_map(Change::Messages),
        (1usize..3).prop_map(Change::Statuses),
    ]
}

/// The webhook JSON and the (sender, id) of each message in document order.
fn render(entries: &[Vec<Change>]) -> (Vec<u8>, Vec<(usize, String)>) {
    let mut expected = Vec::new();
    let mut next = 0;
    let entries: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(e, changes)| {
            let changes: Vec<Value> = changes
                .iter()
                .map(|change| {
                    let metadata =
                        json!({"display_phone_number": "15550000000", "phone_number_id": "1"});
                    match change {
                        Change::Messages(senders) => {
                            let messages: Vec<Value> = senders
                                .iter()
                                .map(|&s| {
                                    next += 1;
                                    let id = format!("wamid.{next}");
                                    expected.push((s, id.clone()));
                                    json!({"from": SENDERS[s], "id": id, "timestamp": "1700000000", "type": "text", "text": {"body": format!("message {next}")}})
                                })
                                .collect();
                            let contacts: Vec<Value> = senders
                                .iter()
                                .map(|&s| json!({"profile": {"name": "Sender"}, "wa_id": SENDERS[s]}))
                                .collect();
                            json!({"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, "contacts": contacts, "messages": messages}})
                        }
                        Change::Statuses(n) => {
                            let statuses: Vec<Value> = (0..*n)
                                .map(|k| json!({"id": format!("wamid.out{k}"), "status": "delivered", "timestamp": "1700000001", "recipient_id": SENDERS[0]}))
                                .collect();
                            json!({"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, "statuses": statuses}})
                        }
                    }
                })
                .collect();
            json!({"id": format!("waba{e}"), "changes": changes})
        })
        .collect();
    let body = json!({"object": "whatsapp_business_account", "entry": entries});
    (serde_json::to_vec(&body).unwrap(), expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn events_are_the_messages_in_order_filtered_exactly(
        entries in prop::collection::vec(prop::collection::vec(change(), 0..4), 0..4),
        filter in prop::option::of(0..SENDERS.len()),
    ) {
        let (body, messages) = render(&entries);
        let sender = filter.map(|s| format!("+{}", SENDERS[s]));
        let digits = phone::sender_filter(sender.as_deref()).unwrap();
        let events = webhook::events(&body, digits.as_deref()).unwrap();
        let expected: Vec<&str> = messages
            .iter()
            .filter(|(s, _)| filter.is_none_or(|f| f == *s))
            .map(|(_, id)| id.as_str())
            .collect();
        let got: Vec<&str> = events.iter().map(|e| e.message.id.as_str()).collect();
        prop_assert_eq!(got, expected);
        for event in &events {
            prop_assert_eq!(&event.contact.as_ref().unwrap().wa_id, &event.message.from);
        }
    }

    #[test]
    fn signed_batches_pass_the_whole_request_path(
        entries in prop::collection::vec(prop::collection::vec(change(), 0..3), 1..3),
    ) {
        let (body, messages) = render(&entries);
        let headers = [(signature::HEADER.to_owned(), signature::sign("secret", &body))];
        let request = WebhookRequest { method: "POST", headers: &headers, query: "", body: &body };
        let secrets = Secrets { app_secret: Some("secret"), verify_token: None };
        match trigger::handle(request, None, secrets) {
            Ok(Outcome::Events(events)) => prop_assert_eq!(events.len(), messages.len()),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn any_bytes_are_events_or_an_error_never_a_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let request = WebhookRequest { method: "POST", headers: &[], query: "", body: &body };
        let _ = trigger::handle(request, None, Secrets::default());
    }

    #[test]
    fn any_mutation_of_a_real_webhook_is_events_or_an_error(
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = include_bytes!("fixtures/batch_two_messages_one_status.json").to_vec();
        let at = position.index(body.len());
        body[at] = byte;
        body.truncate(cut.index(body.len()) + 1);
        if let Ok(events) = webhook::events(&body, None) {
            prop_assert!(events.len() <= 2);
        }
    }
}
