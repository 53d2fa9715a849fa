//! The sample workflow: on a message received, mark it read (with the typing indicator)
//! and reply; a message in a group is answered in the group, without a read receipt
//! (Meta takes none there).
//!
//! It shows how an Obelisk workflow calls the connector: each imported function of
//! `whatsapp:connector` is an activity call that Obelisk records and retries, and a
//! replay after a crash gets the recorded answers instead of calling Meta again. The
//! connection carries no token: the connector reads `WHATSAPP_ACCESS_TOKEN`, which
//! Obelisk sets to a placeholder and replaces with the real token only in a request to
//! `graph.facebook.com`, so no token is recorded in the execution log.

mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit", "../wit"],
        world: "whatsapp-obelisk:hosts/auto-reply-workflow",
        generate_all,
    });
}

use bindings::exports::whatsapp_obelisk::hosts::auto_reply::Guest;
use bindings::whatsapp::connector::connection::{Connection, Error};
use bindings::whatsapp::connector::{mark_as_read, send_message};

struct Workflow;

bindings::export!(Workflow with_types_in bindings);

impl Guest for Workflow {
    fn on_message(
        phone_number_id: String,
        message_id: String,
        to: String,
        text: Option<String>,
    ) -> Result<String, String> {
        let connection = Connection {
            // Empty: the connector reads Obelisk's secret (see the module's doc).
            system_user_access_token: String::new(),
            phone_number_id,
            app_secret: None,
            verify_token: None,
        };
        // Meta takes no read receipts in groups: a group's message is only answered.
        if !to.starts_with("group:") {
            mark_as_read::mark(
                &connection,
                &mark_as_read::Input {
                    message_id: message_id.clone(),
                    typing_indicator: Some(true),
                },
            )
            .map_err(|e| describe("mark-as-read", &e))?;
        }
        let reply = match text {
            Some(text) => format!("Thanks! We got your message: \"{text}\""),
            None => "Thanks! We got your message.".to_owned(),
        };
        let sent = send_message::send(
            &connection,
            &send_message::Input {
                message: reply,
                send_message_to: to,
                reply_to: Some(message_id),
                preview_url: None,
            },
        )
        .map_err(|e| describe("send-message", &e))?;
        sent.messages
            .into_iter()
            .next()
            .map(|m| m.id)
            .ok_or_else(|| "send-message: the answer named no message".to_owned())
    }
}

/// The connector's error in words: its kind, then what it says. The connector scrubs
/// every secret from an error before it leaves it, and this connection carries none.
fn describe(action: &str, error: &Error) -> String {
    let detail = match error {
        Error::InvalidInput(f) => format!("invalid-input: {}: {}", f.field, f.reason),
        Error::Unauthorized(g) => format!("unauthorized: {} ({})", g.message, g.status),
        Error::RateLimited(r) => format!("rate-limited: {}", r.error.message),
        Error::Graph(g) => match &g.hint {
            Some(hint) => format!("graph: {} ({}); {hint}", g.message, g.status),
            None => format!("graph: {} ({})", g.message, g.status),
        },
        Error::Transport(t) => format!("transport: {}", t.message),
        Error::UnexpectedResponse(u) => format!("unexpected-response: {}", u.reason),
        Error::ExecutionFailed => "execution-failed".to_owned(),
    };
    format!("{action}: {detail}")
}
