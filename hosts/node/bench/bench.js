// `npm run bench`: the per-call cost of the trigger in Node next to wasmtime's, measured
// in one run on one machine, and what the worker thread costs.
//
// - the worker's round trip: a call that does nothing in the component;
// - the trigger (one signed one-message webhook, as the wasmtime bench feeds it) through
//   the connector (worker included), and called in this thread (worker excluded), with
//   jco's per-call `process.env` read against a live and a frozen `process.env`;
// - `host-harness bench --json` (release build if there is one), run now: the reused
//   instance's and native Rust's figures for the same call.
//
// Medians of 7 runs, with the spread (min–max). Prints one JSON object; nothing is asserted.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

import { loadConnector } from '../src/index.js';
import { instantiateConnector } from '../src/instance.js';
import { ROOT, signedPost } from '../test/helpers.js';

const RUNS = 7;
const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const APP_SECRET = 'bench-app-secret';
const request = signedPost(readFileSync(`${ROOT}tests/fixtures/text_message.json`), APP_SECRET);
const secrets = { appSecret: APP_SECRET };

/** Median and spread, in µs per call, of `RUNS` runs of `CALLS` calls of `f`. */
async function measure(f) {
  const perCall = [];
  for (let run = 0; run < RUNS; run++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) await f();
    perCall.push(Number(process.hrtime.bigint() - started) / 1000 / CALLS);
  }
  perCall.sort((a, b) => a - b);
  const round = (x) => Math.round(x * 100) / 100;
  return { median_us: round(perCall[RUNS >> 1]), min_us: round(perCall[0]), max_us: round(perCall[RUNS - 1]) };
}

const check = (outcome) => {
  if (outcome.events?.length !== 1) throw new Error(`expected one event, got ${JSON.stringify(outcome)}`);
};

const connector = await loadConnector();
const worker_round_trip = await measure(() => connector.ping());
const trigger_via_worker = await measure(async () => check(await connector.handleWebhook(request, {}, secrets)));
await connector.close();

const manifest = JSON.parse(readFileSync(`${ROOT}component.json`, 'utf8'));
const inThread = await instantiateConnector({
  allowedOrigins: manifest.allowedOutboundHosts,
  maxResponseBytes: 2 << 20,
  freezeEnv: false,
});
const trigger_in_thread_live_env = await measure(() => check(inThread.handleWebhook(request, {}, secrets)));
process.env = Object.freeze({ ...process.env });
const trigger_in_thread = await measure(() => check(inThread.handleWebhook(request, {}, secrets)));

const release = `${ROOT}target/release/host-harness`;
const harness = existsSync(release) ? release : `${ROOT}target/debug/host-harness`;
const wasmtime = JSON.parse(execFileSync(harness, ['bench', '--json'], { encoding: 'utf8', maxBuffer: 1 << 24 }));

const ratio = (a, b) => Math.round((a / b) * 100) / 100;
console.log(
  JSON.stringify(
    {
      node: process.version,
      calls_per_run: CALLS,
      runs: RUNS,
      worker_round_trip,
      trigger_via_worker,
      trigger_in_thread,
      trigger_in_thread_live_env,
      wasmtime: {
        harness,
        build: wasmtime.machine.build,
        reused_instance_one_message_us: wasmtime.trigger.reused_instance_one_message_us,
        native_one_message_us: wasmtime.trigger.native_one_message_us,
      },
      ratios: {
        node_in_thread_over_wasmtime_reused: ratio(trigger_in_thread.median_us, wasmtime.trigger.reused_instance_one_message_us),
        node_via_worker_over_wasmtime_reused: ratio(trigger_via_worker.median_us, wasmtime.trigger.reused_instance_one_message_us),
        node_in_thread_over_native: ratio(trigger_in_thread.median_us, wasmtime.trigger.native_one_message_us),
        live_env_over_frozen_env: ratio(trigger_in_thread_live_env.median_us, trigger_in_thread.median_us),
      },
    },
    null,
    2,
  ),
);
