//! Delivery into workflow engines (#23), with real processes and real HTTP receivers
//! (`receiver`): signed deliveries checked by the `standardwebhooks` crate, retries,
//! 410, dead letters and re-drives, `kill -9` and SIGTERM with deliveries pending, a
//! hanging receiver, two instances on one Redis, the Redis stream sink and the admin
//! endpoints.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use host_harness::fakes::loopback::Client;
use serde_json::Value;

use crate::durable_store::{
    PATH, PHONE, STORE_KEY, bodies, enable, free_address, key_env, post_all, until_accepted,
};
use crate::receiver::{Answer, Receiver};
use crate::redis_server::RedisServer;
use crate::*;

/// Enables an HTTP (or stream) subscription; its output, with the signing secret.
fn subscribe(store: &str, events: &str, extra: &[&str]) -> Value {
    enable(store, PHONE, PATH, Path::new(events), extra)
}

/// A store's command (`registrations`, `dead-letters`, `redrive`) as JSON.
fn store_command(args: &[&str]) -> Value {
    let output = Command::new(BIN)
        .args(args)
        .env("WHATSAPP_STORE_KEY", STORE_KEY)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout_json(&output)
}

/// `serve` with the app secret, a fast retry schedule and these flags.
fn gateway(store: &str, listen: &str, extra: &[&str]) -> Server {
    let mut flags = vec![
        "--store",
        store,
        "--app-secret",
        APP_SECRET,
        "--no-access-log",
    ];
    flags.extend(extra);
    serve_on(listen, &flags, &key_env())
}

/// GET on the admin address: status and body.
async fn admin(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut client = Client::connect(address).await.unwrap();
    let answer = client.request("GET", path, &[], vec![]).await.unwrap();
    (answer.status, answer.text())
}

/// The samples of a scrape, parsed as Prometheus parses them: name and labels → value.
fn scrape(text: &str) -> HashMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    scrape
        .samples
        .into_iter()
        .filter_map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => return None,
            };
            let mut labels: Vec<_> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            Some((format!("{}{{{}}}", s.metric, labels.join(",")), value))
        })
        .collect()
}

