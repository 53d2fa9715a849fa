//! The message actions on the real component: the exact request each form sends to a
//! loopback Graph API, every limit at its edge (the limit passes; one more is
//! `invalid-input` naming the property, and no request is made), and the errors a
//! workflow author meets, each with its hint.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use host_harness::bindings::{
    ConnectorError, FlowInput, InteractiveInput, LocationInput, MediaInput, ReactionInput,
    ReadInput, SendOutput, TemplateInput, flow, interactive, media, template,
};
use host_harness::fakes::loopback::GraphServer;
use host_harness::{Call, Connector, Outbound, StubResponse};
use serde_json::{Value, json};

use crate::{PHONE_NUMBER_ID, assert_graph_call, connection, connector, input};

const SENT: &str = r#"{"messaging_product":"whatsapp","contacts":[{"input":"+15550101234","wa_id":"15550101234"}],"messages":[{"id":"wamid.SENT"}]}"#;
const TO: &str = "+15550101234";
const BSUID: &str = "US.13491208655302741918";
const QUOTED: &str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";

fn template_input() -> TemplateInput {
    TemplateInput {
        send_message_to: TO.into(),
        template_name: "order_update".into(),
        language_code: "en_US".into(),
        body_parameters: vec![],
        header: None,
        buttons: vec![],
        marketing: None,
    }
}

fn flow_input() -> FlowInput {
    FlowInput {
        send_message_to: TO.into(),
        flow: flow::FlowRef::Id("1234567890".into()),
        flow_cta: "Book!".into(),
        flow_token: None,
        mode: None,
        flow_action: None,
        header_text: None,
        body: "Book your appointment".into(),
        footer: None,
        reply_to: None,
    }
}

fn navigate(screen: &str, data: Option<&str>) -> Option<flow::FlowAction> {
    Some(flow::FlowAction::Navigate(flow::Navigate {
        screen: screen.into(),
        data: data.map(str::to_owned),
    }))
}

fn media_input(kind: media::MediaKind) -> MediaInput {
    MediaInput {
        send_message_to: TO.into(),
        kind,
        media_id: None,
        link: Some("https://example.com/a.jpg".into()),
        caption: None,
        filename: None,
        reply_to: None,
    }
}

fn interactive_input(form: interactive::Form) -> InteractiveInput {
    InteractiveInput {
        send_message_to: TO.into(),
        form,
        header_text: None,
        body: "Pick one".into(),
        footer: None,
        reply_to: None,
    }
}

fn button(id: &str, title: &str) -> interactive::ReplyButton {
    interactive::ReplyButton {
        id: id.into(),
        title: title.into(),
    }
}

fn rows(n: usize) -> Vec<interactive::ListRow> {
    (0..n)
        .map(|i| interactive::ListRow {
            id: format!("row-{i}"),
            title: "Row".into(),
            description: None,
        })
        .collect()
}

fn list(sections: Vec<interactive::ListSection>) -> interactive::Form {
    interactive::Form::RowList(interactive::RowList {
        button: "Options".into(),
        sections,
    })
}

fn section(title: Option<&str>, rows: Vec<interactive::ListRow>) -> interactive::ListSection {
    interactive::ListSection {
        title: title.map(str::to_owned),
        rows,
    }
}

fn location_input(latitude: f64, longitude: f64) -> LocationInput {
    LocationInput {
        send_message_to: TO.into(),
        latitude,
        longitude,
        name: None,
        address: None,
        reply_to: None,
    }
}

/// One action call, on any connector.
#[derive(Clone)]
enum Action {
    Template(TemplateInput),
    Media(MediaInput),
    Interactive(InteractiveInput),
    Flow(FlowInput),
    Reaction(ReactionInput),
    Location(LocationInput),
    Read(ReadInput),
    Text(host_harness::bindings::SendInput),
}

impl Action {
    async fn run(&self, connector: &Connector) -> Call<Option<SendOutput>> {
        let c = connection();
        Ok(match self {
            Action::Template(i) => connector.send_template(&c, i).await?.map(Some),
            Action::Media(i) => connector.send_media(&c, i).await?.map(Some),
            Action::Interactive(i) => connector.send_interactive(&c, i).await?.map(Some),
            Action::Flow(i) => connector.send_flow(&c, i).await?.map(Some),
            Action::Reaction(i) => connector.send_reaction(&c, i).await?.map(Some),
            Action::Location(i) => connector.send_location(&c, i).await?.map(Some),
            Action::Read(i) => connector.mark_as_read(&c, i).await?.map(|()| None),
            Action::Text(i) => connector.send(&c, i).await?.map(Some),
        })
    }
}

