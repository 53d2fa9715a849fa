//! The connector in a real Obelisk server (#25): `hosts/obelisk/deployment.toml` as
//! shipped, with only the three `.wasm` locations pointed at this build, run by the
//! `obelisk` binary (0.38; `.ci/run` installs it) on free loopback ports in a temporary
//! directory, killed when the test ends.
//!
//! There is no network here: every Graph API call ends in a DNS failure, which the
//! connector reports as a `transport` error. That is what proves the token path: the
//! connections below carry an empty token, which would be `invalid-input` on
//! `system-user-access-token` had the connector not read Obelisk's secret placeholder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use host_harness::fakes::loopback::Client;
use host_harness::fakes::signed_post;
use serde_json::{Value, json};

use crate::{APP_SECRET, TOKEN, VERIFY_TOKEN, fixture};

const WASMS: [(&str, &str); 3] = [
    ("whatsapp_connector.wasm", env!("WHATSAPP_CONNECTOR_WASM")),
    (
        "whatsapp_obelisk_webhook.wasm",
        env!("WHATSAPP_OBELISK_WEBHOOK_WASM"),
    ),
    (
        "whatsapp_obelisk_workflow.wasm",
        env!("WHATSAPP_OBELISK_WORKFLOW_WASM"),
    ),
];

fn hosts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hosts/obelisk")
}

