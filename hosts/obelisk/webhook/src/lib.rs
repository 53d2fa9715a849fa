//! The Obelisk webhook endpoint for the WhatsApp connector.
//!
//! Meta calls it at the callback URL. It hands the request, exactly as received, to the
//! connector's trigger `message-received.handle-request`, which Obelisk runs as an
//! activity (the signature is checked there, inside the connector), and answers:
//!
//! - a handshake with the connector's response;
//! - a notification with 200 once every event's workflow execution is recorded, each
//!   started at most once: its execution ID is derived from the event's dedup key, so a
//!   redelivery finds its execution and starts nothing new;
//! - a refusal with the status the connector's error suggests.
//!
//! Secrets never pass through here: the trigger is given empty ones and reads
//! `WHATSAPP_APP_SECRET` and `WHATSAPP_VERIFY_TOKEN` from the activity's environment,
//! so Obelisk records no secret among the call's parameters.

mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit", "../wit"],
        world: "whatsapp-obelisk:hosts/webhook-endpoint",
        generate_all,
    });
}

mod execution_id;
mod request;

use bindings::obelisk::types::execution::Function;
use bindings::obelisk::types::time::ScheduleAt;
use bindings::obelisk::webhook::webhook_support::{self as obelisk, GetStatusError};
use bindings::whatsapp::connector::message_received::{
    self as trigger, Outcome, Properties, WebhookError, WebhookSecrets,
};
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

/// The workflow function each event starts, unless `WHATSAPP_WORKFLOW_INTERFACE` and
/// `WHATSAPP_WORKFLOW_FUNCTION` name another with the same parameters.
const WORKFLOW_INTERFACE: &str = "whatsapp-obelisk:hosts/auto-reply@0.1.0";
const WORKFLOW_FUNCTION: &str = "on-message";

struct Endpoint;

wasip2::http::proxy::export!(Endpoint);

impl wasip2::exports::http::incoming_handler::Guest for Endpoint {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (status, content_type, body) = match request::read(&request) {
            Ok(request) => answer(&request),
            Err(refusal) => refusal.into_response(),
        };
        respond(out, status, content_type, body.as_bytes());
    }
}

/// The whole decision: the trigger's outcome, then the executions.
fn answer(request: &trigger::WebhookRequest) -> (u16, &'static str, String) {
    let properties = Properties {
        sender_number: env("WHATSAPP_SENDER_NUMBER"),
    };
    // Present and empty: the connector reads them from its own environment.
    let secrets = WebhookSecrets {
        app_secret: Some(String::new()),
        verify_token: Some(String::new()),
    };
    match trigger::handle_request(request, &properties, &secrets) {
        Ok(Outcome::Respond(response)) => {
            let content_type = if response.content_type == "text/plain" {
                "text/plain"
            } else {
                "application/json"
            };
            (response.status, content_type, response.body)
        }
        Ok(Outcome::Events(events)) => match start_each(&events) {
            Ok(started) => (
                200,
                "application/json",
                serde_json::json!({"events": events.len(), "started": started}).to_string(),
            ),
            Err(reason) => (
                500,
                "application/json",
                error_json("workflow-not-started", &reason),
            ),
        },
        Err(error) => refusal(&error),
    }
}

/// Starts one workflow execution per event, unless the event's execution exists (a
/// redelivery). Returns how many were started.
fn start_each(events: &[trigger::Event]) -> Result<usize, String> {
    let function = Function {
        interface_name: env("WHATSAPP_WORKFLOW_INTERFACE")
            .unwrap_or_else(|| WORKFLOW_INTERFACE.into()),
        function_name: env("WHATSAPP_WORKFLOW_FUNCTION")
            .unwrap_or_else(|| WORKFLOW_FUNCTION.into()),
    };
    let mut started = 0;
    for event in events {
        let id = obelisk::ExecutionId {
            id: execution_id::for_event(&event.dedup_key, &event.entry.changes.messages.timestamp),
        };
        match obelisk::get_status(&id, None) {
            Ok(_) => continue,
            Err(GetStatusError::NotFound) => {}
            Err(GetStatusError::ExecutionIdParsingError(reason)) => return Err(reason),
        }
        obelisk::schedule_json(&id, ScheduleAt::Now, &function, &params(event), None, None)
            .map_err(|error| format!("{error:?}"))?;
        started += 1;
    }
    Ok(started)
}

/// The workflow's parameters as a JSON array, in the order of `auto-reply.on-message`.
fn params(event: &trigger::Event) -> String {
    let message = &event.entry.changes.messages;
    let phone_number_id = event
        .entry
        .changes
        .value
        .metadata
        .as_ref()
        .and_then(|m| m.phone_number_id.clone())
        .unwrap_or_default();
    // A message in a group is answered in the group; any other, to its sender.
    let to = match (&message.group_id, &message.from, &message.from_user_id) {
        (Some(group), _, _) => format!("group:{group}"),
        (None, Some(from), _) => format!("+{from}"),
        (None, None, Some(user_id)) => user_id.clone(),
        (None, None, None) => String::new(),
    };
    serde_json::json!([
        phone_number_id,
        message.id.clone().unwrap_or_default(),
        to,
        message.text.as_ref().map(|t| t.body.clone()),
    ])
    .to_string()
}

/// The status each refusal suggests (the WIT says which), and its kind and reason.
fn refusal(error: &WebhookError) -> (u16, &'static str, String) {
    let (status, kind, reason) = match error {
        WebhookError::InvalidSignature(r) => (401, "invalid-signature", r.clone()),
        WebhookError::InvalidPayload(r) => (400, "invalid-payload", r.clone()),
        WebhookError::VerificationFailed(r) => (403, "verification-failed", r.clone()),
        WebhookError::InvalidHandshake(r) => (400, "invalid-handshake", r.clone()),
        WebhookError::MethodNotAllowed(r) => (405, "method-not-allowed", r.clone()),
        WebhookError::InvalidProperty(f) => (
            500,
            "invalid-property",
            format!("{}: {}", f.field, f.reason),
        ),
        WebhookError::ExecutionFailed => (500, "execution-failed", String::new()),
    };
    (status, "application/json", error_json(kind, &reason))
}

fn error_json(kind: &str, reason: &str) -> String {
    serde_json::json!({"kind": kind, "reason": reason}).to_string()
}

fn env(name: &str) -> Option<String> {
    wasip2::cli::environment::get_environment()
        .into_iter()
        .find_map(|(key, value)| (key == name && !value.is_empty()).then_some(value))
}

fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers = Fields::new();
    // Both values are constants or ASCII digits: they are valid header values.
    let _ = headers.set("content-type", &[content_type.as_bytes().to_vec()]);
    let _ = headers.set("content-length", &[body.len().to_string().into_bytes()]);
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let outgoing = response
        .body()
        .expect("a new response's body is taken once");
    ResponseOutparam::set(out, Ok(response));
    let stream = outgoing.write().expect("a new body's stream is taken once");
    for chunk in body.chunks(4096) {
        if stream.blocking_write_and_flush(chunk).is_err() {
            break;
        }
    }
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
}
