//! `host-harness bench`: what the connector costs next to the network, measured in one
//! run on one machine. Every figure is the median of several runs, each the mean of many
//! calls; `--quick` runs few of each (the test suite uses it so the bench cannot rot).
//!
//! Timings are printed, never asserted: the only checks here are that the work was done
//! (the right number of events); the load test reports what it lost or wrote twice.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};
use wasmtime::Engine;
use wasmtime::component::Component;
use whatsapp_connector::trigger::{self, Secrets};

use host_harness::bindings::{
    Outcome, Properties, SendInput, WebhookError, WebhookRequest, WebhookSecrets,
};
use host_harness::endpoint::{Endpoint, EndpointOptions, EventSink};
use host_harness::fakes::loopback::Client;
use host_harness::fakes::stub_graph::StubGraph;
use host_harness::fakes::{signed_post, webhook_with_messages};
use host_harness::runtime::engine_config;
use host_harness::serve::{Running, ServeOptions};
use host_harness::{Allocation, Call, Connection, Connector, Limits, precompile};
use whatsapp_connector::secret::Secret;

use super::demo;

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Repetitions of each measurement; the median is reported.
    pub runs: usize,
    /// Calls per repetition of a micro-benchmark.
    pub calls: usize,
    /// Compilations to time.
    pub compiles: usize,
    /// Concurrent keep-alive clients of the `serve` load test.
    pub clients: usize,
    /// Requests each client sends.
    pub requests_per_client: usize,
}

impl Plan {
    pub fn full() -> Self {
        Self {
            runs: 7,
            calls: 2_000,
            compiles: 3,
            clients: 16,
            requests_per_client: 2_000,
        }
    }

    pub fn quick() -> Self {
        Self {
            runs: 3,
            calls: 20,
            compiles: 1,
            clients: 16,
            requests_per_client: 10,
        }
    }
}

pub(crate) const APP_SECRET: &str = "bench-app-secret";

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// The median over `plan.runs` of the mean time of `plan.calls` calls of `call`, in µs.
async fn per_call<F, Fut>(plan: Plan, mut call: F) -> anyhow::Result<f64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    call().await?; // warm-up
    let mut means = Vec::with_capacity(plan.runs);
    for _ in 0..plan.runs {
        let started = Instant::now();
        for _ in 0..plan.calls {
            call().await?;
        }
        means.push(micros(started.elapsed()) / plan.calls as f64);
    }
    Ok(median(means))
}

/// The connection and input of the benchmarks' "Send Message", to the built-in stub.
pub(crate) fn send_fixture() -> (Connection, SendInput) {
    let connection = Connection {
        system_user_access_token: "bench-token".into(),
        phone_number_id: demo::STUB_PHONE_NUMBER_ID.into(),
        ..Connection::default()
    };
    let input = SendInput {
        message: "Your order has shipped.".into(),
        send_message_to: "+1 555 010 1234".into(),
        reply_to: None,
        preview_url: None,
    };
    (connection, input)
}

/// The trigger's logic run natively on `request` (checked with the bench's app secret
/// when it is signed), expecting `n` events: the baseline of the ratios.
pub(crate) fn native_trigger(request: &WebhookRequest, n: usize) -> anyhow::Result<()> {
    let secrets = Secrets {
        app_secret: (!request.headers.is_empty()).then_some(Secret::new(APP_SECRET)),
        verify_token: None,
    };
    match trigger::handle(
        host_harness::bindings::trigger_request(request),
        None,
        secrets,
    ) {
        Ok(trigger::Outcome::Events(events)) if events.len() == n => Ok(()),
        other => Err(anyhow::anyhow!("native: {other:?}")),
    }
}

pub(crate) fn post(body: Vec<u8>) -> WebhookRequest {
    signed_post(body, APP_SECRET)
}

pub(crate) fn secrets() -> WebhookSecrets {
    WebhookSecrets {
        app_secret: Some(APP_SECRET.into()),
        verify_token: None,
    }
}

pub(crate) fn no_filter() -> Properties {
    Properties {
        sender_number: None,
    }
}

pub(crate) fn expect_events(outcome: Call<Outcome, WebhookError>, n: usize) -> anyhow::Result<()> {
    match outcome? {
        Ok(Outcome::Events(events)) if events.len() == n => Ok(()),
        other => anyhow::bail!("expected {n} events, got {other:?}"),
    }
}

