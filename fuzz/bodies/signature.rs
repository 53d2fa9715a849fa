//! The body of the `signature` fuzz target, shared with `cargo test`
//! (`tests/all/fuzz_seeds.rs` runs it over `fuzz/seeds/signature/`).
//!
//! `X-Hub-Signature-256` over any header value and body, with a real app secret: never a
//! panic, never an accepted forgery, always an accepted genuine signature.

use whatsapp_connector::signature;

const SECRET: &str = "fuzz-app-secret";

/// The first byte says how many of the rest are the header; the remainder is the body.
pub fn run(data: &[u8]) {
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
    assert!(signature::verify(SECRET, None, body).is_err());
}
