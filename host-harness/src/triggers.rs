//! The triggers as a host runs them: a subscription's [`TriggerSpec`] in the component's
//! terms, one webhook request through the component, and the events as the component
//! crate's domain types (whose `Serialize` is each trigger's documented output).
//!
//! `serve`'s endpoint and `host-harness trigger` both go through here, so a webhook gives
//! the same events over the network as on the command line.

use whatsapp_connector::{echoes, group_updates, preferences, statuses, webhook};

use crate::registration::TriggerSpec;
use crate::runtime::bindings::{
    self, EchoOutcome, EchoProperties, GroupOutcome, GroupProperties, InvalidEventJson, Outcome,
    PreferenceOutcome, PreferenceProperties, Properties, StatusOutcome, StatusProperties,
    WebhookError, WebhookRequest, WebhookResponse, WebhookSecrets,
};
use crate::runtime::{Call, Connector, json};

/// A subscription's trigger, with its properties as the component takes them.
#[derive(Debug, Clone)]
pub enum Trigger {
    Messages(Properties),
    Statuses(StatusProperties),
    Echoes(EchoProperties),
    Preferences(PreferenceProperties),
    Groups(GroupProperties),
}

/// What a trigger made of a request: the handshake's response, or events.
pub enum Handled {
    Respond(WebhookResponse),
    Events(Events),
}

/// One request's events, as the component's domain types.
pub enum Events {
    Messages(Vec<webhook::Event>),
    Statuses(Vec<statuses::StatusEvent>),
    Echoes(Vec<echoes::EchoEvent>),
    Preferences(Vec<preferences::PreferenceEvent>),
    Groups(Vec<group_updates::GroupEvent>),
}

/// The component returned an event that breaks the contract (a JSON-text field that is
/// not JSON): the request is not acknowledged.
pub type Broken = InvalidEventJson;

impl Trigger {
    /// The trigger a stored subscription runs. Its properties were checked by `enable`;
    /// one that is not valid now (a store written by another version) is an error.
    pub fn from_spec(spec: &TriggerSpec) -> anyhow::Result<Self> {
        Ok(match spec {
            TriggerSpec::MessageReceived { sender_number } => Trigger::Messages(Properties {
                sender_number: sender_number.clone(),
            }),
            TriggerSpec::StatusUpdated {
                statuses,
                recipient,
            } => Trigger::Statuses(bindings::status_properties(statuses, recipient.clone())?),
            TriggerSpec::MessageEchoed { recipient } => Trigger::Echoes(EchoProperties {
                recipient: recipient.clone(),
            }),
            TriggerSpec::PreferenceChanged { customer } => {
                Trigger::Preferences(PreferenceProperties {
                    customer: customer.clone(),
                })
            }
            TriggerSpec::GroupUpdated { updates, group_id } => {
                Trigger::Groups(bindings::group_properties(updates, group_id.clone())?)
            }
        })
    }

    /// Runs one webhook request through the component's trigger.
    pub async fn handle(
        &self,
        connector: &Connector,
        request: &WebhookRequest,
        secrets: &WebhookSecrets,
    ) -> Call<Result<Handled, Broken>, WebhookError> {
        fn events<W, D>(
            events: Vec<W>,
            convert: impl Fn(W) -> Result<D, Broken>,
            wrap: impl FnOnce(Vec<D>) -> Events,
        ) -> Result<Handled, Broken> {
            let events = events.into_iter().map(convert).collect::<Result<_, _>>()?;
            Ok(Handled::Events(wrap(events)))
        }
        Ok(Ok(match self {
            Trigger::Messages(p) => match connector.handle_webhook(request, p, secrets).await? {
                Ok(Outcome::Respond(r)) => Ok(Handled::Respond(r)),
                Ok(Outcome::Events(e)) => events(e, bindings::event, Events::Messages),
                Err(e) => return Ok(Err(e)),
            },
            Trigger::Statuses(p) => {
                match connector.handle_status_webhook(request, p, secrets).await? {
                    Ok(StatusOutcome::Respond(r)) => Ok(Handled::Respond(r)),
                    Ok(StatusOutcome::Events(e)) => {
                        events(e, bindings::status_event, Events::Statuses)
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            Trigger::Echoes(p) => match connector.handle_echo_webhook(request, p, secrets).await? {
                Ok(EchoOutcome::Respond(r)) => Ok(Handled::Respond(r)),
                Ok(EchoOutcome::Events(e)) => events(e, bindings::echo_event, Events::Echoes),
                Err(e) => return Ok(Err(e)),
            },
            Trigger::Preferences(p) => {
                match connector
                    .handle_preference_webhook(request, p, secrets)
                    .await?
                {
                    Ok(PreferenceOutcome::Respond(r)) => Ok(Handled::Respond(r)),
                    Ok(PreferenceOutcome::Events(e)) => {
                        events(e, bindings::preference_event, Events::Preferences)
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            Trigger::Groups(p) => {
                match connector.handle_group_webhook(request, p, secrets).await? {
                    Ok(GroupOutcome::Respond(r)) => Ok(Handled::Respond(r)),
                    Ok(GroupOutcome::Events(e)) => events(e, bindings::group_event, Events::Groups),
                    Err(e) => return Ok(Err(e)),
                }
            }
        }))
    }
}

impl Events {
    /// Each event's deduplication key and JSON line (newline included).
    pub fn lines(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
        fn lines<E: serde::Serialize>(
            events: &[E],
            key: impl Fn(&E) -> &str,
        ) -> Result<Vec<(String, Vec<u8>)>, String> {
            events
                .iter()
                .map(|event| {
                    let mut line = Vec::with_capacity(512);
                    json::write_event_line(&mut line, event).map_err(|e| e.to_string())?;
                    Ok((key(event).to_owned(), line))
                })
                .collect()
        }
        match self {
            Events::Messages(e) => lines(e, |e| &e.dedup_key),
            Events::Statuses(e) => lines(e, |e| &e.dedup_key),
            Events::Echoes(e) => lines(e, |e| &e.dedup_key),
            Events::Preferences(e) => lines(e, |e| &e.dedup_key),
            Events::Groups(e) => lines(e, |e| &e.dedup_key),
        }
    }

    /// The events' documented outputs, as one JSON array.
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        match self {
            Events::Messages(e) => serde_json::to_value(e),
            Events::Statuses(e) => serde_json::to_value(e),
            Events::Echoes(e) => serde_json::to_value(e),
            Events::Preferences(e) => serde_json::to_value(e),
            Events::Groups(e) => serde_json::to_value(e),
        }
    }
}
