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

/// What one call of the component may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory, per memory, in bytes.
    pub memory_bytes: usize,
    /// Elements per table.
    pub table_elements: usize,
    /// Running time of one call (waiting on the host excluded), rounded up to [`TICK`]s.
    pub deadline: Duration,
    /// Outbound requests' timeouts and response size.
    pub outbound: OutboundLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 16 << 20,
            table_elements: 10_000,
            deadline: Duration::from_secs(2),
            outbound: OutboundLimits::default(),
        }
    }
}

impl Limits {
    pub(crate) fn deadline_ticks(&self) -> u64 {
        self.deadline.as_nanos().div_ceil(TICK.as_nanos()).max(1) as u64
    }
}

/// Why a call of the component was stopped by the host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The guest ran past [`Limits::deadline`].
    #[error("the component ran longer than its {0:?} deadline and was stopped")]
    Timeout(Duration),
    /// The guest asked for more than [`Limits::memory_bytes`].
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

/// [`StoreLimits`], remembering whether it refused something, so that the trap that
/// follows (a guest out of memory aborts) is reported as what it is.
pub(crate) struct Limiter {
    limits: StoreLimits,
    pub(crate) refused: bool,
    /// The largest linear memory granted so far, in bytes.
    pub(crate) peak_memory: usize,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .table_elements(limits.table_elements)
                .build(),
            refused: false,
            peak_memory: 0,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
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
        let allowed = self.limits.table_growing(current, desired, maximum)?;
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
