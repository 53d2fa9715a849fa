//! The built-in stub Graph API: answers like `graph.facebook.com` does, in process, so
//! the CLI and the demo work with no credentials and no network.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use whatsapp_connector::graph::GRAPH_VERSION;

use crate::outbound::{RecordedRequest, StubResponse};

static NEXT_MESSAGE: AtomicU64 = AtomicU64::new(1);

/// A Graph API error body, as Meta shapes it.
pub fn graph_error(status: u16, code: i64, kind: &str, message: &str) -> StubResponse {
    StubResponse::json(
        status,
        &json!({"error": {
            "message": message,
            "type": kind,
            "code": code,
            "fbtrace_id": "AStubTraceId",
        }}),
    )
}

/// Answers one request like the Graph API would.
pub fn answer(request: &RecordedRequest) -> Option<StubResponse> {
    let token = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if token.is_empty() {
        return Some(graph_error(
            401,
            190,
            "OAuthException",
            "Invalid OAuth access token - Cannot parse access token",
        ));
    }
    let prefix = format!("/{GRAPH_VERSION}/");
    let Some(rest) = request.path_and_query.strip_prefix(&prefix) else {
        return Some(graph_error(
            400,
            2635,
            "OAuthException",
            "Unknown API version",
        ));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let segments: Vec<&str> = path.split('/').collect();
    Some(match (request.method.as_str(), segments.as_slice()) {
        ("POST", [_phone_number_id, "messages"]) => send_message(&request.body),
        ("GET", [phone_number_id]) if query.starts_with("fields=") => StubResponse::json(
            200,
            &json!({
                "display_phone_number": "+1 555-010-0000",
                "verified_name": "Stub Business",
                "quality_rating": "GREEN",
                "id": phone_number_id,
            }),
        ),
        _ => graph_error(
            400,
            100,
            "GraphMethodException",
            "Unsupported request - method type or path not supported",
        ),
    })
}

fn send_message(body: &[u8]) -> StubResponse {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return graph_error(400, 100, "OAuthException", "(#100) Invalid JSON body");
    };
    let (Some("whatsapp"), Some(to), Some("text"), Some(_text)) = (
        body["messaging_product"].as_str(),
        body["to"].as_str(),
        body["type"].as_str(),
        body["text"]["body"].as_str(),
    ) else {
        return graph_error(
            400,
            100,
            "OAuthException",
            "(#100) The parameter messaging_product, to, type or text is missing",
        );
    };
    let n = NEXT_MESSAGE.fetch_add(1, Ordering::Relaxed);
    StubResponse::json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to.trim_start_matches('+')}],
            "messages": [{"id": format!("wamid.STUB{n:012}")}],
        }),
    )
}
