//! `host-harness`: try the WhatsApp connector component from a shell.
//!
//! Exit codes: 0 success; 1 the connector refused or failed (a JSON error on stderr);
//! 2 bad usage; 3 the host itself failed (component not loadable, trap, I/O).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use host_harness::bindings::{Outcome, Properties, SendInput, WebhookRequest, WebhookSecrets};
use host_harness::registration::in_process_callback;
use host_harness::serve::{self, ServeOptions, ServeStats};
use host_harness::stub_graph::StubGraph;
use host_harness::{
    Allocation, COMPONENT_PATH, Connection, Connector, Limits, Outbound, OutboundLimits,
    RegistrationStore, bench, demo, json,
};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "host-harness",
    version,
    about = "Load the WhatsApp connector component and run it: send messages, feed it webhooks, serve a webhook endpoint."
)]
struct Cli {
    /// The component to load (default: the one built from this checkout).
    #[arg(long, global = true, value_name = "PATH")]
    component: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(subcommand)]
    command: Command,
}

/// What one call of the component may use; past it, the call fails and the host goes on.
#[derive(Args)]
struct LimitArgs {
    /// Linear memory one call may use, in bytes.
    #[arg(long, global = true, value_name = "BYTES", default_value_t = Limits::default().memory_bytes)]
    max_memory: usize,
    /// Running time of one call, in milliseconds (waiting on HTTP excluded).
    #[arg(long, global = true, value_name = "MS", default_value_t = millis(Limits::default().deadline))]
    deadline_ms: u64,
    /// Connect timeout of the component's outbound requests, in milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = millis(OutboundLimits::default().connect_timeout))]
    connect_timeout_ms: u64,
    /// Response timeout (head, and between body chunks) of outbound requests, in milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = millis(OutboundLimits::default().response_timeout))]
    response_timeout_ms: u64,
    /// Response body bytes the component may read per outbound request.
    #[arg(long, global = true, value_name = "BYTES", default_value_t = OutboundLimits::default().max_response_bytes)]
    max_response_bytes: u64,
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            memory_bytes: self.max_memory,
            deadline: Duration::from_millis(self.deadline_ms),
            outbound: OutboundLimits {
                connect_timeout: Duration::from_millis(self.connect_timeout_ms),
                response_timeout: Duration::from_millis(self.response_timeout_ms),
                max_response_bytes: self.max_response_bytes,
            },
            ..Limits::default()
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the end-to-end demo on the built-in stub Graph API (no credentials, no network).
    Demo,
    /// Action "Send Message": send a text message and print the output JSON.
    Send(SendArgs),
    /// Connection test: read the business phone number with the token and print it.
    TestConnection(GraphArgs),
    /// Trigger "Message received": run one webhook POST body through the component and
    /// print its events as a JSON array.
    Trigger(TriggerArgs),
    /// Serve the trigger's webhook endpoint over HTTP; events go to stdout as JSON lines.
    Serve(ServeArgs),
    /// Switch the trigger on: make a registration (written to --out, mode 0600), then
    /// point the phone number's webhooks at --webhook-url (Meta verifies it first).
    Enable(EnableArgs),
    /// Switch the trigger off: remove the phone number's alternate callback if it is
    /// still the registration's URL.
    Disable(DisableArgs),
    /// Measure the connector: load, trigger (fresh and reused instance, native), send,
    /// serve under load, sizes. Build with --release for meaningful figures.
    Bench(BenchArgs),
    /// Compile a component ahead of time for this host (load it later with --component).
    Precompile(PrecompileArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Print one JSON object with every figure instead of a table.
    #[arg(long)]
    json: bool,
    /// Few iterations: checks the bench works, measures little.
    #[arg(long)]
    quick: bool,
}

#[derive(Args)]
struct PrecompileArgs {
    /// The component (.wasm).
    input: PathBuf,
    /// Where to write the precompiled artifact (.cwasm).
    output: PathBuf,
}

#[derive(Args)]
struct GraphArgs {
    /// System user access token (default with the built-in stub: a placeholder).
    #[arg(long, env = "WHATSAPP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Phone number ID (default with the built-in stub: 100000000000001).
    #[arg(long, env = "WHATSAPP_PHONE_NUMBER_ID")]
    phone_number_id: Option<String>,
    /// Send the Graph API calls to this base URL (e.g. http://127.0.0.1:8080) instead of
    /// answering them from the built-in stub. Path and headers are unchanged.
    #[arg(long, value_name = "URL")]
    graph_url: Option<String>,
}

#[derive(Args)]
struct SendArgs {
    /// Send message to: a phone number starting with "+", or a business-scoped user ID
    /// (e.g. US.13491208655302741918), which is sent as `recipient`.
    #[arg(long)]
    to: String,
    /// Message to send (1 to 4096 characters).
    #[arg(long)]
    message: String,
    #[command(flatten)]
    graph: GraphArgs,
}

#[derive(Args)]
struct TriggerArgs {
    /// The webhook body: a file, or - for stdin.
    #[arg(long, value_name = "FILE")]
    payload: PathBuf,
    /// Sender number or user ID: only messages from this phone number, or from this
    /// business-scoped user ID (US.…), become events.
    #[arg(long)]
    sender_number: Option<String>,
    /// The Meta app secret: when set, --signature must be the body's X-Hub-Signature-256.
    #[arg(long, env = "WHATSAPP_APP_SECRET", hide_env_values = true)]
    app_secret: Option<String>,
    /// The X-Hub-Signature-256 header value, `sha256=<hex>`.
    #[arg(long)]
    signature: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The token Meta's hub.challenge GET must present.
    #[arg(long, env = "WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    verify_token: Option<String>,
    /// The Meta app secret: POSTs must then carry a valid X-Hub-Signature-256.
    #[arg(long, env = "WHATSAPP_APP_SECRET", hide_env_values = true)]
    app_secret: Option<String>,
    /// Sender number or user ID: only messages from this phone number, or from this
    /// business-scoped user ID (US.…), become events.
    #[arg(long)]
    sender_number: Option<String>,
    /// Largest accepted body in bytes; larger ones get 413.
    #[arg(long, default_value_t = serve::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Time for a request's headers, and for its whole body, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = millis(serve::DEFAULT_READ_TIMEOUT))]
    read_timeout_ms: u64,
    /// Requests in flight at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = serve::DEFAULT_MAX_CONCURRENCY)]
    max_concurrency: usize,
    /// Deduplication keys (message IDs) remembered; a repeat is dropped. 0: off.
    #[arg(long, value_name = "KEYS", default_value_t = serve::DEFAULT_DEDUP_WINDOW)]
    dedup_window: usize,
    /// Do not log one line per request on stderr.
    #[arg(long)]
    no_access_log: bool,
    /// A registration file written by `enable`: the hub.challenge GET must present its
    /// verify token. Read at every handshake, so `serve` may start before `enable` runs.
    #[arg(long, value_name = "FILE")]
    registration: Option<PathBuf>,
}

#[derive(Args)]
struct EnableArgs {
    /// The webhook URL Meta is to deliver to: https, at most 200 characters.
    #[arg(long, value_name = "URL")]
    webhook_url: String,
    /// Where to write the registration (it holds the verify token: mode 0600, never
    /// overwritten). `serve --registration` and `disable --registration` read it.
    #[arg(long, value_name = "FILE", default_value = "registration.json")]
    out: PathBuf,
    /// Sender number or user ID: checked now, so that a bad one fails before anything is
    /// enabled.
    #[arg(long)]
    sender_number: Option<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

#[derive(Args)]
struct DisableArgs {
    /// The registration file written by `enable`.
    #[arg(long, value_name = "FILE")]
    registration: PathBuf,
    #[command(flatten)]
    graph: GraphArgs,
}

/// A failure, and how the process reports it.
enum Failure {
    /// The connector said no: a structured error, exit 1.
    Connector(Value),
    /// The host failed: exit 3.
    Host(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Host(e)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Connector(error)) => {
            eprintln!("{}", json!({ "error": error }));
            ExitCode::from(1)
        }
        Err(Failure::Host(error)) => {
            eprintln!("{}", json!({ "error": json::host_error(&error) }));
            ExitCode::from(3)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let component = cli
        .component
        .clone()
        .unwrap_or_else(|| PathBuf::from(COMPONENT_PATH));
    match &cli.command {
        Command::Bench(args) => {
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
    let connector = Connector::load_with(&component, cli.limits.limits(), Allocation::default())?;
    match cli.command {
        Command::Bench(_) | Command::Precompile(_) => unreachable!("handled above"),
        Command::Demo => {
            let summary = demo::run(&connector, &mut std::io::stdout().lock()).await?;
            println!("{summary}");
            Ok(())
        }
        Command::Send(args) => {
            let (connector, connection) = graph_setup(&connector, &args.graph)?;
            let input = SendInput {
                message: args.message,
                send_message_to: args.to,
            };
            let output = connector
                .send(&connection, &input)
                .await?
                .map_err(|e| Failure::Connector(json::connector_error(&e)))?;
            print_json(&json::send_output(&output))
        }
        Command::TestConnection(args) => {
            let (connector, connection) = graph_setup(&connector, &args)?;
            let account = connector
                .test_connection(&connection)
                .await?
                .map_err(|e| Failure::Connector(json::connector_error(&e)))?;
            print_json(&json::account(&account))
        }
        Command::Trigger(args) => trigger(&connector, args).await,
        Command::Serve(args) => serve_command(connector, args).await,
        Command::Enable(args) => enable(&connector, args).await,
        Command::Disable(args) => disable(&connector, args).await,
    }
}

async fn enable(connector: &Connector, args: EnableArgs) -> Result<(), Failure> {
    let store = RegistrationStore::File(args.out.clone());
    let (mut graph_connector, connection) = graph_setup(connector, &args.graph)?;
    if args.graph.graph_url.is_none() {
        // The built-in stub verifies the URL as Meta does; it reaches it in process,
        // as if this host served it.
        let callback = in_process_callback(connector.clone(), store.clone());
        graph_connector = connector.with_outbound(StubGraph::new(Some(callback)).outbound());
    }
    let properties = Properties {
        sender_number: args.sender_number,
    };
    let registration = graph_connector
        .new_registration(&connection, &properties, &args.webhook_url)
        .await?
        .map_err(|e| Failure::Connector(json::connector_error(&e)))?;
    store.save_new(&registration)?;
    let enabled = graph_connector.enable(&connection, &registration).await;
    if !matches!(enabled, Ok(Ok(()))) {
        // Nothing was enabled: the file would only keep a useless secret around.
        let _ = std::fs::remove_file(&args.out);
    }
    enabled?.map_err(|e| Failure::Connector(json::connector_error(&e)))?;
    print_json(&json!({
        "enabled": registration.redacted(),
        "registration_file": args.out,
    }))
}

async fn disable(connector: &Connector, args: DisableArgs) -> Result<(), Failure> {
    let registration = RegistrationStore::File(args.registration.clone())
        .load()?
        .with_context(|| format!("no registration at {}", args.registration.display()))?;
    let mut graph = args.graph;
    graph
        .phone_number_id
        .get_or_insert_with(|| registration.phone_number_id.clone());
    let (connector, connection) = graph_setup(connector, &graph)?;
    let removal = connector
        .disable(&connection, &registration)
        .await?
        .map_err(|e| Failure::Connector(json::connector_error(&e)))?;
    print_json(&json!({
        "removal": json::removal(removal),
        "callback_url": registration.callback_url,
    }))
}

/// The connection and the outbound route for Graph API calls: the built-in stub (with
/// placeholder credentials) unless `--graph-url` names a server.
fn graph_setup(connector: &Connector, args: &GraphArgs) -> anyhow::Result<(Connector, Connection)> {
    let stub = args.graph_url.is_none();
    let connector = match &args.graph_url {
        Some(url) => connector.with_outbound(Outbound::redirect(url)?),
        None => connector.clone(),
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
        system_user_access_token: placeholder(&args.token, "stub-access-token"),
        phone_number_id: placeholder(&args.phone_number_id, demo::STUB_PHONE_NUMBER_ID),
        ..Connection::default()
    };
    Ok((connector, connection))
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
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
    let properties = Properties {
        sender_number: args.sender_number,
    };
    let secrets = WebhookSecrets {
        app_secret: args.app_secret,
        verify_token: None,
    };
    match connector
        .handle_webhook(&request, &properties, &secrets)
        .await?
    {
        Ok(Outcome::Events(events)) => {
            let events = events
                .into_iter()
                .map(json::event)
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::from)?;
            print_json(&events)
        }
        Ok(Outcome::Respond(r)) => Err(Failure::Host(anyhow::anyhow!(
            "the component answered a POST with a direct {} response",
            r.status
        ))),
        Err(e) => Err(Failure::Connector(json::webhook_error(&e))),
    }
}

async fn serve_command(connector: Connector, args: ServeArgs) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr().context("no local address")?;
    let options = ServeOptions {
        properties: Properties {
            sender_number: args.sender_number,
        },
        secrets: WebhookSecrets {
            app_secret: args.app_secret,
            verify_token: args.verify_token,
        },
        max_body: args.max_body,
        read_timeout: Duration::from_millis(args.read_timeout_ms),
        max_concurrency: args.max_concurrency,
        dedup_window: args.dedup_window,
        access_log: !args.no_access_log,
        registration: args.registration.map(RegistrationStore::File),
    };
    if let Some(store) = &options.registration {
        // A file that exists must be a registration; one that does not may come later.
        store.load()?;
    }
    eprintln!("serve: listening on http://{address} ({options:?})");
    if let Some(RegistrationStore::File(path)) = &options.registration
        && !path.exists()
    {
        eprintln!(
            "serve: no registration at {} yet; handshakes are refused until `enable` writes it",
            path.display()
        );
    }
    let stats = Arc::new(ServeStats::default());
    let sink: serve::EventSink = Arc::new(Mutex::new(std::io::stdout()));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve::serve(connector, listener, options, sink, stats.clone(), shutdown).await?;
    eprintln!("serve: stopped {}", stats.summary());
    Ok(())
}
