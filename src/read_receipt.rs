//! Action "Mark as Read": marks an incoming message (and those before it) as read, with
//! an optional typing indicator that shows "typing…" for up to 25 seconds or until the
//! reply. `{"messaging_product":"whatsapp","status":"read","message_id",
//! "typing_indicator"?:{"type":"text"}}`, answered `{"success": true}`.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;

use crate::graph::{Credentials, Error, GraphRequest};
use crate::outgoing;

/// The action's properties.
#[derive(Debug, Clone, Copy)]
pub struct ReadInput<'a> {
    pub message_id: &'a str,
    pub typing_indicator: bool,
}

#[derive(Serialize)]
struct ReadReceipt<'a> {
    messaging_product: &'static str,
    status: &'static str,
    message_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    typing_indicator: Option<TypingIndicator>,
}

#[derive(Serialize)]
struct TypingIndicator {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// Validates every input and builds the request. Nothing is sent when any is invalid.
pub fn prepare(credentials: Credentials<'_>, input: ReadInput<'_>) -> Result<GraphRequest, Error> {
    credentials.validate()?;
    outgoing::message_id("message-id", input.message_id)?;
    Ok(GraphRequest::post_json(
        &format!("{}/messages", credentials.phone_number_id),
        &ReadReceipt {
            messaging_product: "whatsapp",
            status: "read",
            message_id: input.message_id,
            typing_indicator: input
                .typing_indicator
                .then_some(TypingIndicator { kind: "text" }),
        },
    ))
}
