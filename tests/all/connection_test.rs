//! The connection test on the real component: it reads the business phone number with
//! the token, and says precisely why when it cannot.

use crate::{PHONE_NUMBER_ID, TOKEN, connection, connector};
use host_harness::bindings::ConnectorError;
use host_harness::fakes::loopback::GraphServer;
use host_harness::{Outbound, StubResponse, json};
use serde_json::json;

async fn test_against(
    answer: StubResponse,
) -> (
    Result<serde_json::Value, ConnectorError>,
    Vec<host_harness::RecordedRequest>,
) {
    let server = GraphServer::start(move |_| answer.clone()).await.unwrap();
    let connector = connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap());
    let result = connector.test_connection(&connection()).await.unwrap();
    (result.map(|a| json::account(&a)), server.requests())
}

fn assert_no_token(error: &ConnectorError) {
    let text = format!("{error:?} {}", json::connector_error(error));
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn a_working_token_reads_the_phone_number() {
    let account = json!({"display_phone_number": "+1 555-078-3881", "verified_name": "Jasper's Market", "quality_rating": "GREEN", "id": PHONE_NUMBER_ID});
    let (result, requests) = test_against(StubResponse::json(200, &account)).await;
    assert_eq!(
        result.unwrap(),
        json!({"display_phone_number": "+1 555-078-3881", "verified_name": "Jasper's Market", "quality_rating": "GREEN"})
    );
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].path_and_query,
        format!(
            "/v27.0/{PHONE_NUMBER_ID}?fields=display_phone_number,verified_name,quality_rating"
        )
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
}

#[tokio::test]
async fn a_bad_token_is_unauthorized_with_the_graph_code() {
    let body = json!({"error": {"message": "Invalid OAuth access token - Cannot parse access token", "type": "OAuthException", "code": 190, "fbtrace_id": "AbC"}});
    let (result, _) = test_against(StubResponse::json(401, &body)).await;
    let error = result.unwrap_err();
    match &error {
        ConnectorError::Unauthorized(e) => assert_eq!((e.status, e.code), (401, Some(190))),
        other => panic!("{other:?}"),
    }
    assert_no_token(&error);
}

#[tokio::test]
async fn a_wrong_phone_number_id_is_a_graph_error() {
    let body = json!({"error": {"message": "Unsupported get request. Object with ID '1' does not exist", "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "DeF"}});
    let (result, _) = test_against(StubResponse::json(400, &body)).await;
    match result.unwrap_err() {
        ConnectorError::Graph(e) => {
            assert_eq!(
                (e.status, e.code, e.error_subcode),
                (400, Some(100), Some(33))
            );
            assert_eq!(e.error_type.as_deref(), Some("GraphMethodException"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let connector =
        connector().with_outbound(Outbound::redirect(&crate::refused_base_url()).unwrap());
    let error = connector
        .test_connection(&connection())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, ConnectorError::Transport(_)), "{error:?}");
    assert_no_token(&error);
}

#[tokio::test]
async fn the_built_in_stub_answers_without_network() {
    // The component only ever targets graph.facebook.com; the journal shows it, and the
    // built-in stub answers in process.
    let connector = connector();
    let account = connector
        .test_connection(&connection())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.quality_rating.as_deref(), Some("GREEN"));
    let requests = connector.outbound().requests();
    assert!(
        requests
            .iter()
            .all(|r| r.url.starts_with("https://graph.facebook.com/"))
    );
}
