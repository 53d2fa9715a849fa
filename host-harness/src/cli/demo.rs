//! `host-harness demo`: the whole connector, end to end, on the built-in stub Graph API:
//! the life of a trigger from switching it on to switching it off.
//! No credentials, no network: what a newcomer runs first.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::Value;

use host_harness::bindings::{
    self, ConnectorError, FlowInput, InteractiveInput, MediaInput, Outcome, Properties,
    ReactionInput, ReadInput, SendInput, SendOutput, StatusOutcome, StatusProperties,
    TemplateInput, WebhookSecrets, flow, interactive, media, removal_name, template,
};
use host_harness::fakes::{signed_post, webhook_post};
use host_harness::registration::Registered;
use host_harness::store::{EmbeddedStore, Store};
use host_harness::{COMPONENT_PATH, Connection, Connector, json, sign_webhook};

/// The phone number ID the stub answers for.
pub const STUB_PHONE_NUMBER_ID: &str = "100000000000001";
/// A batched webhook as Meta sends it since April 2026: a message from a customer with a
/// phone number, one from a username user who shares none (only a business-scoped user
/// ID), and one status update.
pub const SAMPLE_WEBHOOK: &str = include_str!("demo_webhook.json");
/// A status webhook as Meta sends it when a message could not be delivered: 131047, more
/// than 24 hours since the customer last wrote.
const FAILED_STATUS: &str = include_str!("demo_failed_status.json");
/// A customer's photo, as Meta delivers it: the message carries the media ID only.
const PHOTO_WEBHOOK: &str = include_str!("demo_image.json");
/// The customer's answers to the demo's Flow, as Meta delivers them (an `nfm_reply`);
/// `FLOW_MESSAGE_ID` is replaced by the ID of the Flow message the demo sent.
const FLOW_REPLY_WEBHOOK: &str = include_str!("demo_flow_reply.json");
/// The username user's business-scoped user ID in [`SAMPLE_WEBHOOK`].
const USERNAME_USER: &str = "US.13491208655302741918";
const DEMO_APP_SECRET: &str = "demo-app-secret";

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_default()
        .replace('\n', "\n    ")
}

/// The webhook URL the demo's workflow host hands the trigger.
pub const DEMO_WEBHOOK_URL: &str = "https://hooks.example.com/whatsapp/demo-workflow";

