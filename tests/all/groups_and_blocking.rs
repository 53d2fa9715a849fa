//! Groups and the blocklist on the real component, against loopback Graph APIs: sending
//! to a group (`group:ID`) and what a group refuses before any request, the group actions
//! and the blocklist actions (exact requests, limits, per-user results), and the group
//! filters of both triggers.

use std::sync::{Arc, Mutex};

use host_harness::bindings::{
    BlockedListInput, ConnectorError, FlowInput, GroupCreateInput, GroupInput, GroupRemoveInput,
    InteractiveInput, LocationInput, MediaInput, Outcome, Properties, ReactionInput, StatusOutcome,
    StatusProperties, TemplateInput, UsersInput, WebhookSecrets, flow, groups, interactive, media,
    template,
};
use host_harness::fakes::loopback::GraphServer;
use host_harness::{Connector, Outbound, RecordedRequest, StubResponse};
use serde_json::{Value, json};

use crate::{PHONE_NUMBER_ID, assert_graph_call, connection, connector, fixture, input, post};

const GROUP: &str = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD";
const SENT: &str = r#"{"messaging_product":"whatsapp","contacts":[{"input":"Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD"}],"messages":[{"id":"wamid.GROUP"}]}"#;

/// A loopback Graph API answering every request with `status` and `body`, and a
/// connector that sends there.
async fn graph(status: u16, body: Value) -> (GraphServer, Connector) {
    let server = GraphServer::start(move |_| StubResponse::json(status, &body))
        .await
        .unwrap();
    let connector = connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    (server, connector)
}

fn only_request(server: &GraphServer) -> (RecordedRequest, Value) {
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = requests[0].clone();
    let body = if request.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&request.body).unwrap()
    };
    (request, body)
}

/// A connector whose every Graph API call is counted and answered 200.
fn counting() -> (Connector, Arc<Mutex<usize>>) {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let connector = connector().with_outbound(Outbound::stub(move |_| {
        *counted.lock().unwrap() += 1;
        Some(StubResponse::json(
            200,
            &serde_json::from_str::<Value>(SENT).unwrap(),
        ))
    }));
    (connector, calls)
}

fn refused_for<T: std::fmt::Debug>(result: Result<T, ConnectorError>, field: &str) -> String {
    match result {
        Err(ConnectorError::InvalidInput(e)) => {
            assert_eq!(e.field, field, "{}", e.reason);
            e.reason
        }
        other => panic!("{field}: expected invalid-input, got {other:?}"),
    }
}

#[tokio::test]
async fn text_media_and_templates_go_to_a_group_with_recipient_type_group() {
    let to = format!("group:{GROUP}");
    let (server, c) = graph(200, serde_json::from_str(SENT).unwrap()).await;
    let output = c
        .send(&connection(), &input("Hello, group", &to))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.messages[0].id, "wamid.GROUP");
    let (request, body) = only_request(&server);
    assert_graph_call(
        &request,
        "POST",
        &format!("/v27.0/{PHONE_NUMBER_ID}/messages"),
    );
    assert_eq!(
        body,
        json!({"messaging_product": "whatsapp", "recipient_type": "group", "to": GROUP, "type": "text", "text": {"body": "Hello, group"}})
    );
    let (server, c) = graph(200, serde_json::from_str(SENT).unwrap()).await;
    let image = MediaInput {
        send_message_to: to.clone(),
        kind: media::MediaKind::Image,
        media_id: Some("1013859600285441".into()),
        link: None,
        caption: None,
        filename: None,
        reply_to: None,
    };
    c.send_media(&connection(), &image).await.unwrap().unwrap();
    let (_, body) = only_request(&server);
    assert_eq!(
        (body["recipient_type"].as_str(), body["to"].as_str()),
        (Some("group"), Some(GROUP))
    );
    let (server, c) = graph(200, serde_json::from_str(SENT).unwrap()).await;
    let template = TemplateInput {
        send_message_to: to.clone(),
        template_name: "group_welcome".into(),
        language_code: "en".into(),
        body_parameters: vec![],
        header: None,
        buttons: vec![],
        marketing: None,
    };
    c.send_template(&connection(), &template)
        .await
        .unwrap()
        .unwrap();
    let (_, body) = only_request(&server);
    assert_eq!(body["recipient_type"], "group");
}

