//! The sandbox against a guest that misbehaves on purpose (`test-programs`, built by the
//! build script next to the real component): every limit stops the call that broke it
//! with a structured error, and the same host goes on serving the next call.

use std::path::Path;
use std::time::{Duration, Instant};

use host_harness::bindings::{
    ConnectorError, Outcome, Properties, SendInput, WebhookError, WebhookSecrets,
};
use host_harness::fakes::loopback::GraphServer;
use host_harness::fakes::webhook_post;
use host_harness::{
    Allocation, Call, CallError, Connection, Connector, Limits, Outbound, OutboundLimits,
    StubResponse, json,
};

const TEST_PROGRAMS: &str = env!("TEST_PROGRAMS_WASM");

fn misbehaving(limits: Limits) -> Connector {
    Connector::load(
        Path::new(TEST_PROGRAMS),
        Limits::default(),
        Allocation::default(),
    )
    .unwrap()
    .with_limits(limits)
}

fn short_deadline() -> Limits {
    Limits {
        deadline: Duration::from_millis(200),
        ..Limits::default()
    }
}

async fn webhook(connector: &Connector, body: &str) -> Call<Outcome, WebhookError> {
    let request = webhook_post(body.as_bytes().to_vec(), &[]);
    let properties = Properties {
        sender_number: None,
    };
    let secrets = WebhookSecrets {
        app_secret: None,
        verify_token: None,
    };
    connector
        .handle_webhook(&request, &properties, &secrets)
        .await
}

async fn send(connector: &Connector, message: &str) -> Call<()> {
    let connection = Connection {
        system_user_access_token: "token".into(),
        phone_number_id: "1".into(),
        ..Connection::default()
    };
    let input = SendInput {
        message: message.into(),
        send_message_to: "+15550101234".into(),
        reply_to: None,
        preview_url: None,
    };
    Ok(connector.send(&connection, &input).await?.map(|_| ()))
}

fn stopped(result: Result<impl std::fmt::Debug, CallError>) -> &'static str {
    let error = result.expect_err("the call was not stopped");
    let CallError::Stopped(stopped) = &error else {
        panic!("not stopped by the host: {error:#}")
    };
    let kind = stopped.kind();
    assert_eq!(json::host_error(&error)["kind"], kind);
    kind
}

async fn still_serves(connector: &Connector) {
    match webhook(connector, "behave").await {
        Ok(Ok(Outcome::Events(events))) => assert!(events.is_empty()),
        other => panic!("the next call failed: {other:?}"),
    }
}

#[tokio::test]
async fn a_guest_stuck_in_a_loop_is_stopped_at_its_deadline() {
    let connector = misbehaving(short_deadline());
    let started = Instant::now();
    assert_eq!(stopped(webhook(&connector, "loop").await), "timeout");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(10),
        "{took:?}"
    );
    still_serves(&connector).await;
    assert_eq!(stopped(send(&connector, "loop").await), "timeout");
    still_serves(&connector).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_spinning_guest_does_not_hold_up_other_calls() {
    let connector = misbehaving(Limits {
        deadline: Duration::from_secs(2),
        ..Limits::default()
    });
    let started = Instant::now();
    let spinning = async {
        let kind = stopped(webhook(&connector, "loop").await);
        (kind, started.elapsed())
    };
    let behaving = async {
        still_serves(&connector).await;
        started.elapsed()
    };
    // One executor thread: the other call only runs if the spinning guest yields.
    let ((kind, spun), behaved) = tokio::join!(spinning, behaving);
    assert_eq!(kind, "timeout");
    assert!(behaved < spun, "{behaved:?} vs {spun:?}");
}

#[tokio::test]
async fn a_guest_that_allocates_without_bound_is_stopped_at_its_memory_limit() {
    let connector = misbehaving(Limits {
        memory_bytes: 8 << 20,
        ..Limits::default()
    });
    assert_eq!(stopped(webhook(&connector, "alloc").await), "memory-limit");
    still_serves(&connector).await;
    assert_eq!(stopped(send(&connector, "alloc").await), "memory-limit");
    still_serves(&connector).await;
}

#[tokio::test]
async fn a_trap_is_a_trap_and_the_host_goes_on() {
    let connector = misbehaving(Limits::default());
    assert_eq!(stopped(webhook(&connector, "trap").await), "trap");
    still_serves(&connector).await;
}

#[tokio::test]
async fn only_the_manifests_hosts_are_reachable() {
    let server = GraphServer::start(|_| StubResponse::json(200, &serde_json::json!({})))
        .await
        .unwrap();
    let connector = misbehaving(Limits::default())
        .with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    for url in [
        format!("{}/steal", server.base_url()),
        "https://example.com/".to_owned(),
        "http://graph.facebook.com/v27.0/1".to_owned(),
    ] {
        match send(&connector, &format!("fetch {url}")).await.unwrap() {
            Err(ConnectorError::Transport(t)) => {
                assert!(t.message.contains("HttpRequestDenied"), "{url}: {t:?}")
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(
        server.requests().is_empty(),
        "a connection was made: {:?}",
        server.requests()
    );
    // The attempts are journaled; the allowed origin goes through (to the redirect).
    assert_eq!(connector.outbound().requests().len(), 3);
    match send(&connector, "fetch https://graph.facebook.com/v27.0/1")
        .await
        .unwrap()
    {
        Err(ConnectorError::Transport(t)) => assert_eq!(t.message, "status 200"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn outbound_answers_are_bounded_in_size_and_time() {
    let connection = Connection {
        system_user_access_token: "token".into(),
        phone_number_id: "1".into(),
        ..Connection::default()
    };
    let real = Connector::load(
        Path::new(host_harness::COMPONENT_PATH),
        Limits::default(),
        Allocation::default(),
    )
    .unwrap();

    // An answer over the host's cap: the component's read fails; nothing larger got in.
    let huge = serde_json::json!({"display_phone_number": "x".repeat(256 << 10)});
    let answers_huge = Outbound::stub(move |_| Some(StubResponse::json(200, &huge)));
    let uncapped = real.with_outbound(answers_huge.clone());
    let account = uncapped
        .test_connection(&connection)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.display_phone_number.len(), 256 << 10);
    let capped = uncapped.with_limits(Limits {
        outbound: OutboundLimits {
            max_response_bytes: 64 << 10,
            ..OutboundLimits::default()
        },
        ..Limits::default()
    });
    match capped.test_connection(&connection).await.unwrap() {
        Err(ConnectorError::Transport(t)) => assert!(t.retryable, "{t:?}"),
        other => panic!("{other:?}"),
    }

    // A server that accepts and never answers: the host's response timeout ends it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let slow = real
        .with_outbound(Outbound::redirect(&format!("http://{address}")).unwrap())
        .with_limits(Limits {
            outbound: OutboundLimits {
                response_timeout: Duration::from_millis(300),
                ..OutboundLimits::default()
            },
            ..Limits::default()
        });
    let started = Instant::now();
    match slow.test_connection(&connection).await.unwrap() {
        Err(ConnectorError::Transport(t)) => assert!(t.retryable, "{t:?}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    silent.abort();
}
