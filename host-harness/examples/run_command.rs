//! Runs a `wasm32-wasip2` command component on the engine the harness uses (its
//! [`engine_config`], epoch interruption included), with stdout and stderr inherited and
//! nothing else: no files, no network, no environment. `benches/json-parsers.sh` uses it
//! to time each JSON parser inside the guest.
//!
//! ```sh
//! cargo run --release -p host-harness --example run_command -- program.wasm
//! ```

use anyhow::{Context, bail};
use host_harness::runtime::engine_config;
use host_harness::wasmtime::component::{Component, Linker, ResourceTable};
use host_harness::wasmtime::{Engine, Store};
use host_harness::{Allocation, Limits};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: run_command PROGRAM.wasm")?;
    let engine = Engine::new(&engine_config(Allocation::OnDemand, &Limits::default()))?;
    let component = Component::from_file(&engine, &path)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    let state = State {
        wasi: WasiCtxBuilder::new()
            .inherit_stdout()
            .inherit_stderr()
            .build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, state);
    store.set_epoch_deadline(u64::MAX);
    let command = Command::instantiate_async(&mut store, &component, &linker).await?;
    if command.wasi_cli_run().call_run(&mut store).await?.is_err() {
        bail!("{path} exited with an error");
    }
    Ok(())
}
