//! The life of a trigger end to end over real HTTP on loopback, every piece a separate
//! actor: `host-harness serve` (the webhook endpoint, reading the registration file),
//! `host-harness enable` / `disable` (the workflow host switching the trigger), and a
//! fake Meta started here (the stub Graph API on a loopback port, which verifies a new
//! callback URL by sending the `hub.challenge` GET to `serve`, as a TLS-terminating
//! proxy in front of it would pass it on).

use std::sync::Arc;

use crate::*;
use host_harness::Registration;
use host_harness::fakes::loopback::{Client, GraphServer};
use host_harness::fakes::signed_post;
use host_harness::fakes::stub_graph::{Callback, StubGraph};
use host_harness::registration::Registered;
use serde_json::{Value, json};

pub(crate) const PUBLIC_ORIGIN: &str = "https://hooks.example.test";
pub(crate) const PHONE_NUMBER_ID: &str = "106540352242922";

/// Fake Meta: the stub Graph API on loopback; callback URLs under [`PUBLIC_ORIGIN`]
/// reach `serve` at `serve_address`.
pub(crate) async fn fake_meta(
    serve_address: std::net::SocketAddr,
) -> (Arc<StubGraph>, GraphServer) {
    let callback: Callback = Arc::new(move |url: String, query: String| {
        Box::pin(async move {
            let path = url.strip_prefix(PUBLIC_ORIGIN)?.to_owned();
            let mut client = Client::connect(serve_address).await.ok()?;
            let answer = client
                .request("GET", &format!("{path}?{query}"), &[], vec![])
                .await
                .ok()?;
            Some((answer.status, answer.text()))
        })
    });
    let meta = StubGraph::new(Some(callback));
    let server = GraphServer::start_async({
        let meta = meta.clone();
        move |request| {
            let meta = meta.clone();
            async move { meta.answer(&request).await }
        }
    })
    .await
    .unwrap();
    (meta, server)
}

pub(crate) fn graph_args(meta: &GraphServer) -> Vec<String> {
    [
        "--graph-url",
        &meta.base_url(),
        "--token",
        TOKEN,
        "--phone-number-id",
        PHONE_NUMBER_ID,
    ]
    .map(str::to_owned)
    .to_vec()
}

