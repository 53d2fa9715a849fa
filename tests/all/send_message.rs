//! Action "Send Message" on the real component: the request it makes, its output, and
//! every way it can fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{PHONE_NUMBER_ID, TOKEN, assert_graph_call, connection, connector, input};
use host_harness::bindings::ConnectorError;
use host_harness::fakes::loopback::GraphServer;
use host_harness::{Connection, Outbound, StubResponse, json};
use serde_json::{Value, json};

const SENT: &str = r#"{"messaging_product":"whatsapp","contacts":[{"input":"+15550101234","wa_id":"15550101234"}],"messages":[{"id":"wamid.HBgLMTU1NTAxMDEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}]}"#;

fn answer(status: u16, body: &str) -> StubResponse {
    StubResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    }
}

#[tokio::test]
async fn sends_the_documented_request_and_returns_the_output() {
    let connector = connector().with_outbound(Outbound::stub(|request| {
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.url,
            format!("https://graph.facebook.com/v27.0/{PHONE_NUMBER_ID}/messages")
        );
        assert_eq!(request.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
        assert_eq!(request.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"+15550101234","type":"text","text":{"body":"Hello 👋"}})
        );
        Some(answer(200, SENT))
    }));
    let output = connector
        .send(&connection(), &input("Hello 👋", "+1 (555) 010-1234"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        json::send_output(&output),
        serde_json::from_str::<Value>(SENT).unwrap()
    );
    assert_eq!(connector.outbound().requests().len(), 1);
}

#[tokio::test]
async fn sends_over_real_http_to_a_loopback_server() {
    let server = GraphServer::start(|_| answer(200, SENT)).await.unwrap();
    let connector = connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    let output = connector
        .send(&connection(), &input("over the wire", "+15550101234"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        output.messages[0].id,
        "wamid.HBgLMTU1NTAxMDEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"
    );
    let received = server.requests();
    assert_eq!(received.len(), 1);
    assert_graph_call(
        &received[0],
        "POST",
        &format!("/v27.0/{PHONE_NUMBER_ID}/messages"),
    );
    assert_eq!(received[0].header("host"), Some("graph.facebook.com"));
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["text"]["body"], "over the wire");
}

#[tokio::test]
async fn invalid_inputs_name_the_field_and_send_nothing() {
    let long = "x".repeat(4097);
    let emoji = "😀".repeat(4097);
    let cases: Vec<(Connection, &str, &str, &str)> = vec![
        (connection(), "hi", "15550101234", "send-message-to"),
        (connection(), "hi", "+1555abc0123", "send-message-to"),
        (connection(), "hi", "+123456", "send-message-to"),
        (connection(), "hi", "+1234567890123456", "send-message-to"),
        (connection(), "hi", "+", "send-message-to"),
        (connection(), "", "+15550101234", "message"),
        (connection(), &long, "+15550101234", "message"),
        (connection(), &emoji, "+15550101234", "message"),
        (
            Connection {
                system_user_access_token: String::new().into(),
                ..connection()
            },
            "hi",
            "+15550101234",
            "system-user-access-token",
        ),
        (
            Connection {
                system_user_access_token: format!("{TOKEN}\r\nX-Injected: 1").into(),
                ..connection()
            },
            "hi",
            "+15550101234",
            "system-user-access-token",
        ),
        (
            Connection {
                phone_number_id: "10654-abc".into(),
                ..connection()
            },
            "hi",
            "+15550101234",
            "phone-number-id",
        ),
        (
            Connection {
                phone_number_id: String::new(),
                ..connection()
            },
            "hi",
            "+15550101234",
            "phone-number-id",
        ),
    ];
    for (connection, message, to, field) in cases {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let connector = connector().with_outbound(Outbound::stub(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Some(answer(200, SENT))
        }));
        let result = connector
            .send(&connection, &input(message, to))
            .await
            .unwrap();
        match result {
            Err(ConnectorError::InvalidInput(e)) => {
                assert_eq!(e.field, field, "{to:?}");
                assert!(!e.reason.is_empty());
                assert!(!e.reason.contains(TOKEN));
            }
            other => panic!("{field} {to:?}: expected invalid-input, got {other:?}"),
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "{field}: a request left the component"
        );
        assert!(connector.outbound().requests().is_empty());
    }
}

