//! Any bytes as a signed webhook POST through the trigger's whole request path, checked
//! against an independent reading of the body: see `bodies/webhook.rs`.
#![no_main]

#[path = "../bodies/webhook.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
