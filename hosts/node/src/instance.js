// One instance of the component with the host's policies: the outbound policy (only the
// manifest's `allowedOutboundHosts`, optionally redirected to `graphUrl`) and the
// response size cap, both applied to the WASI HTTP implementation the component is
// given; and the methods `index.js` offers, each the component's function and what its
// answer becomes. The worker thread (`worker.js`) runs it; the benchmark also runs it
// in the main thread, to measure the worker's round trip apart.
//
// The shim's modules are patched here (the size cap): load this module only in a
// thread of its own, as the worker does.
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

import * as shim from '@bytecodealliance/preview2-shim';

import { instantiate } from '../generated/connector.js';
import { echoEventJson, eventJson, groupEventJson, preferenceEventJson, statusEventJson } from './events.js';
import { errorJson } from './errors.js';

/** Instantiates the component under these options; resolves to its methods. */
export async function instantiateConnector({
  allowedOrigins,
  graphUrl,
  maxResponseBytes,
  maxMediaBytes,
  mediaOrigins = [],
  freezeEnv,
}) {
  // jco's glue reads `process.env.JCO_DEBUG` on every call; a worker's `process.env` is
  // a live view, costly to read. A plain snapshot answers the same, fast. The component
  // is given an empty environment of its own (below), never this one.
  if (freezeEnv) {
    process.env = Object.freeze({ ...process.env });
  }

  const allowed = new Set(allowedOrigins);
  const redirect = graphUrl ? new URL(graphUrl) : undefined;
  const schemeName = (scheme) => (scheme?.tag === 'other' ? scheme.val : (scheme?.tag ?? 'HTTPS')).toLowerCase();

  // The cap of each response, by the origin its request went to: Meta's media host
  // sends files (`maxMediaBytes`), the Graph API small JSON (`maxResponseBytes`). It
  // follows the response from the future to its body's stream.
  const cap = new WeakMap();
  const media = new Set(mediaOrigins);

  /** Refuses every origin the manifest does not allow, then sends the rest where `graphUrl` says. */
  const outgoingHandler = {
    handle(request, options) {
      const origin = `${schemeName(request.scheme())}://${request.authority() ?? ''}`.toLowerCase();
      if (!allowed.has(origin)) {
        throw { tag: 'HTTP-request-denied' };
      }
      if (redirect) {
        request.setScheme({ tag: redirect.protocol === 'http:' ? 'HTTP' : 'HTTPS' });
        request.setAuthority(redirect.host);
      }
      const future = shim.http.outgoingHandler.handle(request, options);
      cap.set(future, media.has(origin) ? maxMediaBytes : maxResponseBytes);
      return future;
    },
  };
  const { FutureIncomingResponse, IncomingResponse } = shim.http.types;
  const futureGet = FutureIncomingResponse.prototype.get;
  FutureIncomingResponse.prototype.get = function get() {
    const ret = futureGet.call(this);
    if (ret?.tag === 'ok' && ret.val?.tag === 'ok' && cap.has(this)) cap.set(ret.val.val, cap.get(this));
    return ret;
  };
  const consume = IncomingResponse.prototype.consume;
  IncomingResponse.prototype.consume = function consumeCapped() {
    const body = consume.call(this);
    if (cap.has(this)) cap.set(body, cap.get(this));
    return body;
  };

  // The response size cap: each response body's stream may yield `maxResponseBytes`; the
  // read past it fails in the guest, as in the wasmtime host.
  const remaining = new WeakMap();
  const { IncomingBody } = shim.http.types;
  const bodyStream = IncomingBody.prototype.stream;
  IncomingBody.prototype.stream = function stream() {
    const s = bodyStream.call(this);
    remaining.set(s, cap.get(this) ?? maxResponseBytes);
    return s;
  };
  const { InputStream } = shim.io.streams;
  for (const name of ['read', 'blockingRead']) {
    const read = InputStream.prototype[name];
    InputStream.prototype[name] = function capped(len) {
      const bytes = read.call(this, len);
      const left = remaining.get(this);
      if (left !== undefined) {
        if (bytes.length > left) {
          remaining.set(this, 0);
          throw {
            tag: 'last-operation-failed',
            val: new shim.io.error.Error('the response body is larger than maxResponseBytes'),
          };
        }
        remaining.set(this, left - bytes.length);
      }
      return bytes;
    };
  }

  // The component's imports (`component.json`'s `wit.imports`). Of `wasi:cli` only the
  // environment, and it is empty: the component reads `WHATSAPP_ACCESS_TOKEN` there when
  // a connection's token is empty, and this host passes tokens as parameters, never
  // Node's `process.env`.
  const imports = {
    'wasi:cli/environment': { getEnvironment: () => [], initialCwd: () => undefined },
    'wasi:clocks/monotonic-clock': shim.clocks.monotonicClock,
    'wasi:clocks/wall-clock': shim.clocks.wallClock,
    'wasi:http/outgoing-handler': outgoingHandler,
    'wasi:http/types': shim.http.types,
    'wasi:io/error': shim.io.error,
    'wasi:io/poll': shim.io.poll,
    'wasi:io/streams': shim.io.streams,
    'wasi:random/random': shim.random.random,
  };

  /**
   * Opens `path` through the WASI shim's filesystem, so that the component gets one of
   * the shim's own streams for it (a Node stream is not a `wasi:io` stream), and runs
   * `use` with the descriptor. The component gets no filesystem import: only this
   * stream.
   */
  function withFile(path, { create = false, exclusive = false, read = false, write = false }, use) {
    const directory = shim.filesystem._createPreopenDescriptor(dirname(path));
    const file = directory.openAt({ symlinkFollow: false }, basename(path), { create, exclusive }, { read, write });
    try {
      return use(file);
    } finally {
      file[Symbol.dispose]?.();
      directory[Symbol.dispose]?.();
    }
  }

  const generated = new URL('../generated/', import.meta.url);
  const component = await instantiate(
    async (path) => WebAssembly.compile(await readFile(new URL(path, generated))),
    imports,
  );

  /** A trigger's outcome: the handshake's response, or the events in their documented form. */
  function outcome(result, toJson) {
    return result.tag === 'respond' ? { respond: result.val } : { events: result.val.map(toJson) };
  }

  /** Per-user results, with error codes as numbers (as every other output has them). */
  function users(output) {
    const user = (u) => ({ ...u, errors: u.errors.map((e) => ({ ...e, code: e.code === undefined ? undefined : Number(e.code) })) });
    return { done: output.done.map(user), failed: output.failed.map(user) };
  }

  // Each method: the component's function, and what its answer becomes.
  const methods = {
    testConnection: (c) => component.connection.test(c),
    send: (c, input) => component.sendMessage.send(c, input),
    sendTemplate: (c, input) => component.sendTemplate.send(c, input),
    sendMedia: (c, input) => component.sendMedia.send(c, input),
    sendInteractive: (c, input) => component.sendInteractive.send(c, input),
    sendFlow: (c, input) => component.sendFlow.send(c, input),
    createGroup: (c, input) => component.groups.create(c, input),
    getGroupInviteLink: (c, input) => component.groups.getInviteLink(c, input),
    resetGroupInviteLink: (c, input) => component.groups.resetInviteLink(c, input),
    removeGroupParticipants: (c, input) => component.groups.removeParticipants(c, input),
    blockUsers: (c, input) => users(component.blockUsers.block(c, input)),
    unblockUsers: (c, input) => users(component.blockUsers.unblock(c, input)),
    listBlockedUsers: (c, input) => component.blockUsers.list(c, input),
    sendReaction: (c, input) => component.sendReaction.send(c, input),
    sendLocation: (c, input) => component.sendLocation.send(c, input),
    markAsRead: (c, input) => component.markAsRead.mark(c, input),
    newRegistration: (c, properties, url) => component.messageReceived.newRegistration(c, properties, url),
    enable: (c, registration) => component.messageReceived.enable(c, registration),
    disable: (c, registration) => component.messageReceived.disable(c, registration),
    downloadMedia: (c, input, path) =>
      // The caller made the file (mode 0600, empty): it is opened, never created here.
      withFile(path, { write: true }, (file) => {
        const stream = file.writeViaStream(0n);
        try {
          const output = component.downloadMedia.download(c, input, stream);
          return { ...output, fileSize: Number(output.fileSize) };
        } finally {
          stream[Symbol.dispose]?.();
        }
      }),
    uploadMedia: (c, input, path) =>
      withFile(path, { read: true }, (file) => {
        const stream = file.readViaStream(0n);
        try {
          return component.uploadMedia.upload(c, { ...input, fileSize: BigInt(input.fileSize) }, stream);
        } finally {
          stream[Symbol.dispose]?.();
        }
      }),
    handleWebhook: (request, properties, secrets) =>
      outcome(component.messageReceived.handleRequest(request, properties, secrets), eventJson),
    handleStatusWebhook: (request, properties, secrets) =>
      outcome(component.statusUpdated.handleRequest(request, properties, secrets), statusEventJson),
    handleEchoWebhook: (request, properties, secrets) =>
      outcome(component.messageEchoed.handleRequest(request, properties, secrets), echoEventJson),
    handlePreferenceWebhook: (request, properties, secrets) =>
      outcome(component.preferenceChanged.handleRequest(request, properties, secrets), preferenceEventJson),
    handleGroupWebhook: (request, properties, secrets) =>
      outcome(component.groupUpdated.handleRequest(request, properties, secrets), groupEventJson),
    ping: () => 'pong',
  };
  return methods;
}
