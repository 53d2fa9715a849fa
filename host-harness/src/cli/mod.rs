//! The subcommands: each turns its flags into calls of the runtime and prints the
//! answer; a refusal of the connector is exit 1, a failure of the host exit 3.

pub mod actions;
pub mod baseline;
pub mod bench;
pub mod counts;
pub mod demo;
pub mod gateway;

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context as _;
use host_harness::bindings::{SendInput, WebhookRequest};
use host_harness::fakes::stub_graph::StubGraph;
use host_harness::registration::TriggerSpec;
use host_harness::triggers::{Handled, Trigger};
use host_harness::{
    COMPONENT_PATH, Call, CallError, Connection, Connector, Outbound, bindings, json,
};
use serde_json::{Value, json};

use crate::{Cli, Command, EnableArgs, GraphArgs, SendArgs, TriggerArgs};

/// A failure, and how the process reports it.
pub enum Failure {
    /// The connector said no: a structured error, exit 1.
    Connector(Value),
    /// The call, or the host, failed: exit 3.
    Call(CallError),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Call(CallError::Host(e))
    }
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Self {
        Failure::Call(e)
    }
}

/// The component's answer, or the failure to report.
pub(crate) fn answered<T>(call: Call<T>) -> Result<T, Failure> {
    answered_by(call, json::connector_error)
}

/// The same, for a call whose error is another WIT type, as `to_json` writes it.
pub(crate) fn answered_by<T, E>(call: Call<T, E>, to_json: fn(&E) -> Value) -> Result<T, Failure> {
    call?.map_err(|e| Failure::Connector(to_json(&e)))
}

/// Log lines go to stderr through `tracing`: text (no colours, for files and journals),
/// or one JSON object per line (`serve --log-format json`) for a log pipeline.
pub(crate) fn init_logs(json: bool) {
    let filter = tracing_subscriber::filter::LevelFilter::INFO;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(filter)
        .with_target(false)
        .with_ansi(false);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let component = cli
        .component
        .clone()
        .unwrap_or_else(|| PathBuf::from(COMPONENT_PATH));
    match &cli.command {
        Command::Bench(args) => {
            if let (Some(what), Some(calls)) = (args.count_call, args.calls) {
                return Ok(counts::child(&component, what, calls).await?);
            }
            if args.counts {
                let component = component.clone();
                let report = tokio::task::spawn_blocking(move || counts::counts(&component))
                    .await
                    .map_err(anyhow::Error::from)??;
                return print_json(&report);
            }
            let plan = if args.quick {
                bench::Plan::quick()
            } else {
                bench::Plan::full()
            };
            let report = bench::run(&component, plan).await?;
            if args.json {
                println!("{report}");
            } else {
                print!("{}", bench::table(&report));
            }
            return Ok(());
        }
        Command::Precompile(args) => {
            let bytes = host_harness::precompile(&args.input, &args.output)?;
            return print_json(&json!({"output": args.output, "bytes": bytes}));
        }
        // The store's own commands need no component.
        Command::Registrations(args) => return gateway::registrations(args).await,
        Command::ImportRegistration(args) => return gateway::import(args).await,
        Command::DeadLetters(args) => return gateway::dead_letters(args).await,
        Command::Redrive(args) => return gateway::redrive(args).await,
        _ => {}
    }
    let (mut limits, allocation) = (cli.limits.limits(), cli.limits.allocation());
    if let Command::Serve(args) = &cli.command {
        // The memory of a webhook call follows its body, up to the largest body served.
        limits.max_webhook_body = args.max_body;
    }
    let connector = if cli.precompiled {
        // SAFETY: the operator said, with --precompiled, that this artifact is their own
        // `precompile` output: native code they trust (wasmtime checks it was made for
        // this engine and configuration, not what it does).
        unsafe { Connector::load_precompiled(&component, limits, allocation)? }
    } else {
        Connector::load(&component, limits, allocation)?
    };
    match cli.command {
        Command::Bench(_) | Command::Precompile(_) => unreachable!("handled above"),
        Command::Demo => {
            let summary = demo::run(&connector, &mut std::io::stdout().lock()).await?;
            println!("{summary}");
            Ok(())
        }
        Command::Send(args) => send(&connector, args).await,
        Command::SendTemplate(args) => actions::send_template(&connector, args).await,
        Command::SendMedia(args) => actions::send_media(&connector, args).await,
        Command::SendInteractive(args) => actions::send_interactive(&connector, args).await,
        Command::SendFlow(args) => actions::send_flow(&connector, args).await,
        Command::CreateGroup(args) => actions::create_group(&connector, args).await,
        Command::GetGroupInviteLink(args) => {
            actions::group_invite_link(&connector, args, false).await
        }
        Command::ResetGroupInviteLink(args) => {
            actions::group_invite_link(&connector, args, true).await
        }
        Command::RemoveGroupParticipants(args) => {
            actions::remove_group_participants(&connector, args).await
        }
        Command::BlockUsers(args) => actions::block_users(&connector, args, true).await,
        Command::UnblockUsers(args) => actions::block_users(&connector, args, false).await,
        Command::ListBlockedUsers(args) => actions::list_blocked_users(&connector, args).await,
        Command::SendReaction(args) => actions::send_reaction(&connector, args).await,
        Command::SendLocation(args) => actions::send_location(&connector, args).await,
        Command::MarkAsRead(args) => actions::mark_as_read(&connector, args).await,
        Command::DownloadMedia(args) => actions::download_media(&connector, args).await,
        Command::UploadMedia(args) => actions::upload_media(&connector, args).await,
        Command::TestConnection(args) => {
            let (connector, connection) = graph_setup(&connector, &args)?;
            let account = answered(connector.test_connection(&connection).await)?;
            print_json(&json::account(&account))
        }
        Command::Trigger(args) => trigger(&connector, args).await,
        Command::Serve(args) => gateway::serve(connector, args).await,
        Command::Enable(args) => gateway::enable(&connector, args).await,
        Command::Disable(args) => gateway::disable(&connector, args).await,
        Command::Registrations(_)
        | Command::ImportRegistration(_)
        | Command::DeadLetters(_)
        | Command::Redrive(_) => {
            unreachable!("handled above")
        }
    }
}

