//! Many workflows on one phone number, end to end over real HTTP: `enable` three times
//! (two "Message received" subscriptions with different sender filters and a "Message
//! status updated" one) against a fake Meta, `serve` routing each signed webhook to
//! every subscription, `disable` one at a time, and a restart of `serve` in between.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::end_to_end_lifecycle::{
    PHONE_NUMBER_ID, PUBLIC_ORIGIN, assert_success, fake_meta, graph_args,
};
use crate::*;
use host_harness::fakes::loopback::{Client, GraphServer};
use host_harness::fakes::signed_post;
use serde_json::{Value, json};

const CUSTOMER_A: &str = "+1 650 555 1234";
const CUSTOMER_B: &str = "+1 650 555 9876";

/// Meta's batch (a message from each customer, one status) with IDs made unique to
/// `round`, so that each round is new to every deduplication window.
fn batch(round: u32) -> Vec<u8> {
    let text =
        String::from_utf8(std::fs::read(fixture("batch_two_messages_one_status.json")).unwrap())
            .unwrap();
    text.replace("wamid.HBgL", &format!("wamid.R{round}HBgL"))
        .into_bytes()
}

/// The JSON lines in `path` once there are `n` (serve writes them just after its 200, from
/// the store's outbox; the wait absorbs that and file-system lag).
pub(crate) fn lines(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            assert_eq!(lines.len(), n, "{}: {text}", path.display());
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) async fn enable(
    meta: &GraphServer,
    registration: &str,
    url: &str,
    extra: &[&str],
) -> Value {
    let mut args: Vec<String> = ["enable", "--webhook-url", url, "--store", registration]
        .map(str::to_owned)
        .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(graph_args(meta));
    let output = run_async(args).await;
    assert_success(&output);
    assert_no_secret(&output);
    stdout_json(&output)
}

