//! Meta's documented webhooks of late 2026 through `serve`: a Flow's answers (readable
//! and not), an edit, a deletion, a group's message and a group send's statuses. Each
//! subscription writes exactly the events `host-harness trigger` gives for the same file,
//! so the gateway, the CLI and (in the Node tests) the Node host agree.

use crate::end_to_end_lifecycle::{PUBLIC_ORIGIN, fake_meta};
use crate::subscriptions::{enable, lines};
use crate::*;
use host_harness::fakes::loopback::Client;
use host_harness::fakes::signed_post;
use serde_json::Value;

/// Every fixture this round added, each with IDs of its own.
pub(crate) const FIXTURES: [&str; 6] = [
    "flow_nfm_reply.json",
    "flow_nfm_reply_not_json.json",
    "edit_message.json",
    "revoke_message.json",
    "group_text_message.json",
    "group_statuses.json",
];

/// What `host-harness trigger` gives for every fixture, in order, with `extra` flags.
fn trigger_events(extra: &[&str]) -> Vec<Value> {
    let mut events = Vec::new();
    for name in FIXTURES {
        let path = fixture(name);
        let mut args = vec!["trigger", "--payload", &path];
        args.extend_from_slice(extra);
        let output = run(&args);
        assert!(output.status.success(), "{name}");
        events.extend(stdout_json(&output).as_array().unwrap().iter().cloned());
    }
    events
}

#[tokio::test]
async fn meta_s_2026_examples_through_serve_are_the_trigger_s_events() {
    let dir = scratch_dir("meta-2026");
    let store = dir.join("state");
    let store = store.to_str().unwrap();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let (messages, statuses) = (file("messages.jsonl"), file("statuses.jsonl"));
    let server = start_serve(&["--store", store, "--app-secret", APP_SECRET]);
    let (_meta, meta_server) = fake_meta(server.address).await;
    let url = format!("{PUBLIC_ORIGIN}/whatsapp/number");
    enable(&meta_server, store, &url, &["--events", &messages]).await;
    enable(
        &meta_server,
        store,
        &url,
        &["--statuses", "--events", &statuses],
    )
    .await;
    // serve routes new subscriptions within a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let mut client = Client::connect(server.address).await.unwrap();
    for name in FIXTURES {
        let body = std::fs::read(fixture(name)).unwrap();
        let answer = client
            .webhook("/whatsapp/number", signed_post(body, APP_SECRET))
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{name}: {}", answer.text());
    }
    let expected = trigger_events(&[]);
    assert_eq!(expected.len(), 5, "one event per message fixture");
    assert_eq!(lines(std::path::Path::new(&messages), 5), expected);
    let expected = trigger_events(&["--statuses"]);
    assert_eq!(expected.len(), 2, "the group send's two statuses");
    assert_eq!(lines(std::path::Path::new(&statuses), 2), expected);
}
