//! The bindings glue: WIT types in, domain modules, WIT types out. Nothing else.

wit_bindgen::generate!({
    path: "wit",
    world: "connector",
    with: {
        "wasi:http/types@0.2.12": wasip2::http::types,
        "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        "wasi:clocks/wall-clock@0.2.12": wasip2::clocks::wall_clock,
        "wasi:random/random@0.2.12": wasip2::random::random,
    },
});

use exports::whatsapp::connector::connection as wit_connection;
use exports::whatsapp::connector::message_received as wit_trigger;
use exports::whatsapp::connector::send_message as wit_send;

use crate::graph::{self, Credentials, GraphRequest};
use crate::registration::{self, Registration, Removal};
use crate::secret::Secret;
use crate::{account, http_client, send, trigger, webhook};

struct Connector;

export!(Connector);

fn credentials(connection: &wit_connection::Connection) -> Credentials<'_> {
    Credentials {
        token: Secret::new(&connection.system_user_access_token),
        phone_number_id: &connection.phone_number_id,
    }
}

/// Sends a prepared request; whatever goes wrong, no secret reaches the error.
fn call<T>(
    connection: &wit_connection::Connection,
    registration: Option<&Registration>,
    prepared: Result<GraphRequest, graph::Error>,
    parse: impl FnOnce(&graph::HttpResponse) -> Result<T, graph::Error>,
) -> Result<T, wit_connection::Error> {
    prepared
        .and_then(|request| http_client::send(&request, &connection.system_user_access_token))
        .and_then(|response| parse(&response))
        .map_err(|error| redacted(connection, registration, error))
}

/// Scrubs every secret the call knows from an error before it leaves the component: the
/// token, the app secret and the verify tokens, even if an answer echoed one back. No
/// code path puts one there; this keeps it so.
fn redacted(
    connection: &wit_connection::Connection,
    registration: Option<&Registration>,
    mut error: graph::Error,
) -> wit_connection::Error {
    let secrets = [
        Some(connection.system_user_access_token.as_str()),
        connection.app_secret.as_deref(),
        connection.verify_token.as_deref(),
        registration.map(|r| r.verify_token.expose().as_str()),
    ];
    for secret in secrets.into_iter().flatten() {
        error.redact(secret);
    }
    to_wit_error(error)
}

fn to_wit_graph_error(e: graph::GraphError) -> wit_connection::GraphError {
    wit_connection::GraphError {
        status: e.status,
        message: e.message,
        error_type: e.error_type,
        code: e.code,
        error_subcode: e.error_subcode,
        details: e.details,
        fbtrace_id: e.fbtrace_id,
        retryable: e.retryable,
        hint: e.hint,
    }
}

fn to_wit_error(error: graph::Error) -> wit_connection::Error {
    use wit_connection::Error as W;
    match error {
        graph::Error::InvalidInput { field, reason } => {
            W::InvalidInput(wit_connection::FieldError {
                field: field.to_owned(),
                reason,
            })
        }
        graph::Error::Unauthorized(e) => W::Unauthorized(to_wit_graph_error(*e)),
        graph::Error::RateLimited { error, retry_after } => {
            W::RateLimited(wit_connection::RateLimit {
                error: to_wit_graph_error(*error),
                retry_after,
            })
        }
        graph::Error::Graph(e) => W::Graph(to_wit_graph_error(*e)),
        graph::Error::Transport { message } => W::Transport(wit_connection::TransportError {
            message,
            retryable: true,
        }),
        graph::Error::UnexpectedResponse {
            status,
            reason,
            retryable,
        } => W::UnexpectedResponse(wit_connection::UnexpectedResponse {
            status,
            reason,
            retryable,
        }),
    }
}

impl wit_connection::Guest for Connector {
    fn test(
        connection: wit_connection::Connection,
    ) -> Result<wit_connection::Account, wit_connection::Error> {
        let account = call(
            &connection,
            None,
            account::prepare(credentials(&connection)),
            account::parse,
        )?;
        Ok(wit_connection::Account {
            display_phone_number: account.display_phone_number,
            verified_name: account.verified_name,
            quality_rating: account.quality_rating,
        })
    }
}

impl wit_send::Guest for Connector {
    fn send(
        connection: wit_send::Connection,
        input: wit_send::Input,
    ) -> Result<wit_send::Output, wit_send::Error> {
        let prepared = send::prepare(
            credentials(&connection),
            send::SendInput {
                message: &input.message,
                send_message_to: &input.send_message_to,
            },
        );
        let output = call(&connection, None, prepared, send::parse_output)?;
        Ok(wit_send::Output {
            messaging_product: output.messaging_product,
            contacts: output
                .contacts
                .into_iter()
                .map(|c| wit_send::Contact {
                    input: c.input,
                    wa_id: c.wa_id,
                    user_id: c.user_id,
                })
                .collect(),
            messages: output
                .messages
                .into_iter()
                .map(|m| wit_send::SentMessage { id: m.id })
                .collect(),
        })
    }
}

fn to_wit_registration(r: Registration) -> wit_trigger::Registration {
    wit_trigger::Registration {
        phone_number_id: r.phone_number_id,
        callback_url: r.callback_url,
        verify_token: r.verify_token.into_inner(),
        created_at: r.created_at,
    }
}

fn from_wit_registration(r: wit_trigger::Registration) -> Registration {
    Registration {
        phone_number_id: r.phone_number_id,
        callback_url: r.callback_url,
        verify_token: r.verify_token.into(),
        created_at: r.created_at,
    }
}