/// Runs `action` against a loopback Graph API; returns the one request's JSON body.
async fn request_of(action: Action) -> Value {
    let answer = match action {
        Action::Read(_) => json!({"success": true}).to_string(),
        _ => SENT.to_owned(),
    };
    let server = GraphServer::start(move |_| StubResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: answer.clone().into_bytes(),
    })
    .await
    .unwrap();
    let connector = connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    match action.run(&connector).await.unwrap() {
        Ok(Some(output)) => assert_eq!(output.messages[0].id, "wamid.SENT"),
        Ok(None) => {}
        Err(e) => panic!("{e:?}"),
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_graph_call(
        request,
        "POST",
        &format!("/v27.0/{PHONE_NUMBER_ID}/messages"),
    );
    serde_json::from_slice(&request.body).unwrap()
}

fn envelope(kind: &str, content: Value) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO, "type": kind, kind: content})
}

#[tokio::test]
async fn every_action_sends_exactly_meta_s_body() {
    let full_template = TemplateInput {
        body_parameters: vec![template::BodyParameter {
            name: Some("order_id".into()),
            text: "1234".into(),
        }],
        header: Some(template::HeaderParameter::Document(
            template::MediaSource::Id("1013859600285441".into()),
        )),
        buttons: vec![
            template::ButtonParameter::QuickReply(template::ButtonValue {
                index: 0,
                value: "STOP".into(),
            }),
            template::ButtonParameter::Url(template::ButtonValue {
                index: 1,
                value: "track/1234".into(),
            }),
        ],
        ..template_input()
    };
    let flow_template = TemplateInput {
        buttons: vec![
            template::ButtonParameter::Flow(template::FlowButton {
                index: 0,
                flow_token: Some("booking-42".into()),
                flow_action_data: Some(r#"{"name": "Sheena"}"#.into()),
            }),
            template::ButtonParameter::Flow(template::FlowButton {
                index: 1,
                flow_token: None,
                flow_action_data: None,
            }),
        ],
        ..template_input()
    };
    let cases: Vec<(Action, Value)> = vec![
        (
            Action::Template(flow_template),
            envelope(
                "template",
                json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
                    {"type": "button", "sub_type": "flow", "index": "0", "parameters": [{"type": "action", "action": {"flow_token": "booking-42", "flow_action_data": {"name": "Sheena"}}}]},
                    {"type": "button", "sub_type": "flow", "index": "1", "parameters": [{"type": "action", "action": {}}]},
                ]}),
            ),
        ),
        (
            Action::Flow(FlowInput {
                flow_token: Some("booking-42".into()),
                mode: Some(flow::FlowMode::Draft),
                flow_action: navigate(
                    "WELCOME",
                    Some(r#"{"product_name": "Haircut", "slots": [9, 10]}"#),
                ),
                header_text: Some("Lucky Shrub".into()),
                footer: Some("Tap to book".into()),
                reply_to: Some(QUOTED.into()),
                ..flow_input()
            }),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": TO,
                "context": {"message_id": QUOTED},
                "type": "interactive",
                "interactive": {
                    "type": "flow",
                    "header": {"type": "text", "text": "Lucky Shrub"},
                    "body": {"text": "Book your appointment"},
                    "footer": {"text": "Tap to book"},
                    "action": {"name": "flow", "parameters": {
                        "flow_message_version": "3",
                        "flow_id": "1234567890",
                        "flow_cta": "Book!",
                        "flow_token": "booking-42",
                        "mode": "draft",
                        "flow_action": "navigate",
                        "flow_action_payload": {"screen": "WELCOME", "data": {"product_name": "Haircut", "slots": [9, 10]}}
                    }}
                }
            }),
        ),
        (
            Action::Flow(FlowInput {
                send_message_to: BSUID.into(),
                flow: flow::FlowRef::Name("appointment_booking".into()),
                mode: Some(flow::FlowMode::Published),
                flow_action: Some(flow::FlowAction::DataExchange),
                ..flow_input()
            }),
            json!({
                "messaging_product": "whatsapp", "recipient_type": "individual", "recipient": BSUID,
                "type": "interactive",
                "interactive": {
                    "type": "flow",
                    "body": {"text": "Book your appointment"},
                    "action": {"name": "flow", "parameters": {
                        "flow_message_version": "3",
                        "flow_name": "appointment_booking",
                        "flow_cta": "Book!",
                        "mode": "published",
                        "flow_action": "data_exchange"
                    }}
                }
            }),
        ),
        (
            Action::Template(full_template),
            envelope(
                "template",
                json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
                    {"type": "header", "parameters": [{"type": "document", "document": {"id": "1013859600285441"}}]},
                    {"type": "body", "parameters": [{"type": "text", "text": "1234", "parameter_name": "order_id"}]},
                    {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "STOP"}]},
                    {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "track/1234"}]},
                ]}),
            ),
        ),
        (
            Action::Media(MediaInput {
                caption: Some("Blue, size M".into()),
                ..media_input(media::MediaKind::Image)
            }),
            envelope(
                "image",
                json!({"link": "https://example.com/a.jpg", "caption": "Blue, size M"}),
            ),
        ),
        (
            Action::Media(MediaInput {
                media_id: Some("1003383421387256".into()),
                link: None,
                filename: Some("invoice.pdf".into()),
                ..media_input(media::MediaKind::Document)
            }),
            envelope(
                "document",
                json!({"id": "1003383421387256", "filename": "invoice.pdf"}),
            ),
        ),
        (
            Action::Interactive(InteractiveInput {
                header_text: Some("Order #1234".into()),
                footer: Some("Lucky Shrub".into()),
                ..interactive_input(interactive::Form::ReplyButtons(vec![
                    button("yes", "Yes"),
                    button("no", "No"),
                ]))
            }),
            envelope(
                "interactive",
                json!({"type": "button", "header": {"type": "text", "text": "Order #1234"}, "body": {"text": "Pick one"}, "footer": {"text": "Lucky Shrub"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}, {"type": "reply", "reply": {"id": "no", "title": "No"}}]}}),
            ),
        ),
        (
            Action::Interactive(interactive_input(list(vec![section(
                Some("Shipping"),
                rows(2),
            )]))),
            envelope(
                "interactive",
                json!({"type": "list", "body": {"text": "Pick one"}, "action": {"button": "Options", "sections": [
                {"title": "Shipping", "rows": [{"id": "row-0", "title": "Row"}, {"id": "row-1", "title": "Row"}]}]}}),
            ),
        ),
        (
            Action::Interactive(interactive_input(interactive::Form::CtaUrl(
                interactive::CtaUrl {
                    display_text: "Track".into(),
                    url: "https://example.com/t/1234".into(),
                },
            ))),
            envelope(
                "interactive",
                json!({"type": "cta_url", "body": {"text": "Pick one"},
                "action": {"name": "cta_url", "parameters": {"display_text": "Track", "url": "https://example.com/t/1234"}}}),
            ),
        ),
        (
            Action::Reaction(ReactionInput {
                send_message_to: TO.into(),
                message_id: QUOTED.into(),
                emoji: "👍".into(),
            }),
            envelope("reaction", json!({"message_id": QUOTED, "emoji": "👍"})),
        ),
        (
            Action::Reaction(ReactionInput {
                send_message_to: TO.into(),
                message_id: QUOTED.into(),
                emoji: String::new(),
            }),
            envelope("reaction", json!({"message_id": QUOTED, "emoji": ""})),
        ),
        (
            Action::Location(LocationInput {
                name: Some("Lucky Shrub".into()),
                address: Some("1 Hacker Way".into()),
                ..location_input(37.483307, -122.148981)
            }),
            envelope(
                "location",
                json!({"latitude": 37.483307, "longitude": -122.148981, "name": "Lucky Shrub", "address": "1 Hacker Way"}),
            ),
        ),
        (
            Action::Read(ReadInput {
                message_id: QUOTED.into(),
                typing_indicator: Some(true),
            }),
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": QUOTED, "typing_indicator": {"type": "text"}}),
        ),
        (
            Action::Read(ReadInput {
                message_id: QUOTED.into(),
                typing_indicator: None,
            }),
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": QUOTED}),
        ),
        // A reply quotes its message; a text may ask for a URL preview.
        (
            Action::Text(host_harness::bindings::SendInput {
                reply_to: Some(QUOTED.into()),
                preview_url: Some(true),
                ..input("See https://example.com", TO)
            }),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO, "context": {"message_id": QUOTED},
                   "type": "text", "text": {"body": "See https://example.com", "preview_url": true}}),
        ),
        (
            Action::Location(LocationInput {
                reply_to: Some(QUOTED.into()),
                ..location_input(0.0, 0.0)
            }),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO, "context": {"message_id": QUOTED},
                   "type": "location", "location": {"latitude": 0.0, "longitude": 0.0}}),
        ),
        // A BSUID goes out as `recipient`.
        (
            Action::Media(MediaInput {
                send_message_to: BSUID.into(),
                ..media_input(media::MediaKind::Sticker)
            }),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "recipient": BSUID, "type": "sticker", "sticker": {"link": "https://example.com/a.jpg"}}),
        ),
    ];
    for (action, expected) in cases {
        assert_eq!(request_of(action).await, expected);
    }
}

