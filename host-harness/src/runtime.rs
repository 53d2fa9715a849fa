//! Loading the component and calling it: one `Engine` and one `InstancePre` per loaded
//! component, and by default a fresh `Store` (and instance) per call, so no call sees
//! another's state; every store runs under the [`Limits`].
//!
//! Instances come from wasmtime's pooling allocator (memory slots reused, reset with
//! copy-on-write images), which makes a fresh instance per call cheap; an [`Instance`] can
//! also be kept and called again.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Precompiled, Store,
    UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{self, ConnectorError, Outcome, SendInput, SendOutput, WebhookError};
pub use crate::limits::{HostError, Limits, TICK};
use crate::limits::{Limiter, start_ticker};
use crate::outbound::{Outbound, OutboundHooks};
use crate::registration::Registration;
use crate::stub_graph::StubGraph;

/// The component built from this checkout by the build script.
pub const COMPONENT_PATH: &str = env!("WHATSAPP_CONNECTOR_WASM");

/// The connection's properties. `Debug` redacts every secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub system_user_access_token: String,
    pub phone_number_id: String,
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: Option<&String>| s.map(|_| "[redacted]");
        f.debug_struct("Connection")
            .field("system_user_access_token", &"[redacted]")
            .field("phone_number_id", &self.phone_number_id)
            .field("app_secret", &secret(self.app_secret.as_ref()))
            .field("verify_token", &secret(self.verify_token.as_ref()))
            .finish()
    }
}

impl Connection {
    fn to_wit(&self) -> bindings::Connection {
        bindings::Connection {
            system_user_access_token: self.system_user_access_token.clone(),
            phone_number_id: self.phone_number_id.clone(),
            app_secret: self.app_secret.clone(),
            verify_token: self.verify_token.clone(),
        }
    }
}

/// What one store holds: WASI, wasi:http, the outbound policy and the limits' state.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    limiter: Limiter,
    ticks_left: u64,
    timed_out: bool,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Bytes of each pooled memory and table kept mapped between instances: the component's
/// stack, data and the heap a call uses fit inside.
const KEEP_RESIDENT: usize = 2 << 20;

/// How the engine allocates instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// A pool of this many instance slots, reserved up front (the default: 128).
    Pooling { instances: u32 },
    /// Memory mapped and unmapped for every instance.
    OnDemand,
}

impl Default for Allocation {
    fn default() -> Self {
        Allocation::Pooling { instances: 128 }
    }
}

struct Loaded {
    engine: Engine,
    pre: bindings::ConnectorPre<HostState>,
}

/// A loaded connector component, the outbound policy and the limits its calls use.
/// Cloning is cheap: clones share the compiled component.
#[derive(Clone)]
pub struct Connector {
    loaded: Arc<Loaded>,
    outbound: Outbound,
    limits: Limits,
}

/// The engine configuration every harness entry point uses (and `precompile` must match).
pub fn engine_config(allocation: Allocation, limits: &Limits) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if let Allocation::Pooling { instances } = allocation {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 8)
            .total_memories(instances * 2)
            .total_tables(instances * 8)
            .total_stacks(instances)
            .max_memory_size(limits.memory_bytes)
            // A reused slot is reset by zeroing what was used, not by unmapping it, up to
            // these sizes: the next instance then takes no page faults there.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Compiles a component ahead of time for this host's engine: `Connector::load` then
/// only maps it (`host-harness precompile`). Returns the artifact's size in bytes.
pub fn precompile(input: &Path, output: &Path) -> anyhow::Result<usize> {
    let engine = Engine::new(&engine_config(Allocation::OnDemand, &Limits::default()))?;
    let wasm = std::fs::read(input).with_context(|| format!("cannot read {}", input.display()))?;
    let compiled = engine
        .precompile_component(&wasm)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile {}", input.display()))?;
    std::fs::write(output, &compiled)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(compiled.len())
}

impl Connector {
    /// Loads the component built from this checkout.
    pub fn load_default() -> anyhow::Result<Self> {
        Self::load(Path::new(COMPONENT_PATH))
    }

