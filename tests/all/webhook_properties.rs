//! Properties of the webhook → events path, over generated inputs (bounded, so they run
//! in `cargo test`): the domain module the component runs, compiled natively.
//!
//! - For any batch of entries, changes and messages (with and without `from`, `wa_id`,
//!   `user_id`, `id`), status updates mixed in, the events are exactly the messages, in
//!   order, with the sender filter (phone or BSUID) applied exactly; dedup keys are the
//!   same for the same bytes.
//! - For any JSON-like document, the number of events is what an independent reading
//!   of it (`serde_json::Value`) counts, or the body is refused for a reason that names
//!   the webhook's shape.
//! - For any mutation of a real webhook, complete or truncated, likewise.
//! - For any string, the trigger answers events or a reason; it never panics.

use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use serde_json::{Value, json};
use whatsapp_connector::identity::SenderFilter;
use whatsapp_connector::secret::Secret;
use whatsapp_connector::signature;
use whatsapp_connector::trigger::{self, Outcome, Secrets, WebhookRequest};
use whatsapp_connector::webhook;

use crate::fuzz_webhook::{Reading, read};

/// A sender: a phone number (or none, for a username user) and a BSUID (or none).
const SENDERS: [(Option<&str>, Option<&str>); 4] = [
    (Some("16505551234"), None),
    (Some("447700900123"), Some("GB.4471203948571")),
    (None, Some("US.13491208655302741918")),
    (None, Some("BR.88877766655544")),
];

/// One message: its sender and which optional fields it carries.
#[derive(Debug, Clone)]
struct Msg {
    sender: usize,
    with_id: bool,
    with_contact: bool,
}

fn msg() -> impl Strategy<Value = Msg> {
    (0..SENDERS.len(), prop::bool::weighted(0.8), any::<bool>()).prop_map(
        |(sender, with_id, with_contact)| Msg {
            sender,
            with_id,
            with_contact,
        },
    )
}

/// One change: a batch of messages or status updates.
#[derive(Debug, Clone)]
enum Change {
    Messages(Vec<Msg>),
    Statuses(usize),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        prop::collection::vec(msg(), 0..5).prop_map(Change::Messages),
        (1usize..3).prop_map(Change::Statuses),
    ]
}

/// The webhook JSON and each message in document order, with the number its text and ID
/// carry (`message N`, `wamid.N`).
fn render(entries: &[Vec<Change>]) -> (Vec<u8>, Vec<(usize, Msg)>) {
    let mut expected = Vec::new();
    let mut next = 0;
    let metadata = json!({"display_phone_number": "15550000000", "phone_number_id": "1"});
    let entries: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(e, changes)| {
            let changes: Vec<Value> = changes
                .iter()
                .map(|change| match change {
                    Change::Messages(messages) => {
                        let mut contacts = Vec::new();
                        let rendered: Vec<Value> = messages
                            .iter()
                            .map(|m| {
                                next += 1;
                                expected.push((next, m.clone()));
                                let (phone, user_id) = SENDERS[m.sender];
                                let mut message = json!({"timestamp": "1700000000", "type": "text", "text": {"body": format!("message {next}")}});
                                if let Some(phone) = phone {
                                    message["from"] = phone.into();
                                }
                                if let Some(user_id) = user_id {
                                    message["from_user_id"] = user_id.into();
                                }
                                if m.with_id {
                                    message["id"] = format!("wamid.{next}").into();
                                }
                                if m.with_contact {
                                    let mut contact = json!({"profile": {"name": "Sender"}});
                                    if let Some(phone) = phone {
                                        contact["wa_id"] = phone.into();
                                    }
                                    if let Some(user_id) = user_id {
                                        contact["user_id"] = user_id.into();
                                    }
                                    contacts.push(contact);
                                }
                                message
                            })
                            .collect();
                        json!({"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, "contacts": contacts, "messages": rendered}})
                    }
                    Change::Statuses(n) => {
                        let statuses: Vec<Value> = (0..*n)
                            .map(|k| json!({"id": format!("wamid.out{k}"), "status": "delivered", "timestamp": "1700000001", "recipient_user_id": "US.1"}))
                            .collect();
                        json!({"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": metadata, "statuses": statuses}})
                    }
                })
                .collect();
            json!({"id": format!("waba{e}"), "changes": changes})
        })
        .collect();
    let body = json!({"object": "whatsapp_business_account", "entry": entries});
    (serde_json::to_vec(&body).unwrap(), expected)
}

/// The trigger's answer must agree with the independent reading the fuzz target uses.
fn check_against_oracle(body: &[u8]) -> Result<(), TestCaseError> {
    let result = webhook::events(body, None);
    match (read(body), result) {
        (Reading::Webhook(expected), Ok(events)) => prop_assert_eq!(events.len(), expected),
        (Reading::Unknown, _) => {}
        (Reading::Webhook(_), Err(reason)) => {
            prop_assert!(false, "a webhook was refused: {}", reason)
        }
        (Reading::NotWebhook, Ok(events)) => {
            prop_assert!(false, "not a webhook, yet {} events", events.len())
        }
        (Reading::NotWebhook, Err(reason)) => prop_assert!(
            ["not a JSON object", "`object`", "`entry`", "UTF-8", "line "]
                .iter()
                .any(|place| reason.contains(place)),
            "the reason names no place: {}",
            reason
        ),
    }
    Ok(())
}

