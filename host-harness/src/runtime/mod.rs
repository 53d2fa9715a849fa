//! The runtime: what a workflow host would copy to run the connector component.
//!
//! One [`Connector`] per loaded component (an `Engine` and an `InstancePre`), and a
//! fresh `Store` and instance per call by default, so no call sees another's state;
//! every store runs under the [`Limits`], and the component's outbound HTTP goes where
//! the [`Outbound`] policy says (nowhere, unless the caller injects a route).
//!
//! This module imports nothing from the rest of the harness: the CLI, the webhook
//! endpoint and the test doubles are built on it, not into it.
//!
//! - [`limits`]: what one call may use, and how it is enforced;
//! - [`outbound`]: the outbound policy (deny-all by default) and its journal;
//! - [`bindings`]: the generated bindings and every WIT ↔ host conversion;
//! - [`json`]: the JSON forms of outputs and errors;
//! - [`manifest`]: `component.json` as the host applies it.

pub mod bindings;
mod exports;
pub mod json;
pub mod limits;
pub mod manifest;
pub mod outbound;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker, Resource, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Precompiled, Store,
    UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::{AsyncReadStream, AsyncWriteStream};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use whatsapp_connector::registration::Registration;
use whatsapp_connector::secret::Secret;

use self::bindings::{
    Account, ConnectorError, Outcome, Properties, Removal, SendInput, SendOutput, WebhookError,
    WebhookRequest, WebhookSecrets,
};
pub use self::exports::Exports;
pub use self::limits::{HostError, Limits, TICK};
use self::limits::{Limiter, start_ticker};
use self::outbound::OutboundHooks;
pub use self::outbound::{Outbound, OutboundLimits, RecordedRequest, StubResponse};

/// The connection's properties. `Debug` redacts every secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub system_user_access_token: Secret<String>,
    pub phone_number_id: String,
    pub app_secret: Option<Secret<String>>,
    pub verify_token: Option<Secret<String>>,
}

/// Why a call of the component did not give the component's answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The host stopped the guest at a limit, or it trapped: that call failed, the
    /// next one gets a fresh instance.
    #[error(transparent)]
    Stopped(#[from] HostError),
    /// The host itself failed (instantiation, I/O, a broken contract).
    #[error(transparent)]
    Host(#[from] anyhow::Error),
}

impl CallError {
    /// The kind in the JSON error: `timeout`, `memory-limit`, `trap` or `host`.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Stopped(stopped) => stopped.kind(),
            CallError::Host(_) => "host",
        }
    }
}

/// What a call of the component returns: its answer (the WIT result), or why there was
/// none.
pub type Call<T, E = ConnectorError> = Result<Result<T, E>, CallError>;

/// What one store holds: WASI, wasi:http, the outbound policy and the limits' state.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    limiter: Limiter,
    ticks_left: u64,
    /// The running call's deadline, for its error.
    deadline: Duration,
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

/// Bytes of a media transfer's stream that may wait in the host: the component copies
/// 64 KiB at a time, so two chunks keep both sides busy and the host's memory flat.
pub const STREAM_BUFFER: usize = 128 * 1024;

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

/// The engine configuration every entry point uses (and `precompile` must match).
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
            .max_memory_size(limits.max_memory())
            // A reused slot is reset by zeroing what was used, not by unmapping it, up to
            // these sizes: the next instance then takes no page faults there.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Compiles a component ahead of time for this host's engine: [`Connector::load`] then
/// only maps it. Returns the artifact's size in bytes.
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

struct Loaded {
    engine: Engine,
    pre: bindings::ConnectorPre<HostState>,
    indices: exports::Indices,
}

/// A loaded connector component, the outbound policy and the limits its calls use.
/// Cloning is cheap: clones share the compiled component.
///
/// Every call gets a fresh instance, unless [`Connector::keep_instance`] made this a
/// connector whose calls all go to one kept instance (its memory then carries over).
#[derive(Clone)]
pub struct Connector {
    loaded: Arc<Loaded>,
    outbound: Outbound,
    limits: Limits,
    kept: Option<Arc<tokio::sync::Mutex<Instance>>>,
    /// The largest linear memory a call has used, in bytes.
    peak: Arc<AtomicUsize>,
}

