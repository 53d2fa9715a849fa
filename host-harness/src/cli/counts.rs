//! `bench --counts`: the instructions one call executes, counted by valgrind's callgrind.
//! Unlike times, they do not move between runs or machines of a kind, so a change's
//! effect shows even when it is smaller than the timing noise.
//!
//! Each figure is the difference of two runs of this binary under callgrind, with the
//! same setup and 0 or [`CALLS`] calls, divided by [`CALLS`]: what loading, compiling
//! and exiting cost cancels out. The children load a precompiled artifact with the
//! on-demand allocator: the pooling allocator reserves about 1 TiB of address space,
//! which valgrind refuses. (The counts include the epoch ticker thread's wake-ups while
//! the calls run, a few hundred instructions per 10 ms.)

use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use host_harness::bindings::{Properties, SendInput, WebhookRequest, WebhookSecrets};
use host_harness::fakes::stub_graph::StubGraph;
use host_harness::fakes::webhook_with_messages;
use host_harness::runtime::engine_config;
use host_harness::{Allocation, Connection, Connector, Limits};
use serde_json::{Value, json};

use super::bench::{expect_events, native_trigger, no_filter, post, secrets, send_fixture};

/// Calls per counted run.
pub const CALLS: usize = 200;

/// What `--counts` counts: the bench's figures, one call each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Counted {
    /// Trigger, one signed message, a fresh instance per call.
    TriggerFresh,
    /// The same on one reused instance.
    TriggerReused,
    /// The same logic, native.
    TriggerNative,
    /// Making an instance, nothing else.
    Instantiate,
    /// Send Message with the built-in stub, a fresh instance per call.
    SendFresh,
    /// Trigger, a 100-message signed webhook, on the reused instance (counted per
    /// message): what crossing the boundary costs per event.
    HundredReused,
    /// The same logic, native, per message.
    HundredNative,
}

impl Counted {
    const ALL: [Counted; 7] = [
        Counted::TriggerFresh,
        Counted::TriggerReused,
        Counted::TriggerNative,
        Counted::Instantiate,
        Counted::SendFresh,
        Counted::HundredReused,
        Counted::HundredNative,
    ];

    /// Events per call: the count is divided by it.
    fn events(self) -> u64 {
        match self {
            Counted::HundredReused | Counted::HundredNative => 100,
            _ => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Counted::TriggerFresh => "trigger-fresh",
            Counted::TriggerReused => "trigger-reused",
            Counted::TriggerNative => "trigger-native",
            Counted::Instantiate => "instantiate",
            Counted::SendFresh => "send-fresh",
            Counted::HundredReused => "hundred-reused",
            Counted::HundredNative => "hundred-native",
        }
    }
}

/// The child: the setup every count of `what` shares, then `calls` calls of it. The
/// setup runs whatever `calls` is, so that it cancels out.
pub async fn child(cwasm: &Path, what: Counted, calls: usize) -> anyhow::Result<()> {
    // SAFETY: the parent made the artifact with `precompile` just now, in its own folder.
    let connector =
        unsafe { Connector::load_precompiled(cwasm, Limits::default(), Allocation::OnDemand)? }
            .with_outbound(StubGraph::new(None).outbound());
    let fixture = Fixture {
        kept: connector.keep_instance().await?,
        connector,
        one: post(webhook_with_messages(1, "count")),
        hundred: post(webhook_with_messages(100, "count")),
        properties: no_filter(),
        secrets: secrets(),
        send: send_fixture(),
    };
    // One call of each kind before counting: first calls fill caches and lazy tables.
    for counted in Counted::ALL {
        fixture.call(counted).await?;
    }
    for _ in 0..calls {
        fixture.call(what).await?;
    }
    Ok(())
}

/// What every counted call uses, made once before counting.
struct Fixture {
    connector: Connector,
    kept: Connector,
    one: WebhookRequest,
    hundred: WebhookRequest,
    properties: Properties,
    secrets: WebhookSecrets,
    send: (Connection, SendInput),
}

impl Fixture {
    async fn call(&self, what: Counted) -> anyhow::Result<()> {
        let (one, properties, secrets) = (&self.one, &self.properties, &self.secrets);
        match what {
            Counted::TriggerFresh => expect_events(
                self.connector
                    .handle_webhook(one, properties, secrets)
                    .await,
                1,
            ),
            Counted::TriggerReused => {
                expect_events(self.kept.handle_webhook(one, properties, secrets).await, 1)
            }
            Counted::TriggerNative => native_trigger(one, 1),
            Counted::HundredReused => expect_events(
                self.kept
                    .handle_webhook(&self.hundred, properties, secrets)
                    .await,
                100,
            ),
            Counted::HundredNative => native_trigger(&self.hundred, 100),
            Counted::Instantiate => self
                .connector
                .keep_instance()
                .await
                .map(drop)
                .map_err(Into::into),
            Counted::SendFresh => {
                let (connection, input) = &self.send;
                match self.connector.send(connection, input).await? {
                    Ok(output) if output.messages.len() == 1 => Ok(()),
                    other => Err(anyhow::anyhow!("send: {other:?}")),
                }
            }
        }
    }
}