/// An action that must be refused for `field` before any request.
async fn refused(action: &Action, field: &str) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let connector = connector().with_outbound(Outbound::stub(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        Some(StubResponse::json(
            200,
            &serde_json::from_str::<Value>(SENT).unwrap(),
        ))
    }));
    match action.run(&connector).await.unwrap() {
        Err(ConnectorError::InvalidInput(e)) => assert_eq!(e.field, field),
        other => panic!("{field}: expected invalid-input, got {other:?}"),
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "{field}: a request was made"
    );
}

async fn accepted(action: &Action, what: &str) {
    let connector = connector();
    match action.run(&connector).await.unwrap() {
        Ok(_) => {}
        Err(e) => panic!("{what}: refused at the limit: {e:?}"),
    }
}

/// `n` characters, each a two-byte scalar value: limits count characters, not bytes.
fn chars(n: usize) -> String {
    "é".repeat(n)
}

#[tokio::test]
async fn every_limit_at_its_edge() {
    type Case = (&'static str, usize, Box<dyn Fn(usize) -> Action>);
    use interactive::Form;
    let cases: Vec<Case> = vec![
        (
            "flow-cta",
            20,
            Box::new(|n| {
                Action::Flow(FlowInput {
                    flow_cta: chars(n),
                    ..flow_input()
                })
            }),
        ),
        (
            "flow-token",
            2000,
            Box::new(|n| {
                Action::Flow(FlowInput {
                    flow_token: Some(chars(n)),
                    ..flow_input()
                })
            }),
        ),
        (
            "flow",
            200,
            Box::new(|n| {
                Action::Flow(FlowInput {
                    flow: flow::FlowRef::Name(chars(n)),
                    ..flow_input()
                })
            }),
        ),
        (
            "flow-action",
            200,
            Box::new(|n| {
                Action::Flow(FlowInput {
                    flow_action: navigate(&"S".repeat(n), None),
                    ..flow_input()
                })
            }),
        ),
        (
            "header-text",
            60,
            Box::new(|n| {
                Action::Flow(FlowInput {
                    header_text: Some(chars(n)),
                    ..flow_input()
                })
            }),
        ),
        (
            "body",
            1024,
            Box::new(|n| {
                Action::Flow(FlowInput {
                    body: chars(n),
                    ..flow_input()
                })
            }),
        ),
        (
            "footer",
            60,
            Box::new(|n| {
                Action::Flow(FlowInput {
                    footer: Some(chars(n)),
                    ..flow_input()
                })
            }),
        ),
        (
            "buttons",
            2000,
            Box::new(|n| {
                Action::Template(TemplateInput {
                    buttons: vec![template::ButtonParameter::Flow(template::FlowButton {
                        index: 0,
                        flow_token: Some(chars(n)),
                        flow_action_data: None,
                    })],
                    ..template_input()
                })
            }),
        ),
        (
            "reply-to",
            512,
            Box::new(|n| {
                Action::Text(host_harness::bindings::SendInput {
                    reply_to: Some(format!("wamid.{}", "A".repeat(n - 6))),
                    ..input("hi", TO)
                })
            }),
        ),
        (
            "template-name",
            512,
            Box::new(|n| {
                Action::Template(TemplateInput {
                    template_name: "a".repeat(n),
                    ..template_input()
                })
            }),
        ),
        (
            "caption",
            1024,
            Box::new(|n| {
                Action::Media(MediaInput {
                    caption: Some(chars(n)),
                    ..media_input(media::MediaKind::Image)
                })
            }),
        ),
        (
            "filename",
            240,
            Box::new(|n| {
                Action::Media(MediaInput {
                    filename: Some(chars(n)),
                    ..media_input(media::MediaKind::Document)
                })
            }),
        ),
        (
            "header-text",
            60,
            Box::new(|n| {
                Action::Interactive(InteractiveInput {
                    header_text: Some(chars(n)),
                    ..interactive_input(Form::ReplyButtons(vec![button("a", "A")]))
                })
            }),
        ),
        (
            "footer",
            60,
            Box::new(|n| {
                Action::Interactive(InteractiveInput {
                    footer: Some(chars(n)),
                    ..interactive_input(Form::ReplyButtons(vec![button("a", "A")]))
                })
            }),
        ),
        (
            "body",
            1024,
            Box::new(|n| {
                Action::Interactive(InteractiveInput {
                    body: chars(n),
                    ..interactive_input(Form::ReplyButtons(vec![button("a", "A")]))
                })
            }),
        ),
        (
            "body",
            4096,
            Box::new(|n| {
                Action::Interactive(InteractiveInput {
                    body: chars(n),
                    ..interactive_input(list(vec![section(None, rows(1))]))
                })
            }),
        ),
        (
            "buttons",
            3,
            Box::new(|n| {
                Action::Interactive(interactive_input(Form::ReplyButtons(
                    (0..n)
                        .map(|i| button(&format!("b{i}"), &format!("B{i}")))
                        .collect(),
                )))
            }),
        ),
        (
            "buttons",
            256,
            Box::new(|n| {
                Action::Interactive(interactive_input(Form::ReplyButtons(vec![button(
                    &chars(n),
                    "A",
                )])))
            }),
        ),
        (
            "buttons",
            20,
            Box::new(|n| {
                Action::Interactive(interactive_input(Form::ReplyButtons(vec![button(
                    "a",
                    &chars(n),
                )])))
            }),
        ),
        (
            "list-button",
            20,
            Box::new(|n| {
                Action::Interactive(interactive_input(Form::RowList(interactive::RowList {
                    button: chars(n),
                    sections: vec![section(None, rows(1))],
                })))
            }),
        ),
        (
            "sections",
            10,
            Box::new(|n| {
                Action::Interactive(interactive_input(list(
                    (0..n)
                        .map(|i| {
                            section(
                                Some(&format!("S{i}")),
                                vec![interactive::ListRow {
                                    id: format!("r{i}"),
                                    title: "R".into(),
                                    description: None,
                                }],
                            )
                        })
                        .collect(),
                )))
            }),
        ),
        (
            "sections",
            10,
            Box::new(|n| {
                Action::Interactive(interactive_input(list(vec![section(None, rows(n))])))
            }),
        ),
        (
            "sections",
            24,
            Box::new(|n| {
                Action::Interactive(interactive_input(list(vec![section(
                    Some(&chars(n)),
                    rows(1),
                )])))
            }),
        ),
        (
            "sections",
            200,
            Box::new(|n| {
                Action::Interactive(interactive_input(list(vec![section(
                    None,
                    vec![interactive::ListRow {
                        id: chars(n),
                        title: "R".into(),
                        description: None,
                    }],
                )])))
            }),
        ),
        (
            "sections",
            24,
            Box::new(|n| {
                Action::Interactive(interactive_input(list(vec![section(
                    None,
                    vec![interactive::ListRow {
                        id: "r".into(),
                        title: chars(n),
                        description: None,
                    }],
                )])))
            }),
        ),
        (
            "sections",
            72,
            Box::new(|n| {
                Action::Interactive(interactive_input(list(vec![section(
                    None,
                    vec![interactive::ListRow {
                        id: "r".into(),
                        title: "R".into(),
                        description: Some(chars(n)),
                    }],
                )])))
            }),
        ),
        (
            "display-text",
            20,
            Box::new(|n| {
                Action::Interactive(interactive_input(Form::CtaUrl(interactive::CtaUrl {
                    display_text: chars(n),
                    url: "https://example.com".into(),
                })))
            }),
        ),
        (
            "name",
            1000,
            Box::new(|n| {
                Action::Location(LocationInput {
                    name: Some(chars(n)),
                    ..location_input(1.0, 1.0)
                })
            }),
        ),
        (
            "address",
            1000,
            Box::new(|n| {
                Action::Location(LocationInput {
                    address: Some(chars(n)),
                    ..location_input(1.0, 1.0)
                })
            }),
        ),
    ];
    for (field, limit, make) in &cases {
        accepted(&make(*limit), field).await;
        refused(&make(limit + 1), field).await;
    }
    // Coordinates: the edges pass, a hair beyond does not.
    for (lat, lon) in [(90.0, 180.0), (-90.0, -180.0)] {
        accepted(&Action::Location(location_input(lat, lon)), "coordinates").await;
    }
    refused(
        &Action::Location(location_input(90.000001, 0.0)),
        "latitude",
    )
    .await;
    refused(
        &Action::Location(location_input(0.0, -180.000001)),
        "longitude",
    )
    .await;
    refused(&Action::Location(location_input(f64::NAN, 0.0)), "latitude").await;
    // The rest: forms, kinds and formats.
    let reaction = |emoji: &str| {
        Action::Reaction(ReactionInput {
            send_message_to: TO.into(),
            message_id: QUOTED.into(),
            emoji: emoji.into(),
        })
    };
    refused(&reaction("ok"), "emoji").await;
    refused(&reaction("👍👍👍👍👍👍👍👍👍👍👍"), "emoji").await;
    refused(
        &Action::Reaction(ReactionInput {
            message_id: "not an id".into(),
            ..match reaction("👍") {
                Action::Reaction(r) => r,
                _ => unreachable!(),
            }
        }),
        "message-id",
    )
    .await;
    refused(
        &Action::Media(MediaInput {
            media_id: Some("1".into()),
            ..media_input(media::MediaKind::Image)
        }),
        "media-id",
    )
    .await;
    refused(
        &Action::Media(MediaInput {
            caption: Some("x".into()),
            ..media_input(media::MediaKind::Audio)
        }),
        "caption",
    )
    .await;
    refused(
        &Action::Media(MediaInput {
            link: Some("http://example.com/a.jpg".into()),
            ..media_input(media::MediaKind::Video)
        }),
        "link",
    )
    .await;
    refused(
        &Action::Interactive(interactive_input(Form::ReplyButtons(vec![
            button("a", "A"),
            button("a", "B"),
        ]))),
        "buttons",
    )
    .await;
    refused(
        &Action::Interactive(interactive_input(Form::CtaUrl(interactive::CtaUrl {
            display_text: "Go".into(),
            url: "http://example.com".into(),
        }))),
        "url",
    )
    .await;
    refused(
        &Action::Template(TemplateInput {
            language_code: "english".into(),
            ..template_input()
        }),
        "language-code",
    )
    .await;
    refused(
        &Action::Template(TemplateInput {
            send_message_to: "US.".into(),
            ..template_input()
        }),
        "send-message-to",
    )
    .await;
    refused(
        &Action::Read(ReadInput {
            message_id: String::new(),
            typing_indicator: None,
        }),
        "message-id",
    )
    .await;
}

#[tokio::test]
async fn the_errors_a_workflow_author_meets_carry_a_hint() {
    let action = Action::Template(template_input());
    let answered = |status: u16, code: i64, retry_after: Option<&str>| {
        let body = json!({"error": {"message": format!("(#{code}) Meta's message"), "type": "OAuthException", "code": code, "fbtrace_id": "T"}});
        let mut answer = StubResponse::json(status, &body);
        if let Some(seconds) = retry_after {
            answer.headers.push(("retry-after".into(), seconds.into()));
        }
        answer
    };
    for (code, needle) in [
        (131047, "template"),
        (131026, "undeliverable"),
        (131051, "not supported"),
        (131052, "downloaded"),
        (131053, "uploaded"),
        (131009, "parameter"),
        (100, "parameter"),
        (132000, "number of template parameters"),
        (132001, "language"),
        (132012, "format"),
        (131062, "phone number"),
        (131049, "marketing messages one user receives"),
        (130497, "country"),
        (131050, "stopped marketing messages"),
        (131063, "turned off"),
    ] {
        let answer = answered(400, code, None);
        let connector = connector().with_outbound(Outbound::stub(move |_| Some(answer.clone())));
        match action.run(&connector).await.unwrap() {
            Err(ConnectorError::Graph(e)) => {
                assert_eq!(e.code, Some(code));
                let hint = e.hint.unwrap_or_else(|| panic!("{code}: no hint"));
                assert!(hint.contains(needle), "{code}: {hint}");
            }
            other => panic!("{code}: {other:?}"),
        }
    }
    for code in [131056, 130429, 80007] {
        let answer = answered(400, code, Some("6"));
        let connector = connector().with_outbound(Outbound::stub(move |_| Some(answer.clone())));
        match action.run(&connector).await.unwrap() {
            Err(ConnectorError::RateLimited(r)) => {
                assert_eq!((r.error.code, r.retry_after), (Some(code), Some(6)));
                assert!(r.error.retryable);
                if code == 131056 {
                    assert!(r.error.hint.unwrap().contains("same user"));
                }
            }
            other => panic!("{code}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_flow_is_refused_before_any_request_when_its_shape_is_wrong() {
    for cta in ["Book 📅", "✅ Go", "⭐"] {
        refused(
            &Action::Flow(FlowInput {
                flow_cta: cta.into(),
                ..flow_input()
            }),
            "flow-cta",
        )
        .await;
    }
    refused(
        &Action::Flow(FlowInput {
            flow: flow::FlowRef::Id("12ab".into()),
            ..flow_input()
        }),
        "flow",
    )
    .await;
    for data in ["{}", "[1, 2]", "{\"a\": }", "\"text\""] {
        refused(
            &Action::Flow(FlowInput {
                flow_action: navigate("WELCOME", Some(data)),
                ..flow_input()
            }),
            "flow-action",
        )
        .await;
        refused(
            &Action::Template(TemplateInput {
                buttons: vec![template::ButtonParameter::Flow(template::FlowButton {
                    index: 0,
                    flow_token: None,
                    flow_action_data: Some(data.into()),
                })],
                ..template_input()
            }),
            "buttons",
        )
        .await;
    }
    refused(
        &Action::Flow(FlowInput {
            flow_action: navigate("TWO WORDS", None),
            ..flow_input()
        }),
        "flow-action",
    )
    .await;
    refused(
        &Action::Flow(FlowInput {
            send_message_to: "15550101234".into(),
            ..flow_input()
        }),
        "send-message-to",
    )
    .await;
}

#[tokio::test]
async fn a_template_goes_through_the_marketing_messages_api_when_asked() {
    let answer = r#"{"messaging_product":"whatsapp","contacts":[{"input":"+15550101234","wa_id":"15550101234"}],"messages":[{"id":"wamid.SENT"}],"success":true}"#;
    let server = GraphServer::start(move |_| StubResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: answer.as_bytes().to_vec(),
    })
    .await
    .unwrap();
    let connector = connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    let plain = Action::Template(TemplateInput {
        marketing: Some(template::MarketingOptions {
            product_policy: None,
            message_activity_sharing: None,
        }),
        ..template_input()
    });
    let options = Action::Template(TemplateInput {
        marketing: Some(template::MarketingOptions {
            product_policy: Some(template::ProductPolicy::Strict),
            message_activity_sharing: Some(true),
        }),
        ..template_input()
    });
    for action in [plain, options] {
        let output = action.run(&connector).await.unwrap().unwrap().unwrap();
        assert_eq!(output.messages[0].id, "wamid.SENT");
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let template = json!({"name": "order_update", "language": {"code": "en_US"}});
    for request in &requests {
        assert_graph_call(
            request,
            "POST",
            &format!("/v27.0/{PHONE_NUMBER_ID}/marketing_messages"),
        );
    }
    let body = |i: usize| serde_json::from_slice::<Value>(&requests[i].body).unwrap();
    assert_eq!(body(0), envelope("template", template.clone()));
    let mut expected = envelope("template", template);
    expected["product_policy"] = json!("STRICT");
    expected["message_activity_sharing"] = json!(true);
    assert_eq!(body(1), expected);
}
