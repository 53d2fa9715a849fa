//! The incoming request, read into the trigger's `webhook-request`: method, headers in
//! the order received, the raw query and the raw body (the signature covers exactly
//! those bytes).

use crate::bindings::whatsapp::connector::message_received::WebhookRequest;
use wasip2::http::types::{IncomingRequest, Method};

/// Meta's notifications are far smaller; a larger body is refused before the trigger
/// is called (and so before Obelisk records it).
pub const MAX_BODY_BYTES: u64 = 3 * 1024 * 1024;

/// Why a request was refused before the trigger saw it.
pub enum Refusal {
    TooLarge,
    Unreadable,
}

impl Refusal {
    pub fn into_response(self) -> (u16, &'static str, String) {
        let (status, kind, reason) = match self {
            Refusal::TooLarge => (413, "payload-too-large", "the body is over 3 MiB"),
            Refusal::Unreadable => (400, "unreadable-body", "the body could not be read"),
        };
        (
            status,
            "application/json",
            serde_json::json!({"kind": kind, "reason": reason}).to_string(),
        )
    }
}

pub fn read(request: &IncomingRequest) -> Result<WebhookRequest, Refusal> {
    let method = match request.method() {
        Method::Get => "GET".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Head => "HEAD".to_owned(),
        Method::Put => "PUT".to_owned(),
        Method::Delete => "DELETE".to_owned(),
        Method::Connect => "CONNECT".to_owned(),
        Method::Options => "OPTIONS".to_owned(),
        Method::Trace => "TRACE".to_owned(),
        Method::Patch => "PATCH".to_owned(),
        Method::Other(other) => other,
    };
    let headers = request
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let query = request
        .path_with_query()
        .and_then(|p| p.split_once('?').map(|(_, q)| q.to_owned()))
        .unwrap_or_default();
    let body = body(request)?;
    Ok(WebhookRequest {
        method,
        headers,
        query,
        body,
    })
}

fn body(request: &IncomingRequest) -> Result<Vec<u8>, Refusal> {
    let incoming = request.consume().map_err(|()| Refusal::Unreadable)?;
    let stream = incoming.stream().map_err(|()| Refusal::Unreadable)?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > MAX_BODY_BYTES {
                    return Err(Refusal::TooLarge);
                }
            }
            Err(wasip2::io::streams::StreamError::Closed) => break,
            Err(wasip2::io::streams::StreamError::LastOperationFailed(_)) => {
                return Err(Refusal::Unreadable);
            }
        }
    }
    Ok(body)
}
