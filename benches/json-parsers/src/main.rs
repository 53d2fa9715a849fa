//! One JSON parser reading the webhooks the component reads, timed from inside the
//! program: built natively it gives the baseline, built for `wasm32-wasip2` (a command
//! component, run by `host-harness/examples/run_command.rs`) it gives the time inside the
//! guest. The parser is chosen by a Cargo feature, one build per parser, so that the
//! `.wasm` of each build carries exactly one parser and the sizes compare.
//!
//! Every parser extracts the same fields into its own typed form (or its DOM, for
//! `jiter`), and the program prints a checksum of what it read, so a parser that skipped
//! work would show as a different checksum.

use std::hint::black_box;
use std::time::Instant;

#[cfg(any(feature = "miniserde", feature = "nanoserde"))]
mod owned_types;
#[cfg(feature = "jiter")]
#[path = "jiter.rs"]
mod parser;
#[cfg(feature = "miniserde")]
#[path = "miniserde.rs"]
mod parser;
#[cfg(feature = "nanoserde")]
#[path = "nanoserde.rs"]
mod parser;
#[cfg(feature = "none")]
#[path = "none.rs"]
mod parser;
#[cfg(feature = "serde-json")]
#[path = "serde_json.rs"]
mod parser;
#[cfg(feature = "simd-json")]
#[path = "simd_json.rs"]
mod parser;
#[cfg(any(feature = "serde-json", feature = "simd-json"))]
mod serde_types;

/// What a parse extracted: enough to tell that every field was read.
#[derive(Default)]
pub struct Tally {
    pub messages: usize,
    pub bytes: usize,
}

impl Tally {
    pub fn add(&mut self, s: &str) {
        self.bytes += s.len();
    }
    pub fn add_opt(&mut self, s: Option<&str>) {
        if let Some(s) = s {
            self.add(s);
        }
    }
}

/// The bench's webhook (`host-harness` `webhook_with_messages`), with `n` text messages.
fn webhook(n: usize) -> Vec<u8> {
    let messages: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"from":"16505551234","id":"wamid.batch.{i}","timestamp":"1700000000","type":"text","text":{{"body":"Message number {i} of the batch"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"contacts":[{{"profile":{{"name":"Sheena Nelson"}},"wa_id":"16505551234"}}],"messages":[{}]}}}}]}}]}}"#,
        messages.join(",")
    )
    .into_bytes()
}

/// Median, lowest and highest nanoseconds per parse over `runs` runs of `calls` parses.
fn measure(body: &[u8], runs: usize, calls: usize) -> (f64, f64, f64) {
    for _ in 0..calls / 10 {
        black_box(parser::parse(black_box(body)));
    }
    let mut per_call: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                black_box(parser::parse(black_box(body)));
            }
            start.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    per_call.sort_by(f64::total_cmp);
    (per_call[runs / 2], per_call[0], per_call[runs - 1])
}

fn main() {
    let one = webhook(1);
    let hundred = webhook(100);
    let check = |body: &[u8]| {
        let tally = parser::parse(body);
        format!("{}/{}", tally.messages, tally.bytes)
    };
    let (one_ns, one_lo, one_hi) = measure(&one, 7, 20_000);
    let (hundred_ns, hundred_lo, hundred_hi) = measure(&hundred, 7, 400);
    println!(
        "{{\"parser\":\"{}\",\"target\":\"{}\",\"checksum_1\":\"{}\",\"checksum_100\":\"{}\",\
         \"one_message_ns\":{one_ns:.1},\"one_message_ns_range\":[{one_lo:.1},{one_hi:.1}],\
         \"hundred_messages_ns\":{hundred_ns:.1},\"hundred_messages_ns_range\":[{hundred_lo:.1},{hundred_hi:.1}]}}",
        parser::NAME,
        std::env::consts::ARCH,
        check(&one),
        check(&hundred),
    );
}
