//! `host-harness`: try the WhatsApp connector component from a shell. This file and
//! `cli/` are the only places that know about flags and exit codes.
//!
//! Exit codes: 0 success; 1 the connector refused or failed (a JSON error on stderr);
//! 2 bad usage; 3 the host itself failed (component not loadable, trap, I/O).

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use host_harness::{Allocation, Limits, OutboundLimits, serve};
use serde_json::json;

use crate::cli::Failure;

/// mimalloc rather than glibc's allocator: `serve`'s work per webhook and per delivery
/// is many small, short-lived allocations across threads (hyper, tokio, wasmtime's
/// per-call store, SQLite), which glibc's arenas serve slowly (`docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// --component is a .cwasm made by `host-harness precompile` on this machine. It is
    /// native code and is trusted as such: load only your own.
    #[arg(long, global = true, requires = "component")]
    precompiled: bool,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(subcommand)]
    command: Command,
}

/// What one call of the component may use; past it, the call fails and the host goes on.
#[derive(Args)]
struct LimitArgs {
    /// Linear memory one call may use, in bytes (a webhook call: plus its allowance).
    #[arg(long, global = true, value_name = "BYTES", default_value_t = Limits::default().memory_bytes)]
    max_memory: usize,
    /// A webhook call may use this many more bytes of linear memory per byte of its
    /// body: the events grow with the body, so a valid batch is never stopped for its size.
    #[arg(long, global = true, value_name = "N", default_value_t = Limits::default().memory_per_body_byte)]
    memory_per_body_byte: usize,
    /// Running time of one call, in milliseconds (waiting on HTTP excluded).
    #[arg(long, global = true, value_name = "MS", default_value_t = millis(Limits::default().deadline))]
    deadline_ms: u64,
    /// Connect timeout of the component's outbound requests, in milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = millis(OutboundLimits::default().connect_timeout))]
    connect_timeout_ms: u64,
    /// Response timeout (head, and between body chunks) of outbound requests, in milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = millis(OutboundLimits::default().response_timeout))]
    response_timeout_ms: u64,
    /// Whole outbound request (sending it, and its answer to the last byte), in
    /// milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = millis(OutboundLimits::default().request_timeout))]
    request_timeout_ms: u64,
    /// The same for a request to Meta's media host (a file of up to 100 MB).
    #[arg(long, global = true, value_name = "MS", default_value_t = millis(OutboundLimits::default().media_timeout))]
    media_timeout_ms: u64,
    /// Response body bytes the component may read per outbound request.
    #[arg(long, global = true, value_name = "BYTES", default_value_t = OutboundLimits::default().max_response_bytes)]
    max_response_bytes: u64,
    /// The same for a media file from Meta's media host (Download Media).
    #[arg(long, global = true, value_name = "BYTES", default_value_t = OutboundLimits::default().max_media_bytes)]
    max_media_bytes: u64,
    /// How instances are allocated: `pooling` (slots reserved up front, about 1 TiB of
    /// address space for 128: fastest) or `on-demand` (mapped per instance: for hosts
    /// with address-space limits, strict overcommit, or valgrind).
    #[arg(long, global = true, value_enum, default_value = "pooling")]
    allocator: AllocatorArg,
    /// With the pooling allocator: instance slots in the pool (each reserves its memory's
    /// address space up front).
    #[arg(long, global = true, value_name = "N", default_value_t = 128)]
    pool_instances: u32,
    /// Running time of a media transfer's call, in milliseconds (waiting on HTTP excluded).
    #[arg(long, global = true, value_name = "MS", default_value_t = millis(Limits::default().transfer_deadline))]
    transfer_deadline_ms: u64,
}

/// `--allocator`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum AllocatorArg {
    Pooling,
    OnDemand,
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