/// Instructions callgrind counted in a run of this binary as the child of `what`.
fn instructions(cwasm: &Path, what: Counted, calls: usize, dir: &Path) -> anyhow::Result<u64> {
    let out = dir.join(format!("callgrind.{}.{calls}", what.name()));
    let exe = std::env::current_exe()?;
    let status = Command::new("valgrind")
        .args(["--tool=callgrind", "-q"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args(["--allocator", "on-demand", "--component"])
        .arg(cwasm)
        .args([
            "--precompiled",
            "bench",
            "--count-call",
            what.name(),
            "--calls",
        ])
        .arg(calls.to_string())
        .status()
        .context("cannot run valgrind (install it: apt-get install valgrind)")?;
    anyhow::ensure!(
        status.success(),
        "the counted run of {} failed",
        what.name()
    );
    let text = std::fs::read_to_string(&out)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals: ")
                .or_else(|| l.strip_prefix("summary: "))
        })
        .and_then(|n| n.trim().parse().ok())
        .context("callgrind wrote no totals")
}

/// Compiles the component for this architecture's baseline features, not this CPU's:
/// valgrind's virtual CPU lacks some (AVX-512), and wasmtime refuses an artifact that
/// uses features the CPU it runs on does not have.
fn precompile_baseline(component: &Path, cwasm: &Path) -> anyhow::Result<()> {
    let mut config = engine_config(Allocation::OnDemand, &Limits::default());
    config.target(&target_lexicon_triple())?;
    let engine = wasmtime::Engine::new(&config)?;
    let wasm =
        std::fs::read(component).with_context(|| format!("cannot read {}", component.display()))?;
    let compiled = engine
        .precompile_component(&wasm)
        .map_err(anyhow::Error::from)?;
    std::fs::write(cwasm, compiled)?;
    Ok(())
}

/// This host's target triple, e.g. `x86_64-unknown-linux-gnu`.
fn target_lexicon_triple() -> String {
    let os = match std::env::consts::OS {
        "macos" => "apple-darwin",
        "linux" => "unknown-linux-gnu",
        other => other,
    };
    format!("{}-{os}", std::env::consts::ARCH)
}

/// Instructions per call of each [`Counted`], and the ratios the targets are about.
///
/// With `HOST_HARNESS_COUNTS_DIR` set, the callgrind files are kept there, for
/// `callgrind_annotate` to show where the instructions go.
pub fn counts(component: &Path) -> anyhow::Result<Value> {
    let temporary = tempfile::tempdir()?;
    let kept = std::env::var_os("HOST_HARNESS_COUNTS_DIR").map(std::path::PathBuf::from);
    let dir = kept.as_deref().unwrap_or(temporary.path());
    std::fs::create_dir_all(dir)?;
    let cwasm = dir.join("whatsapp_connector.cwasm");
    precompile_baseline(component, &cwasm)?;
    let mut per_call = serde_json::Map::new();
    for what in Counted::ALL {
        let base = instructions(&cwasm, what, 0, dir)?;
        let with_calls = instructions(&cwasm, what, CALLS, dir)?;
        let n = with_calls.saturating_sub(base) / CALLS as u64 / what.events();
        per_call.insert(what.name().replace('-', "_"), n.into());
    }
    let get = |k: &str| per_call[k].as_u64().unwrap_or_default() as f64;
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Ok(json!({
        "instructions_per_call": per_call,
        "calls_per_run": CALLS,
        "targets": super::bench::targets(
            ratio(get("trigger_reused"), get("trigger_native")),
            ratio(get("trigger_fresh"), get("trigger_native")),
            ratio(get("send_fresh"), get("trigger_fresh")),
        ),
        "ratios": {
            "reused_over_native": ratio(get("trigger_reused"), get("trigger_native")),
            "fresh_over_native": ratio(get("trigger_fresh"), get("trigger_native")),
            "send_fresh_over_trigger_fresh": ratio(get("send_fresh"), get("trigger_fresh")),
            "hundred_reused_over_native_per_message": ratio(get("hundred_reused"), get("hundred_native")),
        },
        "how": "valgrind --tool=callgrind; (run with N calls - run with 0) / N; precompiled artifact, on-demand allocator",
    }))
}
