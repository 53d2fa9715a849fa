// The serve example: Node's `http` server as a workflow engine's webhook route, with
// the handshake, the signature and one JSON line per event.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';

import { webhookHandler } from '../examples/serve.js';
import { loadConnector } from '../src/index.js';
import { APP_SECRET, fixture, signedPost } from './helpers.js';

test('the example endpoint answers Meta and writes each event once', async () => {
  const connector = await loadConnector();
  const lines = [];
  const server = createServer(
    webhookHandler(connector, { appSecret: APP_SECRET, verifyToken: 'vt-node', write: (line) => lines.push(line) }),
  );
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}/whatsapp`;
  try {
    const challenge = await fetch(`${base}?hub.mode=subscribe&hub.challenge=42&hub.verify_token=vt-node`);
    assert.equal(challenge.status, 200);
    assert.equal(await challenge.text(), '42');
    assert.equal((await fetch(`${base}?hub.mode=subscribe&hub.challenge=42&hub.verify_token=wrong`)).status, 403);

    const post = (request) =>
      fetch(base, { method: 'POST', headers: Object.fromEntries(request.headers), body: request.body });
    const batch = signedPost(fixture('batch_two_messages_one_status.json'));
    const delivered = await post(batch);
    assert.equal(delivered.status, 200);
    assert.equal(lines.length, 2);
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).entry.changes.messages.from),
      ['16505551234', '16505559876'],
    );
    assert.equal((await post(batch)).status, 200, 'a redelivery is acknowledged');
    assert.equal(lines.length, 2, 'and not written again');

    const forged = signedPost(fixture('text_message.json'), 'not the app secret');
    const refused = await post(forged);
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).error.kind, 'invalid-signature');
    assert.equal(lines.length, 2);
  } finally {
    server.close();
    await connector.close();
  }
});