impl LimitArgs {
    fn allocation(&self) -> Allocation {
        match self.allocator {
            AllocatorArg::Pooling => Allocation::Pooling {
                instances: self.pool_instances.max(1),
            },
            AllocatorArg::OnDemand => Allocation::OnDemand,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            memory_bytes: self.max_memory,
            memory_per_body_byte: self.memory_per_body_byte,
            deadline: Duration::from_millis(self.deadline_ms),
            transfer_deadline: Duration::from_millis(self.transfer_deadline_ms),
            outbound: OutboundLimits {
                connect_timeout: Duration::from_millis(self.connect_timeout_ms),
                response_timeout: Duration::from_millis(self.response_timeout_ms),
                request_timeout: Duration::from_millis(self.request_timeout_ms),
                media_timeout: Duration::from_millis(self.media_timeout_ms),
                max_response_bytes: self.max_response_bytes,
                max_media_bytes: self.max_media_bytes,
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
    /// Action "Send Template": send an approved message template.
    SendTemplate(cli::actions::TemplateArgs),
    /// Action "Send Media": send an image, video, audio, document or sticker.
    SendMedia(cli::actions::MediaArgs),
    /// Action "Send Interactive": send reply buttons, a list or a URL button.
    SendInteractive(cli::actions::InteractiveArgs),
    /// Action "Send Flow": send a WhatsApp Flow (a form the customer fills in the chat).
    SendFlow(cli::actions::FlowArgs),
    /// Action "Create Group": create a group (Groups API); the group and its invite link
    /// arrive by the group_lifecycle_update webhook.
    CreateGroup(cli::actions::CreateGroupArgs),
    /// Action "Get Group Invite Link": a group's invite link.
    GetGroupInviteLink(cli::actions::GroupArgs),
    /// Action "Reset Group Invite Link": a new invite link; the old one stops working.
    ResetGroupInviteLink(cli::actions::GroupArgs),
    /// Action "Remove Group Participants": remove participants from a group.
    RemoveGroupParticipants(cli::actions::RemoveParticipantsArgs),
    /// Action "Block Users": block users; prints each user's result.
    BlockUsers(cli::actions::UsersArgs),
    /// Action "Unblock Users": unblock users; prints each user's result.
    UnblockUsers(cli::actions::UsersArgs),
    /// Action "List Blocked Users": one page of the blocklist.
    ListBlockedUsers(cli::actions::ListBlockedArgs),
    /// Action "Send Reaction": react to a message with an emoji (empty: remove it).
    SendReaction(cli::actions::ReactionArgs),
    /// Action "Send Location": send a location pin.
    SendLocation(cli::actions::LocationArgs),
    /// Action "Mark as Read": mark a message as read, optionally showing "typing…".
    MarkAsRead(cli::actions::ReadArgs),
    /// Action "Download Media": download a customer's file by its media ID to --out,
    /// streamed, and kept only once its SHA-256 and size matched.
    DownloadMedia(cli::actions::DownloadArgs),
    /// Action "Upload Media": upload a file (streamed) and print its media ID.
    UploadMedia(cli::actions::UploadArgs),
    /// Connection test: read the business phone number with the token and print it.
    TestConnection(GraphArgs),
    /// Trigger "Message received": run one webhook POST body through the component and
    /// print its events as a JSON array.
    Trigger(TriggerArgs),
    /// Serve the webhook gateway over HTTP: every phone number registered in the store at
    /// the path of its webhook URL, each subscription's events to its sink. SIGINT or
    /// SIGTERM drains it and exits 0.
    Serve(ServeArgs),
    /// Switch a trigger on: the phone number's first one makes a registration in the
    /// store and points the number's webhooks at --webhook-url (Meta verifies it first);
    /// later ones add a subscription, without Meta.
    Enable(EnableArgs),
    /// Switch a trigger off: remove its subscription; with the last one, remove the
    /// phone number's alternate callback if it is still the registration's URL.
    Disable(DisableArgs),
    /// List the store's registrations and their subscriptions as JSON (no secrets).
    Registrations(RegistrationsArgs),
    /// Import a registration file written by 0.2.x's `enable --out` into the store, its
    /// subscriptions and verify token intact.
    ImportRegistration(ImportArgs),
    /// List the dead letters (events whose last delivery attempt failed) as JSON.
    DeadLetters(DeadLettersArgs),
    /// Re-drive a subscription: its dead letters get a new schedule, starting now, and a
    /// subscription stopped by 410 Gone resumes.
    Redrive(RedriveArgs),
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
    /// Instructions per call instead of times, counted with valgrind's callgrind
    /// (repeatable where timings are not); needs valgrind.
    #[arg(long, conflicts_with = "quick")]
    counts: bool,
    /// (Used by --counts.) Run this many calls of one kind and exit.
    #[arg(long, hide = true, value_enum, requires = "calls")]
    count_call: Option<cli::counts::Counted>,
    /// (Used by --counts.)
    #[arg(long, hide = true)]
    calls: Option<usize>,
}

#[derive(Args)]
struct PrecompileArgs {
    /// The component (.wasm).
    input: PathBuf,
    /// Where to write the precompiled artifact (.cwasm).
    output: PathBuf,
}

#[derive(Args)]
pub(crate) struct GraphArgs {
    /// System user access token (default with the built-in stub: a placeholder).
    #[arg(long, env = "WHATSAPP_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Phone number ID (default with the built-in stub: 100000000000001).
    #[arg(long, env = "WHATSAPP_PHONE_NUMBER_ID")]
    phone_number_id: Option<String>,
    /// Send the component's requests to this base URL (e.g. http://127.0.0.1:8080)
    /// instead of answering them from the built-in stub: those to every Meta host of the
    /// manifest (the Graph API, the media host), path, query and headers unchanged.
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
    /// The ID of the message to reply to (WhatsApp shows it quoted).
    #[arg(long, value_name = "MESSAGE_ID")]
    reply_to: Option<String>,
    /// Show a preview of the first URL in the message.
    #[arg(long)]
    preview_url: bool,
    #[command(flatten)]
    graph: GraphArgs,
}

/// Which trigger, and its properties, for `trigger` and `enable` ("Message received"
/// when none of the flags that name another is given).
#[derive(Args)]
#[command(group(clap::ArgGroup::new("kind").args(["statuses", "echoes", "preferences", "groups"])))]
#[command(group(clap::ArgGroup::new("to_someone").args(["statuses", "echoes"])))]
struct TriggerChoice {
    /// Trigger "Message status updated" instead of "Message received": one event per
    /// status.
    #[arg(long, conflicts_with = "sender_number")]
    statuses: bool,
    /// With --statuses: only this status fires (sent, delivered, read, failed); repeatable.
    #[arg(long, requires = "statuses", value_parser = ["sent", "delivered", "read", "failed"])]
    status: Vec<String>,
    /// With --statuses or --echoes: only what was sent to this phone number or BSUID.
    #[arg(long, requires = "to_someone")]
    recipient: Option<String>,
    /// Trigger "Message echoed": one event per message the business sent from the
    /// WhatsApp Business app (smb_message_echoes).
    #[arg(long, conflicts_with = "sender_number")]
    echoes: bool,
    /// Trigger "Marketing preference changed": one event per customer who stops or
    /// resumes marketing messages (user_preferences).
    #[arg(long, conflicts_with = "sender_number")]
    preferences: bool,
    /// With --preferences: only this customer's changes (a phone number or BSUID).
    #[arg(long, requires = "preferences")]
    customer: Option<String>,
    /// Trigger "Group updated": one event per update of a group (the four group
    /// webhooks).
    #[arg(long, conflicts_with = "sender_number")]
    groups: bool,
    /// With --groups: only this kind of update fires; repeatable.
    #[arg(long, requires = "groups", value_parser = ["lifecycle", "participants", "settings", "status"])]
    group_update: Vec<String>,
    /// With --groups: only this group's updates.
    #[arg(long, requires = "groups")]
    group_id: Option<String>,
}

impl TriggerChoice {
    /// The trigger these flags name, with `sender_number` for "Message received".
    fn spec(&self, sender_number: Option<String>) -> host_harness::registration::TriggerSpec {
        use host_harness::registration::TriggerSpec as T;
        if self.statuses {
            T::StatusUpdated {
                statuses: self.status.clone(),
                recipient: self.recipient.clone(),
            }
        } else if self.echoes {
            T::MessageEchoed {
                recipient: self.recipient.clone(),
            }
        } else if self.preferences {
            T::PreferenceChanged {
                customer: self.customer.clone(),
            }
        } else if self.groups {
            T::GroupUpdated {
                updates: self.group_update.clone(),
                group_id: self.group_id.clone(),
            }
        } else {
            T::MessageReceived { sender_number }
        }
    }
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
    #[command(flatten)]
    which: TriggerChoice,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The token Meta's hub.challenge GET must present.
    #[arg(long, env = "WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    verify_token: Option<String>,
    /// The Meta app secret: every POST must carry a valid X-Hub-Signature-256. Required,
    /// unless --allow-unsigned says otherwise.
    #[arg(
        long,
        env = "WHATSAPP_APP_SECRET",
        hide_env_values = true,
        required_unless_present = "allow_unsigned"
    )]
    app_secret: Option<String>,
    /// Accept POSTs without a signature (no app secret). Anyone who finds the URL can
    /// then inject events: for local experiments only. A warning is printed at start.
    #[arg(long, conflicts_with = "app_secret")]
    allow_unsigned: bool,
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
    /// Requests in flight at once from one IP address; more get 503 with Retry-After. A
    /// peer trickling bodies holds at most this many slots (for --read-timeout-ms).
    #[arg(long, default_value_t = serve::DEFAULT_MAX_PER_PEER)]
    max_per_peer: usize,
    /// Do not log one line per request on stderr.
    #[arg(long)]
    no_access_log: bool,
    /// Let one instance serve up to N requests before a fresh one replaces it (0: a
    /// fresh instance per request, the default). Faster, but one request's leftovers in
    /// the component's memory could reach the next; an instance whose call failed is
    /// never reused.
    #[arg(long, value_name = "N", default_value_t = 0)]
    reuse_instances: u32,
    /// Benchmark only: serve the same work done natively, without the component or the
    /// store (the baseline `serve` is compared with; see docs/performance.md).
    #[arg(long)]
    native_baseline: bool,
    #[command(flatten)]
    store: StoreArgs,
    /// The delays before each retry of a failed HTTP delivery, such as 200ms,1s,5m,2h
    /// (jittered by up to 10 %); after the last, the event is a dead letter. Default:
    /// Standard Webhooks' 5s,5m,30m,2h,5h,10h,10h.
    #[arg(long, value_name = "DELAYS", value_parser = parse_schedule)]
    retry_schedule: Option<Schedule>,
    /// Time to connect to an HTTP sink, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    delivery_connect_timeout_ms: u64,
    /// Time for one whole HTTP delivery attempt, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    delivery_timeout_ms: u64,
    /// HTTP delivery attempts in flight at once per subscription.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    delivery_concurrency: u16,
    /// Serve /healthz, /readyz and /metrics (Prometheus) on this address; keep it
    /// private.
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<SocketAddr>,
    /// How log lines are written on stderr: text, or one JSON object per line.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// A parsed `--retry-schedule`.
#[derive(Clone, Debug)]
pub(crate) struct Schedule(Vec<std::time::Duration>);

fn parse_schedule(text: &str) -> Result<Schedule, String> {
    host_harness::delivery::retry::parse_schedule(text)
        .map(Schedule)
        .map_err(|e| format!("{e:#}"))
}

#[derive(Args)]
struct DeadLettersArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Only this phone number's subscriptions.
    #[arg(long, value_name = "ID")]
    phone_number_id: Option<String>,
    /// Only this subscription (with --phone-number-id when the store holds several).
    #[arg(long, value_name = "ID")]
    subscription: Option<String>,
}

#[derive(Args)]
struct RedriveArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The phone number (needed when the store holds several).
    #[arg(long, value_name = "ID")]
    phone_number_id: Option<String>,
    /// The subscription to re-drive.
    #[arg(long, value_name = "ID")]
    subscription: String,
    /// Only the dead letter with this webhook-id (as `dead-letters` lists it).
    #[arg(long, value_name = "WEBHOOK_ID")]
    event: Option<String>,
}

