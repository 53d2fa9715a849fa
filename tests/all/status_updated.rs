//! Trigger "Message status updated" on the real component: Meta's documented status
//! webhooks give exactly their events, filtered by status and recipient; signature and
//! handshake work exactly as for "Message received".

use host_harness::bindings::status::StatusKind;
use host_harness::bindings::{
    StatusOutcome, StatusProperties, WebhookError, WebhookRequest, WebhookSecrets,
};
use host_harness::{bindings, sign_webhook};
use serde_json::{Value, json};

use crate::{connector, fixture, post};

const APP_SECRET: &str = "status-app-secret";

fn all() -> StatusProperties {
    StatusProperties {
        statuses: vec![],
        recipient: None,
    }
}

async fn handle(
    request: &WebhookRequest,
    properties: &StatusProperties,
    secrets: &WebhookSecrets,
) -> Result<StatusOutcome, WebhookError> {
    connector()
        .handle_status_webhook(request, properties, secrets)
        .await
        .expect("no trap")
}

/// The status events of a fixture, as their documented JSON output.
async fn statuses(name: &str, properties: &StatusProperties) -> Vec<(String, Value)> {
    let secrets = WebhookSecrets {
        app_secret: None,
        verify_token: None,
    };
    match handle(&post(fixture(name), &[]), properties, &secrets).await {
        Ok(StatusOutcome::Events(events)) => events
            .into_iter()
            .map(|e| {
                let key = e.dedup_key.clone();
                (
                    key,
                    serde_json::to_value(bindings::status_event(e).unwrap()).unwrap(),
                )
            })
            .collect(),
        other => panic!("{name}: {other:?}"),
    }
}

const READ_ID: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";

#[tokio::test]
async fn a_failed_status_is_one_event_in_the_documented_shape_with_its_hint() {
    let events = statuses("status_failed_131047.json", &all()).await;
    assert_eq!(events.len(), 1);
    let (key, event) = &events[0];
    assert_eq!(
        key,
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDMEQwRTc5RjhCQUMzNjE4QTIA:failed"
    );
    assert_eq!(
        *event,
        json!({
            "object": "whatsapp_business_account",
            "entry": {"id": "102290129340398", "changes": {
                "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}},
                "statuses": {
                    "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDMEQwRTc5RjhCQUMzNjE4QTIA",
                    "status": "failed",
                    "timestamp": "1750263773",
                    "recipient_id": "16505551234",
                    "biz_opaque_callback_data": "order-1234",
                    "errors": [{
                        "code": 131047,
                        "title": "Re-engagement message",
                        "message": "Re-engagement message",
                        "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                        "hint": whatsapp_connector::graph::hint(131047).unwrap(),
                    }],
                }
            }}
        })
    );
}

