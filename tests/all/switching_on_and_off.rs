//! Switching the trigger on and off on the real component, against a loopback Graph API
//! server started by each test: the exact calls, and what comes back when they fail.

use crate::{PHONE_NUMBER_ID, TOKEN, assert_graph_call, connection, connector};
use host_harness::bindings::{ConnectorError, Properties, Removal};
use host_harness::fakes::loopback::GraphServer;
use std::sync::{Arc, Mutex};

use host_harness::endpoint::{Endpoint, EndpointOptions};
use host_harness::fakes::stub_graph::{self, StubGraph};
use host_harness::registration::Registered;
use host_harness::store::{EmbeddedStore, Store};
use host_harness::{Connector, Outbound, RecordedRequest, Registration, StubResponse, json};
use serde_json::{Value, json};

const WEBHOOK_URL: &str = "https://hooks.example.com/whatsapp/workflow-42";

fn no_filter() -> Properties {
    Properties {
        sender_number: None,
    }
}

async fn registration() -> Registration {
    connector()
        .new_registration(&connection(), &no_filter(), WEBHOOK_URL)
        .await
        .unwrap()
        .unwrap()
}

fn redirected(server: &GraphServer) -> Connector {
    connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap())
}

fn success() -> StubResponse {
    StubResponse::json(200, &json!({"success": true}))
}

