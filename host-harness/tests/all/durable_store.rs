//! The gateway's store under faults, with real processes: `serve` and `enable` as a user
//! runs them, a real `redis-server` (`redis_server`), `kill -9`, and a disk that fills.
//!
//! Every message must become exactly one event: the tests count each message ID in the
//! subscriptions' events files, which the delivery workers write exactly once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use host_harness::fakes::loopback::Client;
use host_harness::fakes::{signed_post, webhook_with_messages};
use serde_json::Value;

use crate::redis_server::RedisServer;
use crate::*;

/// The key that seals secrets in the tests' Redis stores.
pub(crate) const STORE_KEY: &str =
    "5f1c2a3b4c5d6e7f808192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";
pub(crate) const PHONE: &str = "106540352242922";
pub(crate) const PATH: &str = "/whatsapp/106540352242922";

pub(crate) fn key_env() -> [(&'static str, &'static str); 1] {
    [("WHATSAPP_STORE_KEY", STORE_KEY)]
}

/// `enable` with the built-in stub Graph API (it verifies the callback in process):
/// phone number `phone`'s webhooks at `path`, events to `events`.
pub(crate) fn enable(store: &str, phone: &str, path: &str, events: &Path, extra: &[&str]) -> Value {
    let url = format!("https://gw.example.com{path}");
    let mut args = vec![
        "enable",
        "--store",
        store,
        "--phone-number-id",
        phone,
        "--webhook-url",
        &url,
        "--events",
        events.to_str().unwrap(),
    ];
    args.extend(extra);
    let output = std::process::Command::new(BIN)
        .args(&args)
        .env("WHATSAPP_STORE_KEY", STORE_KEY)
        .env_remove("WHATSAPP_APP_SECRET")
        .env_remove("WHATSAPP_NUMBER_APP_SECRET")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_no_secret(&output);
    stdout_json(&output)
}

pub(crate) fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// The message IDs in an events file, counted.
fn counted(path: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}: a line is not an event ({e}): {line}", path.display()));
        let id = event["entry"]["changes"]["messages"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        *counts.entry(id).or_default() += 1;
    }
    counts
}

