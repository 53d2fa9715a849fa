//! What one call of the component may use, and how the host enforces it.
//!
//! The component is untrusted. Its linear memory and tables are capped by a resource
//! limiter, and its running time by epoch interruption: a ticker thread advances the
//! engine's epoch every [`TICK`], and each tick in which the guest was running costs it one
//! tick of its deadline. Time the guest spends waiting on the host (an outbound request)
//! does not count; that has its own timeouts ([`OutboundLimits`]).

use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter, StoreLimits, StoreLimitsBuilder};

use super::outbound::OutboundLimits;

/// How often the epoch advances: the granularity of the execution deadline.
pub const TICK: Duration = Duration::from_millis(10);

/// Meta's webhook bodies reach 3 MB; the webhook endpoint accepts up to this by default.
pub const DEFAULT_MAX_WEBHOOK_BODY: usize = 4 << 20;
/// Linear memory a webhook call may use per byte of its body, above `memory_bytes`.
/// The events the guest builds, and their lowered form, grow with the body: about 7
/// bytes per byte for a body of short one-line text messages (the worst case of real
/// webhooks: the fixed cost of an event over the fewest bytes). See the README's limits.
pub const DEFAULT_MEMORY_PER_BODY_BYTE: usize = 10;

/// What one call of the component may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, per memory, in bytes, of any call.
    pub memory_bytes: usize,
    /// A webhook call may use this many more bytes of linear memory per byte of its body,
    /// so that memory follows the webhook: a valid batch is never stopped for its size.
    pub memory_per_body_byte: usize,
    /// The largest webhook body a call is given (`serve --max-body`): the pool's memory
    /// slots are sized for it.
    pub max_webhook_body: usize,
    /// Elements per table.
    pub table_elements: usize,
    /// Running time of one call (waiting on the host excluded), rounded up to [`TICK`]s.
    pub deadline: Duration,
    /// Running time of a media transfer's call: hashing and copying 100 MB takes the
    /// component far longer than any other call, and waiting on the network still does
    /// not count.
    pub transfer_deadline: Duration,
    /// Outbound requests' timeouts and response size.
    pub outbound: OutboundLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 16 << 20,
            memory_per_body_byte: DEFAULT_MEMORY_PER_BODY_BYTE,
            max_webhook_body: DEFAULT_MAX_WEBHOOK_BODY,
            table_elements: 10_000,
            deadline: Duration::from_secs(2),
            transfer_deadline: Duration::from_secs(60),
            outbound: OutboundLimits::default(),
        }
    }
}

impl Limits {
    /// The linear memory a webhook call with a body of `len` bytes may use.
    pub fn memory_for_body(&self, len: usize) -> usize {
        let len = len.min(self.max_webhook_body);
        self.memory_bytes
            .saturating_add(self.memory_per_body_byte.saturating_mul(len))
    }

    /// The most linear memory any call may use: what a pooled memory slot must hold.
    pub fn max_memory(&self) -> usize {
        self.memory_for_body(self.max_webhook_body)
    }

    pub(crate) fn deadline_ticks(&self) -> u64 {
        ticks(self.deadline)
    }
}

/// A deadline in [`TICK`]s, rounded up, at least one.
pub(crate) fn ticks(deadline: Duration) -> u64 {
    deadline.as_nanos().div_ceil(TICK.as_nanos()).max(1) as u64
}

/// Why a call of the component was stopped by the host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The guest ran past [`Limits::deadline`].
    #[error("the component ran longer than its {0:?} deadline and was stopped")]
    Timeout(Duration),
    /// The guest asked for more than its call's memory (see [`Limits::memory_for_body`]).
    #[error("the component needed more than {0} bytes of memory and was stopped")]
    MemoryLimit(usize),
    /// Any other trap: the guest is broken, the host is fine.
    #[error("the component trapped: {0}")]
    Trap(String),
}

impl HostError {
    /// The kind in the JSON error, e.g. `timeout`.
    pub fn kind(&self) -> &'static str {
        match self {
            HostError::Timeout(_) => "timeout",
            HostError::MemoryLimit(_) => "memory-limit",
            HostError::Trap(_) => "trap",
        }
    }
}

/// The memory and table limits of a store: memory up to the current call's budget,
/// tables by [`StoreLimits`]. It remembers whether it refused something, so that the trap
/// that follows (a guest out of memory aborts) is reported as what it is.
pub(crate) struct Limiter {
    tables: StoreLimits,
    /// The current call's linear memory budget, in bytes.
    pub(crate) memory_limit: usize,
    pub(crate) refused: bool,
    /// The largest linear memory granted so far, in bytes.
    pub(crate) peak_memory: usize,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            tables: StoreLimitsBuilder::new()
                .table_elements(limits.table_elements)
                .build(),
            memory_limit: limits.memory_bytes,
            refused: false,
            peak_memory: 0,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_limit && maximum.is_none_or(|max| desired <= max);
        self.refused |= !allowed;
        if allowed {
            self.peak_memory = self.peak_memory.max(desired);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.tables.table_growing(current, desired, maximum)?;
        self.refused |= !allowed;
        Ok(allowed)
    }
}

/// Advances the engine's epoch every [`TICK`] for as long as the engine lives.
pub(crate) fn start_ticker(engine: &Engine) {
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .expect("cannot start the epoch thread");
}