/// JSON-like documents shaped like webhooks, each layer either well formed or a random
/// tree (the right keys at random depths, values of every type), so that every container
/// has the wrong type now and then, and most documents still carry messages: a `field`
/// that is `"messages"`, another string, or not a string at all. The test below checks
/// that the mix holds.
fn json_like() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "object",
        "entry",
        "id",
        "changes",
        "field",
        "value",
        "messages",
        "contacts",
        "from",
        "from_user_id",
        "wa_id",
        "user_id",
        "type",
        "text",
        "body",
        "metadata",
        "statuses",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        prop::sample::select(vec![
            "whatsapp_business_account",
            "messages",
            "statuses",
            "text",
            "x",
            ""
        ])
        .prop_map(Value::from),
    ];
    let tree = leaf.clone().prop_recursive(4, 32, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        ]
    });
    let message = prop_oneof![
        3 => (tree.clone(), prop::sample::select(vec!["text", "image", "x"]), 0..1000u32)
            .prop_map(|(extra, kind, n)| json!({
                "from": "16505551234", "id": format!("wamid.{n}"), "type": kind,
                "text": {"body": "hi"}, "extra": extra,
            })),
        1 => tree.clone(),
    ];
    let field = prop_oneof![3 => Just(json!("messages")), 2 => leaf];
    let value = prop_oneof![
        4 => (prop::collection::vec(message, 0..4), tree.clone())
            .prop_map(|(messages, contacts)| json!({"messages": messages, "contacts": contacts})),
        1 => tree.clone(),
    ];
    let change = prop_oneof![
        4 => (field, value).prop_map(|(field, value)| json!({"field": field, "value": value})),
        1 => tree.clone(),
    ];
    let entry = prop_oneof![
        4 => prop::collection::vec(change, 0..3).prop_map(|changes| json!({"id": "1", "changes": changes})),
        1 => tree.clone(),
    ];
    let entries = prop_oneof![
        4 => prop::collection::vec(entry, 0..3).prop_map(Value::Array),
        1 => tree,
    ];
    (entries, prop::bool::weighted(0.9)).prop_map(|(entry, right_object)| {
        let object = if right_object {
            "whatsapp_business_account"
        } else {
            "page"
        };
        json!({"object": object, "entry": entry})
    })
}

/// A body: any string, or a JSON-like document, whole or cut anywhere.
fn any_body() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => ".{0,256}",
        4 => json_like().prop_map(|document| document.to_string()),
        1 => (json_like(), any::<prop::sample::Index>()).prop_map(|(document, cut)| {
            let text = document.to_string();
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text[..at].to_owned()
        }),
    ]
}

/// What a sample of a generator produces: bodies with messages (by the oracle), bodies
/// with a change whose `field` is not a string but which carries messages, refusals.
fn distribution(strategy: impl Strategy<Value = String>, n: usize) -> (usize, usize, usize) {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut with_messages, mut odd_field, mut refused) = (0, 0, 0);
    for _ in 0..n {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        match read(body.as_bytes()) {
            Reading::Webhook(k) if k > 0 => {
                with_messages += 1;
                let value: Value = serde_json::from_str(&body).unwrap();
                let odd = value["entry"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|entry| {
                        entry["changes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|change| {
                                change.get("field").is_some_and(|f| !f.is_string())
                                    && change["value"]["messages"]
                                        .as_array()
                                        .is_some_and(|m| !m.is_empty())
                            })
                    });
                odd_field += usize::from(odd);
            }
            Reading::NotWebhook => refused += 1,
            _ => {}
        }
    }
    (with_messages, odd_field, refused)
}