async fn send(connector: &Connector, args: SendArgs) -> Result<(), Failure> {
    let (connector, connection) = graph_setup(connector, &args.graph)?;
    let input = SendInput {
        message: args.message,
        send_message_to: args.to,
        reply_to: args.reply_to,
        preview_url: args.preview_url.then_some(true),
    };
    let output = answered(connector.send(&connection, &input).await)?;
    print_json(&json::send_output(&output))
}

/// The subscription `enable`'s flags describe, checked: the properties the host reads
/// (statuses, update kinds) and the phone numbers or BSUIDs (as the triggers read them)
/// here; the sender number by the component's `new-registration`.
pub(crate) fn subscription_trigger(args: &EnableArgs) -> Result<TriggerSpec, Failure> {
    let spec = args.which.spec(args.sender_number.clone());
    let who = match &spec {
        TriggerSpec::MessageReceived { .. } => None,
        TriggerSpec::StatusUpdated { recipient, .. } | TriggerSpec::MessageEchoed { recipient } => {
            Some(("recipient", recipient))
        }
        TriggerSpec::PreferenceChanged { customer } => Some(("customer", customer)),
        TriggerSpec::GroupUpdated { group_id, .. } => {
            if group_id.as_deref().is_some_and(str::is_empty) {
                return Err(Failure::Connector(
                    json!({"kind": "invalid-input", "field": "group-id", "reason": "is empty"}),
                ));
            }
            None
        }
    };
    if let Some((field, Some(value))) = who
        && let Err(reason) = whatsapp_connector::identity::SenderFilter::parse(Some(value))
    {
        return Err(Failure::Connector(
            json!({"kind": "invalid-input", "field": field, "reason": reason}),
        ));
    }
    Trigger::from_spec(&spec)?;
    Ok(spec)
}

/// The connection and the outbound route for Graph API calls: the built-in stub (with
/// placeholder credentials) unless `--graph-url` names a server.
pub(crate) fn graph_setup(
    connector: &Connector,
    args: &GraphArgs,
) -> anyhow::Result<(Connector, Connection)> {
    let (outbound, stub) = match &args.graph_url {
        Some(url) => (Outbound::redirect(url)?, false),
        None => (StubGraph::new(None).outbound(), true),
    };
    let placeholder = |value: &Option<String>, default: &str| {
        value.clone().unwrap_or_else(|| {
            if stub {
                default.to_owned()
            } else {
                String::new()
            }
        })
    };
    let connection = Connection {
        system_user_access_token: placeholder(&args.token, "stub-access-token").into(),
        phone_number_id: placeholder(&args.phone_number_id, demo::STUB_PHONE_NUMBER_ID),
        ..Connection::default()
    };
    Ok((connector.with_outbound(outbound), connection))
}

pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).map_err(anyhow::Error::from)?;
    writeln!(stdout).map_err(anyhow::Error::from)?;
    Ok(())
}

async fn trigger(connector: &Connector, args: TriggerArgs) -> Result<(), Failure> {
    let body = if args.payload.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .context("cannot read the payload from stdin")?;
        body
    } else {
        std::fs::read(&args.payload)
            .with_context(|| format!("cannot read {}", args.payload.display()))?
    };
    let headers = args
        .signature
        .map(|s| vec![("x-hub-signature-256".to_owned(), s)])
        .unwrap_or_default();
    let request = WebhookRequest {
        method: "POST".into(),
        headers,
        query: String::new(),
        body,
    };
    let secrets = bindings::WebhookSecrets {
        app_secret: args.app_secret,
        verify_token: None,
    };
    let trigger = Trigger::from_spec(&args.which.spec(args.sender_number))?;
    match trigger.handle(connector, &request, &secrets).await? {
        Ok(Ok(Handled::Events(events))) => {
            print_json(&events.to_json().map_err(anyhow::Error::from)?)
        }
        Ok(Ok(Handled::Respond(r))) => Err(anyhow::anyhow!(
            "the component answered a POST with a direct {} response",
            r.status
        )
        .into()),
        Ok(Err(broken)) => Err(anyhow::Error::from(broken).into()),
        Err(e) => Err(Failure::Connector(json::webhook_error(&e))),
    }
}

/// Resolves when the process is asked to stop (SIGINT or SIGTERM).
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