    /// Loads a component (`.wasm`, compiled now; or `.cwasm` from [`precompile`]) with
    /// the default limits and the pooling allocator. Its Graph API calls go to the
    /// built-in stub until [`Connector::with_outbound`] says otherwise.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        Self::load_with(path, Limits::default(), Allocation::default())
    }

    /// Loads a component under `limits` (the pool's slots are sized for them).
    pub fn load_with(path: &Path, limits: Limits, allocation: Allocation) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(allocation, &limits))?;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the component {}", path.display()))?;
        let component = match Engine::detect_precompiled(&bytes) {
            // SAFETY: a precompiled artifact is native code; the harness loads only what
            // its operator names, and `deserialize` checks it was made for this engine.
            Some(Precompiled::Component) => unsafe { Component::deserialize(&engine, &bytes) },
            Some(Precompiled::Module) => {
                anyhow::bail!("{} is a core module, not a component", path.display())
            }
            None => Component::new(&engine, &bytes),
        }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot load the component {}", path.display()))?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component does not fit the host")?;
        let pre = bindings::ConnectorPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export the whatsapp:connector world")?;
        start_ticker(&engine);
        Ok(Self {
            loaded: Arc::new(Loaded { engine, pre }),
            outbound: StubGraph::new(None).outbound(),
            limits,
        })
    }

    /// The same component with another outbound policy (and a fresh journal).
    pub fn with_outbound(&self, outbound: Outbound) -> Self {
        Self {
            outbound,
            ..self.clone()
        }
    }

    /// The same component under other limits. (Memory above what it was loaded with
    /// cannot be granted by the pool: load it with [`Connector::load_with`] instead.)
    pub fn with_limits(&self, limits: Limits) -> Self {
        Self {
            limits,
            ..self.clone()
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The outbound policy and journal of this connector.
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    pub fn engine(&self) -> &Engine {
        &self.loaded.engine
    }

    /// The component's type: its imports and exports, as the binary declares them.
    pub fn component_type(&self) -> wasmtime::component::types::Component {
        self.loaded.pre.instance_pre().component().component_type()
    }

    /// A fresh instance in a fresh store. Every call through [`Connector`] makes one;
    /// keep one to call it again (its memory then carries over between calls).
    pub async fn instance(&self) -> anyhow::Result<Instance> {
        let limits = self.limits;
        let state = HostState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: self.outbound.hooks(limits.outbound),
            limiter: Limiter::new(&limits),
            ticks_left: limits.deadline_ticks(),
            timed_out: false,
        };
        let mut store = Store::new(&self.loaded.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut store| {
            let state = store.data_mut();
            if state.ticks_left == 0 {
                state.timed_out = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            state.ticks_left -= 1;
            // Yield, so that a spinning guest never holds an executor thread for long.
            Ok(UpdateDeadline::Yield(1))
        });
        let bindings = self.loaded.pre.instantiate_async(&mut store).await;
        let mut instance = Instance {
            store,
            bindings: None,
            limits,
        };
        instance.bindings = Some(bindings.map_err(|e| instance.stopped(e))?);
        Ok(instance)
    }

    /// Action "Send Message".
    pub async fn send(
        &self,
        connection: &Connection,
        input: &SendInput,
    ) -> anyhow::Result<Result<SendOutput, ConnectorError>> {
        self.instance().await?.send(connection, input).await
    }

    /// The connection test.
    pub async fn test_connection(
        &self,
        connection: &Connection,
    ) -> anyhow::Result<Result<bindings::Account, ConnectorError>> {
        self.instance().await?.test_connection(connection).await
    }

    /// Trigger "Message received": one webhook request.
    pub async fn handle_webhook(
        &self,
        request: &bindings::WebhookRequest,
        properties: &bindings::Properties,
        secrets: &bindings::WebhookSecrets,
    ) -> anyhow::Result<Result<Outcome, WebhookError>> {
        self.instance()
            .await?
            .handle_webhook(request, properties, secrets)
            .await
    }

    /// Switching the trigger on, step 1: a registration with a fresh verify token. No
    /// network.
    pub async fn new_registration(
        &self,
        connection: &Connection,
        properties: &bindings::Properties,
        webhook_url: &str,
    ) -> anyhow::Result<Result<Registration, ConnectorError>> {
        self.instance()
            .await?
            .new_registration(connection, properties, webhook_url)
            .await
    }

    /// Switching the trigger on, step 2: sets the alternate callback. The registration
    /// must already be where the webhook endpoint finds it: Meta verifies during the call.
    pub async fn enable(
        &self,
        connection: &Connection,
        registration: &Registration,
    ) -> anyhow::Result<Result<(), ConnectorError>> {
        self.instance()
            .await?
            .enable(connection, registration)
            .await
    }

    /// Switching the trigger off.
    pub async fn disable(
        &self,
        connection: &Connection,
        registration: &Registration,
    ) -> anyhow::Result<Result<bindings::Removal, ConnectorError>> {
        self.instance()
            .await?
            .disable(connection, registration)
            .await
    }
}

/// One instance of the component in its own store. Each call gets the full deadline
/// again; memory limits hold for the instance's whole life.
pub struct Instance {
    store: Store<HostState>,
    /// Set once instantiation succeeded.
    bindings: Option<bindings::Connector>,
    limits: Limits,
}

impl Instance {
    /// The largest linear memory the guest has had, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.store.data().limiter.peak_memory
    }

    /// The store and bindings for one more call, with a fresh deadline.
    fn next_call(&mut self) -> (&mut Store<HostState>, &bindings::Connector) {
        let state = self.store.data_mut();
        state.ticks_left = self.limits.deadline_ticks();
        state.timed_out = false;
        let bindings = self.bindings.as_ref().expect("instantiated");
        (&mut self.store, bindings)
    }

    /// Names the reason a call failed: a limit the host enforced, or a trap.
    fn stopped(&self, error: wasmtime::Error) -> anyhow::Error {
        let state = self.store.data();
        let host_error = if state.timed_out {
            HostError::Timeout(self.limits.deadline)
        } else if state.limiter.refused {
            HostError::MemoryLimit(self.limits.memory_bytes)
        } else if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
            HostError::Trap(trap.to_string())
        } else {
            return error.into();
        };
        anyhow::Error::from(error).context(host_error)
    }

    /// Action "Send Message".
    pub async fn send(
        &mut self,
        connection: &Connection,
        input: &SendInput,
    ) -> anyhow::Result<Result<SendOutput, ConnectorError>> {
        let (store, bindings) = self.next_call();
        let result = bindings
            .whatsapp_connector_send_message()
            .call_send(store, &connection.to_wit(), input)
            .await;
        result.map_err(|e| self.stopped(e))
    }

    /// The connection test.
    pub async fn test_connection(
        &mut self,
        connection: &Connection,
    ) -> anyhow::Result<Result<bindings::Account, ConnectorError>> {
        let (store, bindings) = self.next_call();
        let result = bindings
            .whatsapp_connector_connection()
            .call_test(store, &connection.to_wit())
            .await;
        result.map_err(|e| self.stopped(e))
    }

    /// Trigger "Message received": one webhook request.
    pub async fn handle_webhook(
        &mut self,
        request: &bindings::WebhookRequest,
        properties: &bindings::Properties,
        secrets: &bindings::WebhookSecrets,
    ) -> anyhow::Result<Result<Outcome, WebhookError>> {
        let (store, bindings) = self.next_call();
        let result = bindings
            .whatsapp_connector_message_received()
            .call_handle_request(store, request, properties, secrets)
            .await;
        result.map_err(|e| self.stopped(e))
    }

    /// Switching the trigger on, step 1.
    pub async fn new_registration(
        &mut self,
        connection: &Connection,
        properties: &bindings::Properties,
        webhook_url: &str,
    ) -> anyhow::Result<Result<Registration, ConnectorError>> {
        let (store, bindings) = self.next_call();
        let result = bindings
            .whatsapp_connector_message_received()
            .call_new_registration(store, &connection.to_wit(), properties, webhook_url)
            .await;
        Ok(result.map_err(|e| self.stopped(e))?.map(Registration::from))
    }

    /// Switching the trigger on, step 2.
    pub async fn enable(
        &mut self,
        connection: &Connection,
        registration: &Registration,
    ) -> anyhow::Result<Result<(), ConnectorError>> {
        let (store, bindings) = self.next_call();
        let result = bindings
            .whatsapp_connector_message_received()
            .call_enable(store, &connection.to_wit(), &registration.into())
            .await;
        result.map_err(|e| self.stopped(e))
    }

    /// Switching the trigger off.
    pub async fn disable(
        &mut self,
        connection: &Connection,
        registration: &Registration,
    ) -> anyhow::Result<Result<bindings::Removal, ConnectorError>> {
        let (store, bindings) = self.next_call();
        let result = bindings
            .whatsapp_connector_message_received()
            .call_disable(store, &connection.to_wit(), &registration.into())
            .await;
        result.map_err(|e| self.stopped(e))
    }
}