#[tokio::test]
async fn what_a_group_does_not_take_is_refused_before_any_request() {
    let to = format!("group:{GROUP}");
    let (c, calls) = counting();
    let cn = connection();
    let interactive = InteractiveInput {
        send_message_to: to.clone(),
        form: interactive::Form::CtaUrl(interactive::CtaUrl {
            display_text: "Shop".into(),
            url: "https://example.com".into(),
        }),
        header_text: None,
        body: "Our sale".into(),
        footer: None,
        reply_to: None,
    };
    let reason = refused_for(
        c.send_interactive(&cn, &interactive).await.unwrap(),
        "send-message-to",
    );
    assert!(
        reason.contains("an interactive message cannot be sent to a group"),
        "{reason}"
    );
    let flow = FlowInput {
        send_message_to: to.clone(),
        flow: flow::FlowRef::Id("1".into()),
        flow_cta: "Book".into(),
        flow_token: None,
        mode: None,
        flow_action: None,
        header_text: None,
        body: "Book".into(),
        footer: None,
        reply_to: None,
    };
    refused_for(c.send_flow(&cn, &flow).await.unwrap(), "send-message-to");
    let reaction = ReactionInput {
        send_message_to: to.clone(),
        message_id: "wamid.X".into(),
        emoji: "👍".into(),
    };
    refused_for(
        c.send_reaction(&cn, &reaction).await.unwrap(),
        "send-message-to",
    );
    let location = LocationInput {
        send_message_to: to.clone(),
        latitude: 1.0,
        longitude: 2.0,
        name: None,
        address: None,
        reply_to: None,
    };
    refused_for(
        c.send_location(&cn, &location).await.unwrap(),
        "send-message-to",
    );
    let marketing = TemplateInput {
        send_message_to: to.clone(),
        template_name: "sale".into(),
        language_code: "en".into(),
        body_parameters: vec![],
        header: None,
        buttons: vec![],
        marketing: Some(template::MarketingOptions {
            product_policy: None,
            message_activity_sharing: None,
        }),
    };
    refused_for(
        c.send_template(&cn, &marketing).await.unwrap(),
        "send-message-to",
    );
    // A group ID that could change the URL or the body is not a group ID.
    for bad in [
        "group:",
        "group:a/b",
        "group:a b",
        &format!("group:{}", "g".repeat(257)),
    ] {
        refused_for(
            c.send(&cn, &input("hi", bad)).await.unwrap(),
            "send-message-to",
        );
    }
    assert_eq!(*calls.lock().unwrap(), 0, "no request was made");
}

#[tokio::test]
async fn the_group_actions_make_meta_s_requests_and_read_its_answers() {
    let cn = connection();
    let (server, c) = graph(
        200,
        json!({"messaging_product": "whatsapp", "request_id": "R1"}),
    )
    .await;
    let create = GroupCreateInput {
        subject: "Spring sale VIPs".into(),
        description: Some("Early access".into()),
        join_approval_mode: Some(groups::JoinApprovalMode::ApprovalRequired),
    };
    assert_eq!(
        c.create_group(&cn, &create)
            .await
            .unwrap()
            .unwrap()
            .request_id,
        "R1"
    );
    let (request, body) = only_request(&server);
    assert_graph_call(
        &request,
        "POST",
        &format!("/v27.0/{PHONE_NUMBER_ID}/groups"),
    );
    assert_eq!(
        body,
        json!({"messaging_product": "whatsapp", "subject": "Spring sale VIPs", "description": "Early access", "join_approval_mode": "approval_required"})
    );
    let link = json!({"messaging_product": "whatsapp", "invite_link": "https://chat.whatsapp.com/Ba6Ga5Sg7jE2ICqZqHkYxq"});
    for reset in [false, true] {
        let (server, c) = graph(200, link.clone()).await;
        let group = GroupInput {
            group_id: GROUP.into(),
        };
        let answer = c
            .group_invite_link(&cn, &group, reset)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            answer.invite_link,
            "https://chat.whatsapp.com/Ba6Ga5Sg7jE2ICqZqHkYxq"
        );
        let (request, body) = only_request(&server);
        let method = if reset { "POST" } else { "GET" };
        assert_graph_call(&request, method, &format!("/v27.0/{GROUP}/invite_link"));
        let expected = if reset {
            json!({"messaging_product": "whatsapp"})
        } else {
            Value::Null
        };
        assert_eq!(body, expected);
    }
    let (server, c) = graph(200, json!({"success": true})).await;
    let remove = GroupRemoveInput {
        group_id: GROUP.into(),
        participants: vec!["+16505551234".into(), "16505559876".into()],
    };
    c.remove_group_participants(&cn, &remove)
        .await
        .unwrap()
        .unwrap();
    let (request, body) = only_request(&server);
    assert_graph_call(&request, "DELETE", &format!("/v27.0/{GROUP}/participants"));
    assert_eq!(
        body,
        json!({"messaging_product": "whatsapp", "participants": [{"user": "+16505551234"}, {"user": "16505559876"}]})
    );
}