/// Where the gateway's state is kept.
#[derive(Args)]
pub(crate) struct StoreArgs {
    /// The store: a directory for the embedded store (SQLite; created, mode 0700), or
    /// redis://[:PASSWORD@]HOST:PORT/DB for Redis, shared by every instance (the password
    /// may come from WHATSAPP_REDIS_PASSWORD instead; secrets are sealed with
    /// WHATSAPP_STORE_KEY).
    #[arg(long, env = "WHATSAPP_STORE", hide_env_values = true, value_name = "DIR|URL", default_value = host_harness::store::DEFAULT_LOCATION)]
    store: String,
    /// How long an event's deduplication key is kept, in seconds (Meta redelivers for up
    /// to 7 days).
    #[arg(long, value_name = "SECONDS", default_value_t = host_harness::store::DEFAULT_DEDUP_TTL.as_secs())]
    dedup_ttl_secs: u64,
}

#[derive(Args)]
struct RegistrationsArgs {
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct ImportArgs {
    /// The registration file (registration.json) to import.
    file: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Args)]
struct EnableArgs {
    /// The webhook URL Meta is to deliver to: https, at most 200 characters.
    #[arg(long, value_name = "URL")]
    webhook_url: String,
    #[command(flatten)]
    store: StoreArgs,
    /// This phone number's own Meta app secret, when it is under another Meta app than
    /// `serve --app-secret`'s (kept in the store, never shown).
    #[arg(long, env = "WHATSAPP_NUMBER_APP_SECRET", hide_env_values = true)]
    app_secret: Option<String>,
    /// Trigger "Message received"'s sender number or user ID: checked now, so that a
    /// bad one fails before anything is enabled.
    #[arg(long)]
    sender_number: Option<String>,
    #[command(flatten)]
    which: TriggerChoice,
    /// Where `serve` delivers this subscription's events: a file (JSON lines, appended;
    /// created with mode 0600; a relative path is stored absolute); - for serve's
    /// standard output; an https:// URL (one signed POST per event, Standard Webhooks;
    /// Basic auth from the URL's user info; http:// only to loopback); or
    /// redis-stream:NAME with a Redis store. Checked now.
    #[arg(long, value_name = "FILE|URL|redis-stream:NAME", default_value = "-")]
    events: String,
    /// A header sent with every HTTP delivery, 'Name: value' (repeatable): for receivers
    /// that check a static header rather than the signature. Kept secret.
    #[arg(long, value_name = "NAME: VALUE")]
    events_header: Vec<String>,
    /// Allow an http:// events URL to a host that is not loopback (events and their
    /// signatures then cross the network in clear).
    #[arg(long)]
    events_allow_http: bool,
    /// A Redis stream sink's MAXLEN ~ (its oldest entries are trimmed beyond it).
    #[arg(long, value_name = "N", default_value_t = host_harness::registration::DEFAULT_STREAM_MAX_LEN)]
    stream_max_len: u64,
    #[command(flatten)]
    graph: GraphArgs,
}

#[derive(Args)]
struct DisableArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Remove only this subscription (the ID `enable` printed); the phone number's
    /// callback goes with the last one. Without it, every subscription goes.
    #[arg(long, value_name = "ID")]
    subscription: Option<String>,
    #[command(flatten)]
    graph: GraphArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` runs requests in parallel, and `bench` measures both runtimes. Every other
    // subcommand makes one call at a time, and a component's outbound request is
    // answered by a task wasi:http spawns: on a multi-thread runtime, each wake-up of the
    // guest is a hop between threads, which made a send 2.8x slower (see the README's
    // performance section).
    let mut runtime = match cli.command {
        Command::Serve(_) | Command::Bench(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    let json_logs =
        matches!(&cli.command, Command::Serve(args) if args.log_format == LogFormat::Json);
    cli::init_logs(json_logs);
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!(
                "{}",
                json!({"error": {"kind": "host", "message": e.to_string()}})
            );
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Connector(error)) => {
            eprintln!("{}", json!({ "error": error }));
            ExitCode::from(1)
        }
        Err(Failure::Call(error)) => {
            eprintln!(
                "{}",
                json!({ "error": host_harness::json::host_error(&error) })
            );
            ExitCode::from(3)
        }
    }
}
