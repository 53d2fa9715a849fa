//! The HTTP delivery benchmark (#23), against a receiver in this process on loopback
//! (keep-alive, answers 204) and the release `host-harness` binary:
//!
//! 1. **the receiver's own rate:** wrk (2 threads, 16 connections, 5 s) POSTing to it;
//! 2. **deliveries/s:** `EVENTS` events accepted while the subscription is stopped (the
//!    receiver answered 410), then `redrive` and a fresh `serve`: the burst's rate at the
//!    receiver, its ratio to (1), and the CPU `serve` and the receiver spent per delivery;
//! 3. **latency** from each webhook's 200 to its event's arrival, at about 1,000
//!    webhooks/s, p50/p99/max; and Meta's side, the webhooks' own answer times, with
//!    that healthy receiver and with one that never answers;
//! 4. **webhooks under delivery load:** wrk (16 connections, 6 s, distinct signed bodies
//!    from `benches/signed_bodies.py`) against `serve` with a standard-output
//!    subscription (the store issue's figure), then with the HTTP one, alternated
//!    [`LOAD_ROUNDS`] times, each in a fresh store: the medians, their ratio, each
//!    round's ratio, and the deliveries made meanwhile.
//!
//! ```sh
//! cargo build --release -p host-harness --example delivery_bench
//! target/release/examples/delivery_bench target/release/host-harness
//! ```
//!
//! Needs wrk and python3. Prints one JSON object.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

use host_harness::fakes::loopback::Client;
use host_harness::fakes::{signed_post, webhook_with_messages};

const SECRET: &str = "bench-app-secret";
const PHONE: &str = "106540352242922";
const URL: &str = "https://bench.example.com/webhook";
const PATH: &str = "/webhook";

/// When each message arrived at the receiver.
#[derive(Default)]
struct Arrivals {
    at: Mutex<Vec<(String, Instant)>>,
    gone: AtomicBool,
}

