//! Loading the component and calling it: one `Engine` and one `InstancePre` per loaded
//! component, a fresh `Store` (and instance) per call, so no call sees another's state.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{self, ConnectorError, Outcome, SendInput, SendOutput, WebhookError};
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

/// What one store holds: WASI, wasi:http and the outbound policy.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
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

/// A loaded connector component and the outbound policy its calls use.
/// Cloning is cheap: clones share the compiled component.
#[derive(Clone)]
pub struct Connector {
    loaded: Arc<Loaded>,
    outbound: Outbound,
}

/// The engine configuration every harness entry point uses.
pub fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config
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
        Ok(Self {
            loaded: Arc::new(Loaded { engine, pre }),
            outbound: StubGraph::new(None).outbound(),
        })
    }

    /// The same component with another outbound policy (and a fresh journal).
    pub fn with_outbound(&self, outbound: Outbound) -> Self {
        Self {
            loaded: self.loaded.clone(),
            outbound,
        }
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
        let state = HostState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: self.outbound.hooks(),
        };
        let mut store = Store::new(&self.loaded.engine, state);
        let instance = self.loaded.pre.instantiate_async(&mut store).await?;
        Ok((store, instance))
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
            .map_err(Into::into)
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
            .map_err(Into::into)
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
            .map_err(Into::into)
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
            .await?;
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
            .map_err(Into::into)
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
            .map_err(Into::into)
    }
}
