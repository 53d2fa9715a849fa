//! Trigger "Message received" on the real component: Meta's documented webhook
//! examples, the sender filter, signatures, the handshake and malformed bodies.

use crate::{connector, event_json, fixture, post};
use host_harness::bindings::{
    Event, Outcome, Properties, WebhookError, WebhookRequest, WebhookSecrets,
};
use host_harness::sign_webhook;
use serde_json::{Value, json};

const APP_SECRET: &str = "app-secret-for-tests";

fn no_filter() -> Properties {
    Properties {
        sender_number: None,
    }
}

fn no_secrets() -> WebhookSecrets {
    WebhookSecrets {
        app_secret: None,
        verify_token: None,
    }
}

async fn handle(
    request: &WebhookRequest,
    properties: &Properties,
    secrets: &WebhookSecrets,
) -> Result<Outcome, WebhookError> {
    connector()
        .handle_webhook(request, properties, secrets)
        .await
        .expect("no trap")
}

async fn events_of(name: &str, sender: Option<&str>) -> Vec<Event> {
    let properties = Properties {
        sender_number: sender.map(str::to_owned),
    };
    match handle(&post(fixture(name), &[]), &properties, &no_secrets()).await {
        Ok(Outcome::Events(events)) => events,
        other => panic!("{name}: {other:?}"),
    }
}

fn ids(events: &[Event]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.entry.changes.messages.id.as_deref().unwrap())
        .collect()
}

const W1: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";
const W2: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFFMkI1MjBGQzQ2MzJERkY4OQA=";
const W3: &str = "wamid.HBgLMTY1MDU1NTk4NzYVAgASGBQzQjY5RTUzN0E5MzY0QzE2RjE1NAA=";

#[tokio::test]
async fn a_text_message_is_one_event_in_the_documented_shape() {
    let events = events_of("text_message.json", None).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        event_json(&events[0]),
        json!({
            "object": "whatsapp_business_account",
            "entry": {
                "id": "102290129340398",
                "changes": {
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
                    },
                    "contacts": {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"},
                    "messages": {
                        "from": "16505551234",
                        "id": W1,
                        "timestamp": "1749416383",
                        "type": "text",
                        "text": {"body": "Does it come in another color?"}
                    }
                }
            }
        })
    );
}

#[tokio::test]
async fn a_one_message_call_stays_in_five_pages_of_memory() {
    // A fresh instance per request resets whatever memory the call used, so the guest
    // keeps a call in its initial 5 pages (a 256 KiB stack, the data, and the free end
    // its allocator starts in). An allocator that grew memory for its first segment
    // made every fresh instance slower (README, Performance).
    let kept = connector().keep_instance().await.unwrap();
    let request = post(fixture("text_message.json"), &[]);
    match kept
        .handle_webhook(&request, &no_filter(), &no_secrets())
        .await
        .unwrap()
    {
        Ok(Outcome::Events(events)) => assert_eq!(events.len(), 1),
        other => panic!("{other:?}"),
    }
    let pages = kept.peak_memory() / 65536;
    assert!((1..=5).contains(&pages), "{pages} pages after one call");
}