async fn send_answered_by(response: Option<StubResponse>) -> ConnectorError {
    let connector = connector().with_outbound(Outbound::stub(move |_| response.clone()));
    connector
        .send(&connection(), &input("hi", "+15550101234"))
        .await
        .unwrap()
        .expect_err("the send should fail")
}

fn assert_no_token(error: &ConnectorError) {
    let text = format!("{error:?} {}", json::connector_error(error));
    assert!(!text.contains(TOKEN), "the token leaked: {text}");
}

#[tokio::test]
async fn graph_errors_map_to_variants_with_their_fields() {
    let not_allowed = r#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."},"error_subcode":2655007,"fbtrace_id":"AaBbCcDdEe"}}"#;
    match send_answered_by(Some(answer(400, not_allowed))).await {
        ConnectorError::Graph(e) => {
            assert_eq!(
                (e.status, e.code, e.error_subcode),
                (400, Some(131030), Some(2655007))
            );
            assert_eq!(e.error_type.as_deref(), Some("OAuthException"));
            assert!(
                e.details
                    .as_deref()
                    .unwrap()
                    .starts_with("Recipient phone number not in allowed list")
            );
            assert_eq!(e.fbtrace_id.as_deref(), Some("AaBbCcDdEe"));
            assert!(!e.retryable);
        }
        other => panic!("{other:?}"),
    }

    let expired = r#"{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"Fb1"}}"#;
    match send_answered_by(Some(answer(401, expired))).await {
        ConnectorError::Unauthorized(e) => {
            assert_eq!(
                (e.status, e.code, e.error_subcode),
                (401, Some(190), Some(463))
            );
            assert_no_token(&ConnectorError::Unauthorized(e));
        }
        other => panic!("{other:?}"),
    }

    let mut limited = answer(
        429,
        r#"{"error":{"message":"(#80007) Rate limit hit","type":"OAuthException","code":80007,"fbtrace_id":"Fb2"}}"#,
    );
    limited.headers.push(("retry-after".into(), "17".into()));
    match send_answered_by(Some(limited)).await {
        ConnectorError::RateLimited(r) => {
            assert_eq!(r.retry_after, Some(17));
            assert_eq!(r.error.code, Some(80007));
            assert!(r.error.retryable);
        }
        other => panic!("{other:?}"),
    }

    match send_answered_by(Some(answer(500, r#"{"error":{"message":"An unknown error occurred","type":"OAuthException","code":1,"is_transient":true}}"#))).await {
        ConnectorError::Graph(e) => assert!(e.status == 500 && e.retryable && e.code == Some(1)),
        other => panic!("{other:?}"),
    }

    match send_answered_by(Some(answer(200, "<html><body>Bad gateway</body></html>"))).await {
        ConnectorError::UnexpectedResponse(u) => {
            assert_eq!(u.status, 200);
            assert!(u.reason.contains("not the documented JSON"));
        }
        other => panic!("{other:?}"),
    }

    let refused = send_answered_by(None).await;
    match &refused {
        ConnectorError::Transport(t) => assert!(t.retryable && t.message.contains("refused")),
        other => panic!("{other:?}"),
    }
    assert_no_token(&refused);
}

#[tokio::test]
async fn a_refused_loopback_connection_is_a_transport_error() {
    let connector =
        connector().with_outbound(Outbound::redirect(&crate::refused_base_url()).unwrap());
    let error = connector
        .send(&connection(), &input("hi", "+15550101234"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(error, ConnectorError::Transport(ref t) if t.retryable),
        "{error:?}"
    );
    assert_no_token(&error);
}

#[tokio::test]
async fn a_token_echoed_by_the_server_is_redacted() {
    let echo = format!(
        r#"{{"error":{{"message":"Malformed access token {TOKEN}","type":"OAuthException","code":190}}}}"#
    );
    let error = send_answered_by(Some(answer(401, &echo))).await;
    assert!(matches!(error, ConnectorError::Unauthorized(_)));
    assert_no_token(&error);
}

#[test]
fn connection_debug_redacts_secrets() {
    let connection = Connection {
        app_secret: Some("APPsecretVALUE".into()),
        verify_token: Some("VERIFYtokenVALUE".into()),
        ..connection()
    };
    let debug = format!("{connection:?}");
    for secret in [TOKEN, "APPsecretVALUE", "VERIFYtokenVALUE"] {
        assert!(!debug.contains(secret), "{debug}");
    }
    assert!(debug.contains(PHONE_NUMBER_ID));
}

const BSUID: &str = "US.13491208655302741918";

#[tokio::test]
async fn sends_to_a_business_scoped_user_id_as_recipient() {
    let answered = json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": BSUID, "user_id": BSUID}],
        "messages": [{"id": "wamid.TOBSUID"}],
    });
    let server = GraphServer::start(move |_| StubResponse::json(200, &answered))
        .await
        .unwrap();
    let connector = connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    let output = connector
        .send(
            &connection(),
            &input("Your order shipped", &format!(" {BSUID} ")),
        )
        .await
        .unwrap()
        .unwrap();
    // A success with `user_id` and no `wa_id`.
    assert_eq!(output.messages[0].id, "wamid.TOBSUID");
    assert_eq!(output.contacts[0].wa_id, None);
    assert_eq!(output.contacts[0].user_id.as_deref(), Some(BSUID));
    assert_eq!(
        json::send_output(&output)["contacts"],
        json!([{"input": BSUID, "user_id": BSUID}])
    );
    let received = server.requests();
    assert_eq!(received.len(), 1);
    assert_graph_call(
        &received[0],
        "POST",
        &format!("/v27.0/{PHONE_NUMBER_ID}/messages"),
    );
    // Exactly this body: `recipient`, and no `to` (Meta lets `to` win).
    assert_eq!(
        String::from_utf8(received[0].body.clone()).unwrap(),
        format!(
            r#"{{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"{BSUID}","type":"text","text":{{"body":"Your order shipped"}}}}"#
        )
    );
}

#[tokio::test]
async fn a_bsuid_that_cannot_receive_this_message_is_a_graph_error_that_says_why() {
    let body = r#"{"error":{"message":"(#131062) Business-scoped User ID (BSUID) recipients are not supported for this message","type":"OAuthException","code":131062,"fbtrace_id":"Bs1"}}"#;
    let server = GraphServer::start(move |_| answer(400, body))
        .await
        .unwrap();
    let connector = connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    let error = connector
        .send(&connection(), &input("code 123456", BSUID))
        .await
        .unwrap()
        .unwrap_err();
    match &error {
        ConnectorError::Graph(e) => {
            assert_eq!((e.status, e.code), (400, Some(131062)));
            assert!(e.message.contains("needs a phone number"), "{}", e.message);
            assert!(e.hint.as_deref().unwrap().contains("phone number"));
            assert!(!e.retryable);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(json::connector_error(&error)["kind"], "graph");
}

#[tokio::test]
async fn malformed_bsuids_are_invalid_input_and_send_nothing() {
    let long = format!("US.{}", "1".repeat(197));
    assert_eq!(long.chars().count(), 200);
    let server = GraphServer::start(|_| answer(200, SENT)).await.unwrap();
    let connector = connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    for bad in [
        "US.",
        "U.123",
        "US.12 3",
        long.as_str(),
        "us.123",
        "US.ENT.",
    ] {
        match connector
            .send(&connection(), &input("hi", bad))
            .await
            .unwrap()
        {
            Err(ConnectorError::InvalidInput(e)) => {
                assert_eq!(e.field, "send-message-to", "{bad}");
                assert!(!e.reason.is_empty());
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    assert!(server.requests().is_empty(), "a request was made");
}

#[tokio::test]
async fn every_body_goes_out_with_its_length_not_chunked() {
    let server = GraphServer::start(|_| answer(200, SENT)).await.unwrap();
    let connector = connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    let output = connector
        .send(&connection(), &input("Hello 👋", "+15550101234"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.messages.len(), 1);
    // As the component made the request (before the host re-frames it) …
    let made = &connector.outbound().requests()[0];
    assert_eq!(
        made.header("content-length"),
        Some(&*made.body.len().to_string()),
        "the component set no Content-Length"
    );
    // … and on the wire.
    let received = &server.requests()[0];
    assert_eq!(
        received.header("content-length"),
        Some(&*received.body.len().to_string())
    );
    assert_eq!(received.header("transfer-encoding"), None);
    // A GET has no body, and no length.
    connector.test_connection(&connection()).await.unwrap().ok();
    let get = &connector.outbound().requests()[1];
    assert_eq!(
        (get.method.as_str(), get.header("content-length")),
        ("GET", None)
    );
}