impl Connector {
    /// Loads a component (`.wasm`, compiled now) under `limits`. Its outbound requests
    /// are refused until [`Connector::with_outbound`] gives it a route. A precompiled
    /// artifact is refused: it is native code, see [`Connector::load_precompiled`].
    pub fn load(path: &Path, limits: Limits, allocation: Allocation) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(allocation, &limits))?;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the component {}", path.display()))?;
        if Engine::detect_precompiled(&bytes).is_some() {
            anyhow::bail!(
                "{} is a precompiled artifact, which is native code: load it only if it is \
                 your own `precompile` output, with --precompiled",
                path.display()
            );
        }
        let component = Component::new(&engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot load the component {}", path.display()))?;
        Self::link(engine, component, limits)
    }

    /// Loads a component precompiled by [`precompile`] for this engine: it is only
    /// mapped, not compiled.
    ///
    /// # Safety
    ///
    /// A precompiled artifact is native code, run as such: the sandbox's limits do not
    /// protect against a forged one. wasmtime checks that it was made by the same
    /// version and configuration, not what it does. Pass only your own `precompile`
    /// output, kept where nobody else can write.
    pub unsafe fn load_precompiled(
        path: &Path,
        limits: Limits,
        allocation: Allocation,
    ) -> anyhow::Result<Self> {
        let engine = Engine::new(&engine_config(allocation, &limits))?;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the component {}", path.display()))?;
        if Engine::detect_precompiled(&bytes) != Some(Precompiled::Component) {
            anyhow::bail!("{} is not a precompiled component", path.display());
        }
        // SAFETY: the caller vouches for the artifact (see above).
        let component = unsafe { Component::deserialize(&engine, &bytes) }
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot load the component {}", path.display()))?;
        Self::link(engine, component, limits)
    }

    fn link(engine: Engine, component: Component, limits: Limits) -> anyhow::Result<Self> {
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
        let indices = exports::Indices::new(pre.instance_pre())
            .map_err(anyhow::Error::from)
            .context("the component does not export the whatsapp:connector world")?;
        start_ticker(&engine);
        Ok(Self {
            loaded: Arc::new(Loaded {
                engine,
                pre,
                indices,
            }),
            outbound: Outbound::deny_all(),
            limits,
            kept: None,
            peak: Arc::default(),
        })
    }

    /// The same component with another outbound policy (and a fresh journal).
    pub fn with_outbound(&self, outbound: Outbound) -> Self {
        Self {
            outbound,
            peak: Arc::default(),
            ..self.clone()
        }
    }

    /// The same component under other limits. (Memory above what it was loaded with
    /// cannot be granted by the pool: load it again instead.)
    pub fn with_limits(&self, limits: Limits) -> Self {
        Self {
            limits,
            peak: Arc::default(),
            ..self.clone()
        }
    }

    /// The same component, every call of which goes to one instance made now.
    pub async fn keep_instance(&self) -> Result<Self, CallError> {
        let instance = self.instance().await?;
        Ok(Self {
            kept: Some(Arc::new(tokio::sync::Mutex::new(instance))),
            peak: Arc::default(),
            ..self.clone()
        })
    }

    /// The largest linear memory any call through this connector has used, in bytes.
    /// (A connector made by `with_outbound`, `with_limits` or `keep_instance` starts
    /// counting anew.)
    pub fn peak_memory(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
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

    /// A fresh instance in a fresh store, under this connector's limits and policy.
    async fn instance(&self) -> Result<Instance, CallError> {
        let limits = self.limits;
        let state = HostState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: self.outbound.hooks(limits.outbound),
            limiter: Limiter::new(&limits),
            ticks_left: limits.deadline_ticks(),
            deadline: limits.deadline,
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
        // The bare instance: its exports are loaded at their first call (`exports`).
        match self
            .loaded
            .pre
            .instance_pre()
            .instantiate_async(&mut store)
            .await
        {
            Ok(instance) => Ok(Instance {
                store,
                instance,
                loaded: exports::Loaded::default(),
                indices: self.loaded.clone(),
            }),
            Err(error) => Err(stopped(&store, error)),
        }
    }

    /// One call of the component, with `memory` bytes of linear memory at most: on the
    /// kept instance, or on a fresh one.
    async fn call<R>(
        &self,
        memory: usize,
        f: impl AsyncFnOnce(&mut Exports<'_>, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        self.call_with_deadline(memory, self.limits.deadline, f)
            .await
    }

    /// [`Connector::call`] with another deadline (a transfer's).
    async fn call_with_deadline<R>(
        &self,
        memory: usize,
        deadline: Duration,
        f: impl AsyncFnOnce(&mut Exports<'_>, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let (result, peak) = match &self.kept {
            Some(kept) => {
                let mut kept = kept.lock().await;
                (kept.call(memory, deadline, f).await, kept.peak_memory())
            }
            None => {
                let mut fresh = self.instance().await?;
                (fresh.call(memory, deadline, f).await, fresh.peak_memory())
            }
        };
        self.peak.fetch_max(peak, Ordering::Relaxed);
        result
    }

    /// The connection test.
    pub async fn test_connection(&self, connection: &Connection) -> Call<Account> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.connection(store)?.call_test(store, &connection).await
        })
        .await
    }

    /// Action "Send Message".
    pub async fn send(&self, connection: &Connection, input: &SendInput) -> Call<SendOutput> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.send_message(store)?
                .call_send(store, &connection, input)
                .await
        })
        .await
    }

    /// Action "Send Template".
    pub async fn send_template(
        &self,
        connection: &Connection,
        input: &bindings::TemplateInput,
    ) -> Call<SendOutput> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.send_template(store)?
                .call_send(store, &connection, input)
                .await
        })
        .await
    }

    /// Action "Send Media".
    pub async fn send_media(
        &self,
        connection: &Connection,
        input: &bindings::MediaInput,
    ) -> Call<SendOutput> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.send_media(store)?
                .call_send(store, &connection, input)
                .await
        })
        .await
    }

    /// Action "Send Interactive".
    pub async fn send_interactive(
        &self,
        connection: &Connection,
        input: &bindings::InteractiveInput,
    ) -> Call<SendOutput> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.send_interactive(store)?
                .call_send(store, &connection, input)
                .await
        })
        .await
    }

    /// Action "Send Flow".
    pub async fn send_flow(
        &self,
        connection: &Connection,
        input: &bindings::FlowInput,
    ) -> Call<SendOutput> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.send_flow(store)?
                .call_send(store, &connection, input)
                .await
        })
        .await
    }

    /// Action "Send Reaction".
    pub async fn send_reaction(
        &self,
        connection: &Connection,
        input: &bindings::ReactionInput,
    ) -> Call<SendOutput> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.send_reaction(store)?
                .call_send(store, &connection, input)
                .await
        })
        .await
    }

    /// Action "Send Location".
    pub async fn send_location(
        &self,
        connection: &Connection,
        input: &bindings::LocationInput,
    ) -> Call<SendOutput> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.send_location(store)?
                .call_send(store, &connection, input)
                .await
        })
        .await
    }

    /// Action "Mark as Read".
    pub async fn mark_as_read(
        &self,
        connection: &Connection,
        input: &bindings::ReadInput,
    ) -> Call<()> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.mark_as_read(store)?
                .call_mark(store, &connection, input)
                .await
        })
        .await
    }

    /// Action "Create Group": the request ID; the group arrives by webhook.
    pub async fn create_group(
        &self,
        connection: &Connection,
        input: &bindings::GroupCreateInput,
    ) -> Call<bindings::GroupCreated> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.groups(store)?
                .call_create(store, &connection, input)
                .await
        })
        .await
    }

    /// Actions "Get Group Invite Link" and (`reset`) "Reset Group Invite Link".
    pub async fn group_invite_link(
        &self,
        connection: &Connection,
        input: &bindings::GroupInput,
        reset: bool,
    ) -> Call<bindings::InviteLink> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            let groups = e.groups(store)?;
            if reset {
                groups
                    .call_reset_invite_link(store, &connection, input)
                    .await
            } else {
                groups.call_get_invite_link(store, &connection, input).await
            }
        })
        .await
    }

    /// Action "Remove Group Participants".
    pub async fn remove_group_participants(
        &self,
        connection: &Connection,
        input: &bindings::GroupRemoveInput,
    ) -> Call<()> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.groups(store)?
                .call_remove_participants(store, &connection, input)
                .await
        })
        .await
    }

    /// Actions "Block Users" (`block`) and "Unblock Users": per-user results.
    pub async fn block_users(
        &self,
        connection: &Connection,
        input: &bindings::UsersInput,
        block: bool,
    ) -> Call<bindings::UsersOutput> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            let blocking = e.block_users(store)?;
            if block {
                blocking.call_block(store, &connection, input).await
            } else {
                blocking.call_unblock(store, &connection, input).await
            }
        })
        .await
    }

    /// Action "List Blocked Users": one page.
    pub async fn list_blocked_users(
        &self,
        connection: &Connection,
        input: &bindings::BlockedListInput,
    ) -> Call<bindings::BlockedPage> {
        let connection = bindings::connection(connection);
        self.call(self.limits.memory_bytes, async |e, store| {
            e.block_users(store)?
                .call_list(store, &connection, input)
                .await
        })
        .await
    }

    /// Action "Download Media": the bytes go to `destination` as they arrive (at most
    /// [`STREAM_BUFFER`] bytes wait in the host), and are checked by the component. On an
    /// error, what `destination` got is not the file: write to a temporary file and keep
    /// it only on `Ok(Ok(_))`, as the CLI's `download-media` does.
    pub async fn download_media(
        &self,
        connection: &Connection,
        input: &bindings::DownloadInput,
        destination: impl tokio::io::AsyncWrite + Send + 'static,
    ) -> Call<bindings::DownloadOutput, bindings::TransferError> {
        let connection = bindings::connection(connection);
        let stream: DynOutputStream = Box::new(AsyncWriteStream::new(STREAM_BUFFER, destination));
        self.call_with_deadline(
            self.limits.memory_bytes,
            self.limits.transfer_deadline,
            async |e, store| {
                let guest = e.download_media(store)?;
                lend(store, stream, async |store, destination| {
                    guest
                        .call_download(store, &connection, input, destination)
                        .await
                })
                .await
            },
        )
        .await
    }

    /// Action "Upload Media": `input.file_size` bytes are read from `source` as the
    /// request goes out, never all at once.
    pub async fn upload_media(
        &self,
        connection: &Connection,
        input: &bindings::UploadInput,
        source: impl tokio::io::AsyncRead + Send + 'static,
    ) -> Call<bindings::UploadOutput, bindings::TransferError> {
        let connection = bindings::connection(connection);
        let stream: DynInputStream = Box::new(AsyncReadStream::new(source));
        self.call_with_deadline(
            self.limits.memory_bytes,
            self.limits.transfer_deadline,
            async |e, store| {
                let guest = e.upload_media(store)?;
                lend(store, stream, async |store, source| {
                    guest.call_upload(store, &connection, input, source).await
                })
                .await
            },
        )
        .await
    }

    /// Trigger "Message received": one webhook request.
    pub async fn handle_webhook(
        &self,
        request: &WebhookRequest,
        properties: &Properties,
        secrets: &WebhookSecrets,
    ) -> Call<Outcome, WebhookError> {
        // Memory follows the webhook: the events grow with the body.
        let memory = self.limits.memory_for_body(request.body.len());
        self.call(memory, async |e, store| {
            e.message_received(store)?
                .call_handle_request(store, request, properties, secrets)
                .await
        })
        .await
    }

    /// Trigger "Message status updated": one webhook request.
    pub async fn handle_status_webhook(
        &self,
        request: &WebhookRequest,
        properties: &bindings::StatusProperties,
        secrets: &WebhookSecrets,
    ) -> Call<bindings::StatusOutcome, WebhookError> {
        let memory = self.limits.memory_for_body(request.body.len());
        self.call(memory, async |e, store| {
            e.status_updated(store)?
                .call_handle_request(store, request, properties, secrets)
                .await
        })
        .await
    }

    /// Trigger "Message echoed": one webhook request.
    pub async fn handle_echo_webhook(
        &self,
        request: &WebhookRequest,
        properties: &bindings::EchoProperties,
        secrets: &WebhookSecrets,
    ) -> Call<bindings::EchoOutcome, WebhookError> {
        let memory = self.limits.memory_for_body(request.body.len());
        self.call(memory, async |e, store| {
            e.message_echoed(store)?
                .call_handle_request(store, request, properties, secrets)
                .await
        })
        .await
    }

    /// Trigger "Marketing preference changed": one webhook request.
    pub async fn handle_preference_webhook(
        &self,
        request: &WebhookRequest,
        properties: &bindings::PreferenceProperties,
        secrets: &WebhookSecrets,
    ) -> Call<bindings::PreferenceOutcome, WebhookError> {
        let memory = self.limits.memory_for_body(request.body.len());
        self.call(memory, async |e, store| {
            e.preference_changed(store)?
                .call_handle_request(store, request, properties, secrets)
                .await
        })
        .await
    }

    /// Trigger "Group updated": one webhook request.
    pub async fn handle_group_webhook(
        &self,
        request: &WebhookRequest,
        properties: &bindings::GroupProperties,
        secrets: &WebhookSecrets,
    ) -> Call<bindings::GroupOutcome, WebhookError> {
        let memory = self.limits.memory_for_body(request.body.len());
        self.call(memory, async |e, store| {
            e.group_updated(store)?
                .call_handle_request(store, request, properties, secrets)
                .await
        })
        .await
    }

    /// Switching the trigger on, step 1: a registration with a fresh verify token. No
    /// network.
    pub async fn new_registration(
        &self,
        connection: &Connection,
        properties: &Properties,
        webhook_url: &str,
    ) -> Call<Registration> {
        let connection = bindings::connection(connection);
        let made = self
            .call(self.limits.memory_bytes, async |e, store| {
                e.message_received(store)?
                    .call_new_registration(store, &connection, properties, webhook_url)
                    .await
            })
            .await?;
        Ok(made.map(bindings::registration_from_wit))
    }

    /// Switching the trigger on, step 2: sets the alternate callback. The registration
    /// must already be where the webhook endpoint finds it: Meta verifies during the call.
    pub async fn enable(&self, connection: &Connection, registration: &Registration) -> Call<()> {
        let (connection, registration) = (
            bindings::connection(connection),
            bindings::registration_to_wit(registration),
        );
        self.call(self.limits.memory_bytes, async |e, store| {
            e.message_received(store)?
                .call_enable(store, &connection, &registration)
                .await
        })
        .await
    }

    /// Switching the trigger off.
    pub async fn disable(
        &self,
        connection: &Connection,
        registration: &Registration,
    ) -> Call<Removal> {
        let (connection, registration) = (
            bindings::connection(connection),
            bindings::registration_to_wit(registration),
        );
        self.call(self.limits.memory_bytes, async |e, store| {
            e.message_received(store)?
                .call_disable(store, &connection, &registration)
                .await
        })
        .await
    }
}

