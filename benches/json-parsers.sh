#!/usr/bin/env bash
# #15's JSON-parser comparison: the bench's webhooks (1 and 100 text messages) read by
# serde_json (the component's parser) and by well-kept alternatives, each built alone
# into a wasm32-wasip2 command with the guest's profile, and natively. Prints, per
# parser, what it adds to the .wasm and its time per parse inside the guest (on the
# harness's engine) and natively, medians of 7 runs, all in one run of this script.
#
#   bash benches/json-parsers.sh            # a table
#   bash benches/json-parsers.sh --json     # one JSON object per parser
set -euo pipefail
cd "$(dirname "$0")/.."
parsers=(none serde-json simd-json miniserde nanoserde jiter)
target="$PWD/target/json-parsers"
out="$target/results"
mkdir -p "$out"
cargo build -q --release -p host-harness --example run_command
for parser in "${parsers[@]}"; do
  (cd benches/json-parsers &&
    CARGO_TARGET_DIR=$target cargo build -q --release --features "$parser" &&
    CARGO_TARGET_DIR=$target cargo build -q --release --features "$parser" --target wasm32-wasip2)
  cp "$target/release/json-parsers" "$out/$parser.native"
  cp "$target/wasm32-wasip2/release/json-parsers.wasm" "$out/$parser.wasm"
done
# Runs one after the other, never at once, so that no run shares the two cores.
for parser in "${parsers[@]}"; do
  "$out/$parser.native" > "$out/$parser.native.json"
  target/release/examples/run_command "$out/$parser.wasm" > "$out/$parser.wasm.json"
done
python3 - "$out" "${1:-}" "${parsers[@]}" <<'PY'
import json, os, sys
out, mode, parsers = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for p in parsers:
    native = json.load(open(f"{out}/{p}.native.json"))
    wasm = json.load(open(f"{out}/{p}.wasm.json"))
    rows.append(dict(parser=native["parser"], feature=p,
                     wasm_bytes=os.path.getsize(f"{out}/{p}.wasm"),
                     checksum=[native["checksum_1"], native["checksum_100"]],
                     wasm_checksum=[wasm["checksum_1"], wasm["checksum_100"]],
                     native_one_ns=native["one_message_ns"], wasm_one_ns=wasm["one_message_ns"],
                     wasm_one_ns_range=wasm["one_message_ns_range"],
                     native_hundred_ns=native["hundred_messages_ns"],
                     wasm_hundred_ns=wasm["hundred_messages_ns"],
                     wasm_hundred_ns_range=wasm["hundred_messages_ns_range"]))
base = next(r for r in rows if r["feature"] == "none")
ref = next(r for r in rows if r["feature"] == "serde-json")
failed = False
for r in rows:
    r["parser_bytes"] = r["wasm_bytes"] - base["wasm_bytes"]
    if r["feature"] != "none" and (r["checksum"] != ref["checksum"] or r["wasm_checksum"] != ref["checksum"]):
        print(f"{r['parser']}: read {r['checksum']} / {r['wasm_checksum']}, serde_json {ref['checksum']}", file=sys.stderr)
        failed = True
if mode == "--json":
    for r in rows:
        print(json.dumps(r))
else:
    print(f"{'parser':<11} {'adds to .wasm':>13} {'1 msg wasm':>11} {'native':>8} {'wasm/nat':>8} "
          f"{'100 msgs wasm':>13} {'native':>9} {'wasm/nat':>8} {'wasm vs serde_json (1 / 100)':>29}")
    for r in rows:
        if r["feature"] == "none":
            print(f"{'(no parser)':<11} {r['wasm_bytes']:>13,} (the program alone: its .wasm size)")
            continue
        print(f"{r['parser']:<11} {r['parser_bytes']:>13,} {r['wasm_one_ns']/1000:>9.2f}µs {r['native_one_ns']/1000:>6.2f}µs "
              f"{r['wasm_one_ns']/r['native_one_ns']:>7.2}× {r['wasm_hundred_ns']/1000:>11.1f}µs {r['native_hundred_ns']/1000:>7.1f}µs "
              f"{r['wasm_hundred_ns']/r['native_hundred_ns']:>7.2}× "
              f"{r['wasm_one_ns']/ref['wasm_one_ns']:>14.2}× / {r['wasm_hundred_ns']/ref['wasm_hundred_ns']:.2}×")
    print("times: medians of 7 runs (20,000 parses of the 1-message webhook, 400 of the 100-message one);"
          " sizes: each .wasm minus the program without a parser")
sys.exit(1 if failed else 0)
PY
