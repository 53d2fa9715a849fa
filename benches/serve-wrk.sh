#!/usr/bin/env bash
# `serve` under an external load generator: the component's endpoint and the native
# baseline (`serve --native-baseline`, the same hyper framing and the same work done by
# the component crate compiled natively), one after the other in one run, with wrk at
# 16 connections for 10 s each. Checks that every distinct message was written exactly
# once. Prints one JSON object. COMPONENT_ARGS adds flags to the component's serve.
#
#   bash benches/serve-wrk.sh            # needs wrk (apt-get install wrk), python3,
#                                        # and a release build: cargo build --release -p host-harness
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HOST_HARNESS:-target/release/host-harness}
messages=${MESSAGES:-20000}
duration=${DURATION:-10s}
secret=wrk-app-secret
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
python3 benches/signed_bodies.py "$messages" "$secret" > "$dir/bodies"

run() {
  local mode=$1 extra=()
  [ "$mode" = native ] && extra=(--native-baseline)
  # COMPONENT_ARGS: more flags for the component's serve, e.g. --reuse-instances 1000.
  [ "$mode" = component ] && read -r -a extra <<< "${COMPONENT_ARGS:-}"
  "$bin" serve --listen 127.0.0.1:0 --app-secret "$secret" --no-access-log "${extra[@]}" \
    > "$dir/$mode.events" 2> "$dir/$mode.log" &
  local pid=$!
  local address=""
  for _ in $(seq 100); do
    address=$(grep -o 'http://[0-9.:]*' "$dir/$mode.log" | head -1 || true)
    [ -n "$address" ] && break
    sleep 0.1
  done
  BODIES="$dir/bodies" wrk -t2 -c16 -d"$duration" --latency -s benches/signed_bodies.lua \
    "$address/webhook" > "$dir/$mode.wrk"
  kill -INT "$pid"
  wait "$pid" || true
  python3 - "$mode" "$dir/$mode.wrk" "$dir/$mode.events" "$messages" <<'PY'
import json, re, sys
mode, wrk, events, messages = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3], int(sys.argv[4])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
requests = int(re.search(r"(\d+) requests in", wrk).group(1))
def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}[unit]
p99 = ms(re.search(r"99%\s+(\S+)", wrk).group(1))
p50 = ms(re.search(r"50%\s+(\S+)", wrk).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
ids = [json.loads(l)["entry"]["changes"]["messages"]["id"] for l in open(events) if l.strip()]
print(json.dumps({"mode": mode, "requests": requests, "requests_per_second": rps,
                  "latency_p50_ms": p50, "latency_p99_ms": p99,
                  "non_2xx": int(non2xx.group(1)) if non2xx else 0,
                  "distinct_messages_sent": min(messages, requests),
                  "events_written": len(ids), "events_written_twice": len(ids) - len(set(ids)),
                  "events_lost": min(messages, requests) - len(set(ids))}))
PY
}

component=$(run component)
native=$(run native)
python3 - "$component" "$native" <<'PY'
import json, sys
c, n = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"load": "wrk -t2 -c16, signed one-message bodies", "component": c, "native_baseline": n,
                  "component_over_native_throughput": round(c["requests_per_second"] / n["requests_per_second"], 3)}, indent=2))
PY
