//! `host-harness demo`: the whole connector, end to end, on the built-in stub Graph API.
//! No credentials, no network: what a newcomer runs first.

use std::io::Write;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::bindings::{Outcome, Properties, SendInput, WebhookRequest, WebhookSecrets};
use crate::runtime::{COMPONENT_PATH, Connection, Connector};
use crate::{json, sign_webhook};

/// The phone number ID the stub answers for.
pub const STUB_PHONE_NUMBER_ID: &str = "100000000000001";
/// A batched webhook as Meta sends it: two messages and one status update.
pub const SAMPLE_WEBHOOK: &str =
    include_str!("../../tests/fixtures/batch_two_messages_one_status.json");
const DEMO_APP_SECRET: &str = "demo-app-secret";

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .replace('\n', "\n    ")
}

/// Runs the demo, writing what happens to `out`; returns the one-line summary.
pub async fn run(connector: &Connector, out: &mut dyn Write) -> anyhow::Result<String> {
    let connector = connector.with_outbound(crate::Outbound::stub(crate::stub_graph::answer));
    writeln!(
        out,
        "WhatsApp connector demo: the component on the built-in stub Graph API (no credentials, no network)"
    )?;
    writeln!(out, "component: {COMPONENT_PATH}\n")?;

    // 1. Action "Send Message".
    let connection = Connection {
        system_user_access_token: "stub-access-token".into(),
        phone_number_id: STUB_PHONE_NUMBER_ID.into(),
        ..Connection::default()
    };
    let input = SendInput {
        message: "Hello from the WhatsApp connector component!".into(),
        send_message_to: "+1 (555) 010-1234".into(),
    };
    writeln!(out, "1. Send Message to {:?}", input.send_message_to)?;
    let output = match connector.send(&connection, &input).await? {
        Ok(output) => output,
        Err(e) => bail!("send failed: {}", json::connector_error(&e)),
    };
    let requests = connector.outbound().requests();
    let request = requests.last().context("the component made no request")?;
    writeln!(
        out,
        "  request that went out (token redacted):\n    {}",
        pretty(&request.redacted())
    )?;
    writeln!(
        out,
        "  output:\n    {}\n",
        pretty(&json::send_output(&output))
    )?;
    let message_id = output
        .messages
        .first()
        .map(|m| m.id.clone())
        .unwrap_or_default();

    // 2. Trigger "Message received".
    let body = SAMPLE_WEBHOOK.as_bytes().to_vec();
    let signed = |body: Vec<u8>, signature: String| WebhookRequest {
        method: "POST".into(),
        headers: vec![("X-Hub-Signature-256".into(), signature)],
        query: String::new(),
        body,
    };
    let secrets = WebhookSecrets {
        app_secret: Some(DEMO_APP_SECRET.into()),
        verify_token: None,
    };
    let request = signed(body.clone(), sign_webhook(DEMO_APP_SECRET, &body));
    writeln!(
        out,
        "2. Message received: a signed, batched webhook (2 messages, 1 status update)"
    )?;
    let mut counts = Vec::new();
    for sender in [None, Some("+1 (650) 555-1234")] {
        let properties = Properties {
            sender_number: sender.map(str::to_owned),
        };
        let events = match connector
            .handle_webhook(&request, &properties, &secrets)
            .await?
        {
            Ok(Outcome::Events(events)) => events,
            other => bail!("the webhook was not turned into events: {other:?}"),
        };
        let label = sender.map_or("no sender filter".to_owned(), |s| {
            format!("sender number {s:?}")
        });
        writeln!(out, "  {label} → {} event(s):", events.len())?;
        for event in &events {
            writeln!(out, "    {}", serde_json::to_string(&json::event(event))?)?;
        }
        counts.push(events.len());
    }

    let mut tampered_body = body.clone();
    tampered_body[body.len() / 2] ^= 1;
    let tampered = signed(tampered_body, sign_webhook(DEMO_APP_SECRET, &body));
    let rejected = match connector
        .handle_webhook(
            &tampered,
            &Properties {
                sender_number: None,
            },
            &secrets,
        )
        .await?
    {
        Err(e) => json::webhook_error(&e),
        Ok(_) => bail!("a tampered webhook was accepted"),
    };
    writeln!(out, "  a body changed by one bit → refused: {rejected}\n")?;

    Ok(format!(
        "demo ok: sent {message_id}; {} events from a 3-notification webhook, {} with the sender filter; tampered webhook refused ({})",
        counts[0],
        counts[1],
        rejected["kind"].as_str().unwrap_or_default()
    ))
}
