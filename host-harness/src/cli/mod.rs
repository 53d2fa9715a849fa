//! The subcommands: each turns its flags into calls of the runtime and prints the
//! answer; a refusal of the connector is exit 1, a failure of the host exit 3.

pub mod actions;
pub mod baseline;
pub mod bench;
pub mod counts;
pub mod demo;

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use host_harness::bindings::{Outcome, Properties, SendInput, WebhookRequest, removal_name};
use host_harness::endpoint::{Endpoint, EndpointOptions, Stats};
use host_harness::fakes::stub_graph::{self, StubGraph};
use host_harness::registration::{Registered, RegistrationStore, TriggerSpec};
use host_harness::serve::{self, ServeOptions};
use host_harness::{
    COMPONENT_PATH, Call, CallError, Connection, Connector, Outbound, bindings, json,
};
use serde_json::{Value, json};

use crate::{Cli, Command, DisableArgs, EnableArgs, GraphArgs, SendArgs, ServeArgs, TriggerArgs};

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
        Command::Serve(args) => serve_command(connector, args).await,
        Command::Enable(args) => enable(&connector, args).await,
        Command::Disable(args) => disable(&connector, args).await,
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

/// The subscription `enable`'s flags describe, checked: the statuses' names and the
/// recipient (as the status trigger reads it) here; the sender number by the component's
/// `new-registration`.
fn subscription_trigger(args: &EnableArgs) -> Result<TriggerSpec, Failure> {
    let status = &args.status_trigger;
    if !status.statuses {
        return Ok(TriggerSpec::MessageReceived {
            sender_number: args.sender_number.clone(),
        });
    }
    bindings::status_properties(&status.status, status.recipient.clone())?;
    if let Err(reason) =
        whatsapp_connector::identity::SenderFilter::parse(status.recipient.as_deref())
    {
        return Err(Failure::Connector(
            json!({"kind": "invalid-input", "field": "recipient", "reason": reason}),
        ));
    }
    Ok(TriggerSpec::StatusUpdated {
        statuses: status.status.clone(),
        recipient: status.recipient.clone(),
    })
}

/// Switches a trigger on. The phone number's first subscription makes the
/// registration and points the number's webhooks at it (Meta verifies the URL); a
/// later one, for the same URL, is only added to the store: Meta is not called again.
async fn enable(connector: &Connector, args: EnableArgs) -> Result<(), Failure> {
    let store = RegistrationStore::File(args.out.clone());
    let (mut graph_connector, connection) = graph_setup(connector, &args.graph)?;
    if args.graph.graph_url.is_none() {
        let stub = verifying_stub(connector, &store);
        graph_connector = graph_connector.with_outbound(stub.outbound());
    }
    let trigger = subscription_trigger(&args)?;
    let properties = Properties {
        sender_number: args.sender_number.clone(),
    };
    // Validates the connection, the sender number and the URL, with no network.
    let registration = answered(
        graph_connector
            .new_registration(&connection, &properties, &args.webhook_url)
            .await,
    )?;
    // Read, change, write: one `enable` or `disable` at a time per file (taken only once
    // the inputs are valid, so that a refused `enable` leaves no lock file behind).
    let _lock = store.lock()?;
    if let Some(mut registered) = store.load()? {
        let kept = &registered.registration;
        if kept.callback_url != args.webhook_url
            || kept.phone_number_id != registration.phone_number_id
        {
            let reason = format!(
                "{} holds phone number {}'s registration for {}: a phone number has one \
                 callback URL, so subscribe with that URL (or disable it first)",
                args.out.display(),
                kept.phone_number_id,
                kept.callback_url
            );
            return Err(Failure::Connector(
                json!({"kind": "invalid-input", "field": "webhook-url", "reason": reason}),
            ));
        }
        let id = registered.subscribe(trigger, args.events.clone());
        store.update(&registered)?;
        return print_json(&json!({
            "subscribed": id,
            "meta": "not called: the phone number's callback already points at this registration",
            "registration": registered.redacted(),
            "registration_file": args.out,
        }));
    }
    let mut registered = Registered::new(registration);
    let id = registered.subscribe(trigger, args.events.clone());
    store.create(&registered)?;
    let enabled = graph_connector
        .enable(&connection, &registered.registration)
        .await;
    if !matches!(enabled, Ok(Ok(()))) {
        // Nothing was enabled: the file would only keep a useless secret around.
        let _ = std::fs::remove_file(&args.out);
    }
    answered(enabled)?;
    print_json(&json!({
        "subscribed": id,
        "enabled": registered.registration.redacted(),
        "registration_file": args.out,
    }))
}

