//! Warm instances for the webhook endpoint (`serve --reuse-instances N`), opt-in.
//!
//! By default every request gets a fresh instance: nothing one webhook leaves in the
//! component's memory can reach the next. Making that instance is most of a trigger
//! call (the README's performance section), so a host that trusts the component's
//! statelessness may reuse an instance for up to `max_uses` requests of one endpoint
//! (one phone number's webhooks). An instance whose call failed in any way (a trap, the
//! deadline, the memory limit) is dropped, never reused.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::{CallError, Connector};

/// Instances kept between requests.
pub struct InstancePool {
    connector: Connector,
    max_uses: u32,
    idle: Mutex<Vec<(Connector, u32)>>,
    /// Instances made so far.
    made: AtomicU64,
}

/// An instance taken from the pool; give it back with [`InstancePool::put`].
pub struct Lease {
    pub connector: Connector,
    uses: u32,
}

impl InstancePool {
    /// A pool of instances of `connector`'s component, each used up to `max_uses` times.
    pub fn new(connector: Connector, max_uses: u32) -> Self {
        Self {
            connector,
            max_uses: max_uses.max(1),
            idle: Mutex::default(),
            made: AtomicU64::new(0),
        }
    }

    /// An idle instance, or a new one.
    pub async fn take(&self) -> Result<Lease, CallError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some((connector, uses)) = idle {
            return Ok(Lease { connector, uses });
        }
        let connector = self.connector.keep_instance().await?;
        self.made.fetch_add(1, Ordering::Relaxed);
        Ok(Lease { connector, uses: 0 })
    }

    /// Gives an instance back after a call: kept for the next request only if the call
    /// came back (whatever the component answered) and its uses are not spent.
    pub fn put(&self, lease: Lease, call_came_back: bool) {
        let uses = lease.uses + 1;
        if call_came_back && uses < self.max_uses {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((lease.connector, uses));
        }
    }

    /// How many instances the pool has made.
    pub fn instances_made(&self) -> u64 {
        self.made.load(Ordering::Relaxed)
    }
}
