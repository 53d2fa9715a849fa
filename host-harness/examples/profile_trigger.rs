//! Calls the trigger in a loop for a profiler to watch:
//!
//! ```sh
//! cargo build --release -p host-harness --example profile_trigger
//! perf record -e cpu-clock -g target/release/examples/profile_trigger reused 10
//! perf report --no-children
//! ```
//!
//! `reused` calls one instance again and again; `fresh` makes a fresh instance per call.

use std::time::{Duration, Instant};

use host_harness::bench::webhook_with_messages;
use host_harness::bindings::{Outcome, Properties, WebhookRequest, WebhookSecrets};
use host_harness::{Connector, sign_webhook};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "reused".into());
    let seconds: u64 = args.next().map_or(Ok(5), |s| s.parse())?;
    let connector = Connector::load_default()?;
    let body = webhook_with_messages(1, "profile");
    let request = WebhookRequest {
        method: "POST".into(),
        headers: vec![("x-hub-signature-256".into(), sign_webhook("secret", &body))],
        query: String::new(),
        body,
    };
    let properties = Properties {
        sender_number: None,
    };
    let secrets = WebhookSecrets {
        app_secret: Some("secret".into()),
        verify_token: None,
    };
    let mut instance = connector.instance().await?;
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut calls = 0u64;
    while Instant::now() < until {
        for _ in 0..1000 {
            let outcome = if mode == "fresh" {
                connector
                    .handle_webhook(&request, &properties, &secrets)
                    .await?
            } else {
                instance
                    .handle_webhook(&request, &properties, &secrets)
                    .await?
            };
            anyhow::ensure!(matches!(outcome, Ok(Outcome::Events(e)) if e.len() == 1));
        }
        calls += 1000;
    }
    println!(
        "{mode}: {calls} calls, {:.2} µs per call",
        seconds as f64 * 1e6 / calls as f64
    );
    Ok(())
}