impl wit_trigger::Guest for Connector {
    fn new_registration(
        connection: wit_trigger::Connection,
        properties: wit_trigger::Properties,
        webhook_url: String,
    ) -> Result<wit_trigger::Registration, wit_trigger::Error> {
        let random =
            wasip2::random::random::get_random_bytes(registration::VERIFY_TOKEN_BYTES as u64);
        let random: [u8; registration::VERIFY_TOKEN_BYTES] = random
            .try_into()
            .expect("wasi:random returns the number of bytes asked for");
        let now = wasip2::clocks::wall_clock::now().seconds;
        registration::new(
            credentials(&connection),
            properties.sender_number.as_deref(),
            &webhook_url,
            &random,
            now,
        )
        .map(to_wit_registration)
        .map_err(|error| redacted(&connection, None, error))
    }

    fn enable(
        connection: wit_trigger::Connection,
        registration: wit_trigger::Registration,
    ) -> Result<(), wit_trigger::Error> {
        let registration = from_wit_registration(registration);
        let prepared = registration::enable_request(credentials(&connection), &registration);
        call(
            &connection,
            Some(&registration),
            prepared,
            registration::parse_success,
        )
    }

    fn disable(
        connection: wit_trigger::Connection,
        registration: wit_trigger::Registration,
    ) -> Result<wit_trigger::Removal, wit_trigger::Error> {
        let registration = from_wit_registration(registration);
        let credentials = credentials(&connection);
        let current = call(
            &connection,
            Some(&registration),
            registration::current_override_request(credentials, &registration),
            registration::parse_current_override,
        )?;
        let removal = registration::plan_removal(&registration, current.as_deref());
        if removal == Removal::Removed {
            call(
                &connection,
                Some(&registration),
                Ok(registration::remove_request(credentials)),
                registration::parse_success,
            )?;
        }
        Ok(match removal {
            Removal::Removed => wit_trigger::Removal::Removed,
            Removal::NothingToRemove => wit_trigger::Removal::NothingToRemove,
            Removal::Superseded => wit_trigger::Removal::Superseded,
        })
    }

    fn handle_request(
        request: wit_trigger::WebhookRequest,
        properties: wit_trigger::Properties,
        secrets: wit_trigger::WebhookSecrets,
    ) -> Result<wit_trigger::Outcome, wit_trigger::WebhookError> {
        let outcome = trigger::handle_into(
            trigger::WebhookRequest {
                method: &request.method,
                headers: &request.headers,
                query: &request.query,
                body: &request.body,
            },
            properties.sender_number.as_deref(),
            trigger::Secrets {
                app_secret: secrets.app_secret.as_deref().map(Secret::new),
                verify_token: secrets.verify_token.as_deref().map(Secret::new),
            },
            to_wit_event,
        );
        match outcome {
            Ok(trigger::Outcome::Respond {
                status,
                content_type,
                body,
            }) => Ok(wit_trigger::Outcome::Respond(
                wit_trigger::WebhookResponse {
                    status,
                    content_type: content_type.to_owned(),
                    body,
                },
            )),
            Ok(trigger::Outcome::Events(events)) => Ok(wit_trigger::Outcome::Events(events)),
            Err(error) => Err(to_wit_webhook_error(error)),
        }
    }
}

fn to_wit_event(event: webhook::Event) -> wit_trigger::Event {
    let webhook::Event {
        object,
        entry,
        dedup_key,
    } = event;
    let webhook::Change {
        value,
        contacts,
        messages: m,
    } = entry.changes;
    let json = |raw: Option<webhook::RawJson>| raw.map(webhook::RawJson::into_string);
    wit_trigger::Event {
        object,
        dedup_key,
        entry: wit_trigger::Entry {
            id: entry.id,
            changes: wit_trigger::Change {
                value: wit_trigger::Value {
                    messaging_product: value.messaging_product,
                    metadata: value.metadata.map(|m| wit_trigger::Metadata {
                        display_phone_number: m.display_phone_number,
                        phone_number_id: m.phone_number_id,
                    }),
                },
                contacts: contacts.map(|c| wit_trigger::Contact {
                    profile_name: c.profile_name,
                    username: c.username,
                    wa_id: c.wa_id,
                    user_id: c.user_id,
                    parent_user_id: c.parent_user_id,
                }),
                messages: wit_trigger::Message {
                    from: m.from,
                    from_user_id: m.from_user_id,
                    from_parent_user_id: m.from_parent_user_id,
                    id: m.id,
                    timestamp: m.timestamp,
                    type_: m.kind,
                    text: m.text.map(|body| wit_trigger::Text { body }),
                    context: json(m.context),
                    content: json(m.content),
                    errors: json(m.errors),
                    others: m
                        .others
                        .into_iter()
                        .map(|(name, value)| wit_trigger::JsonMember {
                            name,
                            json: value.into_string(),
                        })
                        .collect(),
                    raw: json(m.raw),
                },
            },
        },
    }
}

fn to_wit_webhook_error(error: trigger::WebhookError) -> wit_trigger::WebhookError {
    use trigger::WebhookError as E;
    use wit_trigger::WebhookError as W;
    match error {
        E::InvalidSignature(r) => W::InvalidSignature(r),
        E::InvalidPayload(r) => W::InvalidPayload(r),
        E::VerificationFailed(r) => W::VerificationFailed(r),
        E::InvalidHandshake(r) => W::InvalidHandshake(r),
        E::MethodNotAllowed(r) => W::MethodNotAllowed(r),
        E::InvalidProperty { field, reason } => W::InvalidProperty(wit_connection::FieldError {
            field: field.to_owned(),
            reason,
        }),
    }
}
