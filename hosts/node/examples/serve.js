// A webhook endpoint for one phone number with Node's `http` module: the shape a
// workflow engine's webhook route takes. The component answers Meta's hub.challenge
// handshake and checks X-Hub-Signature-256; each event is written as one JSON line to
// stdout, and Meta gets its 200 only after that (it redelivers anything else).
//
//   WHATSAPP_APP_SECRET=… WHATSAPP_VERIFY_TOKEN=… node examples/serve.js [port]
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

import { loadConnector, webhookErrorStatus } from '../src/index.js';

/** The request handler: reads the body (at most `maxBody` bytes), lets the component decide. */
export function webhookHandler(connector, { appSecret, verifyToken, senderNumber, maxBody = 4 << 20, write }) {
  const seen = new Set();
  return async (req, res) => {
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size > maxBody) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk);
    }
    const url = new URL(req.url, 'http://localhost');
    const request = {
      method: req.method,
      headers: Object.entries(req.headersDistinct).flatMap(([k, vs]) => vs.map((v) => [k, v])),
      query: url.search.slice(1),
      body: new Uint8Array(Buffer.concat(chunks)),
    };
    try {
      const outcome = await connector.handleWebhook(request, { senderNumber }, { appSecret, verifyToken });
      if (outcome.respond) {
        res
          .writeHead(outcome.respond.status, { 'content-type': outcome.respond.contentType })
          .end(outcome.respond.body);
        return;
      }
      for (const { dedupKey, event } of outcome.events) {
        // Meta may deliver twice: a key already written is not written again.
        if (seen.has(dedupKey)) continue;
        seen.add(dedupKey);
        write(`${JSON.stringify(event)}\n`);
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('EVENT_RECEIVED');
    } catch (e) {
      res
        .writeHead(webhookErrorStatus(e.kind), { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: { kind: e.kind, reason: e.reason ?? e.detail } }));
    }
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const appSecret = process.env.WHATSAPP_APP_SECRET;
  if (!appSecret) {
    console.error('set WHATSAPP_APP_SECRET: without it anyone who finds the URL can inject events');
    process.exit(2);
  }
  const connector = await loadConnector();
  const handler = webhookHandler(connector, {
    appSecret,
    verifyToken: process.env.WHATSAPP_VERIFY_TOKEN,
    write: (line) => process.stdout.write(line),
  });
  const server = createServer(handler).listen(Number(process.argv[2] ?? 8080), '127.0.0.1', () => {
    console.error(`serve: listening on http://127.0.0.1:${server.address().port}`);
  });
}
