//! The bindings glue: WIT types in, domain modules, WIT types out. Nothing else.

#[allow(unused_imports)]
use crate::prelude::*;

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
        "wasi:cli/environment@0.2.12": wasip2::cli::environment,
    },
});

use exports::whatsapp::connector::block_users as wit_block;
use exports::whatsapp::connector::connection as wit_connection;
use exports::whatsapp::connector::download_media as wit_download;
use exports::whatsapp::connector::group_updated as wit_groups;
use exports::whatsapp::connector::groups as wit_group_admin;
use exports::whatsapp::connector::mark_as_read as wit_read;
use exports::whatsapp::connector::message_echoed as wit_echoes;
use exports::whatsapp::connector::message_received as wit_trigger;
use exports::whatsapp::connector::preference_changed as wit_preferences;
use exports::whatsapp::connector::send_flow as wit_flow;
use exports::whatsapp::connector::send_interactive as wit_interactive;
use exports::whatsapp::connector::send_location as wit_location;
use exports::whatsapp::connector::send_media as wit_media;
use exports::whatsapp::connector::send_message as wit_send;
use exports::whatsapp::connector::send_reaction as wit_reaction;
use exports::whatsapp::connector::send_template as wit_template;
use exports::whatsapp::connector::status_updated as wit_status;
use exports::whatsapp::connector::upload_media as wit_upload;

use crate::graph::{self, Credentials, GraphRequest};
use crate::outgoing::Addressee;
use crate::registration::{self, Registration, Removal};
use crate::secret::Secret;
use crate::{
    account, blocking, echoes, environment, flow, group_updates, groups, http_client, interactive,
    location, media, media_streams, media_upload, preferences, reaction, read_receipt, send,
    statuses, template, transfer, trigger, webhook,
};

struct Connector;

export!(Connector);

fn credentials(connection: &wit_connection::Connection) -> Credentials<'_> {
    Credentials {
        token: Secret::new(&connection.system_user_access_token),
        phone_number_id: &connection.phone_number_id,
    }
}

