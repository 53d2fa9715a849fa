//! Builds the connector component for `wasm32-wasip2`, the way wasmtime's
//! `crates/test-programs` builds its guests, so that `cargo run -p host-harness` and
//! `cargo test` always load the component of this checkout; and, in the same cargo run,
//! `test-programs`, the misbehaving guest that the sandbox tests load, and the Obelisk
//! webhook endpoint and sample workflow (`hosts/obelisk/`) that the Obelisk tests deploy.
//!
//! The guest gets its own folder inside the workspace's target dir: a nested cargo
//! must not wait on the lock the outer one holds.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .expect("host-harness sits in the workspace root");
    for watched in [
        "src",
        "wit",
        "Cargo.toml",
        "Cargo.lock",
        "host-harness/test-programs",
        "hosts/obelisk/webhook",
        "hosts/obelisk/workflow",
        "hosts/obelisk/wit",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let target_dir = workspace_target_dir(&out_dir).join("guest-build");
    let mut output = build_guest(root, &target_dir);
    if !output.status.success() && target_missing(&output) && install_target() {
        println!("cargo:warning=installed the wasm32-wasip2 target with rustup");
        output = build_guest(root, &target_dir);
    }
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if target_missing(&output) {
            "\nhint: run `rustup target add wasm32-wasip2`"
        } else {
            ""
        };
        panic!("building the guest component failed:\n{stderr}{hint}");
    }
    for (file, variable) in [
        ("whatsapp_connector.wasm", "WHATSAPP_CONNECTOR_WASM"),
        ("test_programs.wasm", "TEST_PROGRAMS_WASM"),
        (
            "whatsapp_obelisk_webhook.wasm",
            "WHATSAPP_OBELISK_WEBHOOK_WASM",
        ),
        (
            "whatsapp_obelisk_workflow.wasm",
            "WHATSAPP_OBELISK_WORKFLOW_WASM",
        ),
    ] {
        let wasm = target_dir.join("wasm32-wasip2/guest").join(file);
        assert!(wasm.exists(), "the guest build made no {}", wasm.display());
        println!("cargo:rustc-env={variable}={}", wasm.display());
    }
}

fn build_guest(root: &Path, target_dir: &Path) -> Output {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--package=whatsapp-connector",
            "--package=test-programs",
            "--package=whatsapp-obelisk-webhook",
            "--package=whatsapp-obelisk-workflow",
            "--target=wasm32-wasip2",
            "--profile=guest",
            "--locked",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        // What the outer build set for the host must not leak into the guest build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .expect("failed to run cargo to build the guest component")
}

fn target_missing(output: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed")
}

/// A fresh machine with only Rust (by rustup) lacks the target: add it, so the
/// README's one command works there.
fn install_target() -> bool {
    Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .is_ok_and(|status| status.success())
}

/// The target dir cargo writes `CACHEDIR.TAG` into, found above `OUT_DIR`.
fn workspace_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or(out_dir)
        .to_path_buf()
}
