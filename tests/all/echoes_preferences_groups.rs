//! Triggers "Message echoed", "Marketing preference changed" and "Group updated" on the
//! real component, with Meta's documented webhooks (every field of each event asserted),
//! their filters, and one batch that every trigger reads its own part of.

use host_harness::bindings::{
    self, EchoOutcome, EchoProperties, GroupOutcome, GroupProperties, Outcome, PreferenceOutcome,
    PreferenceProperties, Properties, StatusOutcome, StatusProperties, WebhookError,
    WebhookSecrets,
};
use serde_json::{Value, json};

use crate::{connector, fixture, post};

const GROUP: &str = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD";

fn no_secrets() -> WebhookSecrets {
    WebhookSecrets {
        app_secret: None,
        verify_token: None,
    }
}

/// The envelope of every fixture here: Meta's example account and number.
fn envelope(changes: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": {"id": "102290129340398", "changes": changes}
    })
}

fn value() -> Value {
    json!({"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}})
}

async fn echoes(name: &str, recipient: Option<&str>) -> Result<Vec<(String, Value)>, WebhookError> {
    let properties = EchoProperties {
        recipient: recipient.map(str::to_owned),
    };
    match connector()
        .handle_echo_webhook(&post(fixture(name), &[]), &properties, &no_secrets())
        .await
        .unwrap()?
    {
        EchoOutcome::Events(events) => Ok(events
            .into_iter()
            .map(|e| {
                let key = e.dedup_key.clone();
                (
                    key,
                    serde_json::to_value(bindings::echo_event(e).unwrap()).unwrap(),
                )
            })
            .collect()),
        EchoOutcome::Respond(r) => panic!("{r:?}"),
    }
}

async fn preferences(name: &str, customer: Option<&str>) -> Vec<(String, Value)> {
    let properties = PreferenceProperties {
        customer: customer.map(str::to_owned),
    };
    match connector()
        .handle_preference_webhook(&post(fixture(name), &[]), &properties, &no_secrets())
        .await
        .unwrap()
    {
        Ok(PreferenceOutcome::Events(events)) => events
            .into_iter()
            .map(|e| {
                let key = e.dedup_key.clone();
                (
                    key,
                    serde_json::to_value(bindings::preference_event(e).unwrap()).unwrap(),
                )
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

async fn groups(name: &str, fields: &[&str], group_id: Option<&str>) -> Vec<(String, Value)> {
    let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    let properties: GroupProperties =
        bindings::group_properties(&fields, group_id.map(str::to_owned)).unwrap();
    match connector()
        .handle_group_webhook(&post(fixture(name), &[]), &properties, &no_secrets())
        .await
        .unwrap()
    {
        Ok(GroupOutcome::Events(events)) => events
            .into_iter()
            .map(|e| {
                let key = e.dedup_key.clone();
                (
                    key,
                    serde_json::to_value(bindings::group_event(e).unwrap()).unwrap(),
                )
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// The fixture's one change's element of `list`, as Meta sent it.
fn element(name: &str, list: &str) -> Value {
    let body: Value = serde_json::from_slice(&fixture(name)).unwrap();
    body["entry"][0]["changes"][0]["value"][list][0].clone()
}

#[tokio::test]
async fn a_message_sent_from_the_business_app_is_an_echo_in_the_shape_of_a_message() {
    let events = echoes("smb_message_echo.json", None).await.unwrap();
    assert_eq!(events.len(), 1);
    let (key, event) = &events[0];
    let id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=";
    assert_eq!(key, id);
    assert_eq!(
        *event,
        envelope(json!({
            "value": value(),
            "message_echoes": {
                "from": "15550783881",
                "to": "16505551234",
                "id": id,
                "timestamp": "1739321024",
                "type": "text",
                "text": {"body": "Here's the info you requested! https://www.meta.com/quest/quest-3/"}
            }
        }))
    );
    // The recipient filter, by digits; a bad one is the trigger's configuration error.
    assert_eq!(
        echoes("smb_message_echo.json", Some("+1 (650) 555-1234"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        echoes("smb_message_echo.json", Some("+1 650 555 0000"))
            .await
            .unwrap()
            .is_empty()
    );
    match echoes("smb_message_echo.json", Some("somebody")).await {
        Err(WebhookError::InvalidProperty(f)) => assert_eq!(f.field, "recipient"),
        other => panic!("{other:?}"),
    }
    // "Message received" does not see the business's own echo.
    let received = connector()
        .handle_webhook(
            &post(fixture("smb_message_echo.json"), &[]),
            &Properties {
                sender_number: None,
            },
            &no_secrets(),
        )
        .await
        .unwrap();
    assert!(matches!(received, Ok(Outcome::Events(e)) if e.is_empty()));
}

#[tokio::test]
async fn a_customer_stopping_and_resuming_marketing_is_two_events() {
    let stop = preferences("user_preferences_stop.json", None).await;
    let resume = preferences("user_preferences_resume.json", None).await;
    assert_eq!((stop.len(), resume.len()), (1, 1));
    assert_eq!(stop[0].0, "16505551234:marketing_messages:stop:1739321024");
    assert_eq!(
        resume[0].0,
        "16505551234:marketing_messages:resume:1731705721"
    );
    assert_eq!(
        stop[0].1,
        envelope(json!({
            "value": value(),
            "contacts": {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"},
            "user_preferences": {
                "wa_id": "16505551234",
                "detail": "User requested to stop marketing messages",
                "category": "marketing_messages",
                "value": "stop",
                "timestamp": 1739321024
            }
        }))
    );
    assert_eq!(
        resume[0].1,
        envelope(json!({
            "value": value(),
            "contacts": {"wa_id": "16505551234"},
            "user_preferences": {
                "wa_id": "16505551234",
                "detail": "User requested to resume marketing messages",
                "category": "marketing_messages",
                "value": "resume",
                "timestamp": 1731705721
            }
        }))
    );
    assert_eq!(
        preferences("user_preferences_stop.json", Some("+16505551234"))
            .await
            .len(),
        1
    );
    assert!(
        preferences("user_preferences_stop.json", Some("+16505550000"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn every_group_webhook_is_an_event_that_keeps_every_member() {
    let cases = [
        (
            "group_lifecycle_create.json",
            "group_lifecycle_update",
            "lifecycle",
        ),
        (
            "group_lifecycle_create_failed.json",
            "group_lifecycle_update",
            "lifecycle",
        ),
        (
            "group_participants_join.json",
            "group_participants_update",
            "participants",
        ),
        (
            "group_settings_update.json",
            "group_settings_update",
            "settings",
        ),
        ("group_status_suspend.json", "group_status_update", "status"),
    ];
    let mut keys = Vec::new();
    for (name, field, kind) in cases {
        let events = groups(name, &[], None).await;
        assert_eq!(events.len(), 1, "{name}");
        let (key, event) = &events[0];
        assert!(key.starts_with("sha256:"), "{name}: {key}");
        keys.push(key.clone());
        assert_eq!(
            *event,
            envelope(json!({"field": field, "value": value(), "groups": element(name, "groups")})),
            "{name}"
        );
        // Only its own kind of update fires it.
        assert_eq!(groups(name, &[kind], None).await.len(), 1, "{name}");
        let others: Vec<&str> = ["lifecycle", "participants", "settings", "status"]
            .into_iter()
            .filter(|k| *k != kind)
            .collect();
        assert!(groups(name, &others, None).await.is_empty(), "{name}");
    }
    keys.dedup();
    assert_eq!(keys.len(), 5, "every update has a key of its own");
    // The creation's result carries the request ID the create call answered with.
    let created = &groups("group_lifecycle_create.json", &[], None).await[0].1;
    let update = &created["entry"]["changes"]["groups"];
    assert_eq!(update["request_id"], "6d2f7a30-5d4e-4c8e-9a1b-3f0e2a1b7c9d");
    assert_eq!(
        update["invite_link"],
        "https://chat.whatsapp.com/Ba6Ga5Sg7jE2ICqZqHkYxq"
    );
    let failed = &groups("group_lifecycle_create_failed.json", &[], None).await[0].1;
    assert_eq!(
        failed["entry"]["changes"]["groups"]["errors"][0]["code"],
        131000
    );
    // The group filter.
    assert_eq!(
        groups("group_participants_join.json", &[], Some(GROUP))
            .await
            .len(),
        1
    );
    assert!(
        groups("group_participants_join.json", &[], Some("another"))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn every_trigger_takes_its_own_part_of_a_mixed_batch_and_nothing_is_lost() {
    let name = "mixed_2026_batch.json";
    let request = post(fixture(name), &[]);
    let c = connector();
    let messages = match c
        .handle_webhook(
            &request,
            &Properties {
                sender_number: None,
            },
            &no_secrets(),
        )
        .await
        .unwrap()
    {
        Ok(Outcome::Events(e)) => e,
        other => panic!("{other:?}"),
    };
    let statuses = match c
        .handle_status_webhook(
            &request,
            &StatusProperties {
                statuses: vec![],
                recipient: None,
            },
            &no_secrets(),
        )
        .await
        .unwrap()
    {
        Ok(StatusOutcome::Events(e)) => e,
        other => panic!("{other:?}"),
    };
    let echoes = echoes(name, None).await.unwrap();
    let preferences = preferences(name, None).await;
    let groups = groups(name, &[], None).await;
    assert_eq!(
        (
            messages.len(),
            statuses.len(),
            echoes.len(),
            preferences.len(),
            groups.len()
        ),
        (1, 1, 1, 1, 1)
    );
    let body: Value = serde_json::from_slice(&fixture(name)).unwrap();
    let change = |i: usize, list: &str| body["entry"][0]["changes"][i]["value"][list][0].clone();
    assert_eq!(
        crate::event_json(&messages[0])["entry"]["changes"]["messages"],
        change(0, "messages")
    );
    assert_eq!(
        statuses[0].entry.changes.statuses.status.as_deref(),
        Some("read")
    );
    assert_eq!(
        echoes[0].1["entry"]["changes"]["message_echoes"],
        change(1, "message_echoes")
    );
    assert_eq!(
        groups[0].1["entry"]["changes"]["groups"],
        change(2, "groups")
    );
    assert_eq!(
        preferences[0].1["entry"]["changes"]["user_preferences"],
        change(3, "user_preferences")
    );
}