#[test]
fn the_generators_make_what_they_claim() {
    let n = 2000;
    let (with_messages, odd_field, refused) =
        distribution(json_like().prop_map(|d| d.to_string()), n);
    assert!(
        with_messages * 6 >= n,
        "{with_messages} of {n} documents carry messages"
    );
    assert!(
        odd_field * 50 >= n,
        "{odd_field} of {n} carry messages under a non-string field"
    );
    assert!(refused * 20 >= n, "{refused} of {n} are refused");
    let (with_messages, _, refused) = distribution(any_body(), n);
    assert!(
        with_messages * 10 >= n,
        "{with_messages} of {n} bodies carry messages"
    );
    assert!(refused * 6 >= n, "{refused} of {n} bodies are refused");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn events_are_the_messages_in_order_filtered_exactly(
        entries in prop::collection::vec(prop::collection::vec(change(), 0..4), 0..4),
        filter in prop::option::of((0..SENDERS.len(), any::<bool>())),
    ) {
        let (body, messages) = render(&entries);
        // Filter by the sender's phone number, or by its BSUID (when it has each).
        let filter_value = filter.and_then(|(s, by_phone)| {
            let (phone, user_id) = SENDERS[s];
            if by_phone { phone.map(|p| format!("+{p}")) } else { user_id.map(str::to_owned) }
        });
        let parsed = SenderFilter::parse(filter_value.as_deref()).unwrap();
        let events = webhook::events(&body, parsed.as_ref()).unwrap();
        let expected: Vec<&(usize, Msg)> = messages
            .iter()
            .filter(|(_, m)| match (&filter_value, filter) {
                (None, _) => true,
                (Some(_), Some((f, by_phone))) => {
                    let s = m.sender;
                    if by_phone { SENDERS[s].0.is_some() && SENDERS[s].0 == SENDERS[f].0 }
                    else { SENDERS[s].1.is_some() && SENDERS[s].1 == SENDERS[f].1 }
                }
                (Some(_), None) => unreachable!(),
            })
            .collect();
        prop_assert_eq!(events.len(), expected.len());
        for (event, (n, expected)) in events.iter().zip(expected.iter().copied()) {
            let s = expected.sender;
            let m = &event.entry.changes.messages;
            // This very message, in this place: its own text and ID, not merely one from
            // the same sender.
            let text = format!("message {n}");
            prop_assert_eq!(m.text.as_deref(), Some(text.as_str()));
            let id = expected.with_id.then(|| format!("wamid.{n}"));
            prop_assert_eq!(m.id.as_deref(), id.as_deref());
            prop_assert_eq!(m.from.as_deref(), SENDERS[s].0);
            prop_assert_eq!(m.from_user_id.as_deref(), SENDERS[s].1);
            match &m.id {
                Some(id) => prop_assert_eq!(&event.dedup_key, id),
                None => prop_assert!(event.dedup_key.starts_with("sha256:")),
            }
            // The sender's own contact card, or none: never another sender's.
            match &event.entry.changes.contacts {
                Some(contact) => prop_assert!(
                    (contact.wa_id.is_some() && contact.wa_id == m.from)
                        || (contact.user_id.is_some() && contact.user_id == m.from_user_id)
                ),
                None => prop_assert!(!expected.with_contact, "the sender's contact was not found"),
            }
        }
        // The same bytes give the same keys.
        let again = webhook::events(&body, parsed.as_ref()).unwrap();
        let keys = |events: &[webhook::Event]| events.iter().map(|e| e.dedup_key.clone()).collect::<Vec<_>>();
        prop_assert_eq!(keys(&events), keys(&again));
    }

    #[test]
    fn signed_batches_pass_the_whole_request_path(
        entries in prop::collection::vec(prop::collection::vec(change(), 0..3), 1..3),
    ) {
        let (body, messages) = render(&entries);
        let headers = [(signature::HEADER.to_owned(), signature::sign("secret", &body))];
        let request = WebhookRequest { method: "POST", headers: &headers, query: "", body: &body };
        let secrets = Secrets { app_secret: Some(Secret::new("secret")), verify_token: None };
        match trigger::handle(request, None, secrets) {
            Ok(Outcome::Events(events)) => {
                prop_assert_eq!(events.len(), messages.len());
                for (event, (n, _)) in events.iter().zip(&messages) {
                    let text = format!("message {n}");
                    prop_assert_eq!(event.entry.changes.messages.text.as_deref(), Some(text.as_str()));
                }
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn json_like_documents_give_the_oracles_count(document in json_like()) {
        check_against_oracle(&serde_json::to_vec(&document).unwrap())?;
    }

    #[test]
    fn any_string_is_events_or_a_reason(body in any_body()) {
        let request = WebhookRequest { method: "POST", headers: &[], query: "", body: body.as_bytes() };
        match trigger::handle(request, None, Secrets::default()) {
            Ok(Outcome::Events(events)) => prop_assert_eq!(Reading::Webhook(events.len()), read(body.as_bytes())),
            Ok(other) => prop_assert!(false, "{:?}", other),
            Err(error) => prop_assert_eq!(read(body.as_bytes()), Reading::NotWebhook, "{:?}", error),
        }
    }

    #[test]
    fn any_complete_mutation_of_a_real_webhook_agrees_with_the_oracle(
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut body = include_bytes!("../fixtures/mixed_identities_and_status.json").to_vec();
        let at = position.index(body.len());
        body[at] = byte;
        check_against_oracle(&body)?;
    }

    #[test]
    fn any_truncation_of_a_real_webhook_is_refused_or_complete(cut in any::<prop::sample::Index>()) {
        let body = include_bytes!("../fixtures/mixed_identities_and_status.json");
        let cut = cut.index(body.len());
        check_against_oracle(&body[..cut])?;
    }
}
