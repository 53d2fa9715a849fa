//! WhatsApp Business Cloud API connector, shipped as a WebAssembly component.
//!
//! The guest is `no_std` + `alloc`: without std it imports no `wasi:cli` interface, so a
//! host provides 8 interfaces instead of 18, and an instance is cheaper to make. Native
//! builds (tests, the harness) keep std.
//!
//! The contract is the WIT package in `wit/connector.wit`. This crate keeps the domain
//! logic in plain Rust modules that compile and unit-test on any target:
//!
//! - [`graph`]: where Graph API requests go and what its answers (and errors) mean;
//! - [`phone`]: phone numbers: recipients and sender numbers;
//! - [`identity`]: phone number or business-scoped user ID (BSUID): recipients and the
//!   sender filter;
//! - [`outgoing`]: what every action that sends a message shares (recipient, reply-to,
//!   the envelope, limits);
//! - [`send`], [`template`], [`media`], [`interactive`], [`reaction`], [`location`],
//!   [`read_receipt`]: the actions, each from inputs to a validated request;
//! - [`account`]: the connection test;
//! - [`webhook`]: a webhook body → one event per incoming message;
//! - [`signature`]: `X-Hub-Signature-256` verification;
//! - [`handshake`]: the `hub.challenge` verification GET;
//! - [`trigger`]: the "Message received" request handler that ties those together;
//! - [`statuses`]: trigger "Message status updated": one event per status;
//! - [`registration`]: switching the trigger on and off (Meta's webhook overrides);
//! - [`secret`]: a value whose `Debug` is `[redacted]`.
//!
//! Only when built for `wasm32` does it add the thin glue: the generated bindings
//! (`component`) and an HTTP client over `wasi:http` (`http_client`).

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

mod prelude;

pub mod account;
pub mod blocking;
pub mod echoes;
pub mod environment;
pub mod flow;
pub mod graph;
pub mod group_updates;
pub mod groups;
pub mod handshake;
pub mod identity;
pub mod interactive;
pub mod location;
pub mod media;
pub mod media_download;
pub mod media_upload;
pub mod outgoing;
pub mod phone;
pub mod preferences;
pub mod reaction;
pub mod read_receipt;
pub mod registration;
pub mod secret;
pub mod send;
pub mod signature;
pub mod statuses;
pub mod template;
pub mod transfer;
pub mod trigger;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod http_client;
#[cfg(target_arch = "wasm32")]
mod media_streams;

#[cfg(target_arch = "wasm32")]
mod guest_allocator;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: guest_allocator::GuestAllocator = guest_allocator::GuestAllocator::new();

/// A panic in the guest (there should be none: inputs are validated) traps, and the
/// host reports the call as stopped.
#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// `memcmp` for the `no_std` guest: without std, wasi-libc (which provides it) is not
/// linked, and `compiler_builtins` leaves it to libc on this target.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: the caller guarantees `n` readable bytes at `a` and `b`.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// The canonical ABI's allocator export: on `wasm32-wasip2` wasi-libc provides it
/// when std is linked; the `no_std` guest provides it over its global allocator.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    if old_len == 0 && new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a power-of-two `align` and, when `old_len` is not
    // 0, a block this allocator gave with that size and alignment.
    let ptr = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable()
    }
    ptr
}
