//! No secret leaves through any door: every CLI subcommand's error paths run with a
//! distinctive token, app secret and verify token, against a Graph API that echoes back
//! everything it was sent, and none of the three appears in stdout or stderr. `Debug` of
//! the records that hold them redacts them.

use crate::*;
use host_harness::endpoint::EndpointOptions;
use host_harness::fakes::loopback::{Client, GraphServer};
use host_harness::{Connection, Registration, StubResponse};
use serde_json::json;

/// A Graph API that answers every call with an error quoting the whole request:
/// the worst case for a connector that passes error messages on.
async fn echoing_graph() -> GraphServer {
    GraphServer::start(|request| {
        let quoted = format!(
            "{} {} authorization={:?} body={}",
            request.method,
            request.path_and_query,
            request.header("authorization"),
            String::from_utf8_lossy(&request.body)
        );
        StubResponse::json(
            400,
            &json!({"error": {"message": quoted, "type": "OAuthException", "code": 100, "error_data": {"details": quoted}, "fbtrace_id": quoted}}),
        )
    })
    .await
    .unwrap()
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn assert_failed_without_secrets(args: &[String], output: &std::process::Output) {
    assert!(
        !output.status.success(),
        "{args:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_no_secret(output);
    // `enable` makes its own verify token, 48 hex digits: no such run may appear either.
    let printed = [&output.stdout[..], &output.stderr[..]].concat();
    let longest_hex_run = printed
        .split(|b| !b.is_ascii_hexdigit())
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest_hex_run < 48,
        "{args:?} printed what looks like a verify token: {}",
        String::from_utf8_lossy(&printed)
    );
}

#[tokio::test]
async fn no_subcommand_prints_a_secret_on_its_error_paths() {
    let graph = echoing_graph().await;
    let url = graph.base_url();
    let dir = scratch_dir("secrets");
    let registration_file = dir.join("registration.json");
    let registration = Registration {
        phone_number_id: "1".into(),
        callback_url: "https://hooks.example.com/wa".into(),
        verify_token: VERIFY_TOKEN.into(),
        created_at: 0,
    };
    std::fs::write(
        &registration_file,
        serde_json::to_vec(&registration).unwrap(),
    )
    .unwrap();
    // The 0.2 file imported into a store, for `disable`.
    let store = dir.join("state");
    let store_arg = store.to_str().unwrap();
    let imported = run(&[
        "import-registration",
        registration_file.to_str().unwrap(),
        "--store",
        store_arg,
    ]);
    assert!(imported.status.success(), "{imported:?}");
    assert_no_secret(&imported);
    let payload = fixture("text_message.json");
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let graph_flags = ["--token", TOKEN, "--phone-number-id", "1", "--graph-url"];
    // Each run, the error kind it must end with, and whether it must reach the echoing
    // Graph API (so that a run failing early cannot pass without testing the echo).
    let mut runs: Vec<(Vec<String>, &str, bool)> = Vec::new();
    for (target, kind, echoed) in [(&url, "graph", true), (&refused, "transport", false)] {
        let mut with_graph = |args: &[&str]| {
            let mut all = owned(args);
            all.extend(owned(&graph_flags));
            all.push(target.clone());
            runs.push((all, kind, echoed));
        };
        with_graph(&["send", "--to", "+15550101234", "--message", "hi"]);
        with_graph(&["test-connection"]);
        with_graph(&[
            "enable",
            "--webhook-url",
            "https://hooks.example.com/wa",
            "--store",
            dir.join("new").to_str().unwrap(),
        ]);
        with_graph(&["disable", "--store", store_arg]);
    }
    let send_to =
        |to: &str, token: &str| owned(&["send", "--to", to, "--message", "hi", "--token", token]);
    runs.extend([
        // Validation errors, before any request.
        (send_to("not a number", TOKEN), "invalid-input", false),
        (
            send_to("+15550101234", &format!("{TOKEN}\r\nX-Injected: 1")),
            "invalid-input",
            false,
        ),
        (
            owned(&[
                "enable",
                "--webhook-url",
                "http://plain.example.com",
                "--token",
                TOKEN,
            ]),
            "invalid-input",
            false,
        ),
        // The store holds another phone number's registration at that path: a path
        // routes one number.
        (
            owned(&[
                "enable",
                "--webhook-url",
                "https://hooks.example.com/wa",
                "--store",
                store_arg,
                "--token",
                TOKEN,
            ]),
            "invalid-input",
            false,
        ),
        (
            owned(&["disable", "--store", "/dev/null/state"]),
            "host",
            false,
        ),
        // The trigger: forged signature, and a body that is not a webhook.
        (
            owned(&[
                "trigger",
                "--payload",
                &payload,
                "--app-secret",
                APP_SECRET,
                "--signature",
                "sha256=00",
            ]),
            "invalid-signature",
            false,
        ),
        (
            owned(&["trigger", "--payload", &fixture("../../Cargo.toml")]),
            "invalid-payload",
            false,
        ),
        // A component that does not exist.
        (
            owned(&[
                "--component",
                "/nonexistent.wasm",
                "send",
                "--token",
                TOKEN,
                "--to",
                "+15550101234",
                "--message",
                "hi",
            ]),
            "host",
            false,
        ),
    ]);
    for (args, kind, echoed) in runs {
        let before = graph.requests().len();
        let output = run_async(args.clone()).await;
        assert_failed_without_secrets(&args, &output);
        assert_eq!(stderr_error(&output)["kind"], kind, "{args:?}");
        let reached = graph.requests().len() > before;
        assert_eq!(reached, echoed, "{args:?}: reached the echoing Graph API");
        if echoed {
            // The echo quoted the bearer token back; the error had it scrubbed.
            let error = stderr_error(&output).to_string();
            assert!(error.contains("[redacted]"), "{args:?}: {error}");
        }
    }
    assert!(
        !dir.join("new.json").exists(),
        "a failed enable left its file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn serve_never_logs_or_answers_a_secret() {
    let mut server = start_serve(&["--app-secret", APP_SECRET, "--verify-token", VERIFY_TOKEN]);
    let mut client = Client::connect(server.address).await.unwrap();
    let mut bodies = Vec::new();
    for (method, path, body) in [
        (
            "GET",
            format!("/w?hub.mode=subscribe&hub.challenge=1&hub.verify_token={VERIFY_TOKEN}x"),
            vec![],
        ),
        (
            "GET",
            format!("/w?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}"),
            vec![],
        ),
        ("POST", "/w".to_owned(), b"{}".to_vec()),
        ("POST", "/w".to_owned(), APP_SECRET.as_bytes().to_vec()),
    ] {
        let answer = client.request(method, &path, &[], body).await.unwrap();
        assert!(!(200..300).contains(&answer.status), "{method} {path}");
        bodies.push(answer.text());
    }
    // One log line per request, each printed before its answer went out.
    let logs: Vec<String> = std::iter::from_fn(|| {
        server
            .logs
            .recv_timeout(std::time::Duration::from_secs(5))
            .ok()
    })
    .take(bodies.len())
    .collect();
    assert_eq!(logs.len(), bodies.len(), "{logs:?}");
    server.interrupt();
    for text in bodies.iter().chain(&logs) {
        for secret in [APP_SECRET, VERIFY_TOKEN] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[test]
fn debug_redacts_every_secret() {
    let connection = Connection {
        system_user_access_token: TOKEN.into(),
        phone_number_id: "1".into(),
        app_secret: Some(APP_SECRET.into()),
        verify_token: Some(VERIFY_TOKEN.into()),
    };
    let registration = Registration {
        phone_number_id: "1".into(),
        callback_url: "https://hooks.example.com/wa".into(),
        verify_token: VERIFY_TOKEN.into(),
        created_at: 0,
    };
    let options = EndpointOptions::new(
        host_harness::bindings::Properties {
            sender_number: None,
        },
        Some(APP_SECRET.into()),
        Some(VERIFY_TOKEN.into()),
    );
    let request = host_harness::RecordedRequest {
        method: "GET".into(),
        url: "https://graph.facebook.com/v27.0/1".into(),
        path_and_query: "/v27.0/1".into(),
        headers: vec![("authorization".into(), format!("Bearer {TOKEN}"))],
        body: Vec::new(),
    };
    let printed = format!(
        "{connection:?} {registration:?} {} {options:?} {request:?} {}",
        registration.redacted(),
        request.redacted()
    );
    for secret in [TOKEN, APP_SECRET, VERIFY_TOKEN] {
        assert!(!printed.contains(secret), "{printed}");
    }
}

/// The component reads a token passed empty from its environment (how Obelisk's secrets
/// reach it), but `host-harness` gives it an empty one: the harness's own environment
/// never reaches the component, so an empty token stays `invalid-input`.
#[test]
fn the_harness_s_environment_never_reaches_the_component() {
    let output = std::process::Command::new(BIN)
        .args([
            "send",
            "--to",
            "+15550101234",
            "--message",
            "hi",
            "--token",
            "",
        ])
        .env("WHATSAPP_STORE", fresh_store())
        .env("WHATSAPP_ACCESS_TOKEN", TOKEN)
        .env_remove("WHATSAPP_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let error = stderr_error(&output);
    assert_eq!(error["kind"], "invalid-input");
    assert_eq!(error["field"], "system-user-access-token");
    assert_no_secret(&output);
}
