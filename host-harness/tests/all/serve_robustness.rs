//! `host-harness serve` as the open internet meets it: slow clients, too many at once,
//! redeliveries, and a component that has to be stopped. Each over real HTTP on loopback.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::*;
use host_harness::fakes::loopback::Client;
use serde_json::Value;

const TEST_PROGRAMS: &str = env!("TEST_PROGRAMS_WASM");

/// Writes `head` at once, then `bytes` one at a time, `pause` apart, until the server
/// hangs up; returns how many of `bytes` were written and what the server sent back.
fn trickle(
    address: std::net::SocketAddr,
    head: &[u8],
    bytes: &[u8],
    pause: Duration,
) -> (usize, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(head).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    for (written, byte) in bytes.iter().enumerate() {
        if stream.write_all(&[*byte]).is_err() {
            return (written, String::from_utf8_lossy(&answer).into_owned());
        }
        std::thread::sleep(pause);
        match stream.read(&mut buffer) {
            Ok(0) => return (written + 1, String::from_utf8_lossy(&answer).into_owned()),
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (written + 1, String::from_utf8_lossy(&answer).into_owned()),
        }
    }
    (bytes.len(), String::from_utf8_lossy(&answer).into_owned())
}

#[test]
fn a_client_that_sends_a_byte_at_a_time_is_cut_off() {
    let server = start_serve(&["--allow-unsigned", "--read-timeout-ms", "1000"]);
    let headers = b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    let started = Instant::now();
    let (written, _) = trickle(server.address, b"", headers, Duration::from_millis(100));
    assert!(
        written < headers.len(),
        "the whole slow request went through"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // The body, too, must arrive within the read timeout.
    let head = b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 64\r\n\r\n";
    let started = Instant::now();
    let (written, answer) = trickle(
        server.address,
        head,
        &[b' '; 64],
        Duration::from_millis(100),
    );
    assert!(written < 64, "the whole slow body went through");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn past_the_concurrency_cap_requests_get_503_and_retry_after() {
    let server = start_serve(&[
        "--allow-unsigned",
        "--max-concurrency",
        "1",
        "--read-timeout-ms",
        "3000",
    ]);
    // One request holds the only slot while its body trickles in.
    let mut holder = TcpStream::connect(server.address).unwrap();
    holder
        .write_all(b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n{")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut client = Client::connect(server.address).await.unwrap();
    let busy = client
        .request("POST", "/webhook", &[], b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(busy.status, 503);
    let body: Value = serde_json::from_slice(&busy.body).unwrap();
    assert_eq!(body["error"]["kind"], "busy");
    drop(holder);
    // The slot frees up when the holder is gone.
    let fixture = std::fs::read(fixture("two_messages.json")).unwrap();
    let mut answer = 0;
    for _ in 0..50 {
        let mut client = Client::connect(server.address).await.unwrap();
        answer = client
            .request("POST", "/webhook", &[], fixture.clone())
            .await
            .unwrap()
            .status;
        if answer == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer, 200);
}

#[tokio::test]
async fn a_pretty_printed_webhook_gives_one_line_per_event() {
    let server = start_serve(&["--allow-unsigned"]);
    let mut client = Client::connect(server.address).await.unwrap();
    // Both fixtures are indented over many lines, inside the members carried as JSON
    // text (`image`, `context`) too.
    for (round, name) in ["image.json", "reply_with_context.json"].iter().enumerate() {
        // The two fixtures share a message ID: each gets its own.
        let body = std::fs::read_to_string(fixture(name)).unwrap();
        let body = body
            .replace("wamid.", &format!("wamid.R{round}"))
            .into_bytes();
        let answer = client.request("POST", "/webhook", &[], body).await.unwrap();
        assert_eq!(answer.status, 200, "{name}");
    }
    // Each line parses alone: an event broken over lines would not.
    let lines = server.event_lines(2);
    assert_eq!(
        lines[0]["entry"]["changes"]["messages"]["image"]["caption"],
        "This one?"
    );
    assert!(lines[1]["entry"]["changes"]["messages"]["context"].is_object());
}

#[tokio::test]
async fn redeliveries_are_written_once() {
    let mut server = start_serve(&["--allow-unsigned"]);
    let mut client = Client::connect(server.address).await.unwrap();
    let two = std::fs::read(fixture("two_messages.json")).unwrap();
    for _ in 0..3 {
        let answer = client
            .request("POST", "/webhook", &[], two.clone())
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "a duplicate is still acknowledged");
    }
    let lines = server.event_lines(2);
    assert_ne!(
        lines[0]["entry"]["changes"]["messages"]["id"],
        lines[1]["entry"]["changes"]["messages"]["id"]
    );
    assert!(
        server
            .events
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "a redelivery was written again"
    );
    let summary = server.interrupt();
    assert_eq!(summary["events"], 2);
    assert_eq!(summary["duplicates"], 4);
    assert_eq!(summary["requests"], 3);
}

#[tokio::test]
async fn a_component_stopped_at_its_deadline_does_not_stop_serve() {
    let server = start_serve(&[
        "--allow-unsigned",
        "--component",
        TEST_PROGRAMS,
        "--deadline-ms",
        "200",
    ]);
    let mut client = Client::connect(server.address).await.unwrap();
    for body in ["loop", "alloc", "trap"] {
        let answer = client
            .request("POST", "/webhook", &[], body.as_bytes().to_vec())
            .await
            .unwrap();
        assert_eq!(answer.status, 503, "{body}");
        assert_eq!(answer.header("retry-after"), Some("5"));
        // The caller learns that it may retry, nothing of the host; the log says what
        // happened.
        let error: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(error["error"]["kind"], "unavailable", "{body}");
        let expected = match body {
            "loop" => "timeout",
            "alloc" => "memory-limit",
            _ => "trap",
        };
        assert!(!answer.text().contains(expected), "{}", answer.text());
        let logged = loop {
            let line = server
                .logs
                .recv_timeout(Duration::from_secs(10))
                .expect("an access log line");
            if line.contains("path=/webhook") {
                break line;
            }
        };
        assert!(
            logged.contains("status=503") && logged.contains(expected),
            "{logged}"
        );
    }
    let fine = client
        .request("POST", "/webhook", &[], b"behave".to_vec())
        .await
        .unwrap();
    assert_eq!(fine.status, 200);
    // A handshake answer whose content type would inject a header is sent as text/plain.
    let handshake = client
        .request("GET", "/webhook", &[], vec![])
        .await
        .unwrap();
    assert_eq!(
        (handshake.status, handshake.text().as_str()),
        (200, "challenge")
    );
    assert_eq!(handshake.header("content-type"), Some("text/plain"));
    assert_eq!(handshake.header("set-cookie"), None);
}

#[tokio::test]
async fn reused_instances_serve_the_same_events_and_a_failed_one_is_replaced() {
    let mut server = start_serve(&[
        "--app-secret",
        APP_SECRET,
        "--reuse-instances",
        "50",
        "--no-access-log",
        "--max-memory",
        "2000000",
        "--memory-per-body-byte",
        "0",
    ]);
    let mut client = Client::connect(server.address).await.unwrap();
    let batch = std::fs::read(fixture("batch_two_messages_one_status.json")).unwrap();
    for round in 0..10 {
        let body = String::from_utf8(batch.clone())
            .unwrap()
            .replace("wamid.HBgL", &format!("wamid.X{round}HBgL"))
            .into_bytes();
        let answer = client
            .webhook(
                "/webhook",
                host_harness::fakes::signed_post(body, APP_SECRET),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
    }
    let ids: std::collections::HashSet<_> =
        message_ids(&server.event_lines(20)).into_iter().collect();
    assert_eq!(ids.len(), 20, "every message of every round, once");
    // A body too large for the 2 MB memory stops its call: not acknowledged, and that
    // instance is dropped; the next request gets a fresh one and succeeds.
    let messages: Vec<String> = (0..12_000)
        .map(|i| format!(r#"{{"from":"16505551234","id":"wamid.big{i}","timestamp":"1","type":"text","text":{{"body":"a message long enough to fill memory"}}}}"#))
        .collect();
    let big = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messages":[{}]}}}}]}}]}}"#,
        messages.join(",")
    );
    let stopped = client
        .webhook(
            "/webhook",
            host_harness::fakes::signed_post(big.into_bytes(), APP_SECRET),
        )
        .await
        .unwrap();
    assert_eq!(stopped.status, 503, "{}", stopped.text());
    // What stopped it is the log's to say, not the caller's (#22.9).
    assert!(!stopped.text().contains("memory"), "{}", stopped.text());
    let logged = loop {
        let line = server
            .logs
            .recv_timeout(Duration::from_secs(10))
            .expect("an access log line for the 503");
        if line.contains("status=503") {
            break line;
        }
    };
    assert!(logged.contains("memory-limit"), "{logged}");
    let after = client
        .webhook(
            "/webhook",
            host_harness::fakes::signed_post(
                std::fs::read(fixture("text_message.json")).unwrap(),
                APP_SECRET,
            ),
        )
        .await
        .unwrap();
    assert_eq!(after.status, 200);
    server.event_lines(1);
    let summary = server.interrupt();
    assert_eq!(summary["events"], 21);
    // Eleven requests one after the other on one instance, then the one that failed
    // was dropped: two instances in all.
    assert_eq!(summary["instances_made"], 2, "{summary}");
}

/// A body announced larger than --max-body is refused at once with 413, without
/// `100 Continue` first and without waiting for the body (#22.13).
#[test]
fn a_body_announced_too_large_gets_413_at_once() {
    let server = start_serve(&["--allow-unsigned", "--max-body", "1000"]);
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(
            b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = stream.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// SIGTERM (what an orchestrator sends) drains: serve stops accepting, answers what is in
/// flight, writes every event it acknowledged, prints its summary and exits 0.
#[tokio::test]
async fn sigterm_drains_and_exits_0() {
    let mut server = start_serve(&["--allow-unsigned", "--no-access-log"]);
    let address = server.address;
    let load = tokio::spawn(async move {
        let mut accepted = Vec::new();
        for i in 0..400 {
            let Ok(mut client) = Client::connect(address).await else {
                break;
            };
            let tag = format!("term{i}");
            let body = host_harness::fakes::webhook_with_messages(1, &tag);
            match client.request("POST", "/webhook", &[], body).await {
                Ok(answer) if answer.status == 200 => accepted.push(format!("wamid.{tag}.0")),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        accepted
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let summary = server.stop_with("-TERM");
    let accepted = load.await.unwrap();
    assert!(
        !accepted.is_empty() && accepted.len() < 400,
        "{}",
        accepted.len()
    );
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(summary["events"].as_u64(), Some(accepted.len() as u64));
    // Every webhook answered 200 was written before serve exited, in order, once.
    assert_eq!(message_ids(&server.event_lines(accepted.len())), accepted);
    assert!(
        server
            .events
            .recv_timeout(Duration::from_millis(200))
            .is_err()
    );
}