/// Switches a trigger off: its subscription only, while others remain; the last one
/// out (or no --subscription: all of them) removes the phone number's callback.
async fn disable(connector: &Connector, args: DisableArgs) -> Result<(), Failure> {
    let store = RegistrationStore::File(args.registration.clone());
    let _lock = store.lock()?;
    let mut registered = store.load()?.with_context(|| {
        format!(
            "no registration at {} (the last disable removes it)",
            args.registration.display()
        )
    })?;
    if let Some(id) = &args.subscription {
        if !registered.unsubscribe(id) {
            return Err(anyhow::anyhow!(
                "{} has no subscription {id}",
                args.registration.display()
            )
            .into());
        }
        if !registered.subscriptions.is_empty() {
            store.update(&registered)?;
            return print_json(&json!({
                "unsubscribed": id,
                "remaining": registered.subscriptions,
                "meta": "not called: other subscriptions still use the phone number's callback",
            }));
        }
    }
    let registration = &registered.registration;
    let mut graph = args.graph;
    graph
        .phone_number_id
        .get_or_insert_with(|| registration.phone_number_id.clone());
    let (connector, connection) = graph_setup(connector, &graph)?;
    let removal = answered(connector.disable(&connection, registration).await)?;
    store.remove()?;
    print_json(&json!({
        "unsubscribed": args.subscription,
        "removal": removal_name(removal),
        "callback_url": registration.callback_url,
    }))
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

/// The built-in stub Graph API, verifying a new callback URL as Meta does: its GET
/// reaches, in process, the same endpoint `serve --registration` would run, which
/// answers with the token in `store`.
fn verifying_stub(connector: &Connector, store: &RegistrationStore) -> Arc<StubGraph> {
    let options = EndpointOptions {
        registration: Some(store.clone()),
        ..EndpointOptions::new(
            Properties {
                sender_number: None,
            },
            None,
            None,
        )
    };
    let handshakes_only = Arc::new(Mutex::new(std::io::sink()));
    let endpoint = Endpoint::new(connector.clone(), options, handshakes_only, Arc::default());
    StubGraph::new(Some(stub_graph::in_process(Arc::new(endpoint))))
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
    let status = args.status_trigger;
    if status.statuses {
        let properties = bindings::status_properties(&status.status, status.recipient)?;
        return match connector
            .handle_status_webhook(&request, &properties, &secrets)
            .await?
        {
            Ok(bindings::StatusOutcome::Events(events)) => {
                let events = events
                    .into_iter()
                    .map(bindings::status_event)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(anyhow::Error::from)?;
                print_json(&events)
            }
            Ok(bindings::StatusOutcome::Respond(r)) => Err(anyhow::anyhow!(
                "the component answered a POST with a direct {} response",
                r.status
            )
            .into()),
            Err(e) => Err(Failure::Connector(json::webhook_error(&e))),
        };
    }
    let properties = Properties {
        sender_number: args.sender_number,
    };
    match connector
        .handle_webhook(&request, &properties, &secrets)
        .await?
    {
        Ok(Outcome::Events(events)) => {
            let events = events
                .into_iter()
                .map(bindings::event)
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::from)?;
            print_json(&events)
        }
        Ok(Outcome::Respond(r)) => Err(anyhow::anyhow!(
            "the component answered a POST with a direct {} response",
            r.status
        )
        .into()),
        Err(e) => Err(Failure::Connector(json::webhook_error(&e))),
    }
}

async fn serve_command(connector: Connector, args: ServeArgs) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr().context("no local address")?;
    let options = EndpointOptions {
        registration: args.registration.map(RegistrationStore::File),
        dedup_window: args.dedup_window,
        reuse_instances: args.reuse_instances,
        ..EndpointOptions::new(
            Properties {
                sender_number: args.sender_number,
            },
            args.app_secret.map(Into::into),
            args.verify_token.map(Into::into),
        )
    };
    let framing = ServeOptions {
        max_body: args.max_body,
        read_timeout: Duration::from_millis(args.read_timeout_ms),
        max_concurrency: args.max_concurrency,
        access_log: !args.no_access_log,
    };
    eprintln!("serve: listening on http://{address} ({options:?}, {framing:?})");
    if let Some(store) = &options.registration
        // A file that exists must be a registration; one that does not may come later.
        && let Some(registered) = store.load()?
        && !registered.subscriptions.is_empty()
    {
        eprintln!(
            "serve: {} subscription(s) from the registration file; --sender-number is not used: {}",
            registered.subscriptions.len(),
            serde_json::to_string(&registered.subscriptions).unwrap_or_default()
        );
    }
    if options.app_secret.is_none() {
        eprintln!(
            "serve: WARNING: --allow-unsigned: POSTs are accepted without X-Hub-Signature-256. \
             Anyone who finds this URL can inject events, and a forged message carrying a \
             genuine message's ID would make the real one be dropped as a duplicate."
        );
    }
    if let Some(RegistrationStore::File(path)) = &options.registration
        && !path.exists()
    {
        eprintln!(
            "serve: no registration at {} yet; handshakes are refused until `enable` writes it",
            path.display()
        );
    }
    let sink: host_harness::endpoint::EventSink = Arc::new(Mutex::new(std::io::stdout()));
    if args.native_baseline {
        eprintln!("serve: --native-baseline: the component is not used (benchmark baseline)");
        let baseline = Arc::new(baseline::NativeEndpoint::new(
            options.app_secret.as_ref().map(|s| s.expose().clone()),
            options.properties.sender_number.clone(),
            sink,
            options.dedup_window,
        ));
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve::serve(baseline.clone(), listener, framing, shutdown).await?;
        eprintln!("serve: stopped {}", baseline.stats_summary());
        return Ok(());
    }
    let stats = Arc::new(Stats::default());
    let endpoint = Arc::new(Endpoint::new(connector, options, sink, stats.clone()));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve::serve(endpoint.clone(), listener, framing, shutdown).await?;
    let mut summary = stats.summary();
    if endpoint.options().reuse_instances > 0 {
        summary["instances_made"] = endpoint.instances_made().into();
    }
    eprintln!("serve: stopped {summary}");
    Ok(())
}
