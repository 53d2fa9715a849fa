//! Loading the component and calling it: one `Engine` and one `InstancePre` per loaded
//! component, a fresh `Store` (and instance) per call, so no call sees another's state.
//!
//! The component is untrusted: every store runs under [`Limits`]. Its linear memory and
//! tables are capped by a resource limiter, and its running time by epoch interruption:
//! a ticker thread advances the engine's epoch every [`TICK`], and each tick in which the
//! guest was running costs it one tick of its deadline. Time the guest spends waiting on
//! the host (an outbound request) does not count; that has its own timeouts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{self, ConnectorError, Outcome, SendInput, SendOutput, WebhookError};
use crate::outbound::{Outbound, OutboundHooks, OutboundLimits};
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
    fn deadline_ticks(&self) -> u64 {
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
struct Limiter {
    limits: StoreLimits,
    refused: bool,
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

/// The engine configuration every harness entry point uses.
pub fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config
}

/// Advances the engine's epoch every [`TICK`] for as long as the engine lives.
fn start_ticker(engine: &Engine) {
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

impl Connector {
    /// Loads the component built from this checkout.
    pub fn load_default() -> anyhow::Result<Self> {
        Self::load(Path::new(COMPONENT_PATH))
    }

    /// Compiles and links a component. Its Graph API calls go to the built-in stub
    /// until [`Connector::with_outbound`] says otherwise.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config())?;
        let component = Component::from_file(&engine, path)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot load the component {}", path.display()))?;
        Self::from_component(engine, &component)
    }

    fn from_component(engine: Engine, component: &Component) -> anyhow::Result<Self> {
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("the component does not fit the host")?;
        let pre = bindings::ConnectorPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export the whatsapp:connector world")?;
        start_ticker(&engine);
        Ok(Self {
            loaded: Arc::new(Loaded { engine, pre }),
            outbound: StubGraph::new(None).outbound(),
            limits: Limits::default(),
        })
    }

    /// The same component with another outbound policy (and a fresh journal).
    pub fn with_outbound(&self, outbound: Outbound) -> Self {
        Self {
            outbound,
            ..self.clone()
        }
    }

    /// The same component under other limits.
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

    async fn instantiate(&self) -> anyhow::Result<(Store<HostState>, bindings::Connector)> {
        let limits = self.limits;
        let state = HostState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: self.outbound.hooks(limits.outbound),
            limiter: Limiter {
                limits: StoreLimitsBuilder::new()
                    .memory_size(limits.memory_bytes)
                    .table_elements(limits.table_elements)
                    .build(),
                refused: false,
            },
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
        let instance = self
            .loaded
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.stopped(&store, e))?;
        Ok((store, instance))
    }

    /// Names the reason a call failed: a limit the host enforced, or a trap.
    fn stopped(&self, store: &Store<HostState>, error: wasmtime::Error) -> anyhow::Error {
        let state = store.data();
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
        &self,
        connection: &Connection,
        input: &SendInput,
    ) -> anyhow::Result<Result<SendOutput, ConnectorError>> {
        let (mut store, instance) = self.instantiate().await?;
        instance
            .whatsapp_connector_send_message()
            .call_send(&mut store, &connection.to_wit(), input)
            .await
            .map_err(|e| self.stopped(&store, e))
    }

    /// The connection test.
    pub async fn test_connection(
        &self,
        connection: &Connection,
    ) -> anyhow::Result<Result<bindings::Account, ConnectorError>> {
        let (mut store, instance) = self.instantiate().await?;
        instance
            .whatsapp_connector_connection()
            .call_test(&mut store, &connection.to_wit())
            .await
            .map_err(|e| self.stopped(&store, e))
    }

    /// Trigger "Message received": one webhook request.
    pub async fn handle_webhook(
        &self,
        request: &bindings::WebhookRequest,
        properties: &bindings::Properties,
        secrets: &bindings::WebhookSecrets,
    ) -> anyhow::Result<Result<Outcome, WebhookError>> {
        let (mut store, instance) = self.instantiate().await?;
        instance
            .whatsapp_connector_message_received()
            .call_handle_request(&mut store, request, properties, secrets)
            .await
            .map_err(|e| self.stopped(&store, e))
    }

    /// Switching the trigger on, step 1: a registration with a fresh verify token. No
    /// network.
    pub async fn new_registration(
        &self,
        connection: &Connection,
        properties: &bindings::Properties,
        webhook_url: &str,
    ) -> anyhow::Result<Result<Registration, ConnectorError>> {
        let (mut store, instance) = self.instantiate().await?;
        let result = instance
            .whatsapp_connector_message_received()
            .call_new_registration(&mut store, &connection.to_wit(), properties, webhook_url)
            .await
            .map_err(|e| self.stopped(&store, e))?;
        Ok(result.map(Registration::from_wit))
    }

    /// Switching the trigger on, step 2: sets the alternate callback. The registration
    /// must already be where the webhook endpoint finds it: Meta verifies during the call.
    pub async fn enable(
        &self,
        connection: &Connection,
        registration: &Registration,
    ) -> anyhow::Result<Result<(), ConnectorError>> {
        let (mut store, instance) = self.instantiate().await?;
        instance
            .whatsapp_connector_message_received()
            .call_enable(&mut store, &connection.to_wit(), &registration.to_wit())
            .await
            .map_err(|e| self.stopped(&store, e))
    }

    /// Switching the trigger off.
    pub async fn disable(
        &self,
        connection: &Connection,
        registration: &Registration,
    ) -> anyhow::Result<Result<bindings::Removal, ConnectorError>> {
        let (mut store, instance) = self.instantiate().await?;
        instance
            .whatsapp_connector_message_received()
            .call_disable(&mut store, &connection.to_wit(), &registration.to_wit())
            .await
            .map_err(|e| self.stopped(&store, e))
    }
}
