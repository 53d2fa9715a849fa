//! Calls the trigger in a loop for a profiler to watch:
//!
//! ```sh
//! cargo build --release -p host-harness --example profile_trigger
//! perf record -e cpu-clock -g target/release/examples/profile_trigger reused 10
//! perf report --no-children
//! ```
//!
//! `reused` calls one kept instance again and again; `fresh` makes a fresh instance per
//! call.

use std::path::Path;
use std::time::{Duration, Instant};

use host_harness::bindings::{Outcome, Properties, WebhookSecrets};
use host_harness::fakes::signed_post;
use host_harness::{Allocation, COMPONENT_PATH, Connector, Limits};

const WEBHOOK: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.profile.0","timestamp":"1700000000","type":"text","text":{"body":"Message number 0 of the batch"}}]}}]}]}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "reused".into());
    let seconds: u64 = args.next().map_or(Ok(5), |s| s.parse())?;
    let fresh = Connector::load(
        Path::new(COMPONENT_PATH),
        Limits::default(),
        Allocation::default(),
    )?;
    let connector = if mode == "fresh" {
        fresh
    } else {
        fresh.keep_instance().await?
    };
    let request = signed_post(WEBHOOK.as_bytes().to_vec(), "secret");
    let properties = Properties {
        sender_number: None,
    };
    let secrets = WebhookSecrets {
        app_secret: Some("secret".into()),
        verify_token: None,
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut calls = 0u64;
    while Instant::now() < until {
        for _ in 0..1000 {
            let outcome = connector
                .handle_webhook(&request, &properties, &secrets)
                .await?;
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
