//! A connector component that misbehaves on request, as wasmtime's `crates/test-programs`
//! guests do: it exports the same `whatsapp:connector` world, so the harness loads it like
//! the real one, and every sandbox promise can be proven against it.
//!
//! `send-message.send`'s `message`, and `message-received.handle-request`'s body, choose
//! what it does:
//! - `loop`: spins forever (the epoch deadline must stop it);
//! - `alloc`: grows its memory without bound (the memory limit must stop it);
//! - `trap`: executes `unreachable`;
//! - `fetch <url>`: makes a `GET` to any URL (the outbound allowlist must refuse it);
//!   `send` reports what happened as a `transport` error;
//! - anything else: behaves (`send` answers an empty output, `handle-request` no events).
//!
//! A GET to `handle-request` answers the handshake with a content type that holds CR/LF.
//!
//! Built only for `wasm32`; on the host this crate is empty.

#[cfg(target_arch = "wasm32")]
mod guest;
