// The WhatsApp connector component in Node.js.
//
// `loadConnector()` starts worker threads that each instantiate the component (the jco
// transpilation in `generated/`); every method posts the call to an idle worker and
// returns a Promise, so no call into the component ever blocks the event loop, not even
// while a Graph API call waits on the network. A call that runs past `timeoutMs` is
// stopped by terminating its worker (the only way to stop a synchronous WebAssembly
// call), and a fresh worker takes its place.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

/** The manifest the package was built with: the outbound policy comes from it. */
export const MANIFEST_PATH = new URL('../generated/component.json', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('../generated/component.json', import.meta.url), 'utf8'));

/** The wasmtime host's defaults (`host-harness --help`). */
export const DEFAULTS = Object.freeze({
  /** The harness's running-time deadline (2 s) plus its response timeout (30 s): a
   * Node worker cannot tell running from waiting. */
  timeoutMs: 32_000,
  /** The same for Download Media and Upload Media: the harness's media timeout (10
   * minutes, a 100 MB file at 2 Mbit/s with room to spare). */
  mediaTimeoutMs: 600_000,
  /** Response body bytes the component may read per outbound request. */
  maxResponseBytes: 2 << 20,
  /** The same for a file from Meta's media host (Download Media). */
  maxMediaBytes: 128 << 20,
  workers: 1,
});

/** An error of the connector: `kind` is the WIT error variant's case, its fields are beside it. */
export class ConnectorError extends Error {
  constructor(data) {
    const text = data.message ?? data.reason ?? data.kind;
    super(`${data.kind}: ${text}`);
    this.name = 'ConnectorError';
    Object.assign(this, data);
    // `Object.assign` copied the component's `message` over the summary: keep both.
    this.message = `${data.kind}: ${text}`;
    if (data.message !== undefined) {
      this.detail = data.message;
    }
  }
}

/**
 * The HTTP status a webhook endpoint answers a refused request with, by the
 * `webhook-error` case (the `[status]` in each case's WIT doc comment).
 */
export function webhookErrorStatus(kind) {
  return (
    {
      'invalid-signature': 401,
      'invalid-payload': 400,
      'verification-failed': 403,
      'invalid-handshake': 400,
      'method-not-allowed': 405,
      'invalid-property': 500,
      'execution-failed': 500,
    }[kind] ?? 503
  );
}

/** One worker thread and its instance of the component. */
class Slot {
  constructor(options) {
    this.options = options;
    this.worker = undefined;
    this.ready = undefined;
    this.pending = new Map();
    this.busy = false;
  }

  start() {
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: this.options,
      // The component sees no environment; the worker's own is not needed either.
      env: {},
    });
    this.worker = worker;
    this.ready = new Promise((resolve, reject) => {
      const failed = (e) =>
        reject(new ConnectorError({ kind: 'host', message: `the worker did not start: ${e?.message ?? e}` }));
      worker.once('error', failed);
      worker.once('message', (m) => {
        worker.off('error', failed);
        if (m?.ready) resolve();
      });
    });
    worker.on('message', ({ id, ok, error }) => {
      const call = this.pending.get(id);
      if (!call) return;
      this.pending.delete(id);
      clearTimeout(call.timer);
      call.done?.();
      if (error) call.reject(new ConnectorError(error));
      else call.resolve(ok);
    });
    worker.on('error', (e) => this.fail({ kind: 'host', message: `the worker failed: ${e?.message ?? e}` }));
    worker.on('exit', () => {
      if (this.worker === worker) {
        this.worker = undefined;
        this.fail({ kind: 'host', message: 'the worker stopped' });
      }
    });
    // Idle workers do not keep the process alive; one with a call in flight does.
    this.ready.then(
      () => worker.unref(),
      () => {},
    );
    return this.ready;
  }

  /** Rejects every call in flight with `error`. */
  fail(error) {
    for (const call of this.pending.values()) {
      clearTimeout(call.timer);
      call.reject(new ConnectorError(error));
    }
    this.pending.clear();
  }

  async call(id, method, args, timeoutMs) {
    if (!this.worker) await this.start();
    await this.ready;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const worker = this.worker;
        this.worker = undefined;
        this.pending.delete(id);
        reject(
          new ConnectorError({ kind: 'timeout', message: `the call ran longer than ${timeoutMs} ms and was stopped` }),
        );
        this.fail({ kind: 'host', message: 'the worker was restarted' });
        worker?.terminate();
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      const worker = this.worker;
      worker.ref();
      const idle = () => this.pending.size === 0 && worker.unref();
      this.pending.get(id).done = idle;
      worker.postMessage({ id, method, args });
    });
  }

  close() {
    const worker = this.worker;
    this.worker = undefined;
    this.fail({ kind: 'host', message: 'the connector was closed' });
    return worker?.terminate();
  }
}

