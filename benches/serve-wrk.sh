#!/usr/bin/env bash
# `serve` under an external load generator, the modes alternated ROUNDS times (3 by
# default) in one run, with wrk at 16 connections for DURATION each (6 s), unique signed
# one-message bodies (MESSAGES, 400,000 by default: more than the component's modes send
# here, so each of their requests is a new message). This machine's speed drifts by more
# than the differences measured within minutes, so a ratio is one of medians over
# alternated runs, and each round's own ratios are printed beside it:
#
#   native    `serve --native-baseline`: the same hyper framing and work, done by the
#             component crate compiled natively, dedup in memory (no store)
#   previous  0.2's serve (dedup in memory, no store), when HOST_HARNESS_PREVIOUS names
#             its binary: "today's in-memory throughput" the stores are compared with
#   embedded  the component, the embedded store (SQLite) in a fresh directory
#   redis     the component, a redis-server started here (appendonly, appendfsync always)
#
# For each run: req/s, p50/p99, and every distinct message written exactly once (events
# on serve's standard output, counted after it drained; the native baseline can send
# more requests than a wrk thread has bodies, and its in-memory window forgets keys after
# 100,000, so its "written twice" are those repeats). For Redis, the commands per
# webhook (INFO commandstats). MODES picks modes (default "native previous embedded redis");
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
duration=${DURATION:-6s}
rounds=${ROUNDS:-3}
modes=${MODES:-native previous embedded redis}
secret=wrk-app-secret
dir=$(mktemp -d)
trap 'for f in "$dir"/redis-*/pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
      [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT
python3 benches/signed_bodies.py "$messages" "$secret" > "$dir/bodies"

start_redis() { # a fresh server in a directory of its own for round $1
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$dir/redis-$1"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/redis-$1" --save "" \
    --appendonly yes --appendfsync always > /dev/null 2>&1 &
  echo $! > "$dir/redis-$1/pid" # this function runs in a subshell: its variables are lost
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
  local mode=$1 round=$2 binary=$bin extra=() port=""
  case "$mode" in
    native) extra=(--native-baseline) ;;
    previous) binary=$previous ;;
    embedded) extra=(--store "$dir/state-$round") ;;
    redis)
      port=$(start_redis "$round")
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
    > "$dir/$mode-$round.events" 2> "$dir/$mode-$round.log" &
  local pid=$!
  local address=""
  for _ in $(seq 100); do
    address=$(grep -o 'http://[0-9.:]*' "$dir/$mode-$round.log" | head -1 || true)
    [ -n "$address" ] && break
    sleep 0.1
  done
  BODIES="$dir/bodies" THREADS=2 wrk -t2 -c16 -d"$duration" --latency -s benches/signed_bodies.lua \
    "$address/webhook" > "$dir/$mode-$round.wrk"
  kill -INT "$pid"
  wait "$pid" || true
  local after=(0 0)
  [ -n "$port" ] && read -r -a after <<< "$(commands "$port")"
  if [ -n "$port" ]; then
    local redis_pid
    redis_pid=$(cat "$dir/redis-$round/pid")
    kill "$redis_pid"
    while kill -0 "$redis_pid" 2>/dev/null; do sleep 0.05; done
    rm "$dir/redis-$round/pid"
  fi
  python3 - "$mode" "$dir/$mode-$round.wrk" "$dir/$mode-$round.events" \
    "$((after[0] - before[0]))" "$((after[1] - before[1]))" <<'PY'
import json, re, sys
mode, wrk, events = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
commands, evals = int(sys.argv[4]), int(sys.argv[5])
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
# What benches/signed_bodies.lua counted (a thread past its share of the bodies repeats
# them, as Meta's redeliveries), but never more than the requests answered: a request
# still in flight when wrk stopped may not have been taken.
distinct = min(requests, int(re.search(r"Distinct bodies sent: (\d+)", wrk).group(1)))
ids = [json.loads(l)["entry"]["changes"]["messages"]["id"] for l in open(events) if l.strip()]
report = {"mode": mode, "requests": requests, "requests_per_second": rps,
          "latency_p50_ms": p50, "latency_p99_ms": p99,
          "non_2xx": int(non2xx.group(1)) if non2xx else 0,
          "distinct_messages_sent": distinct,
          "events_written": len(ids), "events_written_twice": len(ids) - len(set(ids)),
          # Requests still in flight when wrk stops are answered but not counted by it.
          "events_lost": max(0, distinct - len(set(ids)))}
if mode == "redis":
    report["redis_commands_per_webhook"] = round(commands / max(requests, 1), 3)
    report["redis_scripts_per_webhook"] = round(evals / max(requests, 1), 3)
print(json.dumps(report))
PY
  rm -f "$dir/$mode-$round.events" # counted: a run's events take tens of MB
}

results=()
for round in $(seq "$rounds"); do
  for mode in $modes; do
    if [ "$mode" = previous ] && [ -z "$previous" ]; then continue; fi
    results+=("$(run "$mode" "$round")")
  done
done
python3 - "$duration" "${results[@]}" <<'PY'
import json, statistics, sys
runs = {}
for r in map(json.loads, sys.argv[2:]):
    runs.setdefault(r.pop("mode"), []).append(r)
def median(mode, key):
    return statistics.median(r[key] for r in runs[mode]) if mode in runs else None
def ratio(a, b):
    ra, rb = median(a, "requests_per_second"), median(b, "requests_per_second")
    each = [round(x["requests_per_second"] / y["requests_per_second"], 3)
            for x, y in zip(runs.get(a, []), runs.get(b, []))]
    return {"of_medians": round(ra / rb, 3), "each_round": each} if ra and rb else None
summary = {mode: {"requests_per_second": median(mode, "requests_per_second"),
                  "latency_p99_ms": median(mode, "latency_p99_ms"),
                  "events_written_twice": sum(r["events_written_twice"] for r in rs),
                  "events_lost": sum(r["events_lost"] for r in rs),
                  "non_2xx": sum(r["non_2xx"] for r in rs)}
           for mode, rs in runs.items()}
for key in ("redis_commands_per_webhook", "redis_scripts_per_webhook"):
    if "redis" in runs:
        summary["redis"][key] = median("redis", key)
print(json.dumps({"load": f"wrk -t2 -c16 -d{sys.argv[1]}, signed one-message bodies, "
                          f"modes alternated, medians of {len(next(iter(runs.values())))} runs",
                  "medians": summary, "ratios": {
    "embedded_over_previous_in_memory": ratio("embedded", "previous"),
    "redis_over_embedded": ratio("redis", "embedded"),
    "embedded_over_native": ratio("embedded", "native"),
    "previous_over_native": ratio("previous", "native"),
}, "runs": runs}, indent=2))
PY