fn json_body(request: &RecordedRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn assert_no_secrets(error: &ConnectorError, registration: &Registration) {
    let text = format!("{error:?} {}", json::connector_error(error));
    assert!(!text.contains(TOKEN), "{text}");
    assert!(!text.contains(registration.verify_token.expose()), "{text}");
}

#[tokio::test]
async fn new_registrations_carry_fresh_random_tokens_and_make_no_request() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let connector = connector().with_outbound(Outbound::stub(|_| None));
    let first = connector
        .new_registration(&connection(), &no_filter(), WEBHOOK_URL)
        .await
        .unwrap()
        .unwrap();
    let second = registration().await;
    assert_eq!(first.verify_token.expose().len(), 48);
    assert!(
        first
            .verify_token
            .expose()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_ne!(first.verify_token, second.verify_token);
    assert_eq!(first.callback_url, WEBHOOK_URL);
    assert_eq!(first.phone_number_id, PHONE_NUMBER_ID);
    assert!((before..before + 60).contains(&first.created_at));
    assert!(connector.outbound().requests().is_empty());
}

#[tokio::test]
async fn bad_webhook_urls_and_properties_are_refused_before_any_request() {
    let connector = connector().with_outbound(Outbound::stub(|_| None));
    let too_long = format!("https://hooks.example.com/{}", "x".repeat(175));
    assert_eq!(too_long.len(), 201);
    for (url, sender, field) in [
        ("http://hooks.example.com/whatsapp", None, "webhook-url"),
        ("hooks.example.com/whatsapp", None, "webhook-url"),
        (too_long.as_str(), None, "webhook-url"),
        ("https://hooks.example.com/a b", None, "webhook-url"),
        (WEBHOOK_URL, Some("not a number"), "sender-number"),
    ] {
        let properties = Properties {
            sender_number: sender.map(str::to_owned),
        };
        match connector
            .new_registration(&connection(), &properties, url)
            .await
            .unwrap()
        {
            Err(ConnectorError::InvalidInput(e)) => assert_eq!(e.field, field, "{url}"),
            other => panic!("{url}: {other:?}"),
        }
    }
    assert!(connector.outbound().requests().is_empty());
}

#[tokio::test]
async fn enable_sets_the_phone_numbers_alternate_callback() {
    let registration = registration().await;
    let server = GraphServer::start(|_| success()).await.unwrap();
    redirected(&server)
        .enable(&connection(), &registration)
        .await
        .unwrap()
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_graph_call(&requests[0], "POST", &format!("/v27.0/{PHONE_NUMBER_ID}"));
    assert_eq!(
        json_body(&requests[0]),
        json!({"webhook_configuration": {
            "override_callback_uri": WEBHOOK_URL,
            "verify_token": registration.verify_token,
        }})
    );
}

#[tokio::test]
async fn a_graph_error_on_enable_is_surfaced_with_its_fields() {
    let registration = registration().await;
    let failed = json!({"error": {
        "message": "(#2200) Callback verification failed with the following errors: HTTP Status Code = 403",
        "type": "OAuthException",
        "code": 2200,
        "error_subcode": 1,
        "error_data": {"details": "Callback verification failed"},
        "fbtrace_id": "AkZ5hF3nZq"
    }});
    let server = GraphServer::start(move |_| StubResponse::json(400, &failed))
        .await
        .unwrap();
    let error = redirected(&server)
        .enable(&connection(), &registration)
        .await
        .unwrap()
        .unwrap_err();
    match &error {
        ConnectorError::Graph(e) => {
            assert_eq!(
                (e.status, e.code, e.error_subcode),
                (400, Some(2200), Some(1))
            );
            assert_eq!(e.error_type.as_deref(), Some("OAuthException"));
            assert!(
                e.message
                    .starts_with("(#2200) Callback verification failed")
            );
            assert_eq!(e.details.as_deref(), Some("Callback verification failed"));
            assert_eq!(e.fbtrace_id.as_deref(), Some("AkZ5hF3nZq"));
            assert!(!e.retryable);
        }
        other => panic!("{other:?}"),
    }
    assert_no_secrets(&error, &registration);

    let not_success = GraphServer::start(|_| StubResponse::json(200, &json!({"success": false})))
        .await
        .unwrap();
    let error = redirected(&not_success)
        .enable(&connection(), &registration)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(error, ConnectorError::UnexpectedResponse(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_registration_of_another_phone_number_is_refused_without_a_request() {
    let mut registration = registration().await;
    registration.phone_number_id = "999".into();
    let server = GraphServer::start(|_| success()).await.unwrap();
    let connector = redirected(&server);
    for result in [
        connector
            .enable(&connection(), &registration)
            .await
            .unwrap()
            .map(|()| Removal::Removed),
        connector
            .disable(&connection(), &registration)
            .await
            .unwrap(),
    ] {
        match result {
            Err(ConnectorError::InvalidInput(e)) => assert_eq!(e.field, "registration"),
            other => panic!("{other:?}"),
        }
    }
    assert!(server.requests().is_empty());
}

/// Disable against a Graph API whose phone number's alternate callback is `current`.
async fn disable_with(current: Option<&str>) -> (Removal, Vec<RecordedRequest>) {
    let registration = registration().await;
    let mut configuration = json!({"application": "https://app.example.com/webhook"});
    if let Some(url) = current {
        configuration["phone_number"] = url.into();
    }
    let server = GraphServer::start(move |request| match request.method.as_str() {
        "GET" => StubResponse::json(
            200,
            &json!({"webhook_configuration": configuration, "id": PHONE_NUMBER_ID}),
        ),
        _ => success(),
    })
    .await
    .unwrap();
    let removal = redirected(&server)
        .disable(&connection(), &registration)
        .await
        .unwrap()
        .unwrap();
    (removal, server.requests())
}

#[tokio::test]
async fn disable_removes_its_own_alternate_callback() {
    let (removal, requests) = disable_with(Some(WEBHOOK_URL)).await;
    assert_eq!(removal, Removal::Removed);
    assert_eq!(requests.len(), 2);
    assert_graph_call(
        &requests[0],
        "GET",
        &format!("/v27.0/{PHONE_NUMBER_ID}?fields=webhook_configuration"),
    );
    assert_graph_call(&requests[1], "POST", &format!("/v27.0/{PHONE_NUMBER_ID}"));
    assert_eq!(
        json_body(&requests[1]),
        json!({"webhook_configuration": {"override_callback_uri": ""}})
    );
}

#[tokio::test]
async fn disable_leaves_alone_what_is_not_its_own() {
    let (removal, requests) = disable_with(None).await;
    assert_eq!(removal, Removal::NothingToRemove);
    assert_eq!(requests.len(), 1, "only the read: {requests:?}");

    let (removal, requests) = disable_with(Some("https://other.example.com/hook")).await;
    assert_eq!(removal, Removal::Superseded);
    assert_eq!(requests.len(), 1, "only the read: {requests:?}");
    assert_eq!(requests[0].method, "GET");
}

#[tokio::test]
async fn disable_errors_are_structured_and_hold_no_secret() {
    let registration = registration().await;
    let expired = json!({"error": {"message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "Ax1"}});
    let server = GraphServer::start(move |_| StubResponse::json(401, &expired))
        .await
        .unwrap();
    let error = redirected(&server)
        .disable(&connection(), &registration)
        .await
        .unwrap()
        .unwrap_err();
    match &error {
        ConnectorError::Unauthorized(e) => {
            assert_eq!((e.code, e.error_subcode), (Some(190), Some(463)))
        }
        other => panic!("{other:?}"),
    }
    assert_no_secrets(&error, &registration);
    assert_eq!(
        server.requests().len(),
        1,
        "nothing is removed after a failed read"
    );
}

#[tokio::test]
async fn the_stub_graph_api_verifies_the_callback_like_meta() {
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::in_memory(host_harness::store::DEFAULT_DEDUP_TTL).unwrap());
    let keep = |registration: &Registration| {
        let kept = Registered::new(registration.clone());
        let store = store.clone();
        async move {
            let phone = kept.registration.phone_number_id.clone();
            store
                .update(&phone, &|_| Ok(Some(kept.clone())))
                .await
                .unwrap();
        }
    };
    let options = EndpointOptions {
        store: Some(store.clone()),
        ..EndpointOptions::new(no_filter(), None, None)
    };
    let sink = Arc::new(Mutex::new(std::io::sink()));
    let endpoint = Endpoint::new(connector(), options, sink, Arc::default());
    let stub = StubGraph::new(Some(stub_graph::in_process(Arc::new(endpoint))));
    let connector = connector().with_outbound(stub.outbound());
    let registration = registration().await;
    let verification_failed = |result: Result<(), ConnectorError>| match result {
        Err(ConnectorError::Graph(e)) => e.code == Some(2200),
        _ => false,
    };

    // The host has not stored it yet: the handshake is refused, nothing is enabled.
    let result = connector
        .enable(&connection(), &registration)
        .await
        .unwrap();
    assert!(verification_failed(result));
    // Another registration's token: refused too.
    let other = Registration {
        verify_token: "0".repeat(48).into(),
        ..registration.clone()
    };
    keep(&other).await;
    let result = connector
        .enable(&connection(), &registration)
        .await
        .unwrap();
    assert!(verification_failed(result));
    assert_eq!(stub.alternate_callback(PHONE_NUMBER_ID), None);

    keep(&registration).await;
    connector
        .enable(&connection(), &registration)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stub.alternate_callback(PHONE_NUMBER_ID).as_deref(),
        Some(WEBHOOK_URL)
    );

    let connection = connection();
    let disable = || connector.disable(&connection, &registration);
    assert_eq!(disable().await.unwrap().unwrap(), Removal::Removed);
    assert_eq!(stub.alternate_callback(PHONE_NUMBER_ID), None);
    assert_eq!(disable().await.unwrap().unwrap(), Removal::NothingToRemove);
}
