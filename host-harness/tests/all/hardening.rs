//! Hardening, third round (#22): each defect an independent review and probing found,
//! reproduced as a test that failed before its fix.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use host_harness::StubResponse;
use host_harness::fakes::loopback::{Client, GraphServer};
use host_harness::fakes::{signed_post, webhook_with_messages};
use serde_json::{Value, json};

use crate::*;

/// #22.1 and #22.5: serve's standard output is a pipe nobody reads for a while. A
/// 3,000-message webhook and its redelivery 2 s later are both answered (the second as
/// duplicates), and so are a handshake and a bad request meanwhile: event writes block
/// no thread that answers requests. Once the reader reads, every message is there once.
#[tokio::test]
async fn a_stalled_reader_neither_freezes_serve_nor_loses_a_message() {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--app-secret",
            APP_SECRET,
        ])
        .args(["--verify-token", VERIFY_TOKEN, "--store"])
        .arg(fresh_store())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    std::thread::spawn(move || for _ in stderr.lines() {});
    let address: std::net::SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    let body = webhook_with_messages(3000, "stalled");
    let mut client = Client::connect(address).await.unwrap();
    let first = client
        .webhook("/webhook", signed_post(body.clone(), APP_SECRET))
        .await
        .unwrap();
    assert_eq!(first.status, 200, "{}", first.text());
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The pipe is full by now (3,000 events are far more than its 64 KiB).
    let answered = |started: Instant| started.elapsed() < Duration::from_secs(5);
    let started = Instant::now();
    let again = client
        .webhook("/webhook", signed_post(body, APP_SECRET))
        .await
        .unwrap();
    assert_eq!(again.status, 200);
    let handshake =
        format!("/webhook?hub.mode=subscribe&hub.challenge=7&hub.verify_token={VERIFY_TOKEN}");
    let shake = client
        .request("GET", &handshake, &[], vec![])
        .await
        .unwrap();
    assert_eq!((shake.status, shake.text().as_str()), (200, "7"));
    let bad = client
        .request("POST", "/webhook", &[], b"not json".to_vec())
        .await
        .unwrap();
    assert_eq!(bad.status, 401, "unsigned");
    assert!(answered(started), "serve froze behind a stalled reader");

    // The reader wakes up: every message once, the redelivery nowhere.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let mut ids = std::collections::HashSet::new();
    for _ in 0..3000 {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("an event line");
        let event: Value = serde_json::from_str(&line).unwrap();
        let id = event["entry"]["changes"]["messages"]["id"]
            .as_str()
            .unwrap();
        assert!(ids.insert(id.to_owned()), "{id} twice");
    }
    assert!(
        lines.recv_timeout(Duration::from_millis(500)).is_err(),
        "a redelivery was written"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `enable` through the CLI, with the built-in stub; the raw output.
fn enable_raw(store: &str, events: &str) -> std::process::Output {
    run(&[
        "enable",
        "--store",
        store,
        "--webhook-url",
        "https://gw.example.com/whatsapp/sinks",
        "--events",
        events,
    ])
}

/// #22.2: a sink that cannot work is refused when the subscription is made, and one that
/// fails at run time stops neither the other subscriptions nor the handshake.
#[tokio::test]
async fn one_failing_sink_does_not_stop_the_others() {
    let dir = scratch_dir("failing-sink");
    let store = dir.join("state");
    let store_arg = store.to_str().unwrap();
    for (sink, why) in [
        (dir.to_str().unwrap().to_owned(), "a directory"),
        ("/proc/self/status".to_owned(), "a kernel file"),
        (
            dir.join("missing/x.jsonl").to_str().unwrap().to_owned(),
            "no such directory",
        ),
        (String::new(), "empty"),
        (
            store.join("state.sqlite3").to_str().unwrap().to_owned(),
            "the store itself",
        ),
    ] {
        let refused = enable_raw(store_arg, &sink);
        assert_eq!(refused.status.code(), Some(1), "{why}: {refused:?}");
        assert_eq!(stderr_error(&refused)["field"], "events", "{why}");
    }
    // Two subscriptions; the first one's directory goes away after it was made.
    let doomed = dir.join("doomed");
    std::fs::create_dir(&doomed).unwrap();
    let (a, b) = (doomed.join("a.jsonl"), dir.join("b.jsonl"));
    for sink in [&a, &b] {
        let made = enable_raw(store_arg, sink.to_str().unwrap());
        assert!(made.status.success(), "{made:?}");
    }
    std::fs::remove_dir_all(&doomed).unwrap();

    let server = start_serve(&["--store", store_arg, "--app-secret", APP_SECRET]);
    let mut client = Client::connect(server.address).await.unwrap();
    let answer = client
        .webhook(
            "/whatsapp/sinks",
            signed_post(webhook_with_messages(2, "sinks"), APP_SECRET),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&b)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "the good sink got nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The handshake is answered too (Meta would otherwise drop the callback).
    let handshake = client
        .request(
            "GET",
            "/whatsapp/sinks?hub.mode=subscribe&hub.challenge=9&hub.verify_token=wrong",
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        handshake.status, 403,
        "answered (the token is wrong), not 503"
    );
    // The failing sink's events wait in its outbox: they arrive once it works again.
    std::fs::create_dir(&doomed).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&a)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the failing sink's events were lost"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// #22.6: the first `enable`, killed while Meta's call is in flight, leaves the
/// registration marked pending; the next `enable` calls Meta again instead of assuming
/// the callback is set.
#[tokio::test]
async fn an_enable_killed_while_meta_is_asked_is_finished_by_the_next() {
    let dir = scratch_dir("pending");
    let store = dir.join("state");
    let store_arg = store.to_str().unwrap().to_owned();
    let hang = Arc::new(Mutex::new(true));
    let meta = {
        let hang = hang.clone();
        GraphServer::start_async(move |_request| {
            let hang = *hang.lock().unwrap();
            async move {
                if hang {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                StubResponse::json(200, &json!({"success": true}))
            }
        })
        .await
        .unwrap()
    };
    let enable = |events: &str| {
        Command::new(BIN)
            .args(["enable", "--store", &store_arg, "--webhook-url"])
            .arg("https://gw.example.com/whatsapp/pending")
            .args([
                "--events",
                events,
                "--token",
                TOKEN,
                "--phone-number-id",
                "77",
            ])
            .args(["--graph-url", &meta.base_url()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = enable(dir.join("a.jsonl").to_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while meta.requests().is_empty() {
        assert!(Instant::now() < deadline, "enable never asked Meta");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL, mid-call
    first.wait().unwrap();
    let listed = run_async(vec![
        "registrations".into(),
        "--store".into(),
        store_arg.clone(),
    ])
    .await;
    let listed = stdout_json(&listed);
    assert!(
        listed["registrations"][0]["pending"].is_string(),
        "the registration says Meta did not confirm it: {listed}"
    );

    *hang.lock().unwrap() = false;
    let second = enable(dir.join("b.jsonl").to_str().unwrap());
    let output = tokio::task::spawn_blocking(move || second.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_no_secret(&output);
    let printed = stdout_json(&output);
    assert!(
        printed["enabled"].is_object(),
        "Meta was called again: {printed}"
    );
    assert_eq!(meta.requests().len(), 2);
    let listed = run_async(vec!["registrations".into(), "--store".into(), store_arg]).await;
    let listed = stdout_json(&listed);
    assert!(
        listed["registrations"][0].get("pending").is_none(),
        "{listed}"
    );
    assert_eq!(
        listed["registrations"][0]["subscriptions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
