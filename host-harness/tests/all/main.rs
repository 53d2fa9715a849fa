//! The harness's tests, in one binary.
//!
//! - `cli`: the `host-harness` binary as a user runs it: exit codes, stdout, stderr;
//! - `end_to_end_lifecycle`: enable → verification → delivery → disable over real HTTP;
//! - `large_webhooks`: webhooks at the body limit, through the trigger and `serve`;
//! - `sandbox`: every limit, against a guest that misbehaves on purpose;
//! - `serve_robustness`: slow clients, the concurrency cap, redeliveries, stopped guests;
//! - `secrets`: every subcommand's error paths, and no secret in any output;
//! - `subscriptions`: many workflows on one phone number: enable, route, disable, restart;
//! - `durable_store`: the gateway's store under faults: restarts, `kill -9`, two
//!   instances, Redis stopped, a full disk, many numbers, the 0.2 import;
//! - `hardening`: the third round's defects (#22), each reproduced;
//! - `deliveries`: signed HTTP deliveries, retries, 410, dead letters, the Redis stream
//!   sink and the admin endpoints, against real receivers (`receiver`);
//! - `redis_server`: a real `redis-server` per test, on a free loopback port;
//! - `obelisk`: the connector, the webhook endpoint and the sample workflow of
//!   `hosts/obelisk/` in a real Obelisk server.
//!
//! Below: what they share, the binary, distinctive secrets and a running `serve`.

mod cli;
mod deliveries;
mod durable_store;
mod end_to_end_lifecycle;
mod hardening;
mod large_webhooks;
mod meta_2026;
mod obelisk;
mod receiver;
mod redis_server;
mod sandbox;
mod secrets;
mod serve_robustness;
mod subscriptions;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_host-harness");
pub const TOKEN: &str = "EAAGcliTOKENmustNeverLeak42";
pub const APP_SECRET: &str = "cliAPPsecretMustNeverLeak";
pub const VERIFY_TOKEN: &str = "cliVERIFYtokenMustNeverLeak";

pub fn fixture(name: &str) -> String {
    format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        // A command that names no store never touches the checkout's ./whatsapp-state.
        .env("WHATSAPP_STORE", fresh_store())
        .env_remove("WHATSAPP_TOKEN")
        .env_remove("WHATSAPP_PHONE_NUMBER_ID")
        .env_remove("WHATSAPP_APP_SECRET")
        .env_remove("WHATSAPP_VERIFY_TOKEN")
        .env_remove("WHATSAPP_STORE_KEY")
        .output()
        .unwrap()
}

pub fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

pub fn stderr_error(output: &Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().last().unwrap_or_default();
    let value: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {stderr}"));
    value["error"].clone()
}

pub fn assert_no_secret(output: &Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in [TOKEN, APP_SECRET, VERIFY_TOKEN] {
        assert!(!all.contains(secret), "a secret leaked: {all}");
    }
}

/// A running `host-harness serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub address: std::net::SocketAddr,
    pub events: mpsc::Receiver<String>,
    /// Its stderr lines after the first.
    pub logs: mpsc::Receiver<String>,
}

impl Server {
    /// The next `n` event lines `serve` writes, as JSON (each within 10 s).
    pub fn event_lines(&self, n: usize) -> Vec<Value> {
        (0..n)
            .map(|_| {
                let line = self
                    .events
                    .recv_timeout(std::time::Duration::from_secs(10))
                    .expect("serve wrote no event line in time");
                serde_json::from_str(&line).expect("an event line is JSON")
            })
            .collect()
    }

    /// Ctrl-C: `serve` stops gracefully and prints its summary; returns that summary.
    pub fn interrupt(&mut self) -> Value {
        self.stop_with("-INT")
    }

    /// Sends `signal` (`-INT`, `-TERM`): `serve` stops gracefully and prints its summary;
    /// returns that summary.
    pub fn stop_with(&mut self, signal: &str) -> Value {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let Ok(line) = self.logs.recv_timeout(left) else {
                break;
            };
            if let Some(summary) = line.strip_prefix("serve: stopped ") {
                return serde_json::from_str(summary).unwrap();
            }
        }
        panic!("serve printed no summary")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `serve` on a free port; with a store of its own unless `extra` names one.
pub fn start_serve(extra: &[&str]) -> Server {
    serve_on("127.0.0.1:0", extra, &[])
}

/// `serve` listening on `listen`, with these flags and environment variables; with a
/// store of its own unless `extra` names one.
pub fn serve_on(listen: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(BIN);
    command.args(["serve", "--listen", listen]).args(extra);
    if !extra.contains(&"--store") {
        command.arg("--store").arg(fresh_store());
    }
    command.env_remove("WHATSAPP_STORE_KEY");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
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
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    for secret in [APP_SECRET, VERIFY_TOKEN] {
        assert!(!line.contains(secret), "serve printed a secret: {line}");
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    let (send_log, logs) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = send_log.send(line);
        }
    });
    let (send, events) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    Server {
        child,
        address,
        events,
        logs,
    }
}

/// [`run`] off the async runtime, for tests that also serve HTTP.
pub async fn run_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .unwrap()
}

/// Each message event's message ID, in order.
pub fn message_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e["entry"]["changes"]["messages"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// A directory for an embedded store that no other test uses.
pub fn fresh_store() -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("host-harness-store-{}-{n}", std::process::id()))
}

/// A fresh, empty directory for this test's files.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("host-harness-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