#[tokio::test]
async fn batches_yield_one_event_per_message_in_order() {
    let two = events_of("two_messages.json", None).await;
    assert_eq!(ids(&two), [W1, W3]);
    // Each event carries the contact of its own sender.
    let names: Vec<_> = two
        .iter()
        .map(|e| {
            e.entry
                .changes
                .contacts
                .as_ref()
                .unwrap()
                .profile_name
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(names, ["Sheena Nelson", "Pablo Morales"]);
    assert_eq!(
        two[1].entry.changes.messages.text.as_ref().unwrap().body,
        "And in size M?"
    );

    let entries = events_of("two_entries.json", None).await;
    assert_eq!(ids(&entries), [W1, W3]);
    let entry_ids: Vec<_> = entries
        .iter()
        .map(|e| e.entry.id.as_deref().unwrap())
        .collect();
    assert_eq!(entry_ids, ["102290129340398", "104996122399160"]);
}

#[tokio::test]
async fn replies_and_non_text_types_keep_everything() {
    let reply = &events_of("reply_with_context.json", None).await[0];
    let reply = event_json(reply);
    assert_eq!(
        reply["entry"]["changes"]["messages"]["context"]["from"],
        "15550783881"
    );
    assert_eq!(
        reply["entry"]["changes"]["messages"]["text"]["body"],
        "Yes, the blue one please"
    );

    let cases: [(&str, &str, &str, Value); 5] = [
        ("image.json", "image", "/id", json!("1003383421387256")),
        ("location.json", "location", "/latitude", json!(37.483307)),
        (
            "interactive_button_reply.json",
            "interactive",
            "/button_reply/id",
            json!("change-button"),
        ),
        ("reaction.json", "reaction", "/emoji", json!("👍")),
        ("unsupported.json", "unsupported", "/type", json!("edit")),
    ];
    for (name, kind, pointer, expected) in cases {
        let events = events_of(name, None).await;
        assert_eq!(events.len(), 1, "{name}");
        let message = &events[0].entry.changes.messages;
        assert_eq!(message.type_.as_deref(), Some(kind), "{name}");
        assert_eq!(message.id.as_deref(), Some(W2), "{name}");
        assert!(
            message.text.is_none(),
            "{name}: text only for text messages"
        );
        let rendered = event_json(&events[0]);
        let object = &rendered["entry"]["changes"]["messages"][kind];
        assert_eq!(
            object.pointer(pointer),
            Some(&expected),
            "{name}: {rendered}"
        );
    }
    let unsupported = &events_of("unsupported.json", None).await[0];
    assert!(
        unsupported
            .entry
            .changes
            .messages
            .errors
            .as_deref()
            .unwrap()
            .contains("131051")
    );
    let button = event_json(&events_of("interactive_button_reply.json", None).await[0]);
    assert!(button["entry"]["changes"]["messages"]["context"]["id"].is_string());
}

#[tokio::test]
async fn status_updates_yield_no_event_and_no_error() {
    assert!(events_of("statuses_only.json", None).await.is_empty());
    let mixed = events_of("message_and_status.json", None).await;
    assert_eq!(ids(&mixed), [W1]);
    let batch = events_of("batch_two_messages_one_status.json", None).await;
    assert_eq!(ids(&batch), [W1, W3]);
}

#[tokio::test]
async fn the_sender_filter_compares_digits_only() {
    for written in [
        "+1 (650) 555-1234",
        "16505551234",
        "+16505551234",
        "1-650-555-1234",
    ] {
        let events = events_of("two_messages.json", Some(written)).await;
        assert_eq!(ids(&events), [W1], "{written}");
    }
    assert!(
        events_of("two_messages.json", Some("+1 650 555 0000"))
            .await
            .is_empty()
    );
    assert_eq!(events_of("two_messages.json", Some("")).await.len(), 2);
    let letters = Properties {
        sender_number: Some("alice".into()),
    };
    match handle(
        &post(fixture("two_messages.json"), &[]),
        &letters,
        &no_secrets(),
    )
    .await
    {
        Err(WebhookError::InvalidProperty(f)) => assert_eq!(f.field, "sender-number"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn signatures_are_checked_on_the_raw_body() {
    let secrets = WebhookSecrets {
        app_secret: Some(APP_SECRET.into()),
        verify_token: None,
    };
    let body = fixture("two_messages.json");
    let good = sign_webhook(APP_SECRET, &body);
    match handle(
        &post(body.clone(), &[("X-Hub-Signature-256", &good)]),
        &no_filter(),
        &secrets,
    )
    .await
    {
        Ok(Outcome::Events(events)) => assert_eq!(events.len(), 2),
        other => panic!("{other:?}"),
    }

    let mut changed = body.clone();
    let at = changed.iter().position(|&b| b == b'M').unwrap();
    changed[at] = b'L';
    let wrong = sign_webhook("another-secret", &body);
    let odd = format!("{}0", &good);
    let bad: Vec<(Vec<u8>, Option<String>)> = vec![
        (body.clone(), Some(wrong)),
        (body.clone(), None),
        (changed, Some(good.clone())),
        (body.clone(), Some(good.replacen("sha256=", "sha1=", 1))),
        (body.clone(), Some(odd)),
        (body.clone(), Some(String::new())),
        (
            body.clone(),
            Some(good.to_uppercase().replacen("SHA256", "sha256", 1)),
        ),
    ];
    for (body, signature) in bad {
        let headers: Vec<(&str, &str)> = signature
            .iter()
            .map(|s| ("x-hub-signature-256", s.as_str()))
            .collect();
        match handle(&post(body, &headers), &no_filter(), &secrets).await {
            Err(WebhookError::InvalidSignature(reason)) => {
                assert!(!reason.contains(APP_SECRET));
                assert!(
                    !reason.contains(&good[7..]),
                    "the error names the right signature"
                );
            }
            other => panic!("{signature:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_handshake_echoes_the_challenge_only_for_the_right_token() {
    let secrets = WebhookSecrets {
        app_secret: None,
        verify_token: Some("s3cret-verify".into()),
    };
    let get = |query: &str| WebhookRequest {
        method: "GET".into(),
        headers: vec![],
        query: query.into(),
        body: vec![],
    };
    match handle(
        &get("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=s3cret-verify"),
        &no_filter(),
        &secrets,
    )
    .await
    {
        Ok(Outcome::Respond(r)) => {
            assert_eq!(
                (r.status, r.body.as_str(), r.content_type.as_str()),
                (200, "1158201444", "text/plain")
            );
        }
        other => panic!("{other:?}"),
    }
    let wrong = handle(
        &get("hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess"),
        &no_filter(),
        &secrets,
    )
    .await;
    let Err(error) = wrong else {
        panic!("{wrong:?}")
    };
    assert!(matches!(error, WebhookError::VerificationFailed(_)));
    assert_eq!(host_harness::bindings::webhook_error_status(&error), 403);
    let none_configured = handle(
        &get("hub.mode=subscribe&hub.challenge=1&hub.verify_token=x"),
        &no_filter(),
        &no_secrets(),
    )
    .await;
    assert!(matches!(
        none_configured,
        Err(WebhookError::VerificationFailed(_))
    ));
    for query in [
        "",
        "hub.mode=subscribe&hub.verify_token=s3cret-verify",
        "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=s3cret-verify",
    ] {
        assert!(
            matches!(
                handle(&get(query), &no_filter(), &secrets).await,
                Err(WebhookError::InvalidHandshake(_))
            ),
            "{query}"
        );
    }
    let put = WebhookRequest {
        method: "PUT".into(),
        ..get("")
    };
    assert!(matches!(
        handle(&put, &no_filter(), &secrets).await,
        Err(WebhookError::MethodNotAllowed(_))
    ));
}

#[tokio::test]
async fn bodies_that_are_not_webhooks_are_refused_with_the_reason() {
    let text = String::from_utf8(fixture("text_message.json")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", b"hello".to_vec(), "not a JSON object"),
        ("not JSON in braces", b"{hello}".to_vec(), "line 1"),
        ("a JSON array", b"[1,2]".to_vec(), "not a JSON object"),
        (
            "no entry",
            br#"{"object":"whatsapp_business_account"}"#.to_vec(),
            "entry",
        ),
        (
            "wrong object",
            br#"{"object":"page","entry":[]}"#.to_vec(),
            "\"page\"",
        ),
        (
            "truncated",
            text.as_bytes()[..text.len() / 2].to_vec(),
            "EOF",
        ),
        ("invalid UTF-8", b"{\"object\":\"\xff\"}".to_vec(), "UTF-8"),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            "not a JSON object",
        ),
        (
            "a duplicate key",
            text.replacen(
                "\"object\": \"whatsapp_business_account\"",
                "\"object\": \"whatsapp_business_account\", \"object\": \"page\"",
                1,
            )
            .into_bytes(),
            "duplicate field `object`",
        ),
        (
            "entry as an object",
            br#"{"object":"whatsapp_business_account","entry":{"id":"1"}}"#.to_vec(),
            "`entry` is missing or not a list",
        ),
    ];
    for (name, body, expected) in cases {
        match handle(&post(body, &[]), &no_filter(), &no_secrets()).await {
            Err(WebhookError::InvalidPayload(reason)) => {
                assert!(reason.contains(expected), "{name}: {reason}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // After all of that, the same connector still works.
    assert_eq!(events_of("text_message.json", None).await.len(), 1);
}

/// The identifiers of an event: (from, from_user_id, from_parent_user_id) of the message
/// and (wa_id, user_id, parent_user_id, username) of its contact.
type Ids = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<(
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    )>,
);

fn identifiers(event: &Event) -> Ids {
    let m = &event.entry.changes.messages;
    (
        m.from.clone(),
        m.from_user_id.clone(),
        m.from_parent_user_id.clone(),
        event.entry.changes.contacts.as_ref().map(|c| {
            (
                c.wa_id.clone(),
                c.user_id.clone(),
                c.parent_user_id.clone(),
                c.username.clone(),
            )
        }),
    )
}

fn s(value: &str) -> Option<String> {
    Some(value.to_owned())
}

const SHEENA: &str = "US.28761902937126571823";
const PABLO: &str = "US.13491208655302741918";
const PARENT: &str = "US.ENT.11815799212886844830";

#[tokio::test]
async fn a_username_user_without_a_phone_number_is_an_event() {
    let events = events_of("username_only_text.json", None).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        identifiers(&events[0]),
        (
            None,
            s(PABLO),
            None,
            Some((None, s(PABLO), None, s("@pablo.m")))
        )
    );
    assert_eq!(
        event_json(&events[0])["entry"]["changes"],
        json!({
            "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
            },
            "contacts": {"profile": {"name": "Pablo Morales", "username": "@pablo.m"}, "user_id": PABLO},
            "messages": {
                "from_user_id": PABLO,
                "id": "wamid.HBgLVVMuMTM0OTEyMDg2NTUzMDI3NDE5MTgVAgASGBQzQUJDMTIzNDU2Nzg5MEFCQ0RFRgA=",
                "timestamp": "1775200000",
                "type": "text",
                "text": {"body": "Hi, do you ship to Canada?"}
            }
        })
    );
}

#[tokio::test]
async fn a_message_with_a_phone_number_and_user_ids_keeps_them_all() {
    let events = events_of("phone_and_user_ids.json", None).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        identifiers(&events[0]),
        (
            s("16505551234"),
            s(SHEENA),
            s(PARENT),
            Some((s("16505551234"), s(SHEENA), s(PARENT), None))
        )
    );
}

#[tokio::test]
async fn a_mixed_batch_gives_every_message_and_no_status() {
    let events = events_of("mixed_identities_and_status.json", None).await;
    assert_eq!(events.len(), 2, "two messages; the status is no message");
    assert_eq!(
        identifiers(&events[0]),
        (
            s("16505551234"),
            s(SHEENA),
            None,
            Some((s("16505551234"), s(SHEENA), None, None))
        )
    );
    assert_eq!(
        identifiers(&events[1]),
        (
            None,
            s(PABLO),
            s(PARENT),
            Some((None, s(PABLO), s(PARENT), s("@pablo.m")))
        )
    );
    assert_eq!(
        ids(&events),
        [
            W1,
            "wamid.HBgLVVMuMTM0OTEyMDg2NTUzMDI3NDE5MTgVAgASGBQzQUJDMTIzNDU2Nzg5MEFCQ0RFRgA="
        ]
    );
}

#[tokio::test]
async fn a_user_changed_user_id_system_message_is_an_event() {
    let events = events_of("system_user_changed_user_id.json", None).await;
    assert_eq!(events.len(), 1);
    assert_eq!(identifiers(&events[0]), (None, s(PABLO), None, None));
    let rendered = event_json(&events[0]);
    let message = &rendered["entry"]["changes"]["messages"];
    assert_eq!(message["type"], "system");
    assert_eq!(message["system"]["type"], "user_changed_user_id");
    assert_eq!(message["system"]["user_id"], "US.57710396284519237761");
    assert!(rendered["entry"]["changes"].get("contacts").is_none());
}

#[tokio::test]
async fn the_sender_filter_takes_a_phone_number_or_a_user_id() {
    let mixed = "mixed_identities_and_status.json";
    let from = |events: &[Event]| -> Vec<Option<String>> {
        events
            .iter()
            .map(|e| e.entry.changes.messages.from_user_id.clone())
            .collect()
    };
    assert_eq!(from(&events_of(mixed, Some(PABLO)).await), [s(PABLO)]);
    assert_eq!(from(&events_of(mixed, Some(PARENT)).await), [s(PABLO)]);
    assert_eq!(from(&events_of(mixed, Some(SHEENA)).await), [s(SHEENA)]);
    assert_eq!(
        from(&events_of(mixed, Some("+1 650 555 1234")).await),
        [s(SHEENA)]
    );
    // A username user shares no phone number: no phone filter matches them.
    assert!(
        events_of("username_only_text.json", Some("+1 650 555 1234"))
            .await
            .is_empty()
    );
    assert!(
        events_of("username_only_text.json", Some("US.999"))
            .await
            .is_empty()
    );
    for bad in ["US.", "U.123", "US.12 3"] {
        let properties = Properties {
            sender_number: Some(bad.into()),
        };
        match handle(&post(fixture(mixed), &[]), &properties, &no_secrets()).await {
            Err(WebhookError::InvalidProperty(f)) => assert_eq!(f.field, "sender-number"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn no_message_is_refused_for_its_shape() {
    let text: Value = serde_json::from_slice(&fixture("text_message.json")).unwrap();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = text.clone();
        edit(&mut body["entry"][0]["changes"][0]["value"]);
        serde_json::to_vec(&body).unwrap()
    };
    let message = |edit: &'static dyn Fn(&mut serde_json::Map<String, Value>)| {
        with(&move |value: &mut Value| edit(value["messages"][0].as_object_mut().unwrap()))
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("no from", message(&|m| drop(m.remove("from")))),
        ("no id", message(&|m| drop(m.remove("id")))),
        ("no timestamp", message(&|m| drop(m.remove("timestamp")))),
        ("no type", message(&|m| drop(m.remove("type")))),
        (
            "from as a number",
            message(&|m| drop(m.insert("from".into(), json!(16505551234u64)))),
        ),
        (
            "id as a number",
            message(&|m| drop(m.insert("id".into(), json!(12345)))),
        ),
        (
            "no contacts",
            with(&|v| drop(v.as_object_mut().unwrap().remove("contacts"))),
        ),
        (
            "no profile",
            with(&|v| drop(v["contacts"][0].as_object_mut().unwrap().remove("profile"))),
        ),
        (
            "no wa_id",
            with(&|v| drop(v["contacts"][0].as_object_mut().unwrap().remove("wa_id"))),
        ),
        (
            "no metadata",
            with(&|v| drop(v.as_object_mut().unwrap().remove("metadata"))),
        ),
        (
            "no phone_number_id",
            with(&|v| {
                drop(
                    v["metadata"]
                        .as_object_mut()
                        .unwrap()
                        .remove("phone_number_id"),
                )
            }),
        ),
        (
            "no messaging_product",
            with(&|v| drop(v.as_object_mut().unwrap().remove("messaging_product"))),
        ),
        ("contacts not a list", with(&|v| v["contacts"] = json!("x"))),
        (
            "a message that is a string",
            with(&|v| v["messages"][0] = json!("just text")),
        ),
    ];
    for (name, body) in cases {
        let events = match handle(&post(body.clone(), &[]), &no_filter(), &no_secrets()).await {
            Ok(Outcome::Events(events)) => events,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(events.len(), 1, "{name}");
        // The event carries the message: every member of it is in the JSON output.
        let original: Value = serde_json::from_slice(&body).unwrap();
        let original = &original["entry"][0]["changes"][0]["value"]["messages"][0];
        let rendered = event_json(&events[0]);
        let rendered = &rendered["entry"]["changes"]["messages"];
        match original.as_object() {
            Some(members) => {
                for (key, value) in members {
                    assert_eq!(&rendered[key], value, "{name}: {key}");
                }
            }
            None => assert_eq!(rendered, original, "{name}"),
        }
        assert!(!events[0].dedup_key.is_empty(), "{name}");
    }
    // The same body twice: the same key (a redelivery is recognised even without an id).
    let no_id = message(&|m| drop(m.remove("id")));
    let key = |outcome: Result<Outcome, WebhookError>| match outcome {
        Ok(Outcome::Events(events)) => events[0].dedup_key.clone(),
        other => panic!("{other:?}"),
    };
    let first = key(handle(&post(no_id.clone(), &[]), &no_filter(), &no_secrets()).await);
    let second = key(handle(&post(no_id, &[]), &no_filter(), &no_secrets()).await);
    assert_eq!(first, second);
    assert!(
        first.starts_with("sha256:") && first.len() == 7 + 64,
        "{first}"
    );
}

#[tokio::test]
async fn unknown_members_and_identity_referral_group_reach_the_event() {
    let mut body: Value = serde_json::from_slice(&fixture("text_message.json")).unwrap();
    let extra = json!({
        "identity": {"acknowledged": true, "created_timestamp": 1602532300000u64, "hash": "Sjvjlx8G6Z0="},
        "referral": {"source_url": "https://fb.me/x", "source_type": "ad", "source_id": "1"},
        "group_id": "120363000000000000@g.us",
        "brand_new_field": [1, {"a": null}]
    });
    for (key, value) in extra.as_object().unwrap() {
        body["entry"][0]["changes"][0]["value"]["messages"][0][key] = value.clone();
    }
    let body = serde_json::to_vec(&body).unwrap();
    let events = match handle(&post(body, &[]), &no_filter(), &no_secrets()).await {
        Ok(Outcome::Events(events)) => events,
        other => panic!("{other:?}"),
    };
    let names: Vec<&str> = events[0]
        .entry
        .changes
        .messages
        .others
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["identity", "referral", "brand_new_field"]);
    assert_eq!(
        events[0].entry.changes.messages.group_id.as_deref(),
        Some("120363000000000000@g.us")
    );
    let rendered = event_json(&events[0]);
    for (key, value) in extra.as_object().unwrap() {
        assert_eq!(
            &rendered["entry"]["changes"]["messages"][key], value,
            "{key}"
        );
    }
}

#[tokio::test]
async fn raw_json_keeps_its_shape_at_any_depth() {
    // 10,000 levels: far past any JSON parser's recursion limit (serde_json's is 128).
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let text = String::from_utf8(fixture("image.json")).unwrap();
    for field in ["context", "image", "errors", "referral"] {
        // The member's value becomes the deep array, whatever it was.
        let mut body: Value = serde_json::from_str(&text).unwrap();
        body["entry"][0]["changes"][0]["value"]["messages"][0][field] = json!("PLACEHOLDER");
        let body = body.to_string().replace("\"PLACEHOLDER\"", &deep);
        let events = match handle(&post(body.into_bytes(), &[]), &no_filter(), &no_secrets()).await
        {
            Ok(Outcome::Events(events)) => events,
            other => panic!("{field}: {other:?}"),
        };
        let line = host_harness::json::event_line(events[0].clone()).unwrap();
        // Embedded as JSON, unchanged: never turned into a string.
        assert!(line.contains(&format!("\"{field}\":{deep}")), "{field}");
        assert!(!line.contains(&format!("\"{field}\":\"")), "{field}");
    }
}

/// The envelope every fixture below shares: Meta's example business and sender.
fn documented(message: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": {
            "id": "102290129340398",
            "changes": {
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}
                },
                "contacts": {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"},
                "messages": message
            }
        }
    })
}

const ORIGINAL: &str = "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk4QzZENUQ0NUQ3RTlBMQA=";
const NOT_JSON: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzRkxPV05PVEpTT04wMDAwMDAwMDAA";
const EDITED: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzRURJVEVEMDAwMDAwMDAwMDAwMDAA";
const REVOKED: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzUkVWT0tFRDAwMDAwMDAwMDAwMDAA";
const IN_GROUP: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzR1JPVVAwMDAwMDAwMDAwMDAwMDAA";

#[tokio::test]
async fn a_flow_s_answers_arrive_as_an_object_next_to_meta_s_text() {
    let events = events_of("flow_nfm_reply.json", None).await;
    assert_eq!(events.len(), 1);
    let reply = events[0]
        .entry
        .changes
        .messages
        .flow_reply
        .as_ref()
        .unwrap();
    assert_eq!(reply.flow_token.as_deref(), Some("booking-42"));
    assert_eq!(reply.invalid_reason, None);
    let text = "{\"flow_token\": \"booking-42\", \"appointment_date\": \"2026-12-01\", \"services\": [\"haircut\", \"beard\"]}";
    assert_eq!(
        event_json(&events[0]),
        documented(json!({
            "from": "16505551234",
            "id": W2,
            "timestamp": "1739321024",
            "type": "interactive",
            "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": text}},
            "context": {"from": "15550783881", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"},
            "flow_reply": {
                "response": {"flow_token": "booking-42", "appointment_date": "2026-12-01", "services": ["haircut", "beard"]},
                "flow_token": "booking-42"
            }
        }))
    );
    assert_eq!(events[0].dedup_key, W2);

    // Answers that are not JSON: still one event, with the text and the reason.
    let events = events_of("flow_nfm_reply_not_json.json", None).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        event_json(&events[0]),
        documented(json!({
            "from": "16505551234",
            "id": NOT_JSON,
            "timestamp": "1739321024",
            "type": "interactive",
            "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "flow_token=booking-42"}},
            "flow_reply": {"invalid_reason": "`nfm_reply.response_json` is not the JSON text of an object"}
        }))
    );
}

#[tokio::test]
async fn edits_and_deletions_carry_the_original_message_s_id() {
    let edit = events_of("edit_message.json", None).await;
    assert_eq!(edit.len(), 1);
    assert_eq!(
        edit[0].entry.changes.messages.type_.as_deref(),
        Some("edit")
    );
    assert_eq!(
        edit[0]
            .entry
            .changes
            .messages
            .original_message_id
            .as_deref(),
        Some(ORIGINAL)
    );
    assert_eq!(
        event_json(&edit[0]),
        documented(json!({
            "from": "16505551234",
            "id": EDITED,
            "timestamp": "1739321024",
            "type": "edit",
            "edit": {
                "original_message_id": ORIGINAL,
                "message": {
                    "context": {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"},
                    "type": "image",
                    "image": {
                        "caption": "The blue one, not the red",
                        "mime_type": "image/jpeg",
                        "sha256": "McgQL3ARmJJlg7zQiXO86hGJkdDmj3bTkQhK68z76Yw=",
                        "id": "1003383421387256",
                        "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256"
                    }
                }
            },
            "original_message_id": ORIGINAL
        }))
    );
    let revoke = events_of("revoke_message.json", None).await;
    assert_eq!(revoke.len(), 1);
    assert_eq!(
        event_json(&revoke[0]),
        documented(json!({
            "from": "16505551234",
            "id": REVOKED,
            "timestamp": "1739321024",
            "type": "revoke",
            "revoke": {"original_message_id": ORIGINAL},
            "original_message_id": ORIGINAL
        }))
    );
    // The edit and the deletion are events of their own, with keys of their own.
    assert_eq!(revoke[0].dedup_key, REVOKED);
}

#[tokio::test]
async fn a_group_message_names_its_group() {
    let events = events_of("group_text_message.json", None).await;
    assert_eq!(events.len(), 1);
    let group = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD";
    assert_eq!(
        events[0].entry.changes.messages.group_id.as_deref(),
        Some(group)
    );
    assert!(events[0].entry.changes.messages.others.is_empty());
    assert_eq!(
        event_json(&events[0]),
        documented(json!({
            "from": "16505551234",
            "id": IN_GROUP,
            "timestamp": "1739321024",
            "type": "text",
            "text": {"body": "What do you all think about this?"},
            "group_id": group
        }))
    );
}