/// The peak resident set of this process, in bytes (Linux; `None` elsewhere).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts a new peak-RSS measurement (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "os": std::env::consts::OS,
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

/// Item 6: `serve` over loopback with signed POSTs from concurrent keep-alive clients.
async fn serve_load(connector: &Connector, plan: Plan) -> anyhow::Result<Value> {
    // The event lines, kept to check afterwards that each message was written once.
    let lines = Arc::new(Mutex::new(Vec::<u8>::with_capacity(1 << 20)));
    let sink: EventSink = lines.clone();
    let endpoint = EndpointOptions::new(no_filter(), Some(APP_SECRET.into()), None);
    let endpoint = Arc::new(Endpoint::new(
        connector.clone(),
        endpoint,
        sink,
        Arc::default(),
    ));
    let options = ServeOptions {
        access_log: false,
        ..ServeOptions::default()
    };
    let server = Running::start(endpoint, options).await?;
    let address = server.address;
    // Every request a distinct message, signed, made before the clock starts.
    let requests: Vec<Vec<WebhookRequest>> = (0..plan.clients)
        .map(|c| {
            (0..plan.requests_per_client)
                .map(|r| post(webhook_with_messages(1, &format!("load{c}x{r}"))))
                .collect()
        })
        .collect();
    let mut clients = Vec::with_capacity(plan.clients);
    for _ in 0..plan.clients {
        clients.push(Client::connect(address).await?);
    }
    reset_peak_rss();
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(requests)
        .map(|(mut client, requests)| {
            tokio::spawn(async move {
                // A refused request is counted, not fatal: the report says what was lost.
                let (mut latencies, mut refused) = (Vec::with_capacity(requests.len()), 0u64);
                for request in requests {
                    let sent = Instant::now();
                    let answer = client.webhook("/webhook", request).await?;
                    latencies.push(micros(sent.elapsed()));
                    refused += u64::from(answer.status != 200);
                }
                Ok::<_, anyhow::Error>((latencies, refused))
            })
        })
        .collect();
    let (mut latencies, mut refused) = (Vec::new(), 0);
    for task in tasks {
        let (these, refused_here) = task.await??;
        latencies.extend(these);
        refused += refused_here;
    }
    let elapsed = started.elapsed();
    let rss = peak_rss();
    server.stop().await?;
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let sent = (plan.clients * plan.requests_per_client) as u64;
    // Every message sent has its own ID: count the IDs written, and the repeats.
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|p| p.into_inner()));
    let mut ids = std::collections::HashSet::new();
    let mut written = 0u64;
    for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        written += 1;
        let event: Value = serde_json::from_slice(line)?;
        ids.insert(event["entry"]["changes"]["messages"]["id"].to_string());
    }
    let distinct = ids.len() as u64;
    Ok(json!({
        "clients": plan.clients,
        "requests": sent,
        "requests_per_second": sent as f64 / elapsed.as_secs_f64(),
        "latency_p50_us": percentile(0.50),
        "latency_p99_us": percentile(0.99),
        "requests_refused": refused,
        "messages_sent": sent,
        "events_written": written,
        "events_lost": sent.saturating_sub(distinct),
        "events_written_twice": written - distinct,
        "peak_rss_bytes": rss,
    }))
}

/// The component's bytes by what they are: the core modules' code, data and custom
/// sections (names, producers), the rest of the core modules (types, imports, exports,
/// tables), and the component layer (its types, canonical functions, instances). For the
/// size by crate, see `benches/wasm-size.sh`.
fn section_sizes(wasm: &[u8]) -> anyhow::Result<Value> {
    use wasmparser::{Parser, Payload};
    let (mut code, mut data, mut custom, mut core_other, mut modules) = (0, 0, 0, 0, 0);
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload?;
        let (inside_module, len) = (depth > 0, payload.as_section().map_or(0, |(_, r)| r.len()));
        match payload {
            Payload::ModuleSection { .. } => {
                modules += 1;
                depth += 1;
            }
            Payload::End(_) if depth > 0 => depth -= 1,
            Payload::CodeSectionStart { size, .. } => code += size as usize,
            Payload::DataSection(_) => data += len,
            Payload::CustomSection(c) => custom += c.range().len(),
            _ if inside_module => core_other += len,
            _ => {}
        }
    }
    let component = wasm.len().saturating_sub(code + data + custom + core_other);
    Ok(json!({
        "core_modules": modules,
        "code_bytes": code,
        "data_bytes": data,
        "custom_bytes": custom,
        "core_other_bytes": core_other,
        "component_layer_bytes": component,
    }))
}