#[tokio::test]
async fn a_batch_gives_one_event_per_status_each_with_its_own_key() {
    let events = statuses("statuses_only.json", &all()).await;
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|(key, e)| {
            (
                key.as_str(),
                e["entry"]["changes"]["statuses"]["status"]
                    .as_str()
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (&*format!("{READ_ID}:sent"), "sent"),
            (&*format!("{READ_ID}:delivered"), "delivered"),
            (&*format!("{READ_ID}:read"), "read"),
            (
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFFMkI1MjBGQzQ2MzJERkY4OQA=:failed",
                "failed"
            ),
        ]
    );
    let sent = &events[0].1["entry"]["changes"]["statuses"];
    assert_eq!(sent["conversation"]["origin"]["type"], "service");
    assert_eq!(sent["pricing"]["pricing_model"], "PMP");
    // The same bytes again: the same keys (a redelivery is recognised).
    let again = statuses("statuses_only.json", &all()).await;
    assert_eq!(
        events.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        again.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_status_and_recipient_filters() {
    let only = |kinds: Vec<StatusKind>, recipient: Option<&str>| StatusProperties {
        statuses: kinds,
        recipient: recipient.map(str::to_owned),
    };
    let failed = statuses("statuses_only.json", &only(vec![StatusKind::Failed], None)).await;
    assert_eq!(failed.len(), 1);
    let read_or_sent = statuses(
        "statuses_only.json",
        &only(vec![StatusKind::Read, StatusKind::Sent], None),
    )
    .await;
    assert_eq!(read_or_sent.len(), 2);
    assert_eq!(
        statuses("statuses_only.json", &only(vec![], Some("+1 650 555 1234")))
            .await
            .len(),
        4
    );
    assert!(
        statuses("statuses_only.json", &only(vec![], Some("+1 650 555 0000")))
            .await
            .is_empty()
    );
    // A status of a message sent to a BSUID: matched by the BSUID or its parent, not by a phone.
    let by_user = statuses(
        "status_user_id_only.json",
        &only(vec![], Some("US.13491208655302741918")),
    )
    .await;
    assert_eq!(by_user.len(), 1);
    assert_eq!(
        by_user[0].1["entry"]["changes"]["statuses"]["recipient_parent_user_id"],
        "US.ENT.11815799212886844830"
    );
    assert!(
        by_user[0].1["entry"]["changes"]["statuses"]
            .get("recipient_id")
            .is_none()
    );
    assert_eq!(
        statuses(
            "status_user_id_only.json",
            &only(vec![], Some("US.ENT.11815799212886844830"))
        )
        .await
        .len(),
        1
    );
    assert!(
        statuses(
            "status_user_id_only.json",
            &only(vec![], Some("+1 650 555 1234"))
        )
        .await
        .is_empty()
    );
    let secrets = WebhookSecrets {
        app_secret: None,
        verify_token: None,
    };
    match handle(
        &post(fixture("statuses_only.json"), &[]),
        &only(vec![], Some("US.")),
        &secrets,
    )
    .await
    {
        Err(WebhookError::InvalidProperty(f)) => assert_eq!(f.field, "recipient"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn messages_and_statuses_go_to_their_own_triggers() {
    assert!(
        statuses("text_message.json", &all()).await.is_empty(),
        "a message is no status"
    );
    let mixed = statuses("message_and_status.json", &all()).await;
    assert_eq!(mixed.len(), 1);
    let batch = statuses("mixed_identities_and_status.json", &all()).await;
    assert_eq!(batch.len(), 1);
    assert_eq!(
        batch[0].1["entry"]["changes"]["statuses"]["recipient_user_id"],
        "US.13491208655302741918"
    );
}

#[tokio::test]
async fn signatures_and_the_handshake_work_as_for_messages() {
    let body = fixture("statuses_only.json");
    let secrets = WebhookSecrets {
        app_secret: Some(APP_SECRET.into()),
        verify_token: Some("verify-me".into()),
    };
    let signature = sign_webhook(APP_SECRET, &body);
    match handle(
        &post(body.clone(), &[("x-hub-signature-256", &signature)]),
        &all(),
        &secrets,
    )
    .await
    {
        Ok(StatusOutcome::Events(events)) => assert_eq!(events.len(), 4),
        other => panic!("{other:?}"),
    }
    let forged = sign_webhook("guess", &body);
    assert!(matches!(
        handle(
            &post(body.clone(), &[("x-hub-signature-256", &forged)]),
            &all(),
            &secrets
        )
        .await,
        Err(WebhookError::InvalidSignature(_))
    ));
    assert!(matches!(
        handle(&post(body, &[]), &all(), &secrets).await,
        Err(WebhookError::InvalidSignature(_))
    ));
    let get = WebhookRequest {
        method: "GET".into(),
        headers: vec![],
        query: "hub.mode=subscribe&hub.challenge=77&hub.verify_token=verify-me".into(),
        body: vec![],
    };
    match handle(&get, &all(), &secrets).await {
        Ok(StatusOutcome::Respond(r)) => assert_eq!((r.status, r.body.as_str()), (200, "77")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_group_send_s_statuses_name_the_group_and_a_marketing_limit_its_fix() {
    let group = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD";
    let id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MjNBRTVDRkQ3QzdDMUYyNzQA";
    let events = statuses("group_statuses.json", &all()).await;
    let keys: Vec<&str> = events.iter().map(|(key, _)| key.as_str()).collect();
    assert!(
        keys[0].starts_with(&format!("{id}:sent:sha256:")),
        "{}",
        keys[0]
    );
    assert!(
        keys[1].starts_with(&format!("{id}:failed:sha256:")),
        "{}",
        keys[1]
    );
    let envelope = |status: Value| {
        json!({
            "object": "whatsapp_business_account",
            "entry": {"id": "102290129340398", "changes": {
                "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}},
                "statuses": status
            }}
        })
    };
    assert_eq!(
        events[0].1,
        envelope(json!({
            "id": id, "status": "sent", "timestamp": "1739321024",
            "recipient_id": group, "recipient_type": "group"
        }))
    );
    let failed = &events[1].1;
    let hint = failed
        .pointer("/entry/changes/statuses/errors/0/hint")
        .unwrap();
    assert!(hint.as_str().unwrap().contains("marketing"), "{hint}");
    assert_eq!(
        *failed,
        envelope(json!({
            "id": id, "status": "failed", "timestamp": "1739321025",
            "recipient_id": group, "recipient_type": "group",
            "errors": [{
                "code": 131049,
                "title": "This message was not delivered to maintain healthy ecosystem engagement.",
                "message": "This message was not delivered to maintain healthy ecosystem engagement.",
                "error_data": {"details": "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."},
                "href": "/documentation/business-messaging/whatsapp/support/error-codes",
                "hint": hint
            }]
        }))
    );
    // The statuses filter keeps the failure only.
    let only_group = StatusProperties {
        statuses: vec![StatusKind::Failed],
        recipient: None,
    };
    assert_eq!(statuses("group_statuses.json", &only_group).await.len(), 1);
}

#[tokio::test]
async fn each_participant_s_read_of_a_group_send_is_an_event_of_its_own() {
    // Meta aggregates: one webhook, one `read` object per participant, same ID and status.
    let name = "group_statuses_read_aggregated.json";
    let events = statuses(name, &all()).await;
    assert_eq!(
        events.len(),
        3,
        "a participant's read is not lost to another's"
    );
    let keys: std::collections::BTreeSet<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys.len(), 3);
    let id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MjNBRTVDRkQ3QzdDMUYyNzQA";
    for key in keys {
        assert!(key.starts_with(&format!("{id}:read:sha256:")), "{key}");
    }
    let times: Vec<&str> = events
        .iter()
        .map(|(_, e)| {
            e.pointer("/entry/changes/statuses/timestamp")
                .unwrap()
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(times, ["1739321100", "1739321160", "1739321222"]);
    // A redelivery gives the same keys.
    let again: Vec<String> = statuses(name, &all())
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let first: Vec<String> = events.into_iter().map(|(k, _)| k).collect();
    assert_eq!(again, first);
}

#[tokio::test]
async fn a_group_send_s_status_names_its_participant() {
    // Meta's "Status messages webhooks for groups" (business-scoped user IDs page): each
    // participant's status carries them by phone number, BSUID and parent BSUID.
    let name = "group_statuses_participants.json";
    let events = statuses(name, &all()).await;
    assert_eq!(events.len(), 2);
    let id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MjNBRTVDRkQ3QzdDMUYyNzQA";
    let keys: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("{id}:delivered:16505551234"),
            format!("{id}:delivered:US.ENT.11815799212886844830"),
        ]
    );
    let participant = |i: usize, member: &str| {
        events[i]
            .1
            .pointer(&format!("/entry/changes/statuses/{member}"))
            .cloned()
    };
    assert_eq!(
        participant(0, "recipient_participant_id"),
        Some(json!("16505551234"))
    );
    assert_eq!(
        participant(0, "recipient_participant_user_id"),
        Some(json!("US.13491208655302741918"))
    );
    assert_eq!(participant(0, "recipient_participant_parent_user_id"), None);
    assert_eq!(participant(1, "recipient_participant_id"), None);
    assert_eq!(
        participant(1, "recipient_participant_parent_user_id"),
        Some(json!("US.ENT.11815799212886844830"))
    );
    // The rest of each object is kept.
    for (_, event) in &events {
        let status = event.pointer("/entry/changes/statuses").unwrap();
        assert_eq!(status["recipient_type"], "group");
        assert!(status.get("pricing").is_some());
    }
}
