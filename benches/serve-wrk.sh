#!/usr/bin/env bash
# `serve` under an external load generator, one mode after the other in one run, with wrk
# at 16 connections for 10 s each, unique signed one-message bodies (MESSAGES, 400,000 by
# default: more than any mode sends here, so every request is a new message):
#
#   native    `serve --native-baseline`: the same hyper framing and work, done by the
#             component crate compiled natively, dedup in memory (no store)
#   previous  0.2's serve (dedup in memory, no store), when HOST_HARNESS_PREVIOUS names
#             its binary: "today's in-memory throughput" the stores are compared with
#   embedded  the component, the embedded store (SQLite) in a fresh directory
#   redis     the component, a redis-server started here (appendonly, appendfsync always)
#
# For each: req/s, p50/p99, and every distinct message written exactly once (events on
# serve's standard output, counted after it drained). For Redis, the commands per webhook
# (INFO commandstats). MODES picks modes (default "native previous embedded redis");
# COMPONENT_ARGS adds flags to the component's serve. Prints one JSON object.
#
#   bash benches/serve-wrk.sh     # needs wrk and redis-server (apt-get install wrk
#                                 # redis-server), python3, and a release build:
#                                 # cargo build --release -p host-harness
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HOST_HARNESS:-target/release/host-harness}
previous=${HOST_HARNESS_PREVIOUS:-}
messages=${MESSAGES:-400000}
duration=${DURATION:-10s}
modes=${MODES:-native previous embedded redis}
secret=wrk-app-secret
dir=$(mktemp -d)
redis_pid=""
trap '[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
python3 benches/signed_bodies.py "$messages" "$secret" > "$dir/bodies"

start_redis() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$dir/redis"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/redis" --save "" \
    --appendonly yes --appendfsync always > /dev/null 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping > /dev/null 2>&1 && break
    sleep 0.05
  done
  echo "$port"
}

commands() { # total commands, and EVALSHA+EVAL calls, Redis has run so far
  redis-cli -p "$1" info commandstats | python3 -c '
import re, sys
total = evals = 0
for line in sys.stdin:
    m = re.match(r"cmdstat_(\w+):calls=(\d+)", line)
    if m:
        total += int(m.group(2))
        if m.group(1) in ("evalsha", "eval"):
            evals += int(m.group(2))
print(total, evals)'
}

run() {
  local mode=$1 binary=$bin extra=() port=""
  case "$mode" in
    native) extra=(--native-baseline) ;;
    previous) binary=$previous ;;
    embedded) extra=(--store "$dir/state") ;;
    redis)
      port=$(start_redis)
      extra=(--store "redis://127.0.0.1:$port/0")
      ;;
  esac
  if [ "$mode" = embedded ] || [ "$mode" = redis ]; then
    local more=()
    read -r -a more <<< "${COMPONENT_ARGS:-}"
    extra+=("${more[@]}")
  fi
  local before=(0 0)
  [ -n "$port" ] && read -r -a before <<< "$(commands "$port")"
  "$binary" serve --listen 127.0.0.1:0 --app-secret "$secret" --no-access-log "${extra[@]}" \
    > "$dir/$mode.events" 2> "$dir/$mode.log" &
  local pid=$!
  local address=""
  for _ in $(seq 100); do
    address=$(grep -o 'http://[0-9.:]*' "$dir/$mode.log" | head -1 || true)
    [ -n "$address" ] && break
    sleep 0.1
  done
  BODIES="$dir/bodies" THREADS=2 wrk -t2 -c16 -d"$duration" --latency -s benches/signed_bodies.lua \
    "$address/webhook" > "$dir/$mode.wrk"
  kill -INT "$pid"
  wait "$pid" || true
  local after=(0 0)
  [ -n "$port" ] && read -r -a after <<< "$(commands "$port")"
  if [ -n "$redis_pid" ]; then kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=""; fi
  python3 - "$mode" "$dir/$mode.wrk" "$dir/$mode.events" "$messages" \
    "$((after[0] - before[0]))" "$((after[1] - before[1]))" <<'PY'
import json, re, sys
mode, wrk, events, messages = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3], int(sys.argv[4])
commands, evals = int(sys.argv[5]), int(sys.argv[6])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
requests = int(re.search(r"(\d+) requests in", wrk).group(1))
def ms(percent):
    found = re.search(percent + r"%\s+([\d.]+)(us|ms|s|m)\b", wrk)
    if not found:
        return None
    value, unit = found.groups()
    return float(value) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4}[unit]
p99 = ms("99")
p50 = ms("50")
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
ids = [json.loads(l)["entry"]["changes"]["messages"]["id"] for l in open(events) if l.strip()]
report = {"mode": mode, "requests": requests, "requests_per_second": rps,
          "latency_p50_ms": p50, "latency_p99_ms": p99,
          "non_2xx": int(non2xx.group(1)) if non2xx else 0,
          "distinct_messages_sent": min(messages, requests),
          "events_written": len(ids), "events_written_twice": len(ids) - len(set(ids)),
          # Requests still in flight when wrk stops are answered but not counted by it.
          "events_lost": max(0, min(messages, requests) - len(set(ids)))}
if mode == "redis":
    report["redis_commands_per_webhook"] = round(commands / max(requests, 1), 3)
    report["redis_scripts_per_webhook"] = round(evals / max(requests, 1), 3)
print(json.dumps(report))
PY
}

results=()
for mode in $modes; do
  if [ "$mode" = previous ] && [ -z "$previous" ]; then continue; fi
  results+=("$(run "$mode")")
done
python3 - "${results[@]}" <<'PY'
import json, sys
runs = {r["mode"]: r for r in map(json.loads, sys.argv[1:])}
rps = lambda m: runs[m]["requests_per_second"] if m in runs else None
def ratio(a, b):
    return round(rps(a) / rps(b), 3) if rps(a) and rps(b) else None
print(json.dumps({"load": "wrk -t2 -c16, signed one-message bodies", "runs": runs, "ratios": {
    "embedded_over_previous_in_memory": ratio("embedded", "previous"),
    "redis_over_embedded": ratio("redis", "embedded"),
    "embedded_over_native": ratio("embedded", "native"),
    "previous_over_native": ratio("previous", "native"),
}}, indent=2))
PY