pub(crate) fn assert_success(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn enable_verify_deliver_disable() {
    let dir = scratch_dir("lifecycle");
    let store_dir = dir.join("state");
    let store_arg = store_dir.to_str().unwrap();
    let server = start_serve(&["--store", store_arg, "--app-secret", APP_SECRET]);
    let (meta, meta_server) = fake_meta(server.address).await;
    let webhook_url = format!("{PUBLIC_ORIGIN}/whatsapp/workflow-7");

    // Enable: the registration is written, then Meta verifies the URL through serve.
    let mut args = vec![
        "enable".to_owned(),
        "--webhook-url".to_owned(),
        webhook_url.clone(),
        "--store".to_owned(),
        store_arg.to_owned(),
    ];
    args.extend(graph_args(&meta_server));
    let enabled = run_async(args).await;
    assert_success(&enabled);
    assert_no_secret(&enabled);
    let registration: Registration = stored(&store_dir).await.remove(0).registration;
    let printed = stdout_json(&enabled);
    assert_eq!(printed["enabled"]["callback_url"], webhook_url.as_str());
    assert_eq!(printed["enabled"]["verify_token"], "[redacted]");
    assert!(
        !String::from_utf8_lossy(&enabled.stdout)
            .contains(registration.verify_token.expose().as_str())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store_dir), 0o700);
        for file in std::fs::read_dir(&store_dir).unwrap() {
            let file = file.unwrap().path();
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
    let calls = meta_server.requests();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path_and_query.as_str()),
        ("POST", "/v27.0/106540352242922")
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&calls[0].body).unwrap(),
        json!({"webhook_configuration": {
            "override_callback_uri": webhook_url,
            "verify_token": registration.verify_token,
        }})
    );
    assert_eq!(
        meta.alternate_callback(PHONE_NUMBER_ID).as_deref(),
        Some(webhook_url.as_str()),
        "Meta only sets the URL after serve answered its challenge"
    );

    // The handshake succeeds only with the registration's token.
    let mut client = Client::connect(server.address).await.unwrap();
    let handshake = |token: &str| {
        format!(
            "/whatsapp/workflow-7?hub.mode=subscribe&hub.challenge=8675309&hub.verify_token={token}"
        )
    };
    let wrong = client
        .request("GET", &handshake(&"0".repeat(48)), &[], vec![])
        .await
        .unwrap();
    assert_eq!(wrong.status, 403);
    let right = client
        .request(
            "GET",
            &handshake(registration.verify_token.expose()),
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!((right.status, right.text().as_str()), (200, "8675309"));

    // A second enable for another URL, into a store serve does not read: Meta's
    // verification reaches serve, which knows no number at that path, so it fails,
    // nothing changes at Meta, and no registration is left behind.
    let other_store = dir.join("other");
    let mut args = vec![
        "enable".to_owned(),
        "--webhook-url".to_owned(),
        format!("{PUBLIC_ORIGIN}/whatsapp/other"),
        "--store".to_owned(),
        other_store.to_str().unwrap().to_owned(),
    ];
    args.extend(graph_args(&meta_server));
    let refused = run_async(args).await;
    assert_eq!(refused.status.code(), Some(1));
    let error = stderr_error(&refused);
    assert_eq!(
        (error["kind"].as_str(), error["code"].as_i64()),
        (Some("graph"), Some(2200))
    );
    assert!(stored(&other_store).await.is_empty());
    assert_eq!(
        meta.alternate_callback(PHONE_NUMBER_ID).as_deref(),
        Some(webhook_url.as_str())
    );

    // Meta delivers a signed, batched webhook: two messages, one status update.
    let body = std::fs::read(fixture("batch_two_messages_one_status.json")).unwrap();
    let delivered = client
        .webhook("/whatsapp/workflow-7", signed_post(body, APP_SECRET))
        .await
        .unwrap();
    assert_eq!(delivered.status, 200);
    let events = server.event_lines(2);
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["entry"]["changes"]["messages"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);

    // Disable: read, then remove, because the override is still this registration's.
    let mut args = vec![
        "disable".to_owned(),
        "--store".to_owned(),
        store_arg.to_owned(),
    ];
    args.extend(graph_args(&meta_server));
    let disabled = run_async(args.clone()).await;
    assert_success(&disabled);
    assert_no_secret(&disabled);
    assert!(
        !String::from_utf8_lossy(&disabled.stdout)
            .contains(registration.verify_token.expose().as_str())
    );
    assert_eq!(stdout_json(&disabled)["removal"], "removed");
    let calls = meta_server.requests();
    let tail: Vec<(&str, &str)> = calls[calls.len() - 2..]
        .iter()
        .map(|c| (c.method.as_str(), c.path_and_query.as_str()))
        .collect();
    assert_eq!(
        tail,
        [
            ("GET", "/v27.0/106540352242922?fields=webhook_configuration"),
            ("POST", "/v27.0/106540352242922"),
        ]
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&calls[calls.len() - 1].body).unwrap(),
        json!({"webhook_configuration": {"override_callback_uri": ""}})
    );
    assert_eq!(meta.alternate_callback(PHONE_NUMBER_ID), None);

    // The registration went with it (its token is of no more use): disabling again
    // finds nothing to disable, says so (exit 0, as the README promises), and does not
    // call Meta.
    assert!(stored(&store_dir).await.is_empty());
    let again = run_async(args).await;
    assert_success(&again);
    assert_eq!(stdout_json(&again)["removal"], "nothing-to-remove");
    assert_eq!(meta_server.requests().len(), calls.len());

    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What the embedded store in `dir` holds, read as another process would.
async fn stored(dir: &std::path::Path) -> Vec<Registered> {
    use host_harness::store::{EmbeddedStore, Store as _};
    let store = EmbeddedStore::open(dir, host_harness::store::DEFAULT_DEDUP_TTL).unwrap();
    store.registrations().await.unwrap()
}