/// The host's environment variable `name` (`wasi:cli/environment`), read only for a
/// value the caller left empty (see [`environment`]).
fn environment_variable(name: &str) -> Option<String> {
    wasip2::cli::environment::get_environment()
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// The connection with an empty token taken from the environment.
fn with_environment_token(
    mut connection: wit_connection::Connection,
) -> wit_connection::Connection {
    connection.system_user_access_token = environment::or_environment(
        core::mem::take(&mut connection.system_user_access_token),
        environment::ACCESS_TOKEN,
        environment_variable,
    );
    connection
}

/// The webhook secrets with the empty ones taken from the environment.
fn with_environment_secrets(secrets: wit_trigger::WebhookSecrets) -> wit_trigger::WebhookSecrets {
    wit_trigger::WebhookSecrets {
        app_secret: environment::optional_or_environment(
            secrets.app_secret,
            environment::APP_SECRET,
            environment_variable,
        ),
        verify_token: environment::optional_or_environment(
            secrets.verify_token,
            environment::VERIFY_TOKEN,
            environment_variable,
        ),
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

/// Every secret a call knows: the token, the app secret and the verify tokens.
fn secrets<'a>(
    connection: &'a wit_connection::Connection,
    registration: Option<&'a Registration>,
) -> impl Iterator<Item = &'a str> {
    [
        Some(connection.system_user_access_token.as_str()),
        connection.app_secret.as_deref(),
        connection.verify_token.as_deref(),
        registration.map(|r| r.verify_token.expose().as_str()),
    ]
    .into_iter()
    .flatten()
}

/// Scrubs every secret the call knows from an error before it leaves the component: the
/// token, the app secret and the verify tokens, even if an answer echoed one back. No
/// code path puts one there; this keeps it so.
fn redacted(
    connection: &wit_connection::Connection,
    registration: Option<&Registration>,
    mut error: graph::Error,
) -> wit_connection::Error {
    for secret in secrets(connection, registration) {
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
        let connection = with_environment_token(connection);
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

/// Sends a prepared message request and reads the answer every message action shares.
fn send_message(
    connection: &wit_connection::Connection,
    prepared: Result<GraphRequest, graph::Error>,
) -> Result<wit_send::Output, wit_connection::Error> {
    let output = call(connection, None, prepared, send::parse_output)?;
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

fn addressee<'a>(send_message_to: &'a str, reply_to: &'a Option<String>) -> Addressee<'a> {
    Addressee {
        send_message_to,
        reply_to: reply_to.as_deref(),
    }
}

impl wit_send::Guest for Connector {
    fn send(
        connection: wit_send::Connection,
        input: wit_send::Input,
    ) -> Result<wit_send::Output, wit_send::Error> {
        let connection = with_environment_token(connection);
        let prepared = send::prepare(
            credentials(&connection),
            send::SendInput {
                message: &input.message,
                send_message_to: &input.send_message_to,
                reply_to: input.reply_to.as_deref(),
                preview_url: input.preview_url,
            },
        );
        send_message(&connection, prepared)
    }
}

impl wit_template::Guest for Connector {
    fn send(
        connection: wit_connection::Connection,
        input: wit_template::Input,
    ) -> Result<wit_send::Output, wit_connection::Error> {
        let connection = with_environment_token(connection);
        use template::{Button, Header, MediaSource, Parameter};
        use wit_template::{ButtonParameter as B, HeaderParameter as H, MediaSource as M};
        fn source(m: &M) -> MediaSource<'_> {
            match m {
                M::Id(id) => MediaSource::Id(id),
                M::Link(link) => MediaSource::Link(link),
            }
        }
        let input = template::TemplateInput {
            to: addressee(&input.send_message_to, &None),
            template_name: &input.template_name,
            language_code: &input.language_code,
            body_parameters: input
                .body_parameters
                .iter()
                .map(|p| Parameter {
                    name: p.name.as_deref(),
                    text: &p.text,
                })
                .collect(),
            header: input.header.as_ref().map(|h| match h {
                H::Text(text) => Header::Text(text),
                H::Image(m) => Header::Image(source(m)),
                H::Video(m) => Header::Video(source(m)),
                H::Document(m) => Header::Document(source(m)),
            }),
            buttons: input
                .buttons
                .iter()
                .map(|b| match b {
                    B::QuickReply(v) => Button::QuickReply {
                        index: v.index,
                        payload: &v.value,
                    },
                    B::Url(v) => Button::Url {
                        index: v.index,
                        suffix: &v.value,
                    },
                    B::Flow(f) => Button::Flow {
                        index: f.index,
                        token: f.flow_token.as_deref(),
                        data: f.flow_action_data.as_deref(),
                    },
                })
                .collect(),
            marketing: input.marketing.as_ref().map(|m| template::Marketing {
                product_policy: m.product_policy.map(|p| match p {
                    wit_template::ProductPolicy::CloudApiFallback => {
                        template::ProductPolicy::CloudApiFallback
                    }
                    wit_template::ProductPolicy::Strict => template::ProductPolicy::Strict,
                }),
                message_activity_sharing: m.message_activity_sharing,
            }),
        };
        send_message(
            &connection,
            template::prepare(credentials(&connection), &input),
        )
    }
}

impl wit_media::Guest for Connector {
    fn send(
        connection: wit_connection::Connection,
        input: wit_media::Input,
    ) -> Result<wit_send::Output, wit_connection::Error> {
        let connection = with_environment_token(connection);
        use wit_media::MediaKind as K;
        let kind = match input.kind {
            K::Image => media::MediaKind::Image,
            K::Video => media::MediaKind::Video,
            K::Audio => media::MediaKind::Audio,
            K::Document => media::MediaKind::Document,
            K::Sticker => media::MediaKind::Sticker,
        };
        let prepared = media::prepare(
            credentials(&connection),
            media::MediaInput {
                to: addressee(&input.send_message_to, &input.reply_to),
                kind,
                media_id: input.media_id.as_deref(),
                link: input.link.as_deref(),
                caption: input.caption.as_deref(),
                filename: input.filename.as_deref(),
            },
        );
        send_message(&connection, prepared)
    }
}

/// A transfer's error in WIT form, every secret of the connection scrubbed first.
fn to_wit_transfer_error(
    connection: &wit_connection::Connection,
    mut error: transfer::TransferError,
) -> wit_download::TransferError {
    use transfer::TransferError as T;
    use wit_download::TransferError as W;
    for secret in secrets(connection, None) {
        error.redact(secret);
    }
    match error {
        T::Request(e) => W::Request(to_wit_error(e)),
        T::UrlRefused(reason) => W::UrlRefused(reason),
        T::Mismatch(m) => W::Mismatch(wit_download::Mismatch {
            check: m.check.to_owned(),
            expected: m.expected,
            actual: m.actual,
        }),
        T::Stream(reason) => W::Stream(reason),
    }
}

impl wit_download::Guest for Connector {
    fn download(
        connection: wit_connection::Connection,
        input: wit_download::Input,
        destination: &wit_download::OutputStream,
    ) -> Result<wit_download::Output, wit_download::TransferError> {
        let connection = with_environment_token(connection);
        let metadata =
            media_streams::download(credentials(&connection), &input.media_id, destination)
                .map_err(|e| to_wit_transfer_error(&connection, e))?;
        Ok(wit_download::Output {
            id: metadata.id,
            mime_type: metadata.mime_type,
            sha256: metadata.sha256,
            file_size: metadata.file_size,
        })
    }
}

impl wit_upload::Guest for Connector {
    fn upload(
        connection: wit_connection::Connection,
        input: wit_upload::Input,
        source: &wit_upload::InputStream,
    ) -> Result<wit_upload::Output, wit_download::TransferError> {
        let connection = with_environment_token(connection);
        let input = media_upload::UploadInput {
            mime_type: &input.mime_type,
            filename: &input.filename,
            file_size: input.file_size,
        };
        let id = media_streams::upload(credentials(&connection), input, source)
            .map_err(|e| to_wit_transfer_error(&connection, e))?;
        Ok(wit_upload::Output { id })
    }
}

impl wit_interactive::Guest for Connector {
    fn send(
        connection: wit_connection::Connection,
        input: wit_interactive::Input,
    ) -> Result<wit_send::Output, wit_connection::Error> {
        let connection = with_environment_token(connection);
        use interactive::{Form, ReplyButton, Row, Section};
        use wit_interactive::Form as F;
        let form = match &input.form {
            F::ReplyButtons(buttons) => Form::ReplyButtons(
                buttons
                    .iter()
                    .map(|b| ReplyButton {
                        id: &b.id,
                        title: &b.title,
                    })
                    .collect(),
            ),
            F::RowList(list) => Form::List {
                button: &list.button,
                sections: list
                    .sections
                    .iter()
                    .map(|s| Section {
                        title: s.title.as_deref(),
                        rows: s
                            .rows
                            .iter()
                            .map(|r| Row {
                                id: &r.id,
                                title: &r.title,
                                description: r.description.as_deref(),
                            })
                            .collect(),
                    })
                    .collect(),
            },
            F::CtaUrl(cta) => Form::CtaUrl {
                display_text: &cta.display_text,
                url: &cta.url,
            },
        };
        let input = interactive::InteractiveInput {
            to: addressee(&input.send_message_to, &input.reply_to),
            form,
            header_text: input.header_text.as_deref(),
            body: &input.body,
            footer: input.footer.as_deref(),
        };
        send_message(
            &connection,
            interactive::prepare(credentials(&connection), &input),
        )
    }
}

impl wit_flow::Guest for Connector {
    fn send(
        connection: wit_connection::Connection,
        input: wit_flow::Input,
    ) -> Result<wit_send::Output, wit_connection::Error> {
        let connection = with_environment_token(connection);
        let action = input.flow_action.as_ref().map(|a| match a {
            wit_flow::FlowAction::Navigate(n) => flow::FlowAction::Navigate {
                screen: &n.screen,
                data: n.data.as_deref(),
            },
            wit_flow::FlowAction::DataExchange => flow::FlowAction::DataExchange,
        });
        let input = flow::FlowInput {
            to: addressee(&input.send_message_to, &input.reply_to),
            flow: match &input.flow {
                wit_flow::FlowRef::Id(id) => flow::FlowRef::Id(id),
                wit_flow::FlowRef::Name(name) => flow::FlowRef::Name(name),
            },
            cta: &input.flow_cta,
            token: input.flow_token.as_deref(),
            draft: input.mode.map(|m| m == wit_flow::FlowMode::Draft),
            action,
            header_text: input.header_text.as_deref(),
            body: &input.body,
            footer: input.footer.as_deref(),
        };
        send_message(&connection, flow::prepare(credentials(&connection), &input))
    }
}

impl wit_reaction::Guest for Connector {
    fn send(
        connection: wit_connection::Connection,
        input: wit_reaction::Input,
    ) -> Result<wit_send::Output, wit_connection::Error> {
        let connection = with_environment_token(connection);
        let prepared = reaction::prepare(
            credentials(&connection),
            reaction::ReactionInput {
                send_message_to: &input.send_message_to,
                message_id: &input.message_id,
                emoji: &input.emoji,
            },
        );
        send_message(&connection, prepared)
    }
}

impl wit_location::Guest for Connector {
    fn send(
        connection: wit_connection::Connection,
        input: wit_location::Input,
    ) -> Result<wit_send::Output, wit_connection::Error> {
        let connection = with_environment_token(connection);
        let prepared = location::prepare(
            credentials(&connection),
            location::LocationInput {
                to: addressee(&input.send_message_to, &input.reply_to),
                latitude: input.latitude,
                longitude: input.longitude,
                name: input.name.as_deref(),
                address: input.address.as_deref(),
            },
        );
        send_message(&connection, prepared)
    }
}

impl wit_read::Guest for Connector {
    fn mark(
        connection: wit_connection::Connection,
        input: wit_read::Input,
    ) -> Result<(), wit_connection::Error> {
        let connection = with_environment_token(connection);
        let prepared = read_receipt::prepare(
            credentials(&connection),
            read_receipt::ReadInput {
                message_id: &input.message_id,
                typing_indicator: input.typing_indicator.unwrap_or(false),
            },
        );
        call(&connection, None, prepared, registration::parse_success)
    }
}

impl wit_group_admin::Guest for Connector {
    fn create(
        connection: wit_connection::Connection,
        input: wit_group_admin::CreateInput,
    ) -> Result<wit_group_admin::Created, wit_connection::Error> {
        let connection = with_environment_token(connection);
        use wit_group_admin::JoinApprovalMode as M;
        let prepared = groups::prepare_create(
            credentials(&connection),
            &input.subject,
            input.description.as_deref(),
            input.join_approval_mode.map(|m| match m {
                M::AutoApprove => groups::JoinApproval::AutoApprove,
                M::ApprovalRequired => groups::JoinApproval::ApprovalRequired,
            }),
        );
        let request_id = call(&connection, None, prepared, groups::parse_created)?;
        Ok(wit_group_admin::Created { request_id })
    }

    fn get_invite_link(
        connection: wit_connection::Connection,
        input: wit_group_admin::GroupInput,
    ) -> Result<wit_group_admin::InviteLink, wit_connection::Error> {
        let connection = with_environment_token(connection);
        let prepared =
            groups::prepare_invite_link(credentials(&connection), &input.group_id, false);
        let invite_link = call(&connection, None, prepared, groups::parse_invite_link)?;
        Ok(wit_group_admin::InviteLink { invite_link })
    }

    fn reset_invite_link(
        connection: wit_connection::Connection,
        input: wit_group_admin::GroupInput,
    ) -> Result<wit_group_admin::InviteLink, wit_connection::Error> {
        let connection = with_environment_token(connection);
        let prepared = groups::prepare_invite_link(credentials(&connection), &input.group_id, true);
        let invite_link = call(&connection, None, prepared, groups::parse_invite_link)?;
        Ok(wit_group_admin::InviteLink { invite_link })
    }

    fn remove_participants(
        connection: wit_connection::Connection,
        input: wit_group_admin::RemoveInput,
    ) -> Result<(), wit_connection::Error> {
        let connection = with_environment_token(connection);
        let participants: Vec<&str> = input.participants.iter().map(String::as_str).collect();
        let prepared =
            groups::prepare_remove(credentials(&connection), &input.group_id, &participants);
        call(&connection, None, prepared, groups::parse_removed)
    }
}

fn to_wit_users_output(outcome: blocking::Outcome) -> wit_block::UsersOutput {
    let users = |list: Vec<blocking::UserResult>| {
        list.into_iter()
            .map(|u| wit_block::UserResult {
                input: u.input,
                wa_id: u.wa_id,
                errors: u
                    .errors
                    .into_iter()
                    .map(|e| wit_block::UserError {
                        code: e.code,
                        message: e.message,
                        details: e.details,
                        hint: e.hint,
                    })
                    .collect(),
            })
            .collect()
    };
    wit_block::UsersOutput {
        done: users(outcome.done),
        failed: users(outcome.failed),
    }
}

fn block_or_unblock(
    connection: &wit_connection::Connection,
    input: &wit_block::UsersInput,
    block: bool,
) -> Result<wit_block::UsersOutput, wit_connection::Error> {
    let users: Vec<&str> = input.users.iter().map(String::as_str).collect();
    let prepared = blocking::prepare(credentials(connection), &users, block);
    call(connection, None, prepared, blocking::parse_outcome).map(to_wit_users_output)
}

impl wit_block::Guest for Connector {
    fn block(
        connection: wit_connection::Connection,
        input: wit_block::UsersInput,
    ) -> Result<wit_block::UsersOutput, wit_connection::Error> {
        let connection = with_environment_token(connection);
        block_or_unblock(&connection, &input, true)
    }

    fn unblock(
        connection: wit_connection::Connection,
        input: wit_block::UsersInput,
    ) -> Result<wit_block::UsersOutput, wit_connection::Error> {
        let connection = with_environment_token(connection);
        block_or_unblock(&connection, &input, false)
    }

    fn list(
        connection: wit_connection::Connection,
        input: wit_block::ListInput,
    ) -> Result<wit_block::BlockedPage, wit_connection::Error> {
        let connection = with_environment_token(connection);
        let prepared = blocking::prepare_list(
            credentials(&connection),
            input.limit,
            input.after.as_deref(),
        );
        let page = call(&connection, None, prepared, blocking::parse_page)?;
        Ok(wit_block::BlockedPage {
            wa_ids: page.wa_ids,
            after: page.after,
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
        let connection = with_environment_token(connection);
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
        let connection = with_environment_token(connection);
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
        let connection = with_environment_token(connection);
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
        let secrets = with_environment_secrets(secrets);
        let outcome = trigger::handle_into(
            webhook_request(&request),
            properties.sender_number.as_deref(),
            webhook_secrets(&secrets),
            to_wit_event,
        );
        match split(outcome)? {
            Ok(events) => Ok(wit_trigger::Outcome::Events(events)),
            Err(response) => Ok(wit_trigger::Outcome::Respond(response)),
        }
    }
}

/// Either trigger's outcome: its events, or the response for Meta (the handshake); or
/// the error, in WIT form.
fn split<E>(
    outcome: Result<trigger::Outcome<E>, trigger::WebhookError>,
) -> Result<Result<Vec<E>, wit_trigger::WebhookResponse>, wit_trigger::WebhookError> {
    match outcome.map_err(to_wit_webhook_error)? {
        trigger::Outcome::Events(events) => Ok(Ok(events)),
        trigger::Outcome::Respond {
            status,
            content_type,
            body,
        } => Ok(Err(wit_trigger::WebhookResponse {
            status,
            content_type: content_type.to_owned(),
            body,
        })),
    }
}

fn webhook_request(request: &wit_trigger::WebhookRequest) -> trigger::WebhookRequest<'_> {
    trigger::WebhookRequest {
        method: &request.method,
        headers: &request.headers,
        query: &request.query,
        body: &request.body,
    }
}

fn webhook_secrets(secrets: &wit_trigger::WebhookSecrets) -> trigger::Secrets<'_> {
    trigger::Secrets {
        app_secret: secrets.app_secret.as_deref().map(Secret::new),
        verify_token: secrets.verify_token.as_deref().map(Secret::new),
    }
}

impl wit_status::Guest for Connector {
    fn handle_request(
        request: wit_trigger::WebhookRequest,
        properties: wit_status::Properties,
        secrets: wit_trigger::WebhookSecrets,
    ) -> Result<wit_status::Outcome, wit_trigger::WebhookError> {
        let secrets = with_environment_secrets(secrets);
        use wit_status::StatusKind as K;
        let kinds: Vec<statuses::StatusKind> = properties
            .statuses
            .iter()
            .map(|kind| match kind {
                K::Sent => statuses::StatusKind::Sent,
                K::Delivered => statuses::StatusKind::Delivered,
                K::Read => statuses::StatusKind::Read,
                K::Failed => statuses::StatusKind::Failed,
            })
            .collect();
        let outcome = statuses::handle_into(
            webhook_request(&request),
            &kinds,
            properties.recipient.as_deref(),
            webhook_secrets(&secrets),
            to_wit_status_event,
        );
        match split(outcome)? {
            Ok(events) => Ok(wit_status::Outcome::Events(events)),
            Err(response) => Ok(wit_status::Outcome::Respond(response)),
        }
    }
}

fn to_wit_value(value: webhook::Value) -> wit_trigger::Value {
    wit_trigger::Value {
        messaging_product: value.messaging_product,
        metadata: value.metadata.map(|m| wit_trigger::Metadata {
            display_phone_number: m.display_phone_number,
            phone_number_id: m.phone_number_id,
        }),
    }
}

fn to_wit_members(members: Vec<(String, webhook::RawJson)>) -> Vec<wit_trigger::JsonMember> {
    members
        .into_iter()
        .map(|(name, value)| wit_trigger::JsonMember {
            name,
            json: value.into_string(),
        })
        .collect()
}

fn to_wit_status_event(event: statuses::StatusEvent) -> wit_status::Event {
    let s = event.entry.changes.statuses;
    let json = |raw: Option<webhook::RawJson>| raw.map(webhook::RawJson::into_string);
    wit_status::Event {
        object: event.object,
        dedup_key: event.dedup_key,
        entry: wit_status::Entry {
            id: event.entry.id,
            changes: wit_status::Change {
                value: to_wit_value(event.entry.changes.value),
                statuses: wit_status::Status {
                    id: s.id,
                    status: s.status,
                    timestamp: s.timestamp,
                    recipient_id: s.recipient_id,
                    recipient_user_id: s.recipient_user_id,
                    recipient_parent_user_id: s.recipient_parent_user_id,
                    recipient_type: s.recipient_type,
                    recipient_participant_id: s.recipient_participant_id,
                    recipient_participant_user_id: s.recipient_participant_user_id,
                    recipient_participant_parent_user_id: s.recipient_participant_parent_user_id,
                    conversation: json(s.conversation),
                    pricing: json(s.pricing),
                    biz_opaque_callback_data: s.biz_opaque_callback_data,
                    errors: s
                        .errors
                        .into_iter()
                        .map(|e| wit_status::StatusError {
                            code: e.code,
                            title: e.title,
                            message: e.message,
                            details: e.details,
                            href: e.href,
                            hint: e.hint,
                        })
                        .collect(),
                    others: to_wit_members(s.others),
                    raw: json(s.raw),
                },
            },
        },
    }
}

fn to_wit_contact(c: webhook::Contact) -> wit_trigger::Contact {
    wit_trigger::Contact {
        profile_name: c.profile_name,
        username: c.username,
        wa_id: c.wa_id,
        user_id: c.user_id,
        parent_user_id: c.parent_user_id,
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
        messages,
    } = entry.changes;
    wit_trigger::Event {
        object,
        dedup_key,
        entry: wit_trigger::Entry {
            id: entry.id,
            changes: wit_trigger::Change {
                value: to_wit_value(value),
                contacts: contacts.map(to_wit_contact),
                messages: to_wit_message(messages),
            },
        },
    }
}

fn to_wit_message(m: webhook::Message) -> wit_trigger::Message {
    let json = |raw: Option<webhook::RawJson>| raw.map(webhook::RawJson::into_string);
    wit_trigger::Message {
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
        group_id: m.group_id,
        original_message_id: m.original_message_id,
        flow_reply: m.flow_reply.map(|r| wit_trigger::FlowReply {
            response: json(r.response),
            flow_token: r.flow_token,
            invalid_reason: r.invalid_reason,
        }),
        others: to_wit_members(m.others),
        raw: json(m.raw),
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

impl wit_echoes::Guest for Connector {
    fn handle_request(
        request: wit_trigger::WebhookRequest,
        properties: wit_echoes::Properties,
        secrets: wit_trigger::WebhookSecrets,
    ) -> Result<wit_echoes::Outcome, wit_trigger::WebhookError> {
        let secrets = with_environment_secrets(secrets);
        let outcome = echoes::handle_into(
            webhook_request(&request),
            properties.recipient.as_deref(),
            webhook_secrets(&secrets),
            |event| {
                let echo = event.entry.changes.message_echoes;
                wit_echoes::Event {
                    object: event.object,
                    dedup_key: event.dedup_key,
                    entry: wit_echoes::Entry {
                        id: event.entry.id,
                        changes: wit_echoes::Change {
                            value: to_wit_value(event.entry.changes.value),
                            message_echoes: wit_echoes::Echo {
                                to: echo.to,
                                message: to_wit_message(echo.message),
                            },
                        },
                    },
                }
            },
        );
        match split(outcome)? {
            Ok(events) => Ok(wit_echoes::Outcome::Events(events)),
            Err(response) => Ok(wit_echoes::Outcome::Respond(response)),
        }
    }
}

impl wit_preferences::Guest for Connector {
    fn handle_request(
        request: wit_trigger::WebhookRequest,
        properties: wit_preferences::Properties,
        secrets: wit_trigger::WebhookSecrets,
    ) -> Result<wit_preferences::Outcome, wit_trigger::WebhookError> {
        let secrets = with_environment_secrets(secrets);
        let json = |raw: Option<webhook::RawJson>| raw.map(webhook::RawJson::into_string);
        let outcome = preferences::handle_into(
            webhook_request(&request),
            properties.customer.as_deref(),
            webhook_secrets(&secrets),
            |event| {
                let changes = event.entry.changes;
                let p = changes.user_preferences;
                wit_preferences::Event {
                    object: event.object,
                    dedup_key: event.dedup_key,
                    entry: wit_preferences::Entry {
                        id: event.entry.id,
                        changes: wit_preferences::Change {
                            value: to_wit_value(changes.value),
                            contacts: changes.contacts.map(to_wit_contact),
                            user_preferences: wit_preferences::Preference {
                                wa_id: p.wa_id,
                                user_id: p.user_id,
                                category: p.category,
                                value: p.value,
                                detail: p.detail,
                                timestamp: json(p.timestamp),
                                others: to_wit_members(p.others),
                                raw: json(p.raw),
                            },
                        },
                    },
                }
            },
        );
        match split(outcome)? {
            Ok(events) => Ok(wit_preferences::Outcome::Events(events)),
            Err(response) => Ok(wit_preferences::Outcome::Respond(response)),
        }
    }
}

impl wit_groups::Guest for Connector {
    fn handle_request(
        request: wit_trigger::WebhookRequest,
        properties: wit_groups::Properties,
        secrets: wit_trigger::WebhookSecrets,
    ) -> Result<wit_groups::Outcome, wit_trigger::WebhookError> {
        let secrets = with_environment_secrets(secrets);
        use group_updates::GroupField as G;
        use wit_groups::GroupField as W;
        let json = |raw: Option<webhook::RawJson>| raw.map(webhook::RawJson::into_string);
        let filter = group_updates::GroupFilter {
            fields: properties
                .fields
                .iter()
                .map(|f| match f {
                    W::Lifecycle => G::Lifecycle,
                    W::Participants => G::Participants,
                    W::Settings => G::Settings,
                    W::Status => G::Status,
                })
                .collect(),
            group_id: properties.group_id,
        };
        let outcome = group_updates::handle_into(
            webhook_request(&request),
            &filter,
            webhook_secrets(&secrets),
            |event| {
                let changes = event.entry.changes;
                let u = changes.groups;
                wit_groups::Event {
                    object: event.object,
                    dedup_key: event.dedup_key,
                    entry: wit_groups::Entry {
                        id: event.entry.id,
                        changes: wit_groups::Change {
                            field: changes.field,
                            value: to_wit_value(changes.value),
                            groups: wit_groups::GroupUpdate {
                                group_id: u.group_id,
                                type_: u.kind,
                                timestamp: u.timestamp,
                                request_id: u.request_id,
                                errors: json(u.errors),
                                others: to_wit_members(u.others),
                                raw: json(u.raw),
                            },
                        },
                    },
                }
            },
        );
        match split(outcome)? {
            Ok(events) => Ok(wit_groups::Outcome::Events(events)),
            Err(response) => Ok(wit_groups::Outcome::Respond(response)),
        }
    }
}