/// Waits until `path` holds `n` events, then checks that they are `expected`'s IDs,
/// each exactly once.
fn exactly_once(path: &Path, expected: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts = counted(path);
        let total: usize = counts.values().sum();
        if total >= expected.len() || Instant::now() > deadline {
            let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
            assert!(doubled.is_empty(), "doubled: {doubled:?}");
            let missing: Vec<_> = expected
                .iter()
                .filter(|id| !counts.contains_key(*id))
                .collect();
            assert!(
                missing.is_empty(),
                "{} of {} lost: {:?}",
                missing.len(),
                expected.len(),
                &missing[..missing.len().min(5)]
            );
            assert_eq!(total, expected.len());
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Posts `body` (signed) until it is answered 200, as Meta retries; the statuses of the
/// attempts that were not.
pub(crate) async fn until_accepted(address: SocketAddr, path: &str, body: &[u8]) -> Vec<u16> {
    let mut refused = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let answer = match Client::connect(address).await {
            Ok(mut client) => {
                client
                    .webhook(path, signed_post(body.to_vec(), APP_SECRET))
                    .await
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok(answer) if answer.status == 200 => return refused,
            Ok(answer) => {
                // Every 503 says when to retry: 5 s when the webhook could not be kept,
                // 1 s when serve was busy (its concurrency caps).
                if answer.status == 503 {
                    let error: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
                    let expected = match error["error"]["kind"].as_str() {
                        Some("unavailable") => "5",
                        Some("busy") => "1",
                        other => panic!("a 503 of kind {other:?}: {}", answer.text()),
                    };
                    assert_eq!(
                        answer.header("retry-after"),
                        Some(expected),
                        "{}",
                        answer.text()
                    );
                }
                refused.push(answer.status);
            }
            Err(_) => refused.push(0),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never accepted");
}

/// Posts every body until it is accepted (as Meta retries), 8 at a time.
pub(crate) async fn post_all(address: SocketAddr, bodies: Vec<Vec<u8>>) {
    let mut tasks = Vec::new();
    for chunk in bodies.chunks(bodies.len().div_ceil(8).max(1)) {
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for body in chunk {
                until_accepted(address, PATH, &body).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

pub(crate) fn bodies(tag: &str, n: usize) -> (Vec<Vec<u8>>, Vec<String>) {
    let bodies = (0..n)
        .map(|i| webhook_with_messages(1, &format!("{tag}{i}")))
        .collect();
    let ids = (0..n).map(|i| format!("wamid.{tag}{i}.0")).collect();
    (bodies, ids)
}

/// A restart of serve forgets nothing: Meta's redelivery of what was accepted before is
/// no new event, with either store.
async fn a_redelivery_after_a_restart_is_no_new_event(store: &str, env: &[(&str, &str)]) {
    let dir = scratch_dir(&format!("restart-{}", store.len()));
    let events = dir.join("events.jsonl");
    enable(store, PHONE, PATH, &events, &[]);
    let flags = ["--store", store, "--app-secret", APP_SECRET];
    let body = webhook_with_messages(3, "restart");
    let server = serve_on("127.0.0.1:0", &flags, env);
    let mut client = Client::connect(server.address).await.unwrap();
    let answer = client
        .webhook(PATH, signed_post(body.clone(), APP_SECRET))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    let ids: Vec<String> = (0..3).map(|i| format!("wamid.restart.{i}")).collect();
    exactly_once(&events, &ids);
    drop(server); // kill -9

    let mut server = serve_on("127.0.0.1:0", &flags, env);
    let mut client = Client::connect(server.address).await.unwrap();
    let answer = client
        .webhook(PATH, signed_post(body, APP_SECRET))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let summary = server.interrupt();
    assert_eq!(
        (summary["events"].as_u64(), summary["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    exactly_once(&events, &ids);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_redelivery_after_a_restart_is_no_new_event_embedded() {
    let store = fresh_store();
    a_redelivery_after_a_restart_is_no_new_event(store.to_str().unwrap(), &[]).await;
}

#[tokio::test]
async fn a_redelivery_after_a_restart_is_no_new_event_redis() {
    let redis = RedisServer::start();
    a_redelivery_after_a_restart_is_no_new_event(&redis.url(), &key_env()).await;
}

/// `kill -9` of serve in the middle of a load of signed webhooks, with clients that retry
/// every non-200 as Meta does: every message is exactly one event.
#[tokio::test]
async fn kill_9_during_a_load_loses_and_doubles_nothing() {
    let dir = scratch_dir("kill-9");
    let store = fresh_store();
    let store = store.to_str().unwrap();
    let events = dir.join("events.jsonl");
    enable(store, PHONE, PATH, &events, &[]);
    let address = free_address();
    let listen = address.to_string();
    let flags = [
        "--store",
        store,
        "--app-secret",
        APP_SECRET,
        "--no-access-log",
    ];
    let server = serve_on(&listen, &flags, &[]);
    let (bodies, ids) = bodies("kill", 240);
    let load = tokio::spawn(post_all(address, bodies));
    // Let some be accepted, then kill it mid-load and start it again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while counted(&events).len() < 40 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(server);
    let accepted_before = counted(&events).len();
    assert!(
        accepted_before < ids.len(),
        "the load ended before the kill"
    );
    let server = serve_on(&listen, &flags, &[]);
    load.await.unwrap();
    exactly_once(&events, &ids);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two instances on one Redis, the same signed webhooks sent to both at once: one event
/// per message.
#[tokio::test]
async fn the_same_webhook_at_two_instances_is_one_event() {
    let redis = RedisServer::start();
    let dir = scratch_dir("two-instances");
    let events = dir.join("events.jsonl");
    let url = redis.url();
    enable(&url, PHONE, PATH, &events, &[]);
    let flags = [
        "--store",
        url.as_str(),
        "--app-secret",
        APP_SECRET,
        "--no-access-log",
    ];
    let a = serve_on("127.0.0.1:0", &flags, &key_env());
    let b = serve_on("127.0.0.1:0", &flags, &key_env());
    let (bodies, ids) = bodies("twice", 60);
    let mut tasks = Vec::new();
    for body in bodies {
        for address in [a.address, b.address] {
            let body = body.clone();
            tasks.push(tokio::spawn(async move {
                until_accepted(address, PATH, &body).await
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    exactly_once(&events, &ids);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Redis stopped in the middle of a load: every answer while it is down is 503 with
/// Retry-After, never 200; once it is back (serve was not restarted), every message is
/// exactly one event.
#[tokio::test]
async fn redis_stopped_mid_load_gets_503_and_loses_nothing() {
    let mut redis = RedisServer::start();
    let dir = scratch_dir("redis-down");
    let events = dir.join("events.jsonl");
    let url = redis.url();
    enable(&url, PHONE, PATH, &events, &[]);
    let flags = [
        "--store",
        url.as_str(),
        "--app-secret",
        APP_SECRET,
        "--no-access-log",
    ];
    let server = serve_on("127.0.0.1:0", &flags, &key_env());
    let (bodies, ids) = bodies("down", 60);
    let address = server.address;
    // The first third while Redis is up.
    for body in &bodies[..20] {
        assert!(until_accepted(address, PATH, body).await.is_empty());
    }
    redis.kill();
    // While it is down: 503 every time, with Retry-After.
    let mut client = Client::connect(address).await.unwrap();
    for body in &bodies[20..30] {
        let answer = client
            .webhook(PATH, signed_post(body.clone(), APP_SECRET))
            .await
            .unwrap();
        assert_eq!(answer.status, 503, "{}", answer.text());
        assert_eq!(answer.header("retry-after"), Some("5"));
        assert!(
            !answer.text().contains("redis"),
            "the caller learns nothing of the host: {}",
            answer.text()
        );
    }
    // Back: Meta's retries of those, and the rest.
    redis.resume();
    for body in &bodies[20..] {
        let refused = until_accepted(address, PATH, body).await;
        assert!(refused.iter().all(|s| *s == 503 || *s == 0), "{refused:?}");
    }
    exactly_once(&events, &ids);
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two `enable`s at once against Redis both end up subscribed, and the secrets in Redis
/// are sealed: a dump shows no verify token, and without the key serve refuses to start.
#[tokio::test]
async fn two_enables_at_once_are_both_kept_and_secrets_are_sealed() {
    let redis = RedisServer::start();
    let dir = scratch_dir("enables-at-once");
    let url = redis.url();
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let (url, events) = (url.clone(), dir.join(format!("events-{i}.jsonl")));
            std::thread::spawn(move || {
                enable(
                    &url,
                    PHONE,
                    PATH,
                    &events,
                    &["--app-secret", "numberAPPsecretNeverShown"],
                )
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let listed = std::process::Command::new(BIN)
        .args(["registrations", "--store", &url])
        .env("WHATSAPP_STORE_KEY", STORE_KEY)
        .output()
        .unwrap();
    assert!(listed.status.success(), "{listed:?}");
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(!text.contains("numberAPPsecretNeverShown"), "{text}");
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let registration = &listed["registrations"][0];
    assert_eq!(
        registration["subscriptions"].as_array().unwrap().len(),
        2,
        "{listed}"
    );
    assert_eq!(registration["app_secret"], "[redacted]");
    assert_eq!(registration["path"], PATH);

    // The real token, read with the key, appears nowhere in Redis's files.
    let store = host_harness::store::RedisStore::connect(
        &url,
        host_harness::store::DEFAULT_DEDUP_TTL,
        host_harness::store::Key::from_hex(STORE_KEY).unwrap(),
    )
    .await
    .unwrap();
    use host_harness::store::Store as _;
    let kept = store.registrations().await.unwrap().remove(0);
    let token = kept.registration.verify_token.expose().clone();
    assert_eq!(
        kept.app_secret.unwrap().expose(),
        "numberAPPsecretNeverShown"
    );
    redis.command("BGREWRITEAOF");
    std::thread::sleep(Duration::from_millis(300));
    let dump = String::from_utf8_lossy(&redis.dump()).into_owned();
    assert!(dump.contains(PHONE), "the dump holds the registration");
    assert!(!dump.contains(&token) && !dump.contains("numberAPPsecretNeverShown"));

    // Without the key: serve refuses to start, and says why.
    let refused = std::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-unsigned",
            "--store",
            &url,
        ])
        .env_remove("WHATSAPP_STORE_KEY")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("WHATSAPP_STORE_KEY"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn redis_dedup_keys_expire_after_their_ttl() {
    use host_harness::store::{Key, Pending, RedisStore, Store as _};
    let redis = RedisServer::start();
    let store = RedisStore::connect(
        &redis.url(),
        Duration::from_secs(1),
        Key::from_hex(STORE_KEY).unwrap(),
    )
    .await
    .unwrap();
    let event = || Pending {
        subscription: "s".into(),
        dedup_key: "wamid.A".into(),
        line: b"{}\n".to_vec(),
        stream: None,
    };
    assert_eq!(
        store.commit(vec![event(), event()]).await.unwrap(),
        [true, false]
    );
    assert_eq!(store.commit(vec![event()]).await.unwrap(), [false]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(store.commit(vec![event()]).await.unwrap(), [true]);
}

/// Many numbers in one gateway, each at its own path with its own app secret; an unknown
/// path gets 404 and nothing is kept.
#[tokio::test]
async fn one_gateway_serves_many_numbers_by_path() {
    let dir = scratch_dir("many-numbers");
    let store = fresh_store();
    let store = store.to_str().unwrap();
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    enable(store, "1001", "/whatsapp/1001", &a, &[]);
    enable(
        store,
        "1002",
        "/whatsapp/1002",
        &b,
        &["--app-secret", "secondAPPsecret"],
    );
    let mut server = start_serve(&["--store", store, "--app-secret", APP_SECRET]);
    let mut client = Client::connect(server.address).await.unwrap();
    let one = webhook_with_messages(1, "first");
    let two = webhook_with_messages(1, "second");
    let answer = client
        .webhook("/whatsapp/1001", signed_post(one.clone(), APP_SECRET))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    // The second number's own secret, not serve's.
    let forged = client
        .webhook("/whatsapp/1002", signed_post(two.clone(), APP_SECRET))
        .await
        .unwrap();
    assert_eq!(forged.status, 401, "{}", forged.text());
    let answer = client
        .webhook("/whatsapp/1002", signed_post(two, "secondAPPsecret"))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let unknown = client
        .webhook("/whatsapp/9999", signed_post(one, APP_SECRET))
        .await
        .unwrap();
    assert_eq!(unknown.status, 404);
    exactly_once(&a, &["wamid.first.0".to_owned()]);
    exactly_once(&b, &["wamid.second.0".to_owned()]);
    let summary = server.interrupt();
    assert_eq!(
        summary["events"], 2,
        "nothing kept for the unknown path or the forgery"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A 0.2.x registration file imported into a store: the same subscriptions, verify
/// token and events as before.
#[tokio::test]
async fn an_old_registration_file_is_imported_whole() {
    let dir = scratch_dir("import");
    let events = dir.join("events.jsonl");
    let file = dir.join("registration.json");
    let old = serde_json::json!({
        "registration": {
            "phone_number_id": PHONE,
            "callback_url": format!("https://gw.example.com{PATH}"),
            "verify_token": VERIFY_TOKEN,
            "created_at": 1_700_000_000u64,
        },
        "subscriptions": [
            {"id": "4", "trigger": "message-received", "properties": {"sender_number": "+16505551234"}, "sink": events},
        ],
        "next_subscription": 5,
    });
    std::fs::write(&file, old.to_string()).unwrap();
    let store = fresh_store();
    let store = store.to_str().unwrap();
    let imported = run(&[
        "import-registration",
        file.to_str().unwrap(),
        "--store",
        store,
    ]);
    assert!(imported.status.success(), "{imported:?}");
    assert_no_secret(&imported);
    let again = run(&[
        "import-registration",
        file.to_str().unwrap(),
        "--store",
        store,
    ]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "never over an existing registration"
    );

    let server = start_serve(&["--store", store, "--app-secret", APP_SECRET]);
    let mut client = Client::connect(server.address).await.unwrap();
    // The old verify token still answers Meta's handshake at the old path.
    let handshake =
        format!("{PATH}?hub.mode=subscribe&hub.challenge=42&hub.verify_token={VERIFY_TOKEN}");
    let answer = client
        .request("GET", &handshake, &[], vec![])
        .await
        .unwrap();
    assert_eq!((answer.status, answer.text().as_str()), (200, "42"));
    // The same events the trigger gives for this batch, to the old events file.
    let batch = std::fs::read(fixture("batch_two_messages_one_status.json")).unwrap();
    let answer = client
        .webhook(PATH, signed_post(batch, APP_SECRET))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let expected = run(&[
        "trigger",
        "--payload",
        &fixture("batch_two_messages_one_status.json"),
        "--sender-number",
        "+16505551234",
    ]);
    let expected: Vec<Value> = serde_json::from_slice(&expected.stdout).unwrap();
    let ids = message_ids(&expected);
    assert_eq!(ids.len(), 1);
    exactly_once(&events, &ids);
    let written: Value = serde_json::from_str(
        std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(written, expected[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A full disk (simulated with a file-size limit on serve, SIGXFSZ ignored): 503 and a
/// clear error on stderr while it is full; once there is room again, every message is
/// exactly one event.
#[tokio::test]
async fn a_full_disk_gets_503_and_loses_nothing() {
    let dir = scratch_dir("full-disk");
    let store = fresh_store();
    let store_arg = store.to_str().unwrap();
    let events = dir.join("events.jsonl");
    enable(store_arg, PHONE, PATH, &events, &[]);
    // Files serve writes may not grow past 256 KiB, so the store's write-ahead log fills.
    let address = free_address();
    let mut child = std::process::Command::new("bash")
        .args(["-c", "trap '' XFSZ; ulimit -S -f 256; exec \"$@\"", "serve"])
        .arg(BIN)
        .args([
            "serve",
            "--listen",
            &address.to_string(),
            "--store",
            store_arg,
        ])
        .args(["--app-secret", APP_SECRET])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        use std::io::Read as _;
        let mut text = String::new();
        let _ = { stderr }.read_to_string(&mut text);
        text
    });
    let (bodies, ids) = bodies("full", 120);
    let mut full = false;
    let mut accepted = Vec::new();
    let mut client = loop {
        if let Ok(client) = Client::connect(address).await {
            break client;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for body in &bodies {
        let answer = client
            .webhook(PATH, signed_post(body.clone(), APP_SECRET))
            .await
            .unwrap();
        match answer.status {
            200 => accepted.push(()),
            503 => {
                full = true;
                break;
            }
            other => panic!("{other}: {}", answer.text()),
        }
    }
    assert!(full, "the limit was never reached");
    // Room again: the limit is lifted on the running process.
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &child.id().to_string(), "--fsize=unlimited"])
        .status()
        .unwrap();
    assert!(status.success());
    for body in &bodies {
        until_accepted(address, PATH, body).await;
    }
    exactly_once(&events, &ids);
    let _ = child.kill();
    let _ = child.wait();
    let log = log.join().unwrap();
    assert!(
        log.contains("could not be kept") || log.contains("cannot"),
        "no clear error on stderr: {log}"
    );
    assert!(!accepted.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `rediss://`: the store over TLS, the server's certificate checked against the CA in
/// WHATSAPP_REDIS_CA_CERT; without it (the Web PKI's roots), the connection is refused.
#[tokio::test]
async fn a_redis_store_over_tls_checks_the_certificate() {
    let redis = RedisServer::start_tls();
    let dir = scratch_dir("rediss");
    let events = dir.join("events.jsonl");
    let url = redis.url();
    assert!(url.starts_with("rediss://"));
    let ca = redis.ca().to_str().unwrap().to_owned();
    // Without the CA: refused, saying where, never how to get in.
    let refused = std::process::Command::new(BIN)
        .args(["registrations", "--store", &url])
        .env("WHATSAPP_STORE_KEY", STORE_KEY)
        .env_remove("WHATSAPP_REDIS_CA_CERT")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("127.0.0.1"));
    // With it: enable, serve and deliver as over plain TCP.
    let enabled = std::process::Command::new(BIN)
        .args(["enable", "--store", &url, "--phone-number-id", PHONE])
        .args(["--webhook-url", &format!("https://gw.example.com{PATH}")])
        .arg("--events")
        .arg(&events)
        .env("WHATSAPP_STORE_KEY", STORE_KEY)
        .env("WHATSAPP_REDIS_CA_CERT", &ca)
        .output()
        .unwrap();
    assert!(enabled.status.success(), "{enabled:?}");
    let flags = ["--store", url.as_str(), "--app-secret", APP_SECRET];
    let server = serve_on(
        "127.0.0.1:0",
        &flags,
        &[
            ("WHATSAPP_STORE_KEY", STORE_KEY),
            ("WHATSAPP_REDIS_CA_CERT", &ca),
        ],
    );
    let body = webhook_with_messages(2, "tls");
    assert!(until_accepted(server.address, PATH, &body).await.is_empty());
    exactly_once(
        &events,
        &["wamid.tls.0".to_owned(), "wamid.tls.1".to_owned()],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
