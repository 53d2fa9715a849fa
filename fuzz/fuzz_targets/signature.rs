//! `X-Hub-Signature-256` over any header value and body: see `bodies/signature.rs`.
#![no_main]

#[path = "../bodies/signature.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