/// Every delivery verifies with the `standardwebhooks` crate; a receiver that fails the
/// first two attempts of each event still gets each exactly once, every retry carrying
/// the same `webhook-id`; static headers and Basic auth arrive; `/metrics` counts what
/// happened; no secret shows anywhere.
#[tokio::test]
async fn signed_deliveries_survive_failures_and_verify_independently() {
    let receiver = Receiver::start(|_, before| match before {
        0 => Answer::Status(500),
        1 => Answer::RetryAfter(503, 0),
        _ => Answer::Status(204),
    });
    let store = fresh_store();
    let store = store.to_str().unwrap();
    let url = format!(
        "http://hook-user:BASICpassNeverShown@{}/n8n/hook",
        receiver.address
    );
    let enabled = subscribe(
        store,
        &url,
        &["--events-header", "X-Api-Key: HEADERsecretNeverShown"],
    );
    let secret = enabled["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{enabled}");
    let admin_address = free_address().to_string();
    let mut server = gateway(
        store,
        "127.0.0.1:0",
        &[
            "--retry-schedule",
            "50ms,50ms,1h",
            "--admin-listen",
            &admin_address,
        ],
    );
    let (bodies, ids) = bodies("signed", 12);
    post_all(server.address, bodies.clone()).await;
    let delivered = receiver.wait_delivered(&ids, Duration::from_secs(30));
    // A redelivery from Meta of what was delivered is no new event.
    post_all(server.address, bodies[..3].to_vec()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(delivered.values().all(|&n| n == 1), "{delivered:?}");
    assert_eq!(receiver.delivered(), delivered);

    let verifier = standardwebhooks::Webhook::new(&secret).unwrap();
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("hook-user:BASICpassNeverShown")
    );
    let mut ids_by_message: HashMap<String, HashSet<String>> = HashMap::new();
    let received = receiver.received();
    assert_eq!(received.len(), 36, "three attempts per event");
    for request in &received {
        verifier
            .verify(&request.body, &request.headers)
            .unwrap_or_else(|e| panic!("{e}: {:?}", request.headers));
        assert_eq!(request.header("x-api-key"), "HEADERsecretNeverShown");
        assert_eq!(request.header("authorization"), expected_auth);
        assert_eq!(request.header("content-type"), "application/json");
        let event: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(event["object"], "whatsapp_business_account");
        ids_by_message
            .entry(request.message_id())
            .or_default()
            .insert(request.id());
    }
    assert!(
        ids_by_message.values().all(|ids| ids.len() == 1),
        "a retry carried another webhook-id: {ids_by_message:?}"
    );
    let distinct: HashSet<_> = ids_by_message.values().flatten().collect();
    assert_eq!(distinct.len(), 12, "one webhook-id per event");

    let (status, text) = admin(admin_address.parse().unwrap(), "/metrics").await;
    assert_eq!(status, 200);
    let metrics = scrape(&text);
    let value = |name: &str| {
        metrics
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    assert_eq!(value("whatsapp_gateway_events_total{}"), 12.0);
    assert_eq!(value("whatsapp_gateway_duplicates_total{}"), 3.0);
    assert_eq!(
        value("whatsapp_gateway_deliveries_total{outcome=delivered}"),
        12.0
    );
    assert_eq!(
        value("whatsapp_gateway_deliveries_total{outcome=failed}"),
        24.0
    );
    assert_eq!(value("whatsapp_gateway_responses_total{status=200}"), 15.0);
    let subscription = format!("subscription={PHONE}/");
    assert!(
        metrics
            .iter()
            .any(|(k, v)| k.starts_with("whatsapp_gateway_outbox_depth{")
                && k.contains(&subscription)
                && *v == 0.0),
        "{text}"
    );
    assert!(text.contains("whatsapp_gateway_delivery_attempt_duration_seconds_bucket"));
    assert_eq!(
        admin(admin_address.parse().unwrap(), "/healthz").await.0,
        200
    );
    assert_eq!(
        admin(admin_address.parse().unwrap(), "/readyz").await.0,
        200
    );

    // The listing shows the sink without its user info and no secret; neither does
    // serve's log.
    let listed = store_command(&["registrations", "--store", store]).to_string();
    assert!(
        listed.contains("X-Api-Key") && listed.contains("/n8n/hook"),
        "{listed}"
    );
    let mut logs = String::new();
    while let Ok(line) = server.logs.try_recv() {
        logs.push_str(&line);
        logs.push('\n');
    }
    let summary = server.interrupt();
    assert_eq!(summary["events"], 12);
    assert!(logs.contains("delivery attempt failed"), "{logs}");
    for shown in [listed, logs] {
        for secret in [
            &secret[6..],
            "BASICpassNeverShown",
            "HEADERsecretNeverShown",
            APP_SECRET,
        ] {
            assert!(!shown.contains(secret), "a secret leaked: {shown}");
        }
    }
}

/// A 410 stops that subscription's deliveries and marks it; the number's other
/// subscription goes on; `redrive` resumes it and nothing was lost meanwhile.
#[tokio::test]
async fn a_410_stops_one_subscription_and_redrive_resumes_it() {
    let gone = Receiver::start(|_, _| Answer::Status(410));
    let healthy = Receiver::healthy();
    let store = fresh_store();
    let store = store.to_str().unwrap();
    let first = subscribe(store, &gone.url("/a"), &[]);
    subscribe(store, &healthy.url("/b"), &[]);
    let server = gateway(store, "127.0.0.1:0", &["--retry-schedule", "50ms"]);
    let (bodies, ids) = bodies("gone", 10);
    post_all(server.address, bodies).await;
    healthy.wait_delivered(&ids, Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(10);
    let marked = loop {
        let listed = store_command(&["registrations", "--store", store]);
        let subscription = listed["registrations"][0]["subscriptions"][0].clone();
        if subscription["gone"].is_object() || Instant::now() > deadline {
            break subscription;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        marked["gone"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("410"),
        "{marked}"
    );
    // Stopped: the attempts to the gone receiver end with the round that met the 410.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attempts = gone.received().len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        gone.received().len(),
        attempts,
        "deliveries went on after 410"
    );
    assert!(attempts <= 10);

    gone.answer(|_, _| Answer::Status(200));
    let subscription = first["subscribed"].as_str().unwrap();
    let redriven = store_command(&["redrive", "--store", store, "--subscription", subscription]);
    assert_eq!(redriven["resumed"], true, "{redriven}");
    let delivered = gone.wait_delivered(&ids, Duration::from_secs(20));
    assert!(delivered.values().all(|&n| n == 1), "{delivered:?}");
    let listed = store_command(&["registrations", "--store", store]);
    assert!(listed["registrations"][0]["subscriptions"][0]["gone"].is_null());
    drop(server);
}

/// After its last attempt an event is a dead letter: listed with its attempts and
/// reason, and re-driven one by one or all at once.
#[tokio::test]
async fn dead_letters_are_listed_and_redriven() {
    let receiver = Receiver::start(|_, _| Answer::Status(500));
    let store = fresh_store();
    let store = store.to_str().unwrap();
    let enabled = subscribe(store, &receiver.url("/hook"), &[]);
    let subscription = enabled["subscribed"].as_str().unwrap().to_owned();
    let admin_address = free_address().to_string();
    let server = gateway(
        store,
        "127.0.0.1:0",
        &[
            "--retry-schedule",
            "30ms,30ms",
            "--admin-listen",
            &admin_address,
        ],
    );
    let (bodies, ids) = bodies("dead", 4);
    post_all(server.address, bodies).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let letters = loop {
        let listed = store_command(&["dead-letters", "--store", store]);
        let letters = listed["dead_letters"].as_array().unwrap().clone();
        if letters.len() == 4 || Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(letters.len(), 4, "{letters:?}");
    for letter in &letters {
        assert_eq!(letter["attempts"], 3, "{letter}");
        assert!(
            letter["reason"].as_str().unwrap().contains("500"),
            "{letter}"
        );
        assert_eq!(letter["subscription"], subscription.as_str());
    }
    assert_eq!(
        receiver.received().len(),
        12,
        "three attempts each, no more"
    );
    let metrics = scrape(&admin(admin_address.parse().unwrap(), "/metrics").await.1);
    let dead: f64 = metrics
        .iter()
        .filter(|(k, _)| k.starts_with("whatsapp_gateway_dead_letters{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(dead, 4.0);
    assert_eq!(
        metrics["whatsapp_gateway_deliveries_total{outcome=dead}"],
        4.0
    );

    receiver.answer(|_, _| Answer::Status(200));
    let one = letters[0]["webhook_id"].as_str().unwrap();
    let message = letters[0]["event"]["entry"]["changes"]["messages"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let redriven = store_command(&[
        "redrive",
        "--store",
        store,
        "--subscription",
        &subscription,
        "--event",
        one,
    ]);
    assert_eq!(redriven["redriven"], 1, "{redriven}");
    receiver.wait_delivered(std::slice::from_ref(&message), Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.delivered().len(), 1, "only the one re-driven");
    let redriven = store_command(&["redrive", "--store", store, "--subscription", &subscription]);
    assert_eq!(redriven["redriven"], 3, "{redriven}");
    let delivered = receiver.wait_delivered(&ids, Duration::from_secs(10));
    assert!(delivered.values().all(|&n| n == 1), "{delivered:?}");
    let listed = store_command(&["dead-letters", "--store", store]);
    assert_eq!(listed["dead_letters"], serde_json::json!([]));
    drop(server);
}

/// A receiver that does not answer in time and one that cannot be reached are failures
/// like a 500: retried, then dead letters saying why; each attempt logs one JSON line
/// with `--log-format json`.
#[tokio::test]
async fn timeouts_and_refused_connections_are_failures_logged_as_json() {
    let hanging = Receiver::start(|_, _| Answer::Hang);
    let closed = free_address();
    let store = fresh_store();
    let store = store.to_str().unwrap();
    subscribe(store, &hanging.url("/slow"), &[]);
    subscribe(store, &format!("http://{closed}/nobody"), &[]);
    let mut server = gateway(
        store,
        "127.0.0.1:0",
        &[
            "--retry-schedule",
            "50ms",
            "--delivery-timeout-ms",
            "300",
            "--log-format",
            "json",
        ],
    );
    let (bodies, _) = bodies("unreached", 1);
    post_all(server.address, bodies).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let letters = loop {
        let listed = store_command(&["dead-letters", "--store", store]);
        let letters = listed["dead_letters"].as_array().unwrap().clone();
        if letters.len() == 2 || Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason = |subscription: &str| {
        letters
            .iter()
            .find(|l| l["subscription"] == subscription)
            .map(|l| l["reason"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no dead letter for {subscription}: {letters:?}"))
    };
    assert_eq!(reason("1"), "timed out");
    assert!(reason("2").starts_with("cannot connect"), "{}", reason("2"));
    assert!(!reason("2").contains("nobody"), "no URL in a reason");
    assert_eq!(hanging.received().len(), 2, "two attempts, then dead");
    let mut failures = Vec::new();
    while let Ok(line) = server.logs.try_recv() {
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if entry["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("delivery attempt failed"))
        {
            failures.push(entry);
        }
    }
    assert_eq!(
        failures.len(),
        4,
        "one line per failed attempt: {failures:?}"
    );
    for failure in &failures {
        assert!(failure["webhook_id"].as_str().unwrap().starts_with("evt_"));
        assert!(failure["attempt"].as_u64().unwrap() >= 1);
        assert_eq!(failure["level"], "WARN");
        assert!(failure["timestamp"].is_string());
    }
    let summary = server.interrupt();
    assert_eq!(summary["events"], 2);
}

/// `kill -9` while deliveries are pending (the receiver is down, some events wait for a
/// retry, some in the outbox): after the restart every one is delivered, once.
#[tokio::test]
async fn kill_9_with_deliveries_pending_delivers_them_after_the_restart() {
    let receiver = Receiver::start(|_, _| Answer::Status(503));
    let store = fresh_store();
    let store = store.to_str().unwrap();
    subscribe(store, &receiver.url("/hook"), &[]);
    let listen = free_address().to_string();
    // Enough attempts that none is dead before the restart: 40 at 250 ms.
    let schedule = vec!["250ms"; 40].join(",");
    let flags = ["--retry-schedule", schedule.as_str()];
    let server = gateway(store, &listen, &flags);
    let (bodies, ids) = bodies("pending", 30);
    post_all(server.address, bodies).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !receiver.received().is_empty(),
        "attempts were made before the kill"
    );
    drop(server); // SIGKILL
    receiver.answer(|_, _| Answer::Status(200));
    let _server = gateway(store, &listen, &flags);
    let delivered = receiver.wait_delivered(&ids, Duration::from_secs(30));
    assert!(delivered.values().all(|&n| n == 1), "{delivered:?}");
}

/// An event waiting for its retry is not replaced by a later one that took its place
/// in the emptied outbox (SQLite gives a new row the emptied table's old rowid).
#[tokio::test]
async fn an_event_set_aside_keeps_its_place_when_the_outbox_empties() {
    let receiver = Receiver::failing_first();
    let store = fresh_store();
    let store = store.to_str().unwrap();
    subscribe(store, &receiver.url("/hook"), &[]);
    let server = gateway(store, "127.0.0.1:0", &["--retry-schedule", "1500ms"]);
    let (bodies, ids) = bodies("aside", 2);
    for body in &bodies {
        let tried = receiver.received().len();
        until_accepted(server.address, PATH, body).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while receiver.received().len() == tried {
            assert!(Instant::now() < deadline, "no first attempt");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let delivered = receiver.wait_delivered(&ids, Duration::from_secs(15));
    assert!(delivered.values().all(|&n| n == 1), "{delivered:?}");
}

/// A receiver that never answers delays only its own subscription: every webhook is
/// answered 200 and the other subscription gets every event meanwhile.
#[tokio::test]
async fn a_hanging_receiver_delays_only_its_own_subscription() {
    let hanging = Receiver::start(|_, _| Answer::Hang);
    let healthy = Receiver::healthy();
    let store = fresh_store();
    let store = store.to_str().unwrap();
    subscribe(store, &hanging.url("/slow"), &[]);
    subscribe(store, &healthy.url("/fast"), &[]);
    let _server = gateway(store, "127.0.0.1:0", &["--delivery-timeout-ms", "60000"]);
    let (bodies, ids) = bodies("hang", 40);
    let address = _server.address;
    let mut refused = Vec::new();
    for body in &bodies {
        refused.extend(until_accepted(address, PATH, body).await);
    }
    assert!(refused.is_empty(), "Meta was refused: {refused:?}");
    let delivered = healthy.wait_delivered(&ids, Duration::from_secs(20));
    assert!(delivered.values().all(|&n| n == 1));
    assert!(hanging.delivered().is_empty());
    assert!(
        !hanging.received().is_empty(),
        "the hanging receiver was tried"
    );
}

/// SIGTERM in the middle of a load with an HTTP sink: serve exits 0, and every webhook
/// it answered 200 is delivered (then, or after the next start).
#[tokio::test]
async fn sigterm_mid_load_keeps_every_accepted_event() {
    let receiver = Receiver::failing_first();
    let store = fresh_store();
    let store = store.to_str().unwrap();
    subscribe(store, &receiver.url("/hook"), &[]);
    let listen = free_address().to_string();
    let flags = ["--retry-schedule", "2s"];
    let mut server = gateway(store, &listen, &flags);
    let (bodies, ids) = bodies("term", 200);
    let address = server.address;
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (chunk, chunk_ids) in bodies.chunks(25).zip(ids.chunks(25)) {
        let (chunk, chunk_ids, accepted) = (chunk.to_vec(), chunk_ids.to_vec(), accepted.clone());
        tasks.push(tokio::spawn(async move {
            for (body, id) in chunk.into_iter().zip(chunk_ids) {
                let Ok(mut client) = Client::connect(address).await else {
                    return;
                };
                let signed = host_harness::fakes::signed_post(body, APP_SECRET);
                match client.webhook(PATH, signed).await {
                    Ok(answer) if answer.status == 200 => accepted.lock().unwrap().push(id),
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let summary = server.stop_with("-TERM");
    assert!(server.child.wait().unwrap().success(), "exit 0");
    for task in tasks {
        task.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(!accepted.is_empty());
    assert_eq!(summary["events"].as_u64().unwrap() as usize, accepted.len());
    let _server = gateway(store, &listen, &flags);
    receiver.wait_delivered(&accepted, Duration::from_secs(30));
}

/// Two instances on one Redis, one receiver that fails now and then, a load sent to
/// both: every event is delivered, and each delivery of an event carries its one
/// webhook-id (no instance delivers what the other holds).
#[tokio::test]
async fn two_instances_on_one_redis_deliver_every_event_once() {
    let redis = RedisServer::start();
    let url = redis.url();
    let receiver = Receiver::start(|request, before| {
        // About one first attempt in five fails.
        if before == 0 && request.id().ends_with(['0', '5', 'a']) {
            Answer::Status(502)
        } else {
            Answer::Status(200)
        }
    });
    subscribe(&url, &receiver.url("/hook"), &[]);
    let flags = ["--retry-schedule", "50ms,50ms"];
    let a = gateway(&url, "127.0.0.1:0", &flags);
    let b = gateway(&url, "127.0.0.1:0", &flags);
    let (bodies, ids) = bodies("pair", 120);
    let (first, second) = bodies.split_at(60);
    let (x, y) = tokio::join!(
        post_all(a.address, first.to_vec()),
        post_all(b.address, second.to_vec())
    );
    let _ = (x, y);
    // Some to both at once.
    let (p, q) = tokio::join!(
        post_all(a.address, bodies[..20].to_vec()),
        post_all(b.address, bodies[..20].to_vec())
    );
    let _ = (p, q);
    let delivered = receiver.wait_delivered(&ids, Duration::from_secs(30));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered_later = receiver.delivered();
    assert_eq!(delivered, delivered_later);
    let doubled: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "delivered twice: {doubled:?}");
    let mut ids_by_message: HashMap<String, HashSet<String>> = HashMap::new();
    for request in receiver.received() {
        ids_by_message
            .entry(request.message_id())
            .or_default()
            .insert(request.id());
    }
    assert!(ids_by_message.values().all(|ids| ids.len() == 1));
    drop((a, b));
}

/// The Redis stream sink: events and their keys are added in the webhook's own commit
/// (a redelivery adds nothing), and a consumer group reads each exactly once. `/readyz`
/// fails while Redis is down.
#[tokio::test]
async fn a_redis_stream_is_read_once_by_a_consumer_group() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let enabled = subscribe(
        &url,
        "redis-stream:whatsapp-events",
        &["--stream-max-len", "5000"],
    );
    assert!(enabled.get("signing_secret").is_none());
    let admin_address = free_address().to_string();
    let server = gateway(&url, "127.0.0.1:0", &["--admin-listen", &admin_address]);
    let (bodies, ids) = bodies("stream", 50);
    post_all(server.address, bodies.clone()).await;
    post_all(server.address, bodies[..10].to_vec()).await;

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("XGROUP")
        .arg(&["CREATE", "whatsapp-events", "workers", "0"])
        .query_async(&mut connection)
        .await
        .unwrap();
    let mut seen = Vec::new();
    for consumer in ["c1", "c2", "c1", "c2"] {
        let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
            .arg(&[
                "GROUP",
                "workers",
                consumer,
                "COUNT",
                "20",
                "STREAMS",
                "whatsapp-events",
                ">",
            ])
            .query_async(&mut connection)
            .await
            .unwrap_or_default();
        for key in reply.keys {
            for entry in key.ids {
                let event: String = entry.get("event").unwrap();
                let dedup_key: String = entry.get("dedup_key").unwrap();
                let webhook_id: String = entry.get("webhook_id").unwrap();
                assert!(webhook_id.starts_with("evt_"));
                let event: Value = serde_json::from_str(&event).unwrap();
                let id = event["entry"]["changes"]["messages"]["id"]
                    .as_str()
                    .unwrap();
                assert_eq!(dedup_key, id);
                seen.push(id.to_owned());
            }
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "read twice");
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(sorted, expected);

    let admin_address = admin_address.parse().unwrap();
    assert_eq!(admin(admin_address, "/readyz").await.0, 200);
    redis.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = 200;
    while status == 200 && Instant::now() < deadline {
        status = admin(admin_address, "/readyz").await.0;
    }
    assert_eq!(status, 503, "/readyz while Redis is down");
    assert_eq!(admin(admin_address, "/healthz").await.0, 200);
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin(admin_address, "/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "/readyz after Redis came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}

/// `enable` refuses what cannot be delivered safely, before storing anything, and
/// without repeating a password.
#[test]
fn enable_refuses_unsafe_sinks() {
    let store = fresh_store();
    let store = store.to_str().unwrap();
    let refused = |events: &str, extra: &[&str]| {
        let url = format!("https://gw.example.com{PATH}");
        let mut args = vec![
            "enable",
            "--store",
            store,
            "--phone-number-id",
            PHONE,
            "--webhook-url",
            &url,
            "--events",
            events,
        ];
        args.extend(extra);
        let output = run(&args);
        assert_eq!(output.status.code(), Some(1), "{events}: {output:?}");
        assert!(!String::from_utf8_lossy(&output.stderr).contains("PASSWORDx"));
        stderr_error(&output)
    };
    let error = refused("http://user:PASSWORDx@example.com/hook", &[]);
    assert_eq!(error["field"], "events", "{error}");
    assert!(
        error["reason"].as_str().unwrap().contains("loopback"),
        "{error}"
    );
    let error = refused("ftp://example.com/x", &[]);
    assert_eq!(error["field"], "events");
    let error = refused("redis-stream:events", &[]);
    assert!(
        error["reason"].as_str().unwrap().contains("Redis store"),
        "{error}"
    );
    let error = refused(
        "https://example.com/x",
        &["--events-header", "webhook-id: x"],
    );
    assert_eq!(error["field"], "events-header");
    let error = refused("https://example.com/x", &["--events-header", "no colon"]);
    assert_eq!(error["field"], "events-header");
    let error = refused("-", &["--events-header", "X-Key: PASSWORDx"]);
    assert_eq!(error["field"], "events-header");
    let listed = run(&["registrations", "--store", store]);
    assert_eq!(stdout_json(&listed)["registrations"], serde_json::json!([]));
}