/// `obelisk` from `OBELISK`, else `PATH`, else `~/.cargo/bin` (where `cargo install`
/// puts it).
fn obelisk() -> PathBuf {
    if let Some(path) = std::env::var_os("OBELISK") {
        return path.into();
    }
    let on_path = Command::new("obelisk")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return "obelisk".into();
    }
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|home| home.join("bin/obelisk"))
        .filter(|p| p.is_file());
    cargo_bin.unwrap_or_else(|| {
        panic!(
            "the Obelisk tests need the `obelisk` binary: `cargo install obelisk@0.38.3 --locked` \
             (needs Debian's protobuf-compiler), or set OBELISK to its path"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shipped deployment and server files, copied into `dir` with this build's
/// `.wasm` files and free ports. Every location of the shipped file must be replaced.
fn write_config(dir: &Path, api: u16, external: u16) -> (PathBuf, PathBuf) {
    let mut deployment = std::fs::read_to_string(hosts_dir().join("deployment.toml")).unwrap();
    for (file, built) in WASMS {
        let shipped = format!("\"../../target/wasm32-wasip2/guest/{file}\"");
        assert!(
            deployment.contains(&shipped),
            "deployment.toml lost {shipped}"
        );
        deployment = deployment.replace(&shipped, &format!("{built:?}"));
    }
    let server = std::fs::read_to_string(hosts_dir().join("server.toml"))
        .unwrap()
        .replace("127.0.0.1:5005", &format!("127.0.0.1:{api}"))
        .replace("127.0.0.1:9090", &format!("127.0.0.1:{external}"));
    let (d, s) = (dir.join("deployment.toml"), dir.join("server.toml"));
    std::fs::write(&d, deployment).unwrap();
    std::fs::write(&s, server).unwrap();
    (s, d)
}

/// The secrets the server is started with: each must stay out of every output.
fn secrets_env(command: &mut Command) -> &mut Command {
    command
        .env("WHATSAPP_ACCESS_TOKEN", TOKEN)
        .env("WHATSAPP_APP_SECRET", APP_SECRET)
        .env("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN)
        .env_remove("WHATSAPP_SENDER_NUMBER")
}

struct Obelisk {
    child: Child,
    dir: tempfile::TempDir,
    api: String,
    external: SocketAddr,
    /// Which run of the server this is: each writes its own log.
    run: usize,
}

impl Obelisk {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (api, external) = (free_port(), free_port());
        write_config(dir.path(), api, external);
        let child = Self::spawn(dir.path(), 0);
        let obelisk = Self {
            child,
            dir,
            api: format!("http://127.0.0.1:{api}"),
            external: SocketAddr::from(([127, 0, 0, 1], external)),
            run: 0,
        };
        obelisk.wait_ready();
        obelisk
    }

    /// `obelisk server run` on the configuration in `dir`, its output in `server-N.log`.
    fn spawn(dir: &Path, run: usize) -> Child {
        let log = std::fs::File::create(dir.join(format!("server-{run}.log"))).unwrap();
        secrets_env(&mut Command::new(obelisk()))
            .args(["server", "run", "--server-config"])
            .arg(dir.join("server.toml"))
            .arg("--deployment")
            .arg(dir.join("deployment.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(180);
        while !self.log().contains("Obelisk is ready") {
            assert!(
                Instant::now() < deadline,
                "obelisk did not start:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server with SIGKILL (nothing is flushed or closed), then starts it again
    /// on the same database, ports and deployment.
    fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.run += 1;
        self.child = Self::spawn(self.dir.path(), self.run);
        self.wait_ready();
    }

    /// This run's log.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("server-{}.log", self.run)))
            .unwrap_or_default()
    }

    /// `obelisk execution ARGS --api-url …`.
    fn execution(&self, args: &[&str]) -> Output {
        Command::new(obelisk())
            .arg("execution")
            .args(args)
            .args(["--api-url", &self.api])
            .output()
            .unwrap()
    }

    /// Follows execution `id` to its end: the error it ended with, in words.
    fn error_of(&self, id: &str) -> String {
        let result = json_of(&self.execution(&["result", "--follow", "--json", id]));
        result["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} did not end in an error: {result}"))
            .to_owned()
    }

    /// Execution `id`'s event log, as Obelisk's CLI prints it.
    fn events_of(&self, id: &str) -> String {
        let output = self.execution(&["events", "--limit", "100", id]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Submits `function` with `params` and follows it to its end: the JSON result.
    fn submit(&self, function: &str, params: Value) -> Value {
        let output = self.execution(&[
            "submit",
            "--follow",
            "--json",
            function,
            &params.to_string(),
        ]);
        json_of(&output)
    }

    /// The executions of `ffqn_prefix`, newest first.
    fn list(&self, ffqn_prefix: &str) -> Vec<Value> {
        let output = self.execution(&["list", "--json", "--limit", "100", "--ffqn", ffqn_prefix]);
        json_of(&output).as_array().unwrap().clone()
    }

    async fn client(&self) -> Client {
        Client::connect(self.external).await.unwrap()
    }
}

impl Drop for Obelisk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `body` to the webhook endpoint, signed with `secret`: the status and the JSON
/// answer.
async fn post(client: &mut Client, body: &[u8], secret: &str) -> (u16, Value) {
    let answer = client
        .webhook("/whatsapp", signed_post(body.to_vec(), secret))
        .await
        .unwrap();
    let json = serde_json::from_str(&answer.text())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", answer.text()));
    (answer.status, json)
}

fn json_of(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [TOKEN, APP_SECRET, VERIFY_TOKEN] {
        assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
    }
}

const ACTIVITY: &str = "whatsapp:connector/send-message@0.3.0.send";
const WORKFLOW: &str = "whatsapp-obelisk:hosts/auto-reply@0.1.0";

fn connection() -> Value {
    // No token: the connector reads Obelisk's placeholder from its environment.
    json!({
        "system-user-access-token": "",
        "phone-number-id": "106540352242922",
        "app-secret": null,
        "verify-token": null,
    })
}

/// Send Message's parameters: "hi" to `to`, on [`connection`].
fn send_params(to: &str) -> Value {
    json!([connection(), {
        "message": "hi",
        "send-message-to": to,
        "reply-to": null,
        "preview-url": null,
    }])
}

#[test]
fn the_deployment_verifies_and_every_export_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (server, deployment) = write_config(dir.path(), free_port(), free_port());
    let output = secrets_env(&mut Command::new(obelisk()))
        .args(["server", "verify", "--skip-db", "--server-config"])
        .arg(&server)
        .arg("--deployment")
        .arg(&deployment)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "verify failed:\n{log}");
    assert!(log.contains("Obelisk configuration was verified"), "{log}");
    // Obelisk ignores, with this warning, each function whose return type it cannot
    // run as an activity (0.2's exports: all 15 of them).
    let ignored: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Ignoring export") && l.contains("whatsapp"))
        .collect();
    assert!(
        ignored.is_empty(),
        "exports ignored:\n{}",
        ignored.join("\n")
    );
    assert_no_secret("obelisk server verify", &log);
}

#[test]
fn actions_run_as_activities_with_structured_errors() {
    let obelisk = Obelisk::start();

    // Refused before any request, after Obelisk's retries: the field is named.
    let invalid = obelisk.submit(ACTIVITY, send_params("15550101234"));
    assert_eq!(
        invalid["error"]["invalid_input"]["field"], "send-message-to",
        "{invalid}"
    );

    // A valid send with the token from the secret: it goes out, and with no network it
    // ends in the connector's transport error, not in a trap (an `execution-failed`).
    let sent = obelisk.submit(ACTIVITY, send_params("+15550101234"));
    let transport = &sent["error"]["transport"];
    assert!(
        transport["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{sent}"
    );
    assert_eq!(transport["retryable"], true, "{sent}");

    // Each attempt is recorded, with the parameters as given: no token among them.
    let executions = obelisk.list(ACTIVITY);
    assert_eq!(executions.len(), 2, "{executions:?}");
    for execution in &executions {
        let id = execution["execution_id"].as_str().unwrap();
        let output = obelisk.execution(&["events", "--from", "0", "--json", id]);
        let events = json_of(&output);
        let created = &events["events"][0]["event"]["created"];
        assert_eq!(created["ffqn"], ACTIVITY, "{events}");
        assert_eq!(
            created["params"][0]["system-user-access-token"], "",
            "{events}"
        );
        let events = events.to_string();
        assert_no_secret("the execution log", &events);
    }
    assert_no_secret("the server's log", &obelisk.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_start_one_workflow_per_message_once() {
    let obelisk = Obelisk::start();
    let mut client = obelisk.client().await;

    // Meta's handshake, answered by the trigger with the verify token from the
    // activity's environment.
    let handshake = |token: &str| {
        format!("/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=8412")
    };
    let ok = client
        .request("GET", &handshake(VERIFY_TOKEN), &[], Vec::new())
        .await
        .unwrap();
    assert_eq!((ok.status, ok.text()), (200, "8412".to_owned()));
    let wrong = client
        .request("GET", &handshake("not-it"), &[], Vec::new())
        .await
        .unwrap();
    assert_eq!(wrong.status, 403, "{}", wrong.text());

    let body = std::fs::read(fixture("two_messages.json")).unwrap();

    // A forged webhook: refused, and nothing is started.
    let (status, refusal) = post(&mut client, &body, "not-the-app-secret").await;
    assert_eq!(
        (status, &refusal["kind"]),
        (401, &json!("invalid-signature"))
    );
    assert!(obelisk.list(WORKFLOW).is_empty());

    // The signed webhook: one workflow per message, recorded before the 200.
    let first = post(&mut client, &body, APP_SECRET).await;
    assert_eq!(first, (200, json!({"events": 2, "started": 2})));
    let started = obelisk.list(WORKFLOW);
    assert_eq!(started.len(), 2, "{started:?}");

    // Meta's redelivery of the same webhook: the same executions, none new.
    let again = post(&mut client, &body, APP_SECRET).await;
    assert_eq!(again, (200, json!({"events": 2, "started": 0})));
    let ids = |executions: &[Value]| {
        let mut ids: Vec<String> = executions
            .iter()
            .map(|e| e["execution_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&obelisk.list(WORKFLOW)), ids(&started));

    // Each workflow marked its message read through the connector (an activity), which
    // found no network: the recorded results say so, message by message.
    let fixture: Value = serde_json::from_slice(&body).unwrap();
    let mut wanted: Vec<String> = fixture["entry"][0]["changes"][0]["value"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    wanted.sort();
    let mut marked = Vec::new();
    for id in ids(&started) {
        let error = obelisk.error_of(&id);
        assert!(error.starts_with("mark-as-read: transport: "), "{error}");
        let events = obelisk.events_of(&id);
        assert!(events.contains("mark-as-read@0.3.0.mark"), "{events}");
        assert_no_secret("the workflow's log", &events);
        marked.extend(
            wanted
                .iter()
                .filter(|w| events.contains(w.as_str()))
                .cloned(),
        );
    }
    marked.sort();
    assert_eq!(
        marked, wanted,
        "each message is marked by exactly one workflow"
    );
    assert_no_secret("the server's log", &obelisk.log());
}

/// The endpoint answers 200 only once the executions are in Obelisk's database: a server
/// killed right after the 200 comes back with them, runs them to their end, and still
/// knows the webhook when Meta redelivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_acknowledged_to_meta_survive_kill_9() {
    let mut obelisk = Obelisk::start();
    let body = std::fs::read(fixture("text_message.json")).unwrap();
    let first = post(&mut obelisk.client().await, &body, APP_SECRET).await;
    assert_eq!(first, (200, json!({"events": 1, "started": 1})));
    obelisk.kill_and_restart();

    let started = obelisk.list(WORKFLOW);
    assert_eq!(started.len(), 1, "{started:?}");
    let again = post(&mut obelisk.client().await, &body, APP_SECRET).await;
    assert_eq!(again, (200, json!({"events": 1, "started": 0})));
    let error = obelisk.error_of(started[0]["execution_id"].as_str().unwrap());
    assert!(error.starts_with("mark-as-read: transport: "), "{error}");
}

/// A message written in a group: the sample workflow answers in the group (`group:ID`)
/// and sends no read receipt, which Meta refuses in groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_s_message_is_answered_in_the_group() {
    let obelisk = Obelisk::start();
    let body = std::fs::read(fixture("group_text_message.json")).unwrap();
    let fixture: Value = serde_json::from_slice(&body).unwrap();
    let group = fixture["entry"][0]["changes"][0]["value"]["messages"][0]["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = post(&mut obelisk.client().await, &body, APP_SECRET).await;
    assert_eq!(first, (200, json!({"events": 1, "started": 1})));
    let started = obelisk.list(WORKFLOW);
    let id = started[0]["execution_id"].as_str().unwrap();
    let error = obelisk.error_of(id);
    assert!(error.starts_with("send-message: transport: "), "{error}");
    let events = obelisk.events_of(id);
    assert!(!events.contains("mark-as-read@0.3.0.mark"), "{events}");
    assert!(events.contains(&format!("\"group:{group}\"")), "{events}");
}
