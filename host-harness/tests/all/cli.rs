//! The `host-harness` binary as a user runs it: exit codes, stdout, stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::*;
use host_harness::fakes::loopback::{Client, GraphServer};
use host_harness::fakes::signed_post;
use host_harness::{StubResponse, sign_webhook};
use serde_json::Value;

/// `send` with the test token to a loopback Graph server, off the async runtime.
async fn send_to_graph_url(url: String, phone_number_id: &'static str) -> Output {
    let args = [
        "send",
        "--to",
        "+15550101234",
        "--message",
        "hi",
        "--token",
        TOKEN,
        "--phone-number-id",
        phone_number_id,
        "--graph-url",
        &url,
    ];
    run_async(args.map(str::to_owned).to_vec()).await
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "demo",
        "send",
        "send-template",
        "send-media",
        "send-interactive",
        "send-flow",
        "create-group",
        "get-group-invite-link",
        "reset-group-invite-link",
        "remove-group-participants",
        "block-users",
        "unblock-users",
        "list-blocked-users",
        "send-reaction",
        "send-location",
        "mark-as-read",
        "download-media",
        "upload-media",
        "test-connection",
        "trigger",
        "serve",
        "enable",
        "disable",
        "bench",
        "precompile",
    ] {
        let output = run(&[sub, "--help"]);
        assert!(output.status.success(), "{sub} --help");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Usage: host-harness"),
            "{sub}"
        );
    }
    assert_eq!(
        run(&["send"]).status.code(),
        Some(2),
        "missing arguments are a usage error"
    );
}