/** The connector: each method is one call of the component, as a Promise. */
export class Connector {
  #slots;
  #queue = [];
  #next = 1;
  #timeoutMs;
  #mediaTimeoutMs;

  constructor(slots, timeoutMs, mediaTimeoutMs) {
    this.#slots = slots;
    this.#timeoutMs = timeoutMs;
    this.#mediaTimeoutMs = mediaTimeoutMs;
  }

  /** Runs `method` on the first idle worker; calls wait their turn in order. */
  #call(method, ...args) {
    const timeoutMs = method === 'downloadMedia' || method === 'uploadMedia' ? this.#mediaTimeoutMs : this.#timeoutMs;
    return new Promise((resolve, reject) => {
      this.#queue.push({ method, args, timeoutMs, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch() {
    for (const slot of this.#slots) {
      if (this.#queue.length === 0) return;
      if (slot.busy) continue;
      const { method, args, timeoutMs, resolve, reject } = this.#queue.shift();
      slot.busy = true;
      slot
        .call(this.#next++, method, args, timeoutMs)
        .then(resolve, reject)
        .finally(() => {
          slot.busy = false;
          this.#dispatch();
        });
    }
  }

  /** The connection test: the business phone number's name and quality. */
  testConnection(connection) {
    return this.#call('testConnection', connection);
  }
  /** Action "Send Message". */
  send(connection, input) {
    return this.#call('send', connection, input);
  }
  /** Action "Send Template". */
  sendTemplate(connection, input) {
    return this.#call('sendTemplate', connection, input);
  }
  /** Action "Send Media" (by media ID or link). */
  sendMedia(connection, input) {
    return this.#call('sendMedia', connection, input);
  }
  /** Action "Send Interactive". */
  sendInteractive(connection, input) {
    return this.#call('sendInteractive', connection, input);
  }
  /** Action "Send Flow". */
  sendFlow(connection, input) {
    return this.#call('sendFlow', connection, input);
  }
  /** Action "Create Group": `{requestId}`; the group arrives with trigger "Group updated". */
  createGroup(connection, input) {
    return this.#call('createGroup', connection, input);
  }
  /** Action "Get Group Invite Link". */
  getGroupInviteLink(connection, input) {
    return this.#call('getGroupInviteLink', connection, input);
  }
  /** Action "Reset Group Invite Link". */
  resetGroupInviteLink(connection, input) {
    return this.#call('resetGroupInviteLink', connection, input);
  }
  /** Action "Remove Group Participants". */
  removeGroupParticipants(connection, input) {
    return this.#call('removeGroupParticipants', connection, input);
  }
  /** Action "Block Users": `{done, failed}`, user by user. */
  blockUsers(connection, input) {
    return this.#call('blockUsers', connection, input);
  }
  /** Action "Unblock Users": `{done, failed}`, user by user. */
  unblockUsers(connection, input) {
    return this.#call('unblockUsers', connection, input);
  }
  /** Action "List Blocked Users": `{waIds, after}`. */
  listBlockedUsers(connection, input = {}) {
    return this.#call('listBlockedUsers', connection, input);
  }
  /** Action "Send Reaction". */
  sendReaction(connection, input) {
    return this.#call('sendReaction', connection, input);
  }
  /** Action "Send Location". */
  sendLocation(connection, input) {
    return this.#call('sendLocation', connection, input);
  }
  /** Action "Mark as Read". */
  markAsRead(connection, input) {
    return this.#call('markAsRead', connection, input);
  }
  /**
   * Action "Download Media" into the file `path`: the component streams the bytes to a
   * temporary file next to it (mode 0600), which becomes `path` only once they matched
   * Meta's SHA-256 and size; on any error nothing is left.
   */
  async downloadMedia(connection, input, path) {
    const temporary = resolve(join(dirname(path), `.download-${randomUUID()}`));
    // Created private before a byte lands in it: a crash mid-download leaves a customer's
    // partial file readable by its owner only.
    await (await open(temporary, 'wx', 0o600)).close();
    try {
      const output = await this.#call('downloadMedia', connection, input, temporary);
      await rename(temporary, path);
      return output;
    } catch (e) {
      await rm(temporary, { force: true });
      throw e;
    }
  }
  /**
   * Action "Upload Media" of the file `path`, streamed; `input.filename` defaults to its
   * name. Meta's types and limits are checked before any byte is sent.
   */
  async uploadMedia(connection, input, path) {
    const { size } = await stat(path);
    const upload = { filename: basename(path), ...input, fileSize: size };
    return this.#call('uploadMedia', connection, upload, resolve(path));
  }
  /** Trigger "Message received": one request to the webhook URL. */
  handleWebhook(request, properties = {}, secrets = {}) {
    return this.#call('handleWebhook', request, properties, secrets);
  }
  /** Trigger "Message status updated": one request to the webhook URL. */
  handleStatusWebhook(request, properties = { statuses: [] }, secrets = {}) {
    return this.#call('handleStatusWebhook', request, properties, secrets);
  }
  /** Trigger "Message echoed": one request to the webhook URL. */
  handleEchoWebhook(request, properties = {}, secrets = {}) {
    return this.#call('handleEchoWebhook', request, properties, secrets);
  }
  /** Trigger "Marketing preference changed": one request to the webhook URL. */
  handlePreferenceWebhook(request, properties = {}, secrets = {}) {
    return this.#call('handlePreferenceWebhook', request, properties, secrets);
  }
  /** Trigger "Group updated": one request to the webhook URL. */
  handleGroupWebhook(request, properties = { fields: [] }, secrets = {}) {
    return this.#call('handleGroupWebhook', request, properties, secrets);
  }
  /** Switching a trigger on, step 1: a registration with a fresh verify token (no network). */
  newRegistration(connection, properties, webhookUrl) {
    return this.#call('newRegistration', connection, properties, webhookUrl);
  }
  /** Switching a trigger on, step 2: points the phone number's webhooks at the registration's URL. */
  enable(connection, registration) {
    return this.#call('enable', connection, registration);
  }
  /** Switching a trigger off. */
  disable(connection, registration) {
    return this.#call('disable', connection, registration);
  }
  /** A call that does nothing in the component: the worker round trip alone. */
  ping() {
    return this.#call('ping');
  }
  /** Stops the workers; calls in flight fail. */
  async close() {
    await Promise.all(this.#slots.map((slot) => slot.close()));
  }
}

/**
 * Loads the connector: `options.workers` worker threads, each with an instance of the
 * component, started now.
 */
export async function loadConnector(options = {}) {
  const { timeoutMs, mediaTimeoutMs, maxResponseBytes, maxMediaBytes, workers, graphUrl } = { ...DEFAULTS, ...options };
  if (graphUrl !== undefined) {
    const url = new URL(graphUrl);
    if (!['http:', 'https:'].includes(url.protocol) || url.pathname !== '/') {
      throw new TypeError('graphUrl must look like http://127.0.0.1:PORT');
    }
  }
  // A host may narrow the manifest's list, never widen it.
  const origin = (h) => h.replace(/\/$/, '').toLowerCase();
  const manifestOrigins = manifest.allowedOutboundHosts.map(origin);
  const allowedOrigins = options.allowedOutboundHosts
    ? options.allowedOutboundHosts.map(origin).filter((o) => manifestOrigins.includes(o))
    : manifestOrigins;
  const workerOptions = {
    allowedOrigins,
    // Every allowed host but the Graph API serves files (Meta's media host).
    mediaOrigins: allowedOrigins.filter((o) => o !== new URL(manifest.graphApi.baseUrl).origin),
    maxMediaBytes,
    graphUrl,
    maxResponseBytes,
    freezeEnv: options.freezeEnv ?? true,
  };
  const slots = Array.from({ length: Math.max(1, workers) }, () => new Slot(workerOptions));
  await Promise.all(slots.map((slot) => slot.start()));
  return new Connector(slots, timeoutMs, mediaTimeoutMs);
}