fn message_id(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.find("\"id\":\"wamid.")
        .and_then(|at| {
            let rest = &text[at + 6..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .unwrap_or_default()
}

async fn receiver(arrivals: Arc<Arrivals>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let arrivals = arrivals.clone();
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let arrivals = arrivals.clone();
                async move {
                    if request.uri().path() == "/hang" {
                        // A receiver that never answers.
                        std::future::pending::<()>().await;
                    }
                    let body = request.into_body().collect().await?.to_bytes();
                    let id = message_id(&body);
                    if !id.is_empty() {
                        arrivals.at.lock().unwrap().push((id, Instant::now()));
                    }
                    let mut response = hyper::Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = if arrivals.gone.load(Ordering::Relaxed) {
                        hyper::StatusCode::GONE
                    } else {
                        hyper::StatusCode::NO_CONTENT
                    };
                    Ok::<_, hyper::Error>(response)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

/// `host-harness serve` on a free port: the child and its address.
fn serve(bin: &Path, store: &Path, extra: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--app-secret",
            SECRET,
            "--no-access-log",
        ])
        .arg("--store")
        .arg(store)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    std::thread::spawn(move || for _ in stderr.lines() {});
    (child, address)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn run(bin: &Path, args: &[&str]) {
    let output = Command::new(bin).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// wrk's requests per second.
fn wrk(args: &[&str], env: &[(&str, &str)]) -> f64 {
    let mut command = Command::new("wrk");
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in {text}"))
}

/// What [`post`] saw: when each message's webhook was answered 200, and how long each
/// answer took (ms).
#[derive(Debug, Default)]
struct Posted {
    answered: HashMap<String, Instant>,
    took_ms: Vec<f64>,
}

/// Posts each body once, `connections` at a time, pacing each connection to one request
/// per `every`.
async fn post(
    address: SocketAddr,
    bodies: Vec<(String, Vec<u8>)>,
    connections: usize,
    every: Duration,
) -> Posted {
    let answered = Arc::new(Mutex::new(Posted::default()));
    let mut tasks = Vec::new();
    let per = bodies.len().div_ceil(connections);
    for chunk in bodies.chunks(per) {
        let (chunk, answered) = (chunk.to_vec(), answered.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(address).await.unwrap();
            let mut next = tokio::time::Instant::now();
            for (id, body) in chunk {
                if !every.is_zero() {
                    tokio::time::sleep_until(next).await;
                    next += every;
                }
                let sent = Instant::now();
                let answer = client
                    .webhook(PATH, signed_post(body, SECRET))
                    .await
                    .unwrap();
                assert_eq!(answer.status, 200, "{}", answer.text());
                let now = Instant::now();
                let mut posted = answered.lock().unwrap();
                posted.answered.insert(id, now);
                posted.took_ms.push((now - sent).as_secs_f64() * 1e3);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(answered).unwrap().into_inner().unwrap()
}

fn bodies(tag: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let tag = format!("{tag}{i}");
            (format!("wamid.{tag}.0"), webhook_with_messages(1, &tag))
        })
        .collect()
}

async fn wait_for(arrivals: &Arrivals, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while arrivals.at.lock().unwrap().len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// CPU seconds (user + system) a process has used: `/proc/PID/stat`, in clock ticks
/// (100 per second on Linux).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The CPU used by a `serve` and by this process (the receiver, when it is delivered
/// to) since [`CpuSince::now`].
struct CpuSince {
    pid: String,
    serve: f64,
    receiver: f64,
}

impl CpuSince {
    fn now(child: &Child) -> Self {
        let pid = child.id().to_string();
        Self {
            serve: cpu_seconds(&pid),
            receiver: cpu_seconds("self"),
            pid,
        }
    }

    /// µs per one of `count` (deliveries, webhooks): `serve`'s, the receiver's.
    fn per(&self, count: f64) -> (f64, f64) {
        (
            (cpu_seconds(&self.pid) - self.serve) / count * 1e6,
            (cpu_seconds("self") - self.receiver) / count * 1e6,
        )
    }
}

/// Alternated runs of each sink in step 4, and each one's length in seconds.
const LOAD_ROUNDS: usize = 3;
const LOAD_SECONDS: u64 = 6;

/// `x` to `places` decimal places: ratios to 3, milliseconds to 2, µs to 1.
fn rounded(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

/// `part / whole`, to three places: the form every ratio here is reported in.
fn ratio(part: f64, whole: f64) -> f64 {
    rounded(part / whole, 3)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/release/host-harness".into()),
    );
    let events: usize = std::env::var("EVENTS").map_or(20_000, |v| v.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let arrivals = Arc::new(Arrivals::default());
    let address = receiver(arrivals.clone()).await;
    let hook = format!("http://{address}/hook");

    // 1. The receiver's own rate.
    let lua = dir.path().join("post.lua");
    let sample = String::from_utf8(webhook_with_messages(1, "wrk")).unwrap();
    std::fs::write(
        &lua,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = {}\n",
            serde_json::to_string(&sample).unwrap()
        ),
    )
    .unwrap();
    let receiver_rps = tokio::task::spawn_blocking({
        let (lua, hook) = (lua.clone(), hook.clone());
        move || {
            wrk(
                &["-t2", "-c16", "-d5s", "-s", lua.to_str().unwrap(), &hook],
                &[],
            )
        }
    })
    .await
    .unwrap();
    arrivals.at.lock().unwrap().clear();

    // 2. A burst: events accepted while the subscription is stopped by a 410, then
    //    re-driven into a fresh serve.
    let store = dir.path().join("http-store");
    let store_arg = store.to_str().unwrap();
    run(
        &bin,
        &[
            "enable",
            "--store",
            store_arg,
            "--phone-number-id",
            PHONE,
            "--webhook-url",
            URL,
            "--events",
            &hook,
        ],
    );
    arrivals.gone.store(true, Ordering::Relaxed);
    let (child, serving) = serve(&bin, &store, &[]);
    post(serving, bodies("burst", events), 16, Duration::ZERO).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(child);
    arrivals.gone.store(false, Ordering::Relaxed);
    arrivals.at.lock().unwrap().clear();
    run(
        &bin,
        &["redrive", "--store", store_arg, "--subscription", "1"],
    );
    let (child, serving) = serve(&bin, &store, &[]);
    let cpu_since = CpuSince::now(&child);
    wait_for(&arrivals, events, Duration::from_secs(120)).await;
    let burst_cpu = cpu_since.per(events as f64);
    let burst: Vec<Instant> = arrivals
        .at
        .lock()
        .unwrap()
        .iter()
        .map(|(_, t)| *t)
        .collect();
    let delivered = burst.len();
    let span = burst
        .iter()
        .max()
        .unwrap()
        .duration_since(*burst.iter().min().unwrap());
    let deliveries_per_second = delivered as f64 / span.as_secs_f64();
    arrivals.at.lock().unwrap().clear();

    // 3. Latency from the 200 to the arrival, at about 1,000 webhooks/s.
    let posted = post(
        serving,
        bodies("latency", 5_000),
        8,
        Duration::from_millis(8),
    )
    .await;
    let answered = posted.answered;
    let mut healthy_answers = posted.took_ms;
    healthy_answers.sort_by(f64::total_cmp);
    wait_for(&arrivals, answered.len(), Duration::from_secs(30)).await;
    let mut lags: Vec<f64> = arrivals
        .at
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(id, at)| {
            answered
                .get(id)
                .map(|ok| at.saturating_duration_since(*ok).as_secs_f64() * 1e3)
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    stop(child);
    arrivals.at.lock().unwrap().clear();

    // 3b. The same webhooks while the subscription's receiver never answers.
    let store = dir.path().join("hang-store");
    let hang = format!("http://{address}/hang");
    run(
        &bin,
        &[
            "enable",
            "--store",
            store.to_str().unwrap(),
            "--phone-number-id",
            PHONE,
            "--webhook-url",
            URL,
            "--events",
            &hang,
        ],
    );
    let (child, serving) = serve(&bin, &store, &[]);
    let mut hanging_answers = post(
        serving,
        bodies("hanging", 5_000),
        8,
        Duration::from_millis(8),
    )
    .await
    .took_ms;
    hanging_answers.sort_by(f64::total_cmp);
    stop(child);

    // 4. Webhooks under delivery load, against the same serve with a stdout sink.
    let bodies_file = dir.path().join("bodies");
    let out = std::fs::File::create(&bodies_file).unwrap();
    let generated = Command::new("python3")
        .args(["benches/signed_bodies.py", "400000", SECRET])
        .stdout(out)
        .status()
        .unwrap();
    assert!(generated.success());
    // Alternated, each in a fresh store: this machine's speed drifts by more than the
    // difference measured, so one run of each is not a ratio.
    let mut webhook_rps: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut cpu: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
    let delivered_before = arrivals.at.lock().unwrap().len();
    for round in 0..LOAD_ROUNDS {
        for sink in ["-", hook.as_str()] {
            let name = if sink == "-" { "stdout" } else { "http" };
            let store = dir.path().join(format!("{name}-store-{round}"));
            let store_arg = store.to_str().unwrap().to_owned();
            run(
                &bin,
                &[
                    "enable",
                    "--store",
                    &store_arg,
                    "--phone-number-id",
                    PHONE,
                    "--webhook-url",
                    URL,
                    "--events",
                    sink,
                ],
            );
            let (child, serving) = serve(&bin, &store, &[]);
            let cpu_since = CpuSince::now(&child);
            let target = format!("http://{serving}{PATH}");
            let bodies_path = bodies_file.to_str().unwrap().to_owned();
            let seconds = LOAD_SECONDS.to_string() + "s";
            let rps = tokio::task::spawn_blocking(move || {
                wrk(
                    &[
                        "-t2",
                        "-c16",
                        "-d",
                        &seconds,
                        "-s",
                        "benches/signed_bodies.lua",
                        &target,
                    ],
                    &[("BODIES", bodies_path.as_str()), ("THREADS", "2")],
                )
            })
            .await
            .unwrap();
            // CPU per accepted webhook, in µs: serve's own, and this process's (the
            // receiver; idle in the stdout runs).
            cpu.entry(name)
                .or_default()
                .push(cpu_since.per(rps * LOAD_SECONDS as f64));
            webhook_rps.entry(name).or_default().push(rps);
            stop(child);
        }
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        percentile(&sorted, 0.50)
    };
    let cpu_json = |name: &str| {
        let runs = &cpu[name];
        json!({
            "serve_us_per_webhook": rounded(median(&runs.iter().map(|r| r.0).collect::<Vec<_>>()), 1),
            "receiver_us_per_webhook": rounded(median(&runs.iter().map(|r| r.1).collect::<Vec<_>>()), 1),
        })
    };
    let (stdout_rps, http_rps) = (median(&webhook_rps["stdout"]), median(&webhook_rps["http"]));
    let pair_ratios: Vec<f64> = webhook_rps["stdout"]
        .iter()
        .zip(&webhook_rps["http"])
        .map(|(s, h)| ratio(*h, *s))
        .collect();
    let delivered_under_load = arrivals.at.lock().unwrap().len() - delivered_before;

    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "receiver_wrk_requests_per_second": receiver_rps.round(),
            "burst": {
                "events": events,
                "delivered": delivered,
                "deliveries_per_second": deliveries_per_second.round(),
                "over_receiver_wrk": ratio(deliveries_per_second, receiver_rps),
                "cpu_us_per_delivery": {
                    "serve": rounded(burst_cpu.0, 1),
                    "receiver": rounded(burst_cpu.1, 1),
                },
            },
            "latency_200_to_delivery_ms": {
                "webhooks": lags.len(),
                "p50": rounded(percentile(&lags, 0.50), 2),
                "p99": rounded(percentile(&lags, 0.99), 2),
                "max": rounded(lags.last().copied().unwrap_or_default(), 2),
            },
            "webhook_answer_ms_at_1000_per_second": {
                "healthy_receiver": {
                    "p50": rounded(percentile(&healthy_answers, 0.50), 2),
                    "p99": rounded(percentile(&healthy_answers, 0.99), 2),
                },
                "hanging_receiver": {
                    "p50": rounded(percentile(&hanging_answers, 0.50), 2),
                    "p99": rounded(percentile(&hanging_answers, 0.99), 2),
                },
            },
            "webhooks_per_second": {
                "rounds": LOAD_ROUNDS,
                "seconds_each": LOAD_SECONDS,
                "stdout_sink": stdout_rps.round(),
                "http_sink_while_delivering": http_rps.round(),
                "ratio": ratio(http_rps, stdout_rps),
                "ratio_each_round": pair_ratios,
                "stdout_runs": webhook_rps["stdout"].iter().map(|r| r.round()).collect::<Vec<_>>(),
                "http_runs": webhook_rps["http"].iter().map(|r| r.round()).collect::<Vec<_>>(),
                "deliveries_made_meanwhile": delivered_under_load,
                "cpu": { "stdout": cpu_json("stdout"), "http": cpu_json("http") },
            },
        }))
        .unwrap()
    );
}
