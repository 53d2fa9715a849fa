wit_bindgen::generate!({
    path: "../../wit",
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

use exports::whatsapp::connector::connection::{self as wit_connection, Error, TransportError};
use exports::whatsapp::connector::message_received as wit_trigger;
use exports::whatsapp::connector::send_message as wit_send;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, OutgoingRequest, Scheme};

struct Misbehaving;

export!(Misbehaving);

fn transport(message: String) -> Error {
    Error::Transport(TransportError {
        message,
        retryable: false,
    })
}

/// Does what `command` says; returns normally only for `fetch` and unknown commands.
fn misbehave(command: &str) -> Result<(), Error> {
    match command {
        "loop" => {
            let mut n = 0u64;
            loop {
                n = core::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                core::hint::black_box(&hoard);
            }
        }
        "trap" => core::arch::wasm32::unreachable(),
        _ => match command.strip_prefix("fetch ") {
            Some(url) => Err(fetch(url)),
            None => Ok(()),
        },
    }
}

/// `GET url`; always "fails", with what happened as the message.
fn fetch(url: &str) -> Error {
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", rest)) => (Scheme::Https, rest),
        Some((_, rest)) => (Scheme::Http, rest),
        None => return transport("not a URL".into()),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&scheme));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return transport(format!("refused: {code:?}")),
    };
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => transport(format!("status {}", response.status())),
        Some(Ok(Err(code))) => transport(format!("refused: {code:?}")),
        _ => transport("no response".into()),
    }
}

impl wit_connection::Guest for Misbehaving {
    fn test(_connection: wit_connection::Connection) -> Result<wit_connection::Account, Error> {
        Err(transport("a test program has no account".into()))
    }
}

impl wit_send::Guest for Misbehaving {
    fn send(
        _connection: wit_send::Connection,
        input: wit_send::Input,
    ) -> Result<wit_send::Output, Error> {
        misbehave(&input.message)?;
        Ok(wit_send::Output {
            messaging_product: "whatsapp".into(),
            contacts: Vec::new(),
            messages: Vec::new(),
        })
    }
}

impl wit_trigger::Guest for Misbehaving {
    fn handle_request(
        request: wit_trigger::WebhookRequest,
        _properties: wit_trigger::Properties,
        _secrets: wit_trigger::WebhookSecrets,
    ) -> Result<wit_trigger::Outcome, wit_trigger::WebhookError> {
        if request.method == "GET" {
            // A response no HTTP server can send as is: the host must not trust it.
            return Ok(wit_trigger::Outcome::Respond(
                wit_trigger::WebhookResponse {
                    status: 200,
                    content_type: "text/plain\r\nSet-Cookie: injected=1".into(),
                    body: "challenge".into(),
                },
            ));
        }
        let command = String::from_utf8_lossy(&request.body);
        misbehave(&command)
            .map_err(|_| wit_trigger::WebhookError::InvalidPayload("fetch failed".into()))?;
        Ok(wit_trigger::Outcome::Events(Vec::new()))
    }

    fn new_registration(
        _connection: wit_trigger::Connection,
        _properties: wit_trigger::Properties,
        _webhook_url: String,
    ) -> Result<wit_trigger::Registration, Error> {
        Err(transport("a test program does not register".into()))
    }

    fn enable(
        _connection: wit_trigger::Connection,
        _registration: wit_trigger::Registration,
    ) -> Result<(), Error> {
        Err(transport("a test program does not register".into()))
    }

    fn disable(
        _connection: wit_trigger::Connection,
        _registration: wit_trigger::Registration,
    ) -> Result<wit_trigger::Removal, Error> {
        Err(transport("a test program does not register".into()))
    }
}

/// The other actions: a test program does not send them.
macro_rules! refuses {
    ($($interface:ident),*) => {$(
        impl exports::whatsapp::connector::$interface::Guest for Misbehaving {
            fn send(
                _connection: wit_connection::Connection,
                _input: exports::whatsapp::connector::$interface::Input,
            ) -> Result<wit_send::Output, Error> {
                Err(transport("a test program sends only text".into()))
            }
        }
    )*};
}

