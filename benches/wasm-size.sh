#!/usr/bin/env bash
# The component's code size by crate: builds the guest once more with its symbol names
# kept (the shipped artifact strips them), in its own target dir, and attributes each
# function's body to the crate its mangled name starts with. Prints the largest.
#
#   bash benches/wasm-size.sh                  # by crate
#   bash benches/wasm-size.sh --functions 30   # and the 30 largest functions
set -euo pipefail
cd "$(dirname "$0")/.."
target=target/size-names
CARGO_PROFILE_GUEST_STRIP=false CARGO_TARGET_DIR=$target \
  cargo build -q --target wasm32-wasip2 --profile guest -p whatsapp-connector
python3 benches/wasm_sizes.py "$target/wasm32-wasip2/guest/whatsapp_connector.wasm" "$@"
