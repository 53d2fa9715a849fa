//! `X-Hub-Signature-256` over any header value and body: never a panic, never an
//! accepted forgery, always an accepted genuine signature.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whatsapp_connector::signature;

const SECRET: &str = "fuzz-app-secret";

fuzz_target!(|data: &[u8]| {
    // The first byte says how many of the rest are the header; the remainder is the body.
    let Some((&length, rest)) = data.split_first() else {
        return;
    };
    let (header, body) = rest.split_at(usize::from(length).min(rest.len()));
    let header = String::from_utf8_lossy(header);
    let genuine = signature::sign(SECRET, body);
    if signature::verify(SECRET, Some(&header), body).is_ok() {
        assert_eq!(header, genuine, "a forged signature was accepted");
    }
    assert!(signature::verify(SECRET, Some(&genuine), body).is_ok());
    let _ = signature::verify(SECRET, None, body);
});