/// Lends `stream` to one call as a `borrow<…>` resource: it is in the store's table
/// only for the call, and the host's end of it is dropped (flushed, closed) after.
async fn lend<S: Send + 'static, R>(
    store: &mut Store<HostState>,
    stream: S,
    call: impl AsyncFnOnce(&mut Store<HostState>, Resource<S>) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    let owned = store.data_mut().table.push(stream)?;
    let result = call(store, Resource::new_borrow(owned.rep())).await;
    store.data_mut().table.delete(owned)?;
    result
}

/// One instance of the component in its own store. Each call gets the full deadline
/// again; memory limits hold for the instance's whole life.
struct Instance {
    store: Store<HostState>,
    instance: wasmtime::component::Instance,
    /// The interfaces loaded so far.
    loaded: exports::Loaded,
    /// The component's indices (in `Loaded`).
    indices: Arc<Loaded>,
}

impl Instance {
    fn peak_memory(&self) -> usize {
        self.store.data().limiter.peak_memory
    }

    async fn call<R>(
        &mut self,
        memory: usize,
        deadline: Duration,
        f: impl AsyncFnOnce(&mut Exports<'_>, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let state = self.store.data_mut();
        state.ticks_left = limits::ticks(deadline);
        state.deadline = deadline;
        state.timed_out = false;
        state.limiter.memory_limit = memory;
        let mut exports = Exports {
            indices: &self.indices.indices,
            loaded: &mut self.loaded,
            instance: self.instance,
        };
        let result = f(&mut exports, &mut self.store).await;
        result.map_err(|error| stopped(&self.store, error))
    }
}

/// Names the reason a call failed: a limit the host enforced, or a trap.
fn stopped(store: &Store<HostState>, error: wasmtime::Error) -> CallError {
    let state = store.data();
    if state.timed_out {
        HostError::Timeout(state.deadline).into()
    } else if state.limiter.refused {
        HostError::MemoryLimit(state.limiter.memory_limit).into()
    } else if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        HostError::Trap(trap.to_string()).into()
    } else {
        CallError::Host(error.into())
    }
}