async fn disable(meta: &GraphServer, registration: &str, subscription: &str) -> Value {
    let mut args: Vec<String> = [
        "disable",
        "--store",
        registration,
        "--subscription",
        subscription,
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(graph_args(meta));
    let output = run_async(args).await;
    assert_success(&output);
    stdout_json(&output)
}

async fn deliver(server: &Server, round: u32) {
    let mut client = Client::connect(server.address).await.unwrap();
    let answer = client
        .webhook("/whatsapp/number", signed_post(batch(round), APP_SECRET))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[tokio::test]
async fn every_subscription_gets_its_own_events_until_it_is_switched_off() {
    let dir = scratch_dir("subscriptions");
    let registration = dir.join("state");
    let registration = registration.to_str().unwrap();
    let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let (a, b, s) = (file("a.jsonl"), file("b.jsonl"), file("s.jsonl"));
    let serve_args = ["--store", registration, "--app-secret", APP_SECRET];
    let mut server = start_serve(&serve_args);
    let (meta, meta_server) = fake_meta(server.address).await;
    let url = format!("{PUBLIC_ORIGIN}/whatsapp/number");

    // The first subscription sets the callback (Meta verifies it through serve); the
    // next two only join it: Meta is not called again.
    let first = enable(
        &meta_server,
        registration,
        &url,
        &["--sender-number", CUSTOMER_A, "--events", &a],
    )
    .await;
    assert_eq!(first["subscribed"], "1");
    assert_eq!(meta_server.requests().len(), 1);
    let second = enable(
        &meta_server,
        registration,
        &url,
        &["--sender-number", CUSTOMER_B, "--events", &b],
    )
    .await;
    let third = enable(
        &meta_server,
        registration,
        &url,
        &["--statuses", "--events", &s],
    )
    .await;
    assert_eq!(
        (second["subscribed"].as_str(), third["subscribed"].as_str()),
        (Some("2"), Some("3"))
    );
    assert_eq!(
        meta_server.requests().len(),
        1,
        "joining needs no Meta call"
    );
    assert_eq!(
        meta.alternate_callback(PHONE_NUMBER_ID).as_deref(),
        Some(url.as_str())
    );
    // Another URL for the same number would need a second callback: refused.
    let mut args: Vec<String> = [
        "enable",
        "--webhook-url",
        &format!("{PUBLIC_ORIGIN}/other"),
        "--store",
        registration,
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(graph_args(&meta_server));
    let refused = run_async(args).await;
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(stderr_error(&refused)["field"], "webhook-url");

    // One signed batch (once serve routes the new subscriptions, within a second): each
    // subscription gets exactly its events; a redelivery adds nothing anywhere.
    tokio::time::sleep(Duration::from_secs(1)).await;
    deliver(&server, 1).await;
    deliver(&server, 1).await;
    let only_a = lines(Path::new(&a), 1);
    let only_b = lines(Path::new(&b), 1);
    let statuses = lines(Path::new(&s), 1);
    assert_eq!(
        only_a[0]["entry"]["changes"]["contacts"]["wa_id"],
        "16505551234"
    );
    assert_eq!(
        only_b[0]["entry"]["changes"]["contacts"]["wa_id"],
        "16505559876"
    );
    assert_eq!(
        statuses[0]["entry"]["changes"]["statuses"]["status"],
        "read"
    );
    assert!(message_ids(&only_a)[0].starts_with("wamid.R1"));

    // Switching A off leaves B and the statuses receiving; Meta is not called.
    let off = disable(&meta_server, registration, "1").await;
    assert_eq!(off["remaining"].as_array().unwrap().len(), 2);
    assert_eq!(meta_server.requests().len(), 1);
    // A running serve routes a change made by another process within a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    deliver(&server, 2).await;
    lines(Path::new(&b), 2);
    lines(Path::new(&s), 2);
    lines(Path::new(&a), 1);

    // A restart of serve keeps the subscriptions: they are in the store.
    drop(server);
    server = start_serve(&serve_args);
    deliver(&server, 3).await;
    assert_eq!(
        message_ids(&lines(Path::new(&b), 3))[2].get(..8),
        Some("wamid.R3")
    );
    lines(Path::new(&s), 3);
    lines(Path::new(&a), 1);

    // The last one out removes the callback at Meta, and the registration with it.
    disable(&meta_server, registration, "2").await;
    assert_eq!(meta_server.requests().len(), 1);
    let last = disable(&meta_server, registration, "3").await;
    assert_eq!(last["removal"], "removed");
    assert_eq!(meta.alternate_callback(PHONE_NUMBER_ID), None);
    let listed = run_async(
        ["registrations", "--store", registration]
            .map(str::to_owned)
            .to_vec(),
    )
    .await;
    assert_eq!(stdout_json(&listed)["registrations"], json!([]));
    let calls = meta_server.requests();
    assert_eq!(
        calls[calls.len() - 1].path_and_query,
        format!("/v27.0/{PHONE_NUMBER_ID}")
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn workflows_switched_on_at_once_are_all_subscribed() {
    let dir = scratch_dir("subscriptions-at-once");
    let registration = dir.join("state");
    let registration = registration.to_str().unwrap().to_owned();
    // The first makes the registration (with the built-in stub); then six at once.
    let first = run(&[
        "enable",
        "--webhook-url",
        "https://hooks.example.com/n",
        "--store",
        &registration,
    ]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let registration = registration.clone();
            std::thread::spawn(move || {
                let events = format!("{registration}-events-{i}.jsonl");
                run(&[
                    "enable",
                    "--webhook-url",
                    "https://hooks.example.com/n",
                    "--store",
                    &registration,
                    "--events",
                    &events,
                ])
            })
        })
        .collect();
    for handle in handles {
        let output = handle.join().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let listed = run(&["registrations", "--store", &registration]);
    assert!(listed.status.success(), "{listed:?}");
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mut ids: Vec<u64> = listed["registrations"][0]["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().parse().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=7).collect::<Vec<_>>(),
        "no subscription lost, no ID given twice"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
