//! The bad-input catalogue: hostile and broken inputs, one table, on one harness (the real
//! component, and `serve` in process). Each case states its input and what it must get: a
//! WIT error variant (with the reason where the reason is the point), an HTTP status from
//! `serve`, or, for a webhook whose messages are merely oddly shaped, exactly its events
//! (no message of a webhook is lost for its shape). No refused input leaks an event, and
//! nothing traps or panics. After all of them, a normal request still succeeds.

use std::sync::{Arc, Mutex};

use crate::{TOKEN, connection, connector, fixture, input, post, signed_post};
use host_harness::bindings::{ConnectorError, Outcome, Properties, WebhookRequest, WebhookSecrets};
use host_harness::endpoint::{Endpoint, EndpointOptions};
use host_harness::fakes::loopback::Client;
use host_harness::serve::{Running, ServeOptions};
use host_harness::{Connection, Outbound, StubResponse, json, sign_webhook};
use serde_json::json;

const APP_SECRET: &str = "catalogue-app-secret";
const VERIFY_TOKEN: &str = "catalogue-verify-token";

/// What a case feeds the harness.
enum Input {
    /// A request to the trigger, with a sender-number filter.
    Webhook(WebhookRequest, Option<&'static str>),
    /// Action "Send Message" with this connection and these inputs, against a Graph API
    /// that answers `answer`; `None`: no request may be made at all.
    Send(Connection, String, String, Option<StubResponse>),
    /// A raw request to `serve`.
    Serve(&'static str, Vec<u8>),
}

/// What a case must get, and what it got.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// A `webhook-error` or connector `error` of this kind (its JSON `kind`).
    Kind(String),
    /// A `webhook-error` of this kind whose reason contains this text.
    Reason(String, String),
    /// `invalid-input` on this field.
    InvalidField(String),
    /// This HTTP status from `serve`.
    Status(u16),
    /// Accepted: this many events, each carrying its message.
    Events(usize),
}

fn kind(kind: &str) -> Answer {
    Answer::Kind(kind.into())
}

fn reason(kind: &str, reason: &str) -> Answer {
    Answer::Reason(kind.into(), reason.into())
}

fn field(field: &str) -> Answer {
    Answer::InvalidField(field.into())
}

struct Case {
    name: &'static str,
    input: Input,
    expected: Answer,
}

fn case(name: &'static str, input: Input, expected: Answer) -> Case {
    Case {
        name,
        input,
        expected,
    }
}

fn signed(body: &[u8]) -> WebhookRequest {
    signed_post(body.to_vec(), APP_SECRET)
}

fn with_signature(body: &[u8], signature: &str) -> WebhookRequest {
    post(body.to_vec(), &[("x-hub-signature-256", signature)])
}

fn get(query: &str) -> WebhookRequest {
    WebhookRequest {
        method: "GET".into(),
        headers: Vec::new(),
        query: query.into(),
        body: Vec::new(),
    }
}

/// `text_message.json` with one field replaced by `value` (raw JSON).
fn message_with(field: &str, value: &str) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("text_message.json")).unwrap();
    payload["entry"][0]["changes"][0]["value"]["messages"][0][field] =
        serde_json::from_str(value).unwrap();
    serde_json::to_vec(&payload).unwrap()
}

/// `text_message.json` with one member of the message set to raw JSON text.
fn message_with_raw(field: &str, raw: &str) -> Vec<u8> {
    let body = String::from_utf8(fixture("text_message.json")).unwrap();
    let anchor = "\"type\": \"text\"";
    assert!(body.contains(anchor), "the fixture changed");
    body.replacen(anchor, &format!("{anchor}, \"{field}\": {raw}"), 1)
        .into_bytes()
}

fn message_without(field: &str) -> Vec<u8> {
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fixture("text_message.json")).unwrap();
    payload["entry"][0]["changes"][0]["value"]["messages"][0]
        .as_object_mut()
        .unwrap()
        .remove(field);
    serde_json::to_vec(&payload).unwrap()
}

fn send(to: &str, message: String) -> Input {
    Input::Send(connection(), message, to.into(), None)
}

fn graph_answers(status: u16, body: Vec<u8>) -> Input {
    let answer = StubResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    };
    Input::Send(
        connection(),
        "hello".into(),
        "+15550101234".into(),
        Some(answer),
    )
}

