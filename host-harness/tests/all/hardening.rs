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

/// Meta's answer for media 555: a 3-byte text file, "abc".
fn media_555() -> StubResponse {
    StubResponse::json(
        200,
        &json!({
            "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=555",
            "mime_type": "text/plain",
            "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "file_size": 3,
            "id": "555",
        }),
    )
}

/// #22.7: `download-media --out` never replaces a directory, device, FIFO or symbolic
/// link, replaces a regular file only with --overwrite, and checks all that before it
/// fetches anything; #22.17: an upload's unusable file is exit 1, whatever the reason.
#[tokio::test]
async fn download_never_replaces_what_it_should_not_and_checks_first() {
    let dir = scratch_dir("download-out");
    let graph = GraphServer::start(|request| {
        if request.path_and_query.starts_with("/v27.0/555") {
            media_555()
        } else {
            StubResponse {
                status: 200,
                headers: vec![],
                body: b"abc".to_vec(),
            }
        }
    })
    .await
    .unwrap();
    let download = |out: &std::path::Path, extra: &[&str]| {
        let mut args: Vec<String> = [
            "download-media",
            "--media-id",
            "555",
            "--token",
            TOKEN,
            "--phone-number-id",
            "1",
            "--graph-url",
            &graph.base_url(),
            "--out",
            out.to_str().unwrap(),
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        run_async(args)
    };
    let existing = dir.join("existing.txt");
    std::fs::write(&existing, "keep me").unwrap();
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let link = dir.join("link");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&existing, &link).unwrap();
    for (out, why) in [
        (existing.clone(), "an existing file without --overwrite"),
        (fifo.clone(), "a FIFO"),
        (link.clone(), "a symbolic link"),
        (dir.clone(), "a directory"),
        (dir.join("no/such/dir/x"), "a missing directory"),
    ] {
        let output = download(&out, &[]).await;
        assert_eq!(output.status.code(), Some(1), "{why}: {output:?}");
        assert_eq!(stderr_error(&output)["field"], "out", "{why}");
    }
    assert!(
        graph.requests().is_empty(),
        "nothing was fetched for a refused --out"
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    // --overwrite replaces a regular file, and only that.
    let output = download(&existing, &["--overwrite"]).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "abc");
    let output = download(&fifo, &["--overwrite"]).await;
    assert_eq!(output.status.code(), Some(1));

    // An upload's file: missing or a directory, the same exit code and kind.
    for file in [dir.join("missing.jpg"), dir.clone()] {
        let output = run_async(vec![
            "upload-media".into(),
            "--file".into(),
            file.to_str().unwrap().into(),
        ])
        .await;
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert_eq!(stderr_error(&output)["field"], "file");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// #22.7: a download stopped by SIGTERM (or SIGINT) leaves no partial file behind.
#[tokio::test]
async fn a_download_stopped_by_a_signal_leaves_nothing() {
    let dir = scratch_dir("download-signal");
    let graph = GraphServer::start_async(|request| async move {
        if request.path_and_query.starts_with("/v27.0/555") {
            media_555()
        } else {
            // The media host never answers.
            tokio::time::sleep(Duration::from_secs(60)).await;
            StubResponse::json(500, &json!({}))
        }
    })
    .await
    .unwrap();
    let out = dir.join("photo.jpg");
    let child = Command::new(BIN)
        .args(["download-media", "--media-id", "555", "--token", TOKEN])
        .args(["--phone-number-id", "1", "--graph-url", &graph.base_url()])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while graph.requests().len() < 2 {
        assert!(Instant::now() < deadline, "the download never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let names = || -> Vec<String> {
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(
        names().iter().any(|n| n.starts_with(".download-")),
        "{:?}",
        names()
    );
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(names().is_empty(), "left behind: {:?}", names());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// #22.11, #22.16, #22.17: inputs refused before any request, each with the property it
/// is about (or, for a malformed flag, as bad usage naming the flag).
#[test]
fn smaller_inputs_are_refused_with_what_is_wrong() {
    let stub = ["--token", TOKEN, "--phone-number-id", "1"];
    let with = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(stub);
        run(&all)
    };
    let refused = |output: &std::process::Output, field: &str| {
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert_eq!(stderr_error(output)["field"], field, "{output:?}");
    };
    let to = "+15550101234";
    refused(
        &with(&[
            "send-reaction",
            "--to",
            to,
            "--message-id",
            "wamid.A",
            "--emoji",
            "😀😀😀😀😀",
        ]),
        "emoji",
    );
    let one = with(&[
        "send-reaction",
        "--to",
        to,
        "--message-id",
        "wamid.A",
        "--emoji",
        "👨‍👩‍👧‍👦",
    ]);
    assert!(one.status.success(), "{one:?}");
    refused(
        &with(&["send", "--to", "+0015551234567", "--message", "hi"]),
        "send-message-to",
    );
    let header = "h".repeat(61);
    refused(
        &with(&[
            "send-template",
            "--to",
            to,
            "--name",
            "n",
            "--language",
            "en_US",
            "--header-text",
            &header,
        ]),
        "header",
    );
    let header = "h".repeat(60);
    let fits = with(&[
        "send-template",
        "--to",
        to,
        "--name",
        "n",
        "--language",
        "en_US",
        "--header-text",
        &header,
    ]);
    assert!(fits.status.success(), "{fits:?}");
    let usage = with(&[
        "send-template",
        "--to",
        to,
        "--name",
        "n",
        "--language",
        "en_US",
        "--named-param",
        "=x",
    ]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&usage.stderr).contains("KEY is empty"),
        "{usage:?}"
    );
    let usage = with(&[
        "send-interactive",
        "--to",
        to,
        "--body",
        "b",
        "--cta-url",
        "https://example.com",
    ]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&usage.stderr).contains("--cta-text"),
        "{usage:?}"
    );
    let dir = scratch_dir("mime");
    let file = dir.join("a.jpg");
    std::fs::write(&file, [0xFF, 0xD8, 0xFF, 0xE0]).unwrap();
    refused(
        &with(&[
            "upload-media",
            "--file",
            file.to_str().unwrap(),
            "--mime",
            "image/jpeg; x=1\r\nX-Injected: yes",
        ]),
        "mime-type",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// #22.12: a Graph API that drips its answer a byte at a time, each just inside the
/// response timeout, cannot keep a call alive past --request-timeout-ms.
#[test]
fn a_dripping_answer_cannot_outlive_the_request_timeout() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut head = [0u8; 8192];
                let _ = stream.read(&mut head);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
                );
                for _ in 0..1000 {
                    if stream.write_all(b" ").is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
    });
    let started = Instant::now();
    let graph = format!("http://127.0.0.1:{port}");
    let output = run(&[
        "send",
        "--to",
        "+15550101234",
        "--message",
        "hi",
        "--token",
        TOKEN,
        "--phone-number-id",
        "1",
        "--graph-url",
        &graph,
        "--response-timeout-ms",
        "1000",
        "--request-timeout-ms",
        "1500",
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(stderr_error(&output)["kind"], "transport");
    assert_no_secret(&output);
    // Dripping the whole answer would take 200 s; the limit stops it at 1.5 s.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// #22.14: one peer trickling bodies holds at most --max-per-peer slots, so a delivery
/// from another address still gets through.
#[tokio::test]
async fn a_peer_trickling_bodies_cannot_take_every_slot() {
    use std::io::Write as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = start_serve(&[
        "--allow-unsigned",
        "--max-concurrency",
        "4",
        "--max-per-peer",
        "2",
        "--read-timeout-ms",
        "5000",
    ]);
    // Four connections from 127.0.0.1, each sending a byte of a body and waiting.
    let mut holders = Vec::new();
    for _ in 0..4 {
        let mut holder = std::net::TcpStream::connect(server.address).unwrap();
        holder
            .write_all(b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n{")
            .unwrap();
        holders.push(holder);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A delivery from another address of this machine.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut stream = socket.connect(server.address).await.unwrap();
    let body = std::fs::read(fixture("two_messages.json")).unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(holders);
}