refuses!(
    send_template,
    send_media,
    send_interactive,
    send_flow,
    send_reaction,
    send_location
);

impl exports::whatsapp::connector::mark_as_read::Guest for Misbehaving {
    fn mark(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::mark_as_read::Input,
    ) -> Result<(), Error> {
        Err(transport("a test program marks nothing".into()))
    }
}

impl exports::whatsapp::connector::status_updated::Guest for Misbehaving {
    fn handle_request(
        _request: wit_trigger::WebhookRequest,
        _properties: exports::whatsapp::connector::status_updated::Properties,
        _secrets: wit_trigger::WebhookSecrets,
    ) -> Result<exports::whatsapp::connector::status_updated::Outcome, wit_trigger::WebhookError>
    {
        Err(wit_trigger::WebhookError::InvalidPayload(
            "a test program reports no status".into(),
        ))
    }
}

/// The other triggers: a test program reports none of their events.
macro_rules! reports_nothing {
    ($($interface:ident),*) => {$(
        impl exports::whatsapp::connector::$interface::Guest for Misbehaving {
            fn handle_request(
                _request: wit_trigger::WebhookRequest,
                _properties: exports::whatsapp::connector::$interface::Properties,
                _secrets: wit_trigger::WebhookSecrets,
            ) -> Result<exports::whatsapp::connector::$interface::Outcome, wit_trigger::WebhookError>
            {
                Err(wit_trigger::WebhookError::InvalidPayload(
                    "a test program reports only messages".into(),
                ))
            }
        }
    )*};
}

reports_nothing!(message_echoed, preference_changed, group_updated);

/// The group and blocklist actions: a test program calls none of them.
impl exports::whatsapp::connector::groups::Guest for Misbehaving {
    fn create(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::groups::CreateInput,
    ) -> Result<exports::whatsapp::connector::groups::Created, Error> {
        Err(transport("a test program makes no group".into()))
    }

    fn get_invite_link(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::groups::GroupInput,
    ) -> Result<exports::whatsapp::connector::groups::InviteLink, Error> {
        Err(transport("a test program makes no group".into()))
    }

    fn reset_invite_link(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::groups::GroupInput,
    ) -> Result<exports::whatsapp::connector::groups::InviteLink, Error> {
        Err(transport("a test program makes no group".into()))
    }

    fn remove_participants(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::groups::RemoveInput,
    ) -> Result<(), Error> {
        Err(transport("a test program makes no group".into()))
    }
}

impl exports::whatsapp::connector::block_users::Guest for Misbehaving {
    fn block(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::block_users::UsersInput,
    ) -> Result<exports::whatsapp::connector::block_users::UsersOutput, Error> {
        Err(transport("a test program blocks nobody".into()))
    }

    fn unblock(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::block_users::UsersInput,
    ) -> Result<exports::whatsapp::connector::block_users::UsersOutput, Error> {
        Err(transport("a test program blocks nobody".into()))
    }

    fn list(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::block_users::ListInput,
    ) -> Result<exports::whatsapp::connector::block_users::BlockedPage, Error> {
        Err(transport("a test program blocks nobody".into()))
    }
}

impl exports::whatsapp::connector::download_media::Guest for Misbehaving {
    fn download(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::download_media::Input,
        _destination: &wasip2::io::streams::OutputStream,
    ) -> Result<
        exports::whatsapp::connector::download_media::Output,
        exports::whatsapp::connector::download_media::TransferError,
    > {
        Err(
            exports::whatsapp::connector::download_media::TransferError::Stream(
                "a test program moves no file".into(),
            ),
        )
    }
}

impl exports::whatsapp::connector::upload_media::Guest for Misbehaving {
    fn upload(
        _connection: wit_connection::Connection,
        _input: exports::whatsapp::connector::upload_media::Input,
        _source: &wasip2::io::streams::InputStream,
    ) -> Result<
        exports::whatsapp::connector::upload_media::Output,
        exports::whatsapp::connector::download_media::TransferError,
    > {
        Err(
            exports::whatsapp::connector::download_media::TransferError::Stream(
                "a test program moves no file".into(),
            ),
        )
    }
}