/// Runs the demo, writing what happens to `out`; returns the one-line summary.
///
/// The whole life of a trigger, as a workflow host drives it: test the connection,
/// enable (the stub Graph API verifies the callback URL with a `hub.challenge` GET,
/// which this host answers in process with the stored registration), deliver a signed
/// webhook, reply to its sender, disable.
pub async fn run(connector: &Connector, out: &mut dyn Write) -> anyhow::Result<String> {
    // The host's webhook endpoint for this trigger: the stub Graph API's verification GET
    // reaches it in process, and finds the registration the host stored.
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::in_memory(
        host_harness::store::DEFAULT_DEDUP_TTL,
    )?);
    let stub = super::gateway::verifying_stub(connector, store.clone());
    let connector = connector.with_outbound(stub.outbound());
    writeln!(
        out,
        "WhatsApp connector demo: the component on the built-in stub Graph API (no credentials, no network)"
    )?;
    writeln!(out, "component: {COMPONENT_PATH}\n")?;
    let connection = Connection {
        system_user_access_token: "stub-access-token".into(),
        phone_number_id: STUB_PHONE_NUMBER_ID.into(),
        ..Connection::default()
    };
    let no_filter = Properties {
        sender_number: None,
    };

    // 1. Connection test.
    let account = connector
        .test_connection(&connection)
        .await?
        .map_err(|e| anyhow::anyhow!("connection test failed: {}", json::connector_error(&e)))?;
    writeln!(
        out,
        "1. Connection test → {}\n",
        serde_json::to_string(&json::account(&account))?
    )?;

    // 2. Enable: registration first (the host stores it), then the alternate callback.
    let registration = connector
        .new_registration(&connection, &no_filter, DEMO_WEBHOOK_URL)
        .await?
        .map_err(|e| anyhow::anyhow!("new-registration failed: {}", json::connector_error(&e)))?;
    let phone = registration.phone_number_id.clone();
    let kept = Registered::new(registration.clone());
    store.update(&phone, &|_| Ok(Some(kept.clone()))).await?;
    connector
        .enable(&connection, &registration)
        .await?
        .map_err(|e| anyhow::anyhow!("enable failed: {}", json::connector_error(&e)))?;
    let requests = connector.outbound().requests();
    let request = requests.last().context("enable made no request")?;
    writeln!(
        out,
        "2. Enable the trigger for {DEMO_WEBHOOK_URL}\n  registration (stored by the host; token redacted):\n    {}",
        pretty(&registration.redacted())
    )?;
    writeln!(
        out,
        "  request that went out; the stub verified the URL with a hub.challenge GET first:\n    {}",
        pretty(&request.redacted())
    )?;
    let enabled = stub
        .alternate_callback(STUB_PHONE_NUMBER_ID)
        .context("the stub has no alternate callback after enable")?;
    writeln!(
        out,
        "  the phone number's alternate callback is now {enabled}\n"
    )?;

    // 3. Trigger "Message received".
    let body = SAMPLE_WEBHOOK.as_bytes().to_vec();
    let secrets = WebhookSecrets {
        app_secret: Some(DEMO_APP_SECRET.into()),
        verify_token: Some(registration.verify_token.expose().clone()),
    };
    let request = signed_post(body.clone(), DEMO_APP_SECRET);
    writeln!(
        out,
        "3. Message received: a signed, batched webhook (2 messages, one of them from a username user without a phone number; 1 status update)"
    )?;
    let mut counts = Vec::new();
    let mut senders = Vec::new();
    for sender in [None, Some("+1 (650) 555-1234"), Some(USERNAME_USER)] {
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
        counts.push(events.len());
        for event in events {
            let event = bindings::event(event)?;
            writeln!(out, "    {}", serde_json::to_string(&event)?)?;
            // Whom to answer: the phone number when there is one, else the BSUID.
            let message = &event.entry.changes.messages;
            let address = match (&message.from, &message.from_user_id) {
                (Some(phone), _) => Some(format!("+{phone}")),
                (None, user_id) => user_id.clone(),
            };
            if let (None, Some(address), Some(id)) = (sender, address, &message.id) {
                senders.push((address, id.clone()));
            }
        }
    }

    let mut tampered_body = body.clone();
    tampered_body[body.len() / 2] ^= 1;
    let signature = sign_webhook(DEMO_APP_SECRET, &body);
    let tampered = webhook_post(tampered_body, &[("X-Hub-Signature-256", &signature)]);
    let rejected = match connector
        .handle_webhook(&tampered, &no_filter, &secrets)
        .await?
    {
        Err(e) => json::webhook_error(&e),
        Ok(_) => bail!("a tampered webhook was accepted"),
    };
    writeln!(out, "  a body changed by one bit → refused: {rejected}\n")?;

    // 3b. Trigger "Message status updated": the same webhook's status, and a failed one.
    writeln!(out, "3b. Message status updated")?;
    let all_statuses = StatusProperties {
        statuses: vec![],
        recipient: None,
    };
    let mut status_events = Vec::new();
    for (label, request) in [
        ("the same webhook", request.clone()),
        (
            "a failed send",
            signed_post(FAILED_STATUS.as_bytes().to_vec(), DEMO_APP_SECRET),
        ),
    ] {
        let events = match connector
            .handle_status_webhook(&request, &all_statuses, &secrets)
            .await?
        {
            Ok(StatusOutcome::Events(events)) => events,
            other => bail!("the statuses were not turned into events: {other:?}"),
        };
        writeln!(out, "  {label} → {} status event(s):", events.len())?;
        for event in events {
            let event = bindings::status_event(event)?;
            writeln!(out, "    {}", serde_json::to_string(&event)?)?;
            status_events.push(event);
        }
    }
    let failed = status_events
        .iter()
        .flat_map(|e| &e.entry.changes.statuses.errors)
        .next()
        .context("the failed send has no error")?;
    let failed_code = failed.code.unwrap_or_default();
    writeln!(
        out,
        "  the failure's hint: {}\n",
        failed.hint.as_deref().unwrap_or("none")
    )?;

    // 3c. A customer sends a photo: the event carries its media ID; Download Media
    // fetches it, streamed to a temporary file and checked against Meta's SHA-256.
    let photo_request = signed_post(PHOTO_WEBHOOK.as_bytes().to_vec(), DEMO_APP_SECRET);
    let photo_event = match connector
        .handle_webhook(&photo_request, &no_filter, &secrets)
        .await?
    {
        Ok(Outcome::Events(events)) => events.into_iter().next(),
        other => bail!("the photo webhook was not turned into events: {other:?}"),
    }
    .context("the photo webhook gave no event")?;
    let photo_event = bindings::event(photo_event)?;
    let content: Value = photo_event
        .entry
        .changes
        .messages
        .content
        .as_ref()
        .map(|c| serde_json::from_str(c.get()))
        .transpose()?
        .context("the photo message has no image object")?;
    let media_id = content["id"]
        .as_str()
        .context("the image has no media ID")?
        .to_owned();
    let file = tempfile::NamedTempFile::new()?;
    let destination = tokio::fs::File::from_std(file.reopen()?);
    let download = bindings::DownloadInput {
        media_id: media_id.clone(),
    };
    let photo = connector
        .download_media(&connection, &download, destination)
        .await?
        .map_err(|e| anyhow::anyhow!("download failed: {}", json::transfer_error(&e)))?;
    let on_disk = std::fs::metadata(file.path())?.len();
    writeln!(
        out,
        "3c. A customer sends a photo (image.id {media_id}) → Download Media: {} ({on_disk} bytes written to a temporary file, removed after the demo)\n",
        json::download_output(&photo)
    )?;

    // 4. The actions: answer both senders, by phone number and by BSUID.
    let [(phone, first_id), (user_id, _)] = &senders[..] else {
        bail!("expected two senders to answer, got {senders:?}");
    };
    let show = |out: &mut dyn Write, title: &str| -> anyhow::Result<()> {
        let requests = connector.outbound().requests();
        let request = requests.last().context("the component made no request")?;
        writeln!(
            out,
            "{title}\n  request that went out (token redacted):\n    {}",
            pretty(&request.redacted())
        )?;
        Ok(())
    };
    let sent = |output: Result<SendOutput, ConnectorError>| -> anyhow::Result<String> {
        let output =
            output.map_err(|e| anyhow::anyhow!("failed: {}", json::connector_error(&e)))?;
        output
            .messages
            .first()
            .map(|m| m.id.clone())
            .context("the answer has no message ID")
    };
    let read = ReadInput {
        message_id: first_id.clone(),
        typing_indicator: Some(true),
    };
    connector
        .mark_as_read(&connection, &read)
        .await?
        .map_err(|e| anyhow::anyhow!("mark as read failed: {}", json::connector_error(&e)))?;
    show(
        out,
        "4.1 Mark as Read the first message, with the typing indicator → success",
    )?;
    let mut replies = Vec::new();
    for to in [phone, user_id] {
        let input = SendInput {
            message: "Thanks, we got your message!".into(),
            send_message_to: to.clone(),
            reply_to: Some(first_id.clone()).filter(|_| to == phone),
            preview_url: None,
        };
        replies.push(sent(connector.send(&connection, &input).await?)?);
        show(out, &format!("4.2 Send Message to {to:?}"))?;
    }
    let template = TemplateInput {
        send_message_to: phone.clone(),
        template_name: "order_update".into(),
        language_code: "en_US".into(),
        body_parameters: ["Sheena", "#1234"]
            .map(|text| template::BodyParameter {
                name: None,
                text: text.into(),
            })
            .to_vec(),
        header: None,
        buttons: vec![template::ButtonParameter::QuickReply(
            template::ButtonValue {
                index: 0,
                value: "STOP_UPDATES".into(),
            },
        )],
        marketing: None,
    };
    let template_id = sent(connector.send_template(&connection, &template).await?)?;
    show(
        out,
        "4.3 Send Template order_update (for outside the 24-hour window)",
    )?;
    let image = MediaInput {
        send_message_to: phone.clone(),
        kind: media::MediaKind::Image,
        media_id: None,
        link: Some("https://example.com/catalogue/blue-m.jpg".into()),
        caption: Some("The blue one, size M".into()),
        filename: None,
        reply_to: None,
    };
    let image_id = sent(connector.send_media(&connection, &image).await?)?;
    show(out, "4.4 Send Media: an image by link")?;
    let buttons = InteractiveInput {
        send_message_to: user_id.clone(),
        form: interactive::Form::ReplyButtons(vec![
            interactive::ReplyButton {
                id: "ship-ca".into(),
                title: "Ship to Canada".into(),
            },
            interactive::ReplyButton {
                id: "pickup".into(),
                title: "Pick up".into(),
            },
        ]),
        header_text: None,
        body: "How would you like to get your order?".into(),
        footer: None,
        reply_to: None,
    };
    let buttons_id = sent(connector.send_interactive(&connection, &buttons).await?)?;
    show(
        out,
        "4.5 Send Interactive: reply buttons, to the username user by BSUID",
    )?;
    let reaction = ReactionInput {
        send_message_to: phone.clone(),
        message_id: first_id.clone(),
        emoji: "👍".into(),
    };
    let reaction_id = sent(connector.send_reaction(&connection, &reaction).await?)?;
    show(out, "4.6 Send Reaction 👍 to the first message")?;
    let booking = FlowInput {
        send_message_to: phone.clone(),
        flow: flow::FlowRef::Name("appointment_booking".into()),
        flow_cta: "Book a fitting".into(),
        flow_token: Some("fitting-1234".into()),
        mode: None,
        flow_action: Some(flow::FlowAction::Navigate(flow::Navigate {
            screen: "CHOOSE_DATE".into(),
            data: Some(r##"{"order": "#1234"}"##.into()),
        })),
        header_text: None,
        body: "Book a fitting for your order".into(),
        footer: None,
        reply_to: None,
    };
    let flow_id = sent(connector.send_flow(&connection, &booking).await?)?;
    show(
        out,
        "4.7 Send Flow: a booking form, opened on its first screen",
    )?;
    // The customer fills it in: Meta delivers the answers as an nfm_reply to the Flow.
    let answers = FLOW_REPLY_WEBHOOK.replace("FLOW_MESSAGE_ID", &flow_id);
    let request = signed_post(answers.into_bytes(), DEMO_APP_SECRET);
    let reply = match connector
        .handle_webhook(&request, &no_filter, &secrets)
        .await?
    {
        Ok(Outcome::Events(mut events)) if events.len() == 1 => bindings::event(events.remove(0))?,
        other => bail!("the Flow's answers were not one event: {other:?}"),
    };
    let flow_reply = reply
        .entry
        .changes
        .messages
        .flow_reply
        .clone()
        .context("the answers carry no flow_reply")?;
    let response = flow_reply
        .response
        .context("the answers could not be read")?;
    writeln!(
        out,
        "4.8 Message received: the customer's answers to that Flow (an nfm_reply), as an object:\n    flow_reply {}",
        serde_json::to_string(&serde_json::json!({
            "response": serde_json::from_str::<Value>(response.get())?,
            "flow_token": flow_reply.flow_token,
        }))?
    )?;
    writeln!(out)?;
    let actions = [template_id, image_id, buttons_id, reaction_id, flow_id];

    // 5. Disable, twice: the second time there is nothing left to remove.
    let mut removals = Vec::new();
    for _ in 0..2 {
        let removal = connector
            .disable(&connection, &registration)
            .await?
            .map_err(|e| anyhow::anyhow!("disable failed: {}", json::connector_error(&e)))?;
        removals.push(removal_name(removal));
    }
    if stub.alternate_callback(STUB_PHONE_NUMBER_ID).is_some() {
        bail!("the alternate callback is still set after disable");
    }
    writeln!(
        out,
        "5. Disable the trigger → {}; disable again → {}; the phone number has no alternate callback any more\n",
        removals[0], removals[1]
    )?;

    Ok(format!(
        "demo ok: connection tested; enabled {DEMO_WEBHOOK_URL} (callback verified); {} events from a 3-notification webhook, {} with the sender filter, {} with the user-ID filter; tampered webhook refused ({}); {} status events, a failed one with its hint ({}); downloaded a customer's photo ({} bytes, SHA-256 checked); marked read with typing; replied {} (phone number) and {} (user ID); sent a template, an image, reply buttons, a reaction and a Flow ({} messages), and read the Flow's answers ({}); disabled ({}), again ({})",
        counts[0],
        counts[1],
        counts[2],
        rejected["kind"].as_str().unwrap_or_default(),
        status_events.len(),
        failed_code,
        photo.file_size,
        replies[0],
        replies[1],
        actions.len(),
        flow_reply.flow_token.as_deref().unwrap_or_default(),
        removals[0],
        removals[1],
    ))
}