#[test]
fn demo_runs_with_no_network() {
    let output = run(&["demo"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().last().unwrap();
    assert!(
        summary.starts_with("demo ok: connection tested; enabled https://"),
        "{summary}"
    );
    for part in [
        "(callback verified)",
        "2 events",
        "1 with the sender filter, 1 with the user-ID filter",
        "refused (invalid-signature)",
        "2 status events, a failed one with its hint (131047)",
        "downloaded a customer's photo (4096 bytes, SHA-256 checked)",
        "marked read with typing",
        "replied wamid.",
        "(phone number) and wamid.",
        "(user ID)",
        "sent a template, an image, reply buttons, a reaction and a Flow (5 messages)",
        "read the Flow's answers (fitting-1234)",
        "disabled (removed), again (nothing-to-remove)",
    ] {
        assert!(summary.contains(part), "{part} not in {summary}");
    }
    assert!(stdout.contains("Bearer [redacted]"));
    // The username user's event is shown, and the reply to them went out as `recipient`.
    assert!(stdout.contains(r#""from_user_id":"US.13491208655302741918""#));
    assert!(
        stdout.contains(r#""recipient": "US.13491208655302741918""#),
        "{stdout}"
    );
    assert!(!stdout.contains("stub-access-token"));
    // The Flow went out, and its answers came back as an object.
    assert!(
        stdout.contains(r#""flow_name": "appointment_booking""#),
        "{stdout}"
    );
    assert!(
        stdout
            .contains(r#"flow_reply {"response":{"flow_token":"fitting-1234","date":"2026-12-03""#),
        "{stdout}"
    );
}

#[test]
fn send_through_the_built_in_stub() {
    let output = run(&["send", "--to", "+1 555 010 1234", "--message", "hi"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = stdout_json(&output);
    assert_eq!(out["messaging_product"], "whatsapp");
    assert_eq!(out["contacts"][0]["input"], "+15550101234");
    assert!(
        out["messages"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("wamid.")
    );
}

#[tokio::test]
async fn send_over_http_with_graph_url() {
    let server = GraphServer::start(|_| {
        StubResponse::json(
            200,
            &serde_json::json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": "+15550101234", "wa_id": "15550101234"}],
                "messages": [{"id": "wamid.FROMLOOPBACK"}],
            }),
        )
    })
    .await
    .unwrap();
    let output = send_to_graph_url(server.base_url(), "123").await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout_json(&output)["messages"][0]["id"],
        "wamid.FROMLOOPBACK"
    );
    let received = server.requests();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path_and_query, "/v27.0/123/messages");
    assert_eq!(
        received[0].header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_no_secret(&output);
}

#[tokio::test]
async fn send_errors_are_json_on_stderr_with_exit_1() {
    let invalid = run(&[
        "send",
        "--to",
        "15550101234",
        "--message",
        "hi",
        "--token",
        TOKEN,
    ]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(invalid.stdout.is_empty());
    let error = stderr_error(&invalid);
    assert_eq!(error["kind"], "invalid-input");
    assert_eq!(error["field"], "send-message-to");
    assert_no_secret(&invalid);

    let server = GraphServer::start(|_| {
        StubResponse::json(401, &serde_json::json!({"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190, "fbtrace_id": "X"}}))
    })
    .await
    .unwrap();
    let unauthorized = send_to_graph_url(server.base_url(), "1").await;
    assert_eq!(unauthorized.status.code(), Some(1));
    let error = stderr_error(&unauthorized);
    assert_eq!(
        (error["kind"].as_str(), error["code"].as_i64()),
        (Some("unauthorized"), Some(190))
    );
    assert_no_secret(&unauthorized);

    let missing = run(&[
        "send",
        "--to",
        "+15550101234",
        "--message",
        "hi",
        "--component",
        "/nonexistent.wasm",
    ]);
    assert_eq!(missing.status.code(), Some(3));
    assert_eq!(stderr_error(&missing)["kind"], "host");
}

#[test]
fn trigger_prints_events_and_refuses_bad_signatures() {
    let output = run(&["trigger", "--payload", &fixture("two_messages.json")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = stdout_json(&output);
    assert_eq!(events.as_array().unwrap().len(), 2);
    assert_eq!(
        events[1]["entry"]["changes"]["messages"]["text"]["body"],
        "And in size M?"
    );

    let filtered = run(&[
        "trigger",
        "--payload",
        &fixture("two_messages.json"),
        "--sender-number",
        "+1 000 000 0000",
    ]);
    assert_eq!(stdout_json(&filtered), serde_json::json!([]));

    let body = std::fs::read(fixture("two_messages.json")).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "trigger",
            "--payload",
            "-",
            "--app-secret",
            APP_SECRET,
            "--signature",
            &sign_webhook(APP_SECRET, &body),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let signed = child.wait_with_output().unwrap();
    assert!(signed.status.success());
    assert_eq!(stdout_json(&signed).as_array().unwrap().len(), 2);

    let forged = run(&[
        "trigger",
        "--payload",
        &fixture("two_messages.json"),
        "--app-secret",
        APP_SECRET,
        "--signature",
        &sign_webhook("guess", &body),
    ]);
    assert_eq!(forged.status.code(), Some(1));
    assert_eq!(stderr_error(&forged)["kind"], "invalid-signature");
    assert_no_secret(&forged);

    let malformed = run(&["trigger", "--payload", &fixture("../../Cargo.toml")]);
    assert_eq!(malformed.status.code(), Some(1));
    assert_eq!(stderr_error(&malformed)["kind"], "invalid-payload");
}

#[tokio::test]
async fn serve_answers_meta_over_real_http() {
    let server = start_serve(&["--verify-token", VERIFY_TOKEN, "--app-secret", APP_SECRET]);
    let mut client = Client::connect(server.address).await.unwrap();

    let handshake = format!(
        "/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
    );
    let answer = client
        .request("GET", &handshake, &[], vec![])
        .await
        .unwrap();
    assert_eq!((answer.status, answer.text().as_str()), (200, "1158201444"));
    let wrong = client
        .request(
            "GET",
            "/webhook?hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess",
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 403);

    let body = std::fs::read(fixture("batch_two_messages_one_status.json")).unwrap();
    let unsigned = client
        .request("POST", "/webhook", &[], body.clone())
        .await
        .unwrap();
    assert_eq!(unsigned.status, 401);
    let mut signed = signed_post(body, APP_SECRET);
    signed
        .headers
        .push(("content-type".into(), "application/json".into()));
    let signed = client.webhook("/webhook", signed).await.unwrap();
    assert_eq!(signed.status, 200);
    let lines = server.event_lines(2);
    assert_eq!(
        lines[0]["entry"]["changes"]["messages"]["from"],
        "16505551234"
    );
    assert_eq!(
        lines[1]["entry"]["changes"]["messages"]["text"]["body"],
        "And in size M?"
    );

    let garbage = b"{\"object\":\"whatsapp_business_account\"}".to_vec();
    let signature = sign_webhook(APP_SECRET, &garbage);
    let rejected = client
        .request(
            "POST",
            "/webhook",
            &[("x-hub-signature-256", &signature)],
            garbage,
        )
        .await
        .unwrap();
    assert_eq!(rejected.status, 400);
    let reason: Value = serde_json::from_slice(&rejected.body).unwrap();
    assert_eq!(reason["error"]["kind"], "invalid-payload");

    let put = client
        .request("PUT", "/webhook", &[], vec![])
        .await
        .unwrap();
    assert_eq!(put.status, 405);
    // Nothing else was written: the unsigned, invalid and PUT requests made no event.
    assert!(
        server
            .events
            .recv_timeout(Duration::from_millis(200))
            .is_err()
    );
}

#[tokio::test]
async fn serve_applies_the_sender_filter_and_body_cap() {
    let server = start_serve(&[
        "--allow-unsigned",
        "--sender-number",
        "+1 650 555 9876",
        "--max-body",
        "65536",
    ]);
    let mut client = Client::connect(server.address).await.unwrap();
    let body = std::fs::read(fixture("two_messages.json")).unwrap();
    assert_eq!(
        client.request("POST", "/", &[], body).await.unwrap().status,
        200
    );
    let line = server.event_lines(1).remove(0);
    assert_eq!(line["entry"]["changes"]["messages"]["from"], "16505559876");
    assert!(
        server
            .events
            .recv_timeout(Duration::from_millis(200))
            .is_err()
    );
    let huge = vec![b' '; 65537];
    let mut fresh = Client::connect(server.address).await.unwrap();
    assert_eq!(
        fresh.request("POST", "/", &[], huge).await.unwrap().status,
        413
    );
}

#[test]
fn bench_quick_runs_every_measurement() {
    let output = run(&["bench", "--quick", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout_json(&output);
    for (section, key) in [
        ("load", "compile_ms"),
        ("load", "precompiled_load_ms"),
        ("trigger", "fresh_instance_one_message_us"),
        ("trigger", "fresh_instance_100_messages_us_per_message"),
        ("trigger", "reused_instance_one_message_us"),
        ("trigger", "native_one_message_us"),
        ("trigger", "reused_over_native"),
        ("send_message", "fresh_instance_stub_us"),
        ("serve", "requests_per_second"),
        ("serve", "latency_p99_us"),
        ("sizes", "linear_memory_after_one_message_pages"),
    ] {
        let value = report[section][key].as_f64();
        assert!(value.is_some_and(|v| v > 0.0), "{section}.{key}: {value:?}");
    }
    let serve = &report["serve"];
    assert_eq!(serve["events_written"], serve["messages_sent"]);
    assert_eq!(serve["events_lost"], 0);
    assert_eq!(serve["events_written_twice"], 0);
    assert_eq!(serve["requests_refused"], 0);
    assert_eq!(
        report["sizes"]["wasm_bytes"],
        std::fs::metadata(host_harness::COMPONENT_PATH)
            .unwrap()
            .len()
    );
    // Today's targets: ratios measured in this run, none an absolute time or size.
    let targets = report["targets"].as_object().unwrap();
    assert_eq!(targets.len(), 3, "{targets:?}");
    for (name, target) in targets {
        assert_eq!(target["unit"], "×", "{name}");
        assert!(target["value"].as_f64().is_some_and(|v| v > 0.0), "{name}");
    }
}

#[test]
fn a_precompiled_component_loads_only_when_asked_to() {
    let dir = scratch_dir("precompile");
    let cwasm = dir.join("whatsapp_connector.cwasm");
    let cwasm_arg = cwasm.to_str().unwrap();
    let output = run(&["precompile", host_harness::COMPONENT_PATH, cwasm_arg]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout_json(&output)["bytes"],
        std::fs::metadata(&cwasm).unwrap().len()
    );
    let trigger = |precompiled: bool| {
        let mut args = vec!["--component", cwasm_arg];
        if precompiled {
            args.push("--precompiled");
        }
        args.extend(["trigger", "--payload"]);
        let payload = fixture("two_messages.json");
        args.push(&payload);
        run(&args)
    };
    // Native code is not loaded without being asked: a host error that says how.
    let unasked = trigger(false);
    assert_eq!(unasked.status.code(), Some(3));
    let error = stderr_error(&unasked);
    assert_eq!(error["kind"], "host");
    assert!(
        error["message"].as_str().unwrap().contains("--precompiled"),
        "{error}"
    );
    let events = trigger(true);
    assert!(
        events.status.success(),
        "{}",
        String::from_utf8_lossy(&events.stderr)
    );
    assert_eq!(stdout_json(&events).as_array().unwrap().len(), 2);
    // A .wasm is not a precompiled artifact, and garbage is neither: host errors, exit 3.
    let wasm = run(&[
        "--component",
        host_harness::COMPONENT_PATH,
        "--precompiled",
        "demo",
    ]);
    assert_eq!(wasm.status.code(), Some(3));
    std::fs::write(&cwasm, b"not a component").unwrap();
    for args in [
        vec!["--component", cwasm_arg, "demo"],
        vec!["--component", cwasm_arg, "--precompiled", "demo"],
    ] {
        let refused = run(&args);
        assert_eq!(refused.status.code(), Some(3), "{args:?}");
        assert_eq!(stderr_error(&refused)["kind"], "host");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

const PABLO: &str = "US.13491208655302741918";

#[tokio::test]
async fn serve_writes_every_message_of_a_mixed_batch_username_users_included() {
    let server = start_serve(&["--app-secret", APP_SECRET]);
    let mut client = Client::connect(server.address).await.unwrap();
    let body = std::fs::read(fixture("mixed_identities_and_status.json")).unwrap();
    let answer = client
        .webhook("/webhook", signed_post(body, APP_SECRET))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let lines = server.event_lines(2);
    assert_eq!(
        lines[0]["entry"]["changes"]["messages"]["from"],
        "16505551234"
    );
    let username = &lines[1]["entry"]["changes"];
    assert!(username["messages"].get("from").is_none());
    assert_eq!(username["messages"]["from_user_id"], PABLO);
    assert_eq!(username["contacts"]["user_id"], PABLO);
    assert_eq!(username["contacts"]["profile"]["username"], "@pablo.m");
    assert!(username["contacts"].get("wa_id").is_none());
    assert!(
        server
            .events
            .recv_timeout(Duration::from_millis(200))
            .is_err(),
        "the status update is no message"
    );
}

#[test]
fn trigger_and_send_take_business_scoped_user_ids() {
    let mixed = fixture("mixed_identities_and_status.json");
    let filtered = run(&["trigger", "--payload", &mixed, "--sender-number", PABLO]);
    assert!(
        filtered.status.success(),
        "{}",
        String::from_utf8_lossy(&filtered.stderr)
    );
    let events = stdout_json(&filtered);
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(
        events[0]["entry"]["changes"]["messages"]["from_user_id"],
        PABLO
    );

    let bad = run(&["trigger", "--payload", &mixed, "--sender-number", "US.12 3"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stderr_error(&bad)["kind"], "invalid-property");

    let sent = run(&["send", "--to", PABLO, "--message", "hi"]);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let output = stdout_json(&sent);
    assert_eq!(output["contacts"][0]["user_id"], PABLO);
    assert!(output["contacts"][0].get("wa_id").is_none());
    assert!(
        output["messages"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("wamid.")
    );
}

#[test]
fn serve_refuses_to_start_unsigned_unless_told_and_then_warns() {
    // No app secret, no --allow-unsigned: a usage error, and nothing listens.
    let refused = run(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--app-secret"), "{stderr}");
    // Both at once make no sense.
    let both = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--app-secret",
        APP_SECRET,
        "--allow-unsigned",
    ]);
    assert_eq!(both.status.code(), Some(2));
    assert_no_secret(&both);
    // Told: it starts, and says what that means.
    let server = start_serve(&["--allow-unsigned"]);
    let warning = server
        .logs
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    assert!(
        warning.contains("WARNING") && warning.contains("inject"),
        "{warning}"
    );
    // With an app secret: no warning.
    let signed = start_serve(&["--app-secret", APP_SECRET]);
    while let Ok(line) = signed
        .logs
        .recv_timeout(std::time::Duration::from_millis(300))
    {
        assert!(!line.contains("WARNING"), "{line}");
    }
}

#[tokio::test]
async fn every_action_has_a_subcommand_that_sends_what_its_flags_say() {
    let server = GraphServer::start(|request| {
        let read = request.body.windows(6).any(|w| w == b"\"read\"");
        StubResponse::json(
            200,
            &if read {
                serde_json::json!({"success": true})
            } else {
                serde_json::json!({"messaging_product": "whatsapp", "contacts": [{"input": "+15550101234", "wa_id": "15550101234"}], "messages": [{"id": "wamid.CLI"}]})
            },
        )
    })
    .await
    .unwrap();
    let url = server.base_url();
    let runs: [(&[&str], serde_json::Value); 8] = [
        (
            &[
                "send-flow",
                "--to",
                "+15550101234",
                "--flow-id",
                "1234567890",
                "--cta",
                "Book!",
                "--flow-token",
                "booking-42",
                "--draft",
                "--screen",
                "WELCOME",
                "--data",
                r#"{"product_name": "Haircut"}"#,
                "--body",
                "Book your appointment",
            ],
            serde_json::json!({"type": "flow", "body": {"text": "Book your appointment"}, "action": {"name": "flow", "parameters": {
                "flow_message_version": "3", "flow_id": "1234567890", "flow_cta": "Book!", "flow_token": "booking-42",
                "mode": "draft", "flow_action": "navigate", "flow_action_payload": {"screen": "WELCOME", "data": {"product_name": "Haircut"}}}}}),
        ),
        (
            &[
                "send-template",
                "--to",
                "+15550101234",
                "--name",
                "book_now",
                "--language",
                "en",
                "--flow-data",
                r#"1={"name": "Pablo"}"#,
                "--flow-token",
                "1=booking-42",
                "--flow-token",
                "0=survey-7",
            ],
            serde_json::json!({"name": "book_now", "language": {"code": "en"}, "components": [
                {"type": "button", "sub_type": "flow", "index": "0", "parameters": [{"type": "action", "action": {"flow_token": "survey-7"}}]},
                {"type": "button", "sub_type": "flow", "index": "1", "parameters": [{"type": "action", "action": {"flow_token": "booking-42", "flow_action_data": {"name": "Pablo"}}}]}]}),
        ),
        (
            &[
                "send-template",
                "--to",
                "+15550101234",
                "--name",
                "order_update",
                "--language",
                "en_US",
                "--body-param",
                "Pablo",
                "--quick-reply",
                "0=STOP",
            ],
            serde_json::json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Pablo"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0", "parameters": [{"type": "payload", "payload": "STOP"}]}]}),
        ),
        (
            &[
                "send-media",
                "--to",
                "+15550101234",
                "--kind",
                "image",
                "--link",
                "https://example.com/a.jpg",
                "--caption",
                "Hi",
            ],
            serde_json::json!({"link": "https://example.com/a.jpg", "caption": "Hi"}),
        ),
        (
            &[
                "send-interactive",
                "--to",
                "+15550101234",
                "--body",
                "Pick",
                "--list-button",
                "Options",
                "--row",
                "Fast|express|Express|1 day",
                "--row",
                "Fast|next|Next day",
            ],
            serde_json::json!({"type": "list", "body": {"text": "Pick"}, "action": {"button": "Options", "sections": [{"title": "Fast", "rows": [
                {"id": "express", "title": "Express", "description": "1 day"}, {"id": "next", "title": "Next day"}]}]}}),
        ),
        (
            &[
                "send-reaction",
                "--to",
                "+15550101234",
                "--message-id",
                "wamid.X",
                "--emoji",
                "👍",
            ],
            serde_json::json!({"message_id": "wamid.X", "emoji": "👍"}),
        ),
        (
            &[
                "send-location",
                "--to",
                "+15550101234",
                "--latitude",
                "-33.8688",
                "--longitude",
                "151.2093",
                "--name",
                "Sydney",
            ],
            serde_json::json!({"latitude": -33.8688, "longitude": 151.2093, "name": "Sydney"}),
        ),
        (
            &[
                "mark-as-read",
                "--message-id",
                "wamid.X",
                "--typing-indicator",
            ],
            serde_json::json!({"type": "text"}),
        ),
    ];
    for (n, (args, expected)) in runs.iter().enumerate() {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(
            [
                "--token",
                TOKEN,
                "--phone-number-id",
                "1",
                "--graph-url",
                &url,
            ]
            .map(str::to_owned),
        );
        let output = run_async(all).await;
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_no_secret(&output);
        let requests = server.requests();
        let body: Value = serde_json::from_slice(&requests[n].body).unwrap();
        let kind = match args[0] {
            "mark-as-read" => "typing_indicator",
            "send-flow" => "interactive",
            _ => body["type"].as_str().unwrap(),
        };
        assert_eq!(body[kind], *expected, "{args:?}");
    }
    // --marketing sends the same template through the Marketing Messages API.
    let graph = [
        "--token",
        TOKEN,
        "--phone-number-id",
        "1",
        "--graph-url",
        &url,
    ];
    let mut marketing: Vec<String> = [
        "send-template",
        "--to",
        "+15550101234",
        "--name",
        "spring_sale",
        "--language",
        "en",
        "--marketing",
        "--product-policy",
        "strict",
    ]
    .map(str::to_owned)
    .to_vec();
    marketing.extend(graph.map(str::to_owned));
    let output = run_async(marketing).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent = server.requests().pop().unwrap();
    assert_eq!(sent.path_and_query, "/v27.0/1/marketing_messages");
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["product_policy"], "STRICT");
    assert_eq!(body["template"]["name"], "spring_sale");
    // A product policy without --marketing is a usage error.
    let usage = run(&[
        "send-template",
        "--to",
        "+15550101234",
        "--name",
        "spring_sale",
        "--language",
        "en",
        "--product-policy",
        "strict",
    ]);
    assert_eq!(usage.status.code(), Some(2));

    // An invalid input is exit 1 with invalid-input naming the property, and no request.
    let before = server.requests().len();
    let invalid = run_async(
        [
            "send-media",
            "--to",
            "+15550101234",
            "--kind",
            "audio",
            "--link",
            "https://example.com/a.ogg",
            "--caption",
            "x",
            "--token",
            TOKEN,
            "--phone-number-id",
            "1",
            "--graph-url",
            &url,
        ]
        .map(str::to_owned)
        .to_vec(),
    )
    .await;
    assert_eq!(invalid.status.code(), Some(1));
    let error = stderr_error(&invalid);
    assert_eq!(
        (error["kind"].as_str(), error["field"].as_str()),
        (Some("invalid-input"), Some("caption"))
    );
    assert_eq!(server.requests().len(), before);
}

#[test]
fn trigger_statuses_prints_status_events_with_their_hints() {
    let batch = fixture("statuses_only.json");
    let all = run(&["trigger", "--statuses", "--payload", &batch]);
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    assert_eq!(stdout_json(&all).as_array().unwrap().len(), 4);
    let failed = run(&[
        "trigger",
        "--statuses",
        "--status",
        "failed",
        "--payload",
        &batch,
    ]);
    let events = stdout_json(&failed);
    assert_eq!(events.as_array().unwrap().len(), 1);
    let error = &events[0]["entry"]["changes"]["statuses"]["errors"][0];
    assert_eq!(error["code"], 131047);
    assert!(error["hint"].as_str().unwrap().contains("template"));
    let bad = run(&[
        "trigger",
        "--statuses",
        "--recipient",
        "US.",
        "--payload",
        &batch,
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stderr_error(&bad)["kind"], "invalid-property");
    // Messages are not statuses, and a status filter needs --statuses.
    let messages = run(&[
        "trigger",
        "--statuses",
        "--payload",
        &fixture("text_message.json"),
    ]);
    assert_eq!(stdout_json(&messages), serde_json::json!([]));
    assert_eq!(
        run(&["trigger", "--status", "read", "--payload", &batch])
            .status
            .code(),
        Some(2)
    );
}

/// A Graph API on loopback that describes a file (with this `sha256`) and serves it on
/// the media host's path, which `--graph-url` redirects here too.
async fn media_graph(bytes: Vec<u8>, sha256: String) -> GraphServer {
    GraphServer::start(move |request| {
        if request.path_and_query == "/v27.0/555" {
            StubResponse::json(
                200,
                &serde_json::json!({
                    "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=555&ext=1&hash=x",
                    "mime_type": "audio/ogg",
                    "sha256": sha256,
                    "file_size": bytes.len(),
                    "id": "555",
                }),
            )
        } else if request.path_and_query.starts_with("/v27.0/106540352242922/media") {
            StubResponse::json(200, &serde_json::json!({"id": "777"}))
        } else {
            StubResponse {
                status: 200,
                headers: vec![],
                body: bytes.clone(),
            }
        }
    })
    .await
    .unwrap()
}

fn media_args(command: &str, server: &GraphServer, rest: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        command,
        "--token",
        TOKEN,
        "--phone-number-id",
        "106540352242922",
        "--graph-url",
        &server.base_url(),
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

#[tokio::test]
async fn media_files_stream_to_and_from_disk_and_a_bad_download_leaves_nothing() {
    use sha2::Digest as _;
    let dir = scratch_dir("media-cli");
    let bytes: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    let out = dir.join("voice.ogg");
    let out_arg = out.to_str().unwrap();

    let good = media_graph(bytes.clone(), sha256.clone()).await;
    let output = run_async(media_args(
        "download-media",
        &good,
        &["--media-id", "555", "--out", out_arg],
    ))
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_secret(&output);
    let printed = stdout_json(&output);
    assert_eq!(
        (printed["sha256"].as_str(), printed["file_size"].as_u64()),
        (Some(&*sha256), Some(150_000))
    );
    assert!(std::fs::read(&out).unwrap() == bytes);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary file is left"
    );

    // The same file, described with another hash: exit 1, a mismatch, and nothing on
    // disk, not even the temporary file it was written to.
    std::fs::remove_file(&out).unwrap();
    let bad = media_graph(bytes.clone(), "ab".repeat(32)).await;
    let output = run_async(media_args(
        "download-media",
        &bad,
        &["--media-id", "555", "--out", out_arg],
    ))
    .await;
    assert_eq!(output.status.code(), Some(1));
    let error = stderr_error(&output);
    assert_eq!(
        (error["kind"].as_str(), error["check"].as_str()),
        (Some("mismatch"), Some("sha256"))
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a bad download leaves no file"
    );

    // Upload: the type from the extension, the bytes streamed; an unaccepted type is
    // refused before any request.
    let file = dir.join("note.pdf");
    std::fs::write(&file, &bytes).unwrap();
    let output = run_async(media_args(
        "upload-media",
        &good,
        &["--file", file.to_str().unwrap()],
    ))
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout_json(&output)["id"], "777");
    let upload = good.requests().into_iter().last().unwrap();
    assert!(String::from_utf8_lossy(&upload.body).contains("application/pdf"));
    let before = good.requests().len();
    let gif = dir.join("a.gif");
    std::fs::write(&gif, b"GIF89a").unwrap();
    let output = run_async(media_args(
        "upload-media",
        &good,
        &["--file", gif.to_str().unwrap()],
    ))
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr_error(&output)["field"], "mime-type");
    assert_eq!(good.requests().len(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_on_demand_allocator_runs_the_same_trigger() {
    let payload = fixture("batch_two_messages_one_status.json");
    let pooled = run(&["trigger", "--payload", &payload]);
    let on_demand = run(&["--allocator", "on-demand", "trigger", "--payload", &payload]);
    let small_pool = run(&["--pool-instances", "2", "trigger", "--payload", &payload]);
    for output in [&pooled, &on_demand, &small_pool] {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(stdout_json(&pooled).as_array().unwrap().len(), 2);
    assert_eq!(stdout_json(&on_demand), stdout_json(&pooled));
    assert_eq!(stdout_json(&small_pool), stdout_json(&pooled));
    assert_eq!(run(&["--allocator", "bump", "demo"]).status.code(), Some(2));
}

#[tokio::test]
async fn the_native_baseline_does_the_same_work_as_serve() {
    // The benchmark's baseline must do what the endpoint does, or the comparison is void:
    // the same events for a signed batch, a refused forgery, a dropped redelivery.
    let body = std::fs::read(fixture("batch_two_messages_one_status.json")).unwrap();
    let mut lines = Vec::new();
    for extra in [&[][..], &["--native-baseline"][..]] {
        let mut args = vec!["--app-secret", APP_SECRET, "--no-access-log"];
        args.extend_from_slice(extra);
        let server = start_serve(&args);
        let mut client = Client::connect(server.address).await.unwrap();
        for _ in 0..2 {
            let answer = client
                .webhook("/webhook", signed_post(body.clone(), APP_SECRET))
                .await
                .unwrap();
            assert_eq!(answer.status, 200, "{extra:?}");
        }
        let forged = client
            .webhook("/webhook", signed_post(body.clone(), "not the secret"))
            .await
            .unwrap();
        assert_eq!(forged.status, 401, "{extra:?}");
        lines.push(server.event_lines(2));
        assert!(
            server
                .events
                .recv_timeout(Duration::from_millis(300))
                .is_err(),
            "a redelivery was written again ({extra:?})"
        );
    }
    assert_eq!(lines[0], lines[1]);
}

#[test]
fn trigger_names_every_trigger_and_refuses_flags_that_do_not_fit() {
    let echo = fixture("smb_message_echo.json");
    let output = run(&["trigger", "--echoes", "--payload", &echo]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = stdout_json(&output);
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(
        events[0]["entry"]["changes"]["message_echoes"]["to"],
        "16505551234"
    );
    // The same file is no message, no status, no preference, no group update.
    for flags in [&[][..], &["--statuses"], &["--preferences"], &["--groups"]] {
        let mut args = vec!["trigger", "--payload", &echo];
        args.extend_from_slice(flags);
        assert_eq!(stdout_json(&run(&args)), serde_json::json!([]), "{flags:?}");
    }
    let joined = fixture("group_participants_join.json");
    let only_lifecycle = run(&[
        "trigger",
        "--groups",
        "--group-update",
        "lifecycle",
        "--payload",
        &joined,
    ]);
    assert_eq!(stdout_json(&only_lifecycle), serde_json::json!([]));
    let participants = run(&[
        "trigger",
        "--groups",
        "--group-update",
        "participants",
        "--payload",
        &joined,
    ]);
    assert_eq!(
        stdout_json(&participants)[0]["entry"]["changes"]["field"],
        "group_participants_update"
    );
    // A bad customer is the trigger's configuration error: exit 1, with the property.
    let stop = fixture("user_preferences_stop.json");
    let bad = run(&[
        "trigger",
        "--preferences",
        "--customer",
        "someone",
        "--payload",
        &stop,
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stderr_error(&bad)["field"], "customer");
    // Flags that belong to another trigger, or two triggers at once: usage errors.
    for args in [
        &["trigger", "--recipient", "+15550101234", "--payload", &stop][..],
        &["trigger", "--echoes", "--preferences", "--payload", &stop],
        &["trigger", "--customer", "+15550101234", "--payload", &stop],
        &[
            "trigger",
            "--echoes",
            "--sender-number",
            "+15550101234",
            "--payload",
            &stop,
        ],
        &["trigger", "--group-id", "G", "--payload", &stop],
    ] {
        assert_eq!(run(args).status.code(), Some(2), "{args:?}");
    }
}

#[tokio::test]
async fn the_group_and_blocklist_subcommands_send_what_their_flags_say() {
    let server = GraphServer::start(|request| {
        let body = if request.path_and_query.ends_with("/groups") {
            serde_json::json!({"messaging_product": "whatsapp", "request_id": "R1"})
        } else if request.path_and_query.contains("/invite_link") {
            serde_json::json!({"messaging_product": "whatsapp", "invite_link": "https://chat.whatsapp.com/L"})
        } else if request.path_and_query.contains("/block_users?") {
            serde_json::json!({"data": [{"wa_id": "16505551234"}], "paging": {"cursors": {"after": "A"}, "next": "n"}})
        } else if request.path_and_query.ends_with("/block_users") {
            serde_json::json!({"messaging_product": "whatsapp", "block_users": {"added_users": [{"input": "+16505551234", "wa_id": "16505551234"}]}})
        } else {
            serde_json::json!({"success": true})
        };
        StubResponse::json(200, &body)
    })
    .await
    .unwrap();
    let url = server.base_url();
    let group = "Y2FwaV9ncm91cDox";
    let runs: [(&[&str], &str, &str, serde_json::Value); 6] = [
        (
            &["create-group", "--subject", "VIPs", "--approval-required"],
            "POST",
            "/v27.0/1/groups",
            serde_json::json!({"request_id": "R1"}),
        ),
        (
            &["get-group-invite-link", "--group-id", group],
            "GET",
            "/v27.0/Y2FwaV9ncm91cDox/invite_link",
            serde_json::json!({"invite_link": "https://chat.whatsapp.com/L"}),
        ),
        (
            &["reset-group-invite-link", "--group-id", group],
            "POST",
            "/v27.0/Y2FwaV9ncm91cDox/invite_link",
            serde_json::json!({"invite_link": "https://chat.whatsapp.com/L"}),
        ),
        (
            &[
                "remove-group-participants",
                "--group-id",
                group,
                "--participant",
                "+16505551234",
            ],
            "DELETE",
            "/v27.0/Y2FwaV9ncm91cDox/participants",
            serde_json::json!({"success": true}),
        ),
        (
            &["block-users", "--user", "+16505551234"],
            "POST",
            "/v27.0/1/block_users",
            serde_json::json!({"done": [{"input": "+16505551234", "wa_id": "16505551234", "errors": []}], "failed": []}),
        ),
        (
            &["list-blocked-users", "--limit", "10"],
            "GET",
            "/v27.0/1/block_users?limit=10",
            serde_json::json!({"wa_ids": ["16505551234"], "after": "A"}),
        ),
    ];
    for (n, (args, method, path, printed)) in runs.iter().enumerate() {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(
            [
                "--token",
                TOKEN,
                "--phone-number-id",
                "1",
                "--graph-url",
                &url,
            ]
            .map(str::to_owned),
        );
        let output = run_async(all).await;
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(stdout_json(&output), *printed, "{args:?}");
        let request = &server.requests()[n];
        assert_eq!(
            (request.method.as_str(), request.path_and_query.as_str()),
            (*method, *path)
        );
    }
    let body: Value = serde_json::from_slice(&server.requests()[0].body).unwrap();
    assert_eq!(body["join_approval_mode"], "approval_required");
    // An invalid group ID is exit 1 naming the property, with no request.
    let before = server.requests().len();
    let bad = run_async(
        [
            "get-group-invite-link",
            "--group-id",
            "a/b",
            "--token",
            TOKEN,
            "--phone-number-id",
            "1",
            "--graph-url",
            &url,
        ]
        .map(str::to_owned)
        .to_vec(),
    )
    .await;
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stderr_error(&bad)["field"], "group-id");
    assert_eq!(server.requests().len(), before);
}