/// Runs every measurement on the component at `wasm`; returns the report.
pub async fn run(wasm: &Path, plan: Plan) -> anyhow::Result<Value> {
    let limits = Limits::default();
    let wasm_bytes =
        std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;

    // 1. Load: compiling, and mapping a precompiled artifact.
    let engine = Engine::new(&engine_config(Allocation::OnDemand, &limits))?;
    let mut compiles = Vec::new();
    for _ in 0..plan.compiles {
        let started = Instant::now();
        Component::new(&engine, &wasm_bytes).map_err(anyhow::Error::from)?;
        compiles.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let dir = std::env::temp_dir().join(format!("host-harness-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cwasm = dir.join("whatsapp_connector.cwasm");
    let cwasm_bytes = precompile(wasm, &cwasm)?;
    let mut loads = Vec::new();
    for _ in 0..plan.runs * 3 {
        let started = Instant::now();
        // SAFETY: the artifact was just made by `precompile` for this engine's config.
        unsafe { Component::deserialize_file(&engine, &cwasm) }.map_err(anyhow::Error::from)?;
        loads.push(started.elapsed().as_secs_f64() * 1e3);
    }

    let stub = StubGraph::new(None).outbound();
    // SAFETY: the artifact was just made by `precompile`, in our own temporary folder.
    let (pooled, on_demand) = unsafe {
        (
            Connector::load_precompiled(&cwasm, limits, Allocation::default())?,
            Connector::load_precompiled(&cwasm, limits, Allocation::OnDemand)?,
        )
    };
    let pooled = pooled.with_outbound(stub);
    let one = post(webhook_with_messages(1, "bench"));
    let hundred = post(webhook_with_messages(100, "batch"));
    let (properties, secrets) = (no_filter(), secrets());

    // 2. Trigger, a fresh instance per call.
    let fresh_one = per_call(plan, || async {
        expect_events(pooled.handle_webhook(&one, &properties, &secrets).await, 1)
    })
    .await?;
    let fresh_hundred = per_call(plan, || async {
        expect_events(
            pooled.handle_webhook(&hundred, &properties, &secrets).await,
            100,
        )
    })
    .await?;
    let fresh_one_on_demand = per_call(plan, || async {
        expect_events(
            on_demand.handle_webhook(&one, &properties, &secrets).await,
            1,
        )
    })
    .await?;
    let instantiate_only = per_call(plan, || async {
        pooled.keep_instance().await.map(drop).map_err(Into::into)
    })
    .await?;

    // 3. Trigger, one instance reused.
    let kept = pooled.keep_instance().await?;
    let reused_one = per_call(plan, || async {
        expect_events(kept.handle_webhook(&one, &properties, &secrets).await, 1)
    })
    .await?;
    // The same without a signature to check: how much of the call is HMAC-SHA256, which
    // the native build runs with the CPU's SHA instructions and the guest cannot.
    let unsigned = WebhookRequest {
        headers: Vec::new(),
        ..one.clone()
    };
    let no_secrets = WebhookSecrets {
        app_secret: None,
        verify_token: None,
    };
    let reused_unsigned = per_call(plan, || async {
        expect_events(
            kept.handle_webhook(&unsigned, &properties, &no_secrets)
                .await,
            1,
        )
    })
    .await?;
    let memory_after_one = kept.peak_memory();
    let batch = pooled.keep_instance().await?;
    expect_events(
        batch.handle_webhook(&hundred, &properties, &secrets).await,
        100,
    )?;
    let memory_after_hundred = batch.peak_memory();
    // A reused instance per message of a 100-message webhook: with the instantiation out
    // of the way, what each event costs, crossing the boundary included.
    let reused_hundred = per_call(plan, || async {
        expect_events(
            batch.handle_webhook(&hundred, &properties, &secrets).await,
            100,
        )
    })
    .await?;

    // 4. The same logic, native.
    let native_one = per_call(plan, || async { native_trigger(&one, 1) }).await?;
    let native_hundred = per_call(plan, || async { native_trigger(&hundred, 100) }).await?;
    let native_unsigned = per_call(plan, || async { native_trigger(&unsigned, 1) }).await?;

    // 5. Send Message with the built-in stub, a fresh instance per call.
    let (connection, input) = send_fixture();
    let send_once = move |connector: Connector| {
        let (connection, input) = (connection.clone(), input.clone());
        async move {
            match connector.send(&connection, &input).await? {
                Ok(output) if output.messages.len() == 1 => Ok(()),
                other => Err(anyhow::anyhow!("send: {other:?}")),
            }
        }
    };
    let send = per_call(plan, || send_once(pooled.clone())).await?;
    // The same on a current-thread runtime: wasi:http answers an outgoing request from a
    // spawned task, and on a multi-thread runtime waking the guest again is a hop between
    // threads. This isolates what the connector itself costs.
    let send_current_thread = {
        let (pooled, send_once) = (pooled.clone(), send_once.clone());
        tokio::task::spawn_blocking(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(per_call(plan, || send_once(pooled.clone())))
        })
        .await??
    };

    // 6. serve under load.
    let load = serve_load(&pooled, plan).await?;
    let _ = std::fs::remove_dir_all(&dir);

    let ratio = reused_one / native_one;
    let compile_ms = median(compiles);
    let load_ms = median(loads);
    Ok(json!({
        "machine": machine(),
        "plan": {"runs": plan.runs, "calls_per_run": plan.calls},
        "load": {
            "compile_ms": compile_ms,
            "precompiled_load_ms": load_ms,
        },
        "trigger": {
            "fresh_instance_one_message_us": fresh_one,
            "fresh_instance_100_messages_us_per_message": fresh_hundred / 100.0,
            "fresh_instance_one_message_on_demand_allocator_us": fresh_one_on_demand,
            "instantiate_only_us": instantiate_only,
            "reused_instance_one_message_us": reused_one,
            "native_one_message_us": native_one,
            "native_100_messages_us_per_message": native_hundred / 100.0,
            "reused_instance_100_messages_us_per_message": reused_hundred / 100.0,
            "reused_over_native_100_messages": reused_hundred / native_hundred,
            "reused_over_native": ratio,
            "reused_instance_unsigned_us": reused_unsigned,
            "native_unsigned_us": native_unsigned,
            "reused_over_native_unsigned": reused_unsigned / native_unsigned,
        },
        "send_message": {
            "fresh_instance_stub_us": send,
            "fresh_instance_stub_current_thread_us": send_current_thread,
        },
        "serve": load,
        "sizes": {
            "wasm_bytes": wasm_bytes.len(),
            "wasm_sections": section_sizes(&wasm_bytes)?,
            "cwasm_bytes": cwasm_bytes,
            "linear_memory_after_one_message_pages": memory_after_one / 65536,
            "linear_memory_after_100_messages_pages": memory_after_hundred / 65536,
        },
        "targets": targets(ratio, fresh_one / native_one, send_current_thread / fresh_one),
    }))
}

/// Today's targets (#15, kept by #21): ratios measured in one run, never absolute times,
/// which move 4× between machines of one kind. `bench --counts` checks the same ratios
/// in instructions. There is no fixed size target: every feature reports its size cost.
pub fn targets(reused_over_native: f64, fresh_over_native: f64, send_over_fresh: f64) -> Value {
    let at_most = |value: f64, limit: f64| json!({"value": value, "target": limit, "unit": "×", "met": value <= limit});
    json!({
        "trigger_reused_over_native": at_most(reused_over_native, 2.0),
        "trigger_fresh_over_native": at_most(fresh_over_native, 4.0),
        "send_fresh_over_trigger_fresh": at_most(send_over_fresh, 2.0),
    })
}

/// The report as a table.
pub fn table(report: &Value) -> String {
    let mut out = String::new();
    let m = &report["machine"];
    out.push_str(&format!(
        "host-harness bench: {} ({} cores, {}, {} build), median of {} runs × {} calls\n\n",
        m["cpu"].as_str().unwrap_or_default(),
        m["cores"],
        m["os"].as_str().unwrap_or_default(),
        m["build"].as_str().unwrap_or_default(),
        report["plan"]["runs"],
        report["plan"]["calls_per_run"],
    ));
    let rows: [(&str, &str, &str, &str); 28] = [
        ("load", "compile_ms", "compile the .wasm", "ms"),
        (
            "load",
            "precompiled_load_ms",
            "load a precompiled .cwasm",
            "ms",
        ),
        (
            "trigger",
            "fresh_instance_one_message_us",
            "trigger, fresh instance, 1-message webhook",
            "µs",
        ),
        (
            "trigger",
            "fresh_instance_100_messages_us_per_message",
            "trigger, fresh instance, 100-message webhook, per message",
            "µs",
        ),
        (
            "trigger",
            "fresh_instance_one_message_on_demand_allocator_us",
            "  (same, without the pooling allocator)",
            "µs",
        ),
        (
            "trigger",
            "instantiate_only_us",
            "  (of which: a fresh store + instance)",
            "µs",
        ),
        (
            "trigger",
            "reused_instance_one_message_us",
            "trigger, reused instance, 1-message webhook",
            "µs",
        ),
        (
            "trigger",
            "native_one_message_us",
            "the same logic native, 1-message webhook",
            "µs",
        ),
        (
            "trigger",
            "native_100_messages_us_per_message",
            "the same logic native, 100 messages, per message",
            "µs",
        ),
        (
            "trigger",
            "reused_over_native",
            "reused instance / native",
            "×",
        ),
        (
            "trigger",
            "reused_instance_100_messages_us_per_message",
            "trigger, reused instance, 100 messages, per message",
            "µs",
        ),
        (
            "trigger",
            "reused_over_native_100_messages",
            "  (reused / native, 100 messages)",
            "×",
        ),
        (
            "trigger",
            "reused_instance_unsigned_us",
            "  (reused, no signature to check)",
            "µs",
        ),
        (
            "trigger",
            "native_unsigned_us",
            "  (native, no signature to check)",
            "µs",
        ),
        (
            "trigger",
            "reused_over_native_unsigned",
            "  (reused / native, no signature)",
            "×",
        ),
        (
            "send_message",
            "fresh_instance_stub_us",
            "send message, stub Graph API, fresh instance",
            "µs",
        ),
        (
            "send_message",
            "fresh_instance_stub_current_thread_us",
            "  (same, on a current-thread runtime)",
            "µs",
        ),
        (
            "serve",
            "requests_per_second",
            "serve: signed POSTs per second",
            "req/s",
        ),
        ("serve", "latency_p50_us", "serve: latency p50", "µs"),
        ("serve", "latency_p99_us", "serve: latency p99", "µs"),
        ("serve", "requests_refused", "serve: requests refused", ""),
        ("serve", "events_lost", "serve: events lost", ""),
        (
            "serve",
            "events_written_twice",
            "serve: events written twice",
            "",
        ),
        (
            "serve",
            "peak_rss_bytes",
            "serve: peak RSS of the harness",
            "bytes",
        ),
        ("sizes", "wasm_bytes", ".wasm size", "bytes"),
        ("sizes", "cwasm_bytes", ".cwasm size", "bytes"),
        (
            "sizes",
            "linear_memory_after_one_message_pages",
            "guest linear memory after a call",
            "pages",
        ),
        (
            "sizes",
            "linear_memory_after_100_messages_pages",
            "guest linear memory after a 100-message call",
            "pages",
        ),
    ];
    for (section, key, label, unit) in rows {
        let value = &report[section][key];
        let shown = match value.as_f64() {
            Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
            Some(v) if v < 10.0 => format!("{v:.2}"),
            Some(v) => format!("{v:.1}"),
            None => value.to_string(),
        };
        out.push_str(&format!("{label:<58} {shown:>12} {unit}\n"));
    }
    out.push_str("\ntargets:\n");
    if let Some(targets) = report["targets"].as_object() {
        for (name, t) in targets {
            let met = if t["met"].as_bool() == Some(true) {
                "met"
            } else {
                "MISSED"
            };
            out.push_str(&format!(
                "  {name:<44} {:>12.2} (target {} {}) {met}\n",
                t["value"].as_f64().unwrap_or_default(),
                t["target"],
                t["unit"].as_str().unwrap_or_default()
            ));
        }
    }
    out
}