#[tokio::test]
async fn the_group_limits_at_their_edges_with_no_request() {
    let (c, calls) = counting();
    let cn = connection();
    let create = |subject: String, description: Option<String>| GroupCreateInput {
        subject,
        description,
        join_approval_mode: None,
    };
    // At the edge a request goes out (the stub's answer is not a group's: no matter).
    let edge = create("é".repeat(128), Some("é".repeat(2048)));
    assert!(!matches!(
        c.create_group(&cn, &edge).await.unwrap(),
        Err(ConnectorError::InvalidInput(_))
    ));
    refused_for(
        c.create_group(&cn, &create("é".repeat(129), None))
            .await
            .unwrap(),
        "subject",
    );
    refused_for(
        c.create_group(&cn, &create("S".into(), Some("é".repeat(2049))))
            .await
            .unwrap(),
        "description",
    );
    let group = |id: String| GroupInput { group_id: id };
    let edge = group("g".repeat(256));
    assert!(!matches!(
        c.group_invite_link(&cn, &edge, false).await.unwrap(),
        Err(ConnectorError::InvalidInput(_))
    ));
    refused_for(
        c.group_invite_link(&cn, &group("g".repeat(257)), false)
            .await
            .unwrap(),
        "group-id",
    );
    refused_for(
        c.group_invite_link(&cn, &group("../me".into()), true)
            .await
            .unwrap(),
        "group-id",
    );
    let remove = |participants: Vec<String>| GroupRemoveInput {
        group_id: GROUP.into(),
        participants,
    };
    refused_for(
        c.remove_group_participants(&cn, &remove(vec![]))
            .await
            .unwrap(),
        "participants",
    );
    refused_for(
        c.remove_group_participants(&cn, &remove(vec!["+1 650 555".into()]))
            .await
            .unwrap(),
        "participants",
    );
    // Two valid calls reached the stub: the creation and the invite link at their edges.
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[tokio::test]
async fn blocking_answers_user_by_user_even_when_some_fail() {
    let cn = connection();
    let users = UsersInput {
        users: vec!["+16505551234".into(), "+16505559876".into()],
    };
    let mixed = json!({
        "messaging_product": "whatsapp",
        "block_users": {
            "added_users": [{"input": "+16505551234", "wa_id": "16505551234"}],
            "failed_users": [{"input": "+16505559876", "wa_id": "16505559876", "errors": [
                {"message": "Re-engagement required", "code": 131047, "error_data": {"details": "User has not messaged in the last 24 hours"}}
            ]}]
        },
        "error": {"message": "(#139100) Failed to block/unblock users", "type": "OAuthException", "code": 139100, "error_data": {"details": "Failed to block some users, see the block_users response list for details"}, "fbtrace_id": "T"}
    });
    let (server, c) = graph(400, mixed).await;
    let output = c.block_users(&cn, &users, true).await.unwrap().unwrap();
    let (request, body) = only_request(&server);
    assert_graph_call(
        &request,
        "POST",
        &format!("/v27.0/{PHONE_NUMBER_ID}/block_users"),
    );
    assert_eq!(
        body,
        json!({"messaging_product": "whatsapp", "block_users": [{"user": "+16505551234"}, {"user": "+16505559876"}]})
    );
    assert_eq!(output.done.len(), 1);
    assert_eq!(output.done[0].wa_id.as_deref(), Some("16505551234"));
    assert!(output.done[0].errors.is_empty());
    let failed = &output.failed[0];
    assert_eq!(failed.input, "+16505559876");
    assert_eq!(failed.errors[0].code, Some(131047));
    assert!(
        failed.errors[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("template")
    );
    assert_eq!(
        host_harness::json::users_output(&output)["failed"][0]["errors"][0]["details"],
        "User has not messaged in the last 24 hours"
    );

    let removed = json!({"messaging_product": "whatsapp", "block_users": {"removed_users": [{"input": "+16505551234", "wa_id": "16505551234"}]}});
    let (server, c) = graph(200, removed).await;
    let unblocked = UsersInput {
        users: vec!["+16505551234".into()],
    };
    let output = c
        .block_users(&cn, &unblocked, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((output.done.len(), output.failed.len()), (1, 0));
    let (request, _) = only_request(&server);
    assert_graph_call(
        &request,
        "DELETE",
        &format!("/v27.0/{PHONE_NUMBER_ID}/block_users"),
    );

    // A whole failure without the lists is an error, with the fix in its hint.
    let (_server, c) = graph(
        400,
        json!({"error": {"message": "(#139101) Blocklist limit reached", "code": 139101}}),
    )
    .await;
    match c.block_users(&cn, &users, true).await.unwrap() {
        Err(ConnectorError::Graph(e)) => assert!(e.hint.unwrap().contains("64,000")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_blocklist_limits_and_its_pages() {
    let (c, calls) = counting();
    let cn = connection();
    let numbers = |n: usize| UsersInput {
        users: (0..n).map(|i| format!("+1650555{i:04}")).collect(),
    };
    refused_for(
        c.block_users(&cn, &numbers(1001), true).await.unwrap(),
        "users",
    );
    refused_for(
        c.block_users(&cn, &numbers(0), false).await.unwrap(),
        "users",
    );
    let twice = UsersInput {
        users: vec!["+16505551234".into(), "+16505551234".into()],
    };
    refused_for(c.block_users(&cn, &twice, true).await.unwrap(), "users");
    let list = |limit, after: Option<&str>| BlockedListInput {
        limit,
        after: after.map(str::to_owned),
    };
    refused_for(
        c.list_blocked_users(&cn, &list(Some(0), None))
            .await
            .unwrap(),
        "limit",
    );
    refused_for(
        c.list_blocked_users(&cn, &list(Some(1001), None))
            .await
            .unwrap(),
        "limit",
    );
    refused_for(
        c.list_blocked_users(&cn, &list(None, Some("x&limit=5")))
            .await
            .unwrap(),
        "after",
    );
    assert_eq!(*calls.lock().unwrap(), 0);

    let page = json!({"data": [{"messaging_product": "whatsapp", "wa_id": "16505551234"}], "paging": {"cursors": {"after": "QVFI", "before": "QVFH"}, "next": "https://graph.facebook.com/next"}});
    let (server, c) = graph(200, page).await;
    let answer = c
        .list_blocked_users(&cn, &list(Some(1000), Some("QVFH")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.wa_ids, ["16505551234"]);
    assert_eq!(answer.after.as_deref(), Some("QVFI"));
    let (request, _) = only_request(&server);
    assert_graph_call(
        &request,
        "GET",
        &format!("/v27.0/{PHONE_NUMBER_ID}/block_users?limit=1000&after=QVFH"),
    );
    // 1000 users at once is the edge: accepted.
    let (server, c) = graph(
        200,
        json!({"messaging_product": "whatsapp", "block_users": {"added_users": []}}),
    )
    .await;
    assert!(
        c.block_users(&cn, &numbers(1000), true)
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn the_sender_and_recipient_filters_select_a_group() {
    let group = format!("group:{GROUP}");
    let secrets = WebhookSecrets {
        app_secret: None,
        verify_token: None,
    };
    let messages = |sender: Option<String>| {
        let secrets = secrets.clone();
        async move {
            match connector()
                .handle_webhook(
                    &post(fixture("group_text_message.json"), &[]),
                    &Properties {
                        sender_number: sender,
                    },
                    &secrets,
                )
                .await
                .unwrap()
            {
                Ok(Outcome::Events(events)) => events.len(),
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(messages(Some(group.clone())).await, 1);
    assert_eq!(messages(Some("group:another".into())).await, 0);
    // The participant who wrote is still a sender.
    assert_eq!(messages(Some("+1 650 555 1234".into())).await, 1);
    let statuses = |recipient: Option<String>| {
        let secrets = secrets.clone();
        async move {
            let properties = StatusProperties {
                statuses: vec![],
                recipient,
            };
            match connector()
                .handle_status_webhook(
                    &post(fixture("group_statuses.json"), &[]),
                    &properties,
                    &secrets,
                )
                .await
                .unwrap()
            {
                Ok(StatusOutcome::Events(events)) => events.len(),
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(statuses(Some(group)).await, 2);
    assert_eq!(statuses(Some("group:another".into())).await, 0);
    // A group's ID is not a phone number: a digits filter never matches it.
    assert_eq!(statuses(Some("+1 650 555 1234".into())).await, 0);
}