fn catalogue() -> Vec<Case> {
    let text = fixture("text_message.json");
    let body = text.clone();
    let genuine = sign_webhook(APP_SECRET, &body);
    let webhook = |request| Input::Webhook(request, None);
    // A correctly signed body, so that the parser, not the signature check, answers.
    let payload = |body: Vec<u8>| Input::Webhook(signed(&body), None);
    let nested = format!(
        r#"{{"object":"whatsapp_business_account","entry":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend_from_slice(&text);
    let mut invalid_utf8 = text.clone();
    invalid_utf8.splice(40..40, [0xff, 0xfe]);
    let duplicate_keys = String::from_utf8(text.clone()).unwrap().replacen(
        r#""object": "whatsapp_business_account""#,
        r#""object": "whatsapp_business_account", "object": "page""#,
        1,
    );
    assert_ne!(duplicate_keys.as_bytes(), &text[..], "the fixture changed");
    let entry_object = {
        let mut payload: serde_json::Value = serde_json::from_slice(&text).unwrap();
        payload["entry"] = json!({"0": payload["entry"][0].clone()});
        serde_json::to_vec(&payload).unwrap()
    };
    let changes_missing = r#"{"object":"whatsapp_business_account","entry":[{"id":"1"}]}"#;
    let conn_crlf = Connection {
        system_user_access_token: format!("{TOKEN}\r\nX-Injected: yes").into(),
        ..connection()
    };
    let conn_lf = Connection {
        system_user_access_token: format!("{TOKEN}\nHost: evil.example").into(),
        ..connection()
    };
    let emoji = |n: usize| "😀".repeat(n);
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        case(
            "truncated JSON",
            payload(text[..text.len() / 2].to_vec()),
            kind("invalid-payload"),
        ),
        case("empty body", payload(Vec::new()), kind("invalid-payload")),
        case(
            "JSON nested 10,000 levels deep",
            payload(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
            reason("invalid-payload", "not a JSON object"),
        ),
        case(
            "entries nested 10,000 levels deep (no entry is an object: no message)",
            payload(nested.into_bytes()),
            Answer::Events(0),
        ),
        case(
            "a context nested 10,000 levels deep (carried raw, whole)",
            payload(message_with_raw("context", &deep)),
            Answer::Events(1),
        ),
        case(
            "invalid UTF-8",
            payload(invalid_utf8),
            kind("invalid-payload"),
        ),
        case("a byte order mark", payload(bom), kind("invalid-payload")),
        case(
            "duplicate keys",
            payload(duplicate_keys.into_bytes()),
            reason("invalid-payload", "duplicate field `object`"),
        ),
        case(
            "a number where a string belongs (id): carried raw",
            payload(message_with("id", "12345")),
            Answer::Events(1),
        ),
        case(
            "from as a JSON number: carried raw",
            payload(message_with("from", "16505551234")),
            Answer::Events(1),
        ),
        case(
            "entry as an object",
            payload(entry_object),
            reason("invalid-payload", "`entry` is missing or not a list"),
        ),
        case(
            "changes missing (no message)",
            payload(changes_missing.into()),
            Answer::Events(0),
        ),
        case(
            "a message without from (a username user)",
            payload(message_without("from")),
            Answer::Events(1),
        ),
        case(
            "a message without id",
            payload(message_without("id")),
            Answer::Events(1),
        ),
        case(
            "a top-level array",
            payload(b"[1,2,3]".to_vec()),
            reason("invalid-payload", "not a JSON object"),
        ),
        case(
            "another object type",
            payload(br#"{"object":"page","entry":[]}"#.to_vec()),
            reason("invalid-payload", "\"page\""),
        ),
        case(
            "a sender filter of letters",
            Input::Webhook(signed(&text), Some("call me")),
            kind("invalid-property"),
        ),
        case(
            "no signature",
            webhook(post(body.clone(), &[])),
            kind("invalid-signature"),
        ),
        case(
            "an empty signature",
            webhook(with_signature(&body, "")),
            kind("invalid-signature"),
        ),
        case(
            "the wrong algorithm (sha1=)",
            webhook(with_signature(&body, &genuine.replace("sha256=", "sha1="))),
            kind("invalid-signature"),
        ),
        case(
            "uppercase hex",
            webhook(with_signature(
                &body,
                &format!("sha256={}", genuine["sha256=".len()..].to_uppercase()),
            )),
            kind("invalid-signature"),
        ),
        case(
            "a truncated signature",
            webhook(with_signature(&body, &genuine[..genuine.len() - 2])),
            kind("invalid-signature"),
        ),
        case(
            "a signature over a different body",
            webhook(with_signature(&body, &sign_webhook(APP_SECRET, b"{}"))),
            kind("invalid-signature"),
        ),
        case(
            "a handshake with no challenge",
            webhook(get(&format!(
                "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}"
            ))),
            kind("invalid-handshake"),
        ),
        case(
            "a handshake with the wrong mode",
            webhook(get(&format!(
                "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}"
            ))),
            kind("invalid-handshake"),
        ),
        case(
            "a handshake with the wrong token",
            webhook(get(
                "hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess",
            )),
            kind("verification-failed"),
        ),
        case(
            "a PUT",
            webhook(WebhookRequest {
                method: "PUT".into(),
                ..post(Vec::new(), &[])
            }),
            kind("method-not-allowed"),
        ),
        case(
            "a recipient with letters",
            send("+1 555 CALL NOW", "hi".into()),
            field("send-message-to"),
        ),
        case(
            "a recipient of 16 digits",
            send("+1234567890123456", "hi".into()),
            field("send-message-to"),
        ),
        case(
            "a recipient that is only +",
            send("+", "hi".into()),
            field("send-message-to"),
        ),
        case(
            "a recipient without +",
            send("15550101234", "hi".into()),
            field("send-message-to"),
        ),
        case(
            "a message of 4097 characters",
            send("+15550101234", "a".repeat(4097)),
            field("message"),
        ),
        case(
            "a message of 4097 emoji",
            send("+15550101234", emoji(4097)),
            field("message"),
        ),
        case(
            "an empty message",
            send("+15550101234", String::new()),
            field("message"),
        ),
        case(
            "CR/LF in the token (header injection)",
            Input::Send(conn_crlf, "hi".into(), "+15550101234".into(), None),
            field("system-user-access-token"),
        ),
        case(
            "LF in the token (header injection)",
            Input::Send(conn_lf, "hi".into(), "+15550101234".into(), None),
            field("system-user-access-token"),
        ),
        case(
            "letters in the phone number ID",
            Input::Send(
                Connection {
                    phone_number_id: "12ab".into(),
                    ..connection()
                },
                "hi".into(),
                "+15550101234".into(),
                None,
            ),
            field("phone-number-id"),
        ),
        case(
            "a Graph answer that is empty",
            graph_answers(200, Vec::new()),
            kind("unexpected-response"),
        ),
        case(
            "a Graph answer that is truncated",
            graph_answers(200, br#"{"messaging_product":"whatsapp","contac"#.to_vec()),
            kind("unexpected-response"),
        ),
        case(
            "a Graph answer of 1.5 MiB (over the component's 1 MiB cap)",
            graph_answers(
                200,
                format!(r#"{{"messaging_product":"{}"}}"#, "w".repeat(3 << 19)).into_bytes(),
            ),
            kind("unexpected-response"),
        ),
        case(
            "a Graph answer of 3 MiB (over the host's 2 MiB cap: cut before the component reads it)",
            graph_answers(
                200,
                format!(r#"{{"messaging_product":"{}"}}"#, "w".repeat(3 << 20)).into_bytes(),
            ),
            kind("transport"),
        ),
        case(
            "a Graph answer of the wrong type",
            graph_answers(200, b"[\"whatsapp\"]".to_vec()),
            kind("unexpected-response"),
        ),
        case(
            "a Graph error page in HTML",
            graph_answers(502, b"<html>Bad Gateway</html>".to_vec()),
            kind("graph"),
        ),
        case(
            "a 5 MiB body to serve",
            Input::Serve("POST", vec![b' '; 5 << 20]),
            Answer::Status(413),
        ),
        case(
            "a PATCH to serve",
            Input::Serve("PATCH", Vec::new()),
            Answer::Status(405),
        ),
        case(
            "garbage to serve",
            Input::Serve("POST", b"\x00\x01garbage".to_vec()),
            Answer::Status(401),
        ),
    ]
}

fn answer_of(error: &ConnectorError) -> Answer {
    match error {
        ConnectorError::InvalidInput(f) => field(&f.field),
        other => kind(json::connector_error(other)["kind"].as_str().unwrap()),
    }
}

#[tokio::test]
async fn every_bad_input_gets_its_structured_error_and_nothing_leaks() {
    let harness = connector();
    let secrets = WebhookSecrets {
        app_secret: Some(APP_SECRET.into()),
        verify_token: Some(VERIFY_TOKEN.into()),
    };
    // `serve` on the same component, events into a buffer.
    let sink = Arc::new(Mutex::new(Vec::<u8>::new()));
    let endpoint = EndpointOptions::new(
        Properties {
            sender_number: None,
        },
        Some(APP_SECRET.into()),
        Some(VERIFY_TOKEN.into()),
    );
    let endpoint = Arc::new(Endpoint::new(
        harness.clone(),
        endpoint,
        sink.clone(),
        Arc::default(),
    ));
    let options = ServeOptions {
        access_log: false,
        ..ServeOptions::default()
    };
    let server = Running::start(endpoint.clone(), options).await.unwrap();
    let address = server.address;

    let cases = catalogue();
    assert!(cases.len() >= 30, "the catalogue has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let actual = match case.input {
            Input::Webhook(request, sender) => {
                let properties = Properties {
                    sender_number: sender.map(str::to_owned),
                };
                match harness
                    .handle_webhook(&request, &properties, &secrets)
                    .await
                {
                    Ok(Err(e)) => {
                        let error = json::webhook_error(&e);
                        let kind = error["kind"].as_str().unwrap().to_owned();
                        match &case.expected {
                            Answer::Reason(_, needle)
                                if error["reason"].as_str().unwrap().contains(needle.as_str()) =>
                            {
                                Answer::Reason(kind, needle.clone())
                            }
                            Answer::Reason(..) => Answer::Reason(kind, error.to_string()),
                            _ => Answer::Kind(kind),
                        }
                    }
                    Ok(Ok(Outcome::Events(events))) => {
                        // Accepted: each event must carry its message whole (its JSON
                        // output holds every member the body's message had).
                        let message: Option<serde_json::Value> =
                            serde_json::from_slice::<serde_json::Value>(&request.body)
                                .ok()
                                .map(|b| {
                                    b["entry"][0]["changes"][0]["value"]["messages"][0].clone()
                                });
                        for event in &events {
                            let line = json::event_line(event.clone()).unwrap();
                            // (A message nested deeper than `Value` reads is compared by
                            // neither side: the body's reading is `None` too.)
                            let written: Option<serde_json::Value> =
                                serde_json::from_str(&line).ok();
                            let carried = written.as_ref().map_or(&serde_json::Value::Null, |w| {
                                &w["entry"]["changes"]["messages"]
                            });
                            if let Some(members) = message.as_ref().and_then(|m| m.as_object()) {
                                // Every member, with its value: not merely a key of that
                                // name somewhere in the line.
                                for (key, value) in members {
                                    if &carried[key] != value {
                                        failures.push(format!(
                                            "{}: `{key}` is {} in the event, {value} in the body",
                                            case.name, carried[key]
                                        ));
                                    }
                                }
                            }
                        }
                        Answer::Events(events.len())
                    }
                    Ok(Ok(Outcome::Respond(r))) => Answer::Status(r.status),
                    Err(trap) => {
                        failures.push(format!("{}: trapped: {trap:#}", case.name));
                        continue;
                    }
                }
            }
            Input::Send(connection, message, to, answer) => {
                let must_not_call = answer.is_none();
                let outbound = Outbound::stub(move |_| answer.clone());
                let sender = harness.with_outbound(outbound);
                let result = sender.send(&connection, &input(&message, &to)).await;
                if must_not_call && !sender.outbound().requests().is_empty() {
                    failures.push(format!("{}: a request was made", case.name));
                }
                match result {
                    Ok(Err(e)) => {
                        let text = format!("{e:?}");
                        if text.contains(TOKEN) {
                            failures.push(format!("{}: the token leaked: {text}", case.name));
                        }
                        answer_of(&e)
                    }
                    Ok(Ok(output)) => {
                        failures.push(format!("{}: sent: {output:?}", case.name));
                        continue;
                    }
                    Err(trap) => {
                        failures.push(format!("{}: trapped: {trap:#}", case.name));
                        continue;
                    }
                }
            }
            Input::Serve(method, body) => {
                let mut client = Client::connect(address).await.unwrap();
                match client.request(method, "/webhook", &[], body).await {
                    Ok(answer) => Answer::Status(answer.status),
                    Err(e) => {
                        failures.push(format!("{}: no answer: {e:#}", case.name));
                        continue;
                    }
                }
            }
        };
        if actual != case.expected {
            failures.push(format!(
                "{}: expected {:?}, got {actual:?}",
                case.name, case.expected
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Whatever was accepted is written by now.
    assert!(endpoint.drain(std::time::Duration::from_secs(10)).await);
    assert_eq!(endpoint.stats().events.get(), 0);
    assert!(sink.lock().unwrap().is_empty(), "serve wrote an event");

    // The same harness still does its job: a long text is one event, whole; a 4096-emoji
    // message is sent; a signed webhook to serve is written.
    let long = message_with("text", &json!({"body": "x".repeat(100_000)}).to_string());
    let no_filter = Properties {
        sender_number: None,
    };
    match harness
        .handle_webhook(&signed(&long), &no_filter, &secrets)
        .await
        .unwrap()
    {
        Ok(Outcome::Events(events)) => {
            assert_eq!(events.len(), 1);
            let text = events[0].entry.changes.messages.text.as_ref().unwrap();
            assert_eq!(text.body.len(), 100_000);
        }
        other => panic!("{other:?}"),
    }
    let output = harness
        .send(&connection(), &input(&"😀".repeat(4096), "+15550101234"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.messages.len(), 1);
    let mut client = Client::connect(address).await.unwrap();
    let answer = client
        .webhook("/webhook", signed(&fixture("text_message.json")))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    // Stopping waits for the accepted events to reach the sink.
    server.stop().await.unwrap();
    assert_eq!(
        String::from_utf8(sink.lock().unwrap().clone())
            .unwrap()
            .lines()
            .count(),
        1
    );
}
