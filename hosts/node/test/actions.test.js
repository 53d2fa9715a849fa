// The actions in Node against a loopback Graph API written with Node's `http`: the exact
// request, the structured errors, the outbound policy, the limits, and that nothing
// blocks the event loop.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ConnectorError, loadConnector } from '../src/index.js';
import { PHONE_NUMBER_ID, SENT, TOKEN, connection, graphServer } from './helpers.js';

const input = { message: 'Hello from Node', sendMessageTo: '+15550101234' };

test('send makes exactly the request the Graph API documents, with its length up front', async () => {
  const graph = await graphServer(() => ({ body: SENT }));
  const connector = await loadConnector({ graphUrl: graph.url });
  try {
    const output = await connector.send(connection, input);
    assert.deepEqual(output, {
      messagingProduct: 'whatsapp',
      contacts: [{ input: '+15550101234', waId: '15550101234', userId: undefined }],
      messages: [{ id: 'wamid.SENT' }],
    });
    assert.equal(graph.requests.length, 1);
    const [request] = graph.requests;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, `/v27.0/${PHONE_NUMBER_ID}/messages`);
    assert.equal(request.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(request.headers['content-type'], 'application/json');
    assert.equal(request.headers['content-length'], String(request.body.length));
    assert.equal(request.headers['transfer-encoding'], undefined, 'not chunked');
    assert.deepEqual(JSON.parse(request.body), {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+15550101234',
      type: 'text',
      text: { body: 'Hello from Node' },
    });
  } finally {
    await connector.close();
    await graph.close();
  }
});

test('errors are ConnectorErrors carrying the WIT variant', async () => {
  const graph = await graphServer((request) => {
    const body = request.method === 'POST' ? JSON.parse(request.body) : { text: {} };
    if (body.text.body === 'late') {
      return {
        status: 400,
        body: {
          error: { message: 'Re-engagement message', type: 'OAuthException', code: 131047, fbtrace_id: 'Atrace' },
        },
      };
    }
    if (body.text.body === 'slow down') {
      return { status: 429, headers: { 'retry-after': '7' }, body: { error: { message: 'Too many', code: 130429 } } };
    }
    return {
      status: 401,
      body: { error: { message: 'Invalid OAuth access token', type: 'OAuthException', code: 190 } },
    };
  });
  const connector = await loadConnector({ graphUrl: graph.url });
  try {
    await assert.rejects(connector.send(connection, { ...input, sendMessageTo: '15550101234' }), (e) => {
      assert.ok(e instanceof ConnectorError);
      assert.equal(e.kind, 'invalid-input');
      assert.equal(e.field, 'send-message-to');
      return true;
    });
    assert.equal(graph.requests.length, 0, 'an invalid input makes no request');
    await assert.rejects(connector.send(connection, { ...input, message: 'late' }), (e) => {
      assert.deepEqual(
        [e.kind, e.status, e.code, e.errorType, e.fbtraceId, e.retryable],
        ['graph', 400, 131047, 'OAuthException', 'Atrace', false],
      );
      assert.match(e.hint, /template/);
      return true;
    });
    await assert.rejects(connector.send(connection, { ...input, message: 'slow down' }), (e) => {
      assert.deepEqual([e.kind, e.code, e.retryAfter], ['rate-limited', 130429, 7]);
      return true;
    });
    await assert.rejects(connector.testConnection(connection), (e) => e.kind === 'unauthorized' && e.code === 190);
    // No error, message or property of one shows the token.
    await connector.send(connection, { ...input, message: 'x' }).catch((e) => {
      assert.ok(!JSON.stringify({ ...e, message: e.message, stack: e.stack }).includes(TOKEN));
    });
  } finally {
    await connector.close();
    await graph.close();
  }
});

test('the outbound policy refuses any origin the manifest does not allow', async () => {
  const graph = await graphServer(() => ({ body: SENT }));
  // Narrowed to a host the component never calls: its Graph API call is refused in the
  // guest, before any connection.
  const connector = await loadConnector({ graphUrl: graph.url, allowedOutboundHosts: ['https://lookaside.fbsbx.com'] });
  try {
    await assert.rejects(connector.send(connection, input), (e) => {
      assert.equal(e.kind, 'transport');
      assert.match(e.detail, /denied/);
      return true;
    });
    assert.equal(graph.requests.length, 0);
  } finally {
    await connector.close();
  }
  // A host outside the manifest cannot be added.
  const widened = await loadConnector({
    graphUrl: graph.url,
    allowedOutboundHosts: ['https://graph.facebook.com', 'https://evil.example.com'],
  });
  try {
    await widened.send(connection, input);
    assert.equal(graph.requests.length, 1);
  } finally {
    await widened.close();
    await graph.close();
  }
});

test('a timer keeps firing while a send waits on a slow server', async () => {
  const graph = await graphServer(() => ({ body: SENT, delayMs: 500 }));
  const connector = await loadConnector({ graphUrl: graph.url });
  try {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = performance.now();
    await connector.send(connection, input);
    const waited = performance.now() - started;
    clearInterval(timer);
    assert.ok(waited >= 500, `the send took ${waited} ms`);
    // A blocked loop fires none; a free one about waited / 10.
    assert.ok(ticks >= 20, `only ${ticks} ticks of 10 ms in ${Math.round(waited)} ms`);
  } finally {
    await connector.close();
    await graph.close();
  }
});

test('concurrent calls from one connector all complete, each with its own answer', async () => {
  let n = 0;
  const graph = await graphServer(() => ({ body: { ...SENT, messages: [{ id: `wamid.N${++n}` }] }, delayMs: 20 }));
  const connector = await loadConnector({ graphUrl: graph.url, workers: 2 });
  try {
    const outputs = await Promise.all(
      Array.from({ length: 12 }, (_, i) => connector.send(connection, { ...input, message: `hello ${i}` })),
    );
    const ids = new Set(outputs.map((o) => o.messages[0].id));
    assert.equal(ids.size, 12);
    const bodies = graph.requests.map((r) => JSON.parse(r.body).text.body).sort();
    assert.deepEqual(bodies, Array.from({ length: 12 }, (_, i) => `hello ${i}`).sort());
  } finally {
    await connector.close();
    await graph.close();
  }
});

test('a call past its deadline is stopped, and the next call works', async () => {
  const graph = await graphServer((request) =>
    JSON.parse(request.body).text.body === 'hang' ? { body: SENT, delayMs: 5_000 } : { body: SENT },
  );
  const connector = await loadConnector({ graphUrl: graph.url, timeoutMs: 300 });
  try {
    await assert.rejects(connector.send(connection, { ...input, message: 'hang' }), (e) => e.kind === 'timeout');
    const output = await connector.send(connection, input);
    assert.equal(output.messages[0].id, 'wamid.SENT');
  } finally {
    await connector.close();
    await graph.close();
  }
});

test('an answer larger than maxResponseBytes is not read whole', async () => {
  const huge = JSON.stringify({ ...SENT, padding: 'x'.repeat(300_000) });
  const graph = await graphServer(() => ({ body: huge }));
  const connector = await loadConnector({ graphUrl: graph.url, maxResponseBytes: 64 * 1024 });
  try {
    await assert.rejects(connector.send(connection, input), (e) => e.kind === 'transport');
  } finally {
    await connector.close();
  }
  const roomy = await loadConnector({ graphUrl: graph.url });
  try {
    assert.equal((await roomy.send(connection, input)).messages[0].id, 'wamid.SENT');
  } finally {
    await roomy.close();
    await graph.close();
  }
});

test('switching a trigger on and off', async () => {
  let callback;
  const graph = await graphServer((request) => {
    if (request.method === 'POST') {
      callback = JSON.parse(request.body).webhook_configuration.override_callback_uri || undefined;
      return { body: { success: true } };
    }
    return { body: { webhook_configuration: callback ? { phone_number: callback } : {}, id: PHONE_NUMBER_ID } };
  });
  const connector = await loadConnector({ graphUrl: graph.url });
  try {
    const registration = await connector.newRegistration(connection, {}, 'https://hooks.example.com/wf-1');
    assert.match(registration.verifyToken, /^[0-9a-f]{48}$/);
    assert.equal(typeof registration.createdAt, 'bigint');
    await connector.enable(connection, registration);
    assert.equal(callback, 'https://hooks.example.com/wf-1');
    assert.equal(await connector.disable(connection, registration), 'removed');
    assert.equal(await connector.disable(connection, registration), 'nothing-to-remove');
  } finally {
    await connector.close();
    await graph.close();
  }
});

test('sendFlow sends the Flow Meta documents, and a bad button text is refused before any request', async () => {
  const graph = await graphServer(() => ({ body: SENT }));
  const connector = await loadConnector({ graphUrl: graph.url });
  try {
    const output = await connector.sendFlow(connection, {
      sendMessageTo: '+15550101234',
      flow: { tag: 'name', val: 'appointment_booking' },
      flowCta: 'Book!',
      flowToken: 'booking-42',
      mode: 'draft',
      flowAction: { tag: 'navigate', val: { screen: 'WELCOME', data: '{"product_name": "Haircut"}' } },
      body: 'Book your appointment',
    });
    assert.equal(output.messages[0].id, 'wamid.SENT');
    assert.equal(graph.requests.length, 1);
    assert.equal(graph.requests[0].url, `/v27.0/${PHONE_NUMBER_ID}/messages`);
    assert.deepEqual(JSON.parse(graph.requests[0].body), {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '+15550101234',
      type: 'interactive',
      interactive: {
        type: 'flow',
        body: { text: 'Book your appointment' },
        action: {
          name: 'flow',
          parameters: {
            flow_message_version: '3',
            flow_name: 'appointment_booking',
            flow_cta: 'Book!',
            flow_token: 'booking-42',
            mode: 'draft',
            flow_action: 'navigate',
            flow_action_payload: { screen: 'WELCOME', data: { product_name: 'Haircut' } },
          },
        },
      },
    });
    await assert.rejects(
      connector.sendFlow(connection, {
        sendMessageTo: '+15550101234',
        flow: { tag: 'id', val: '1234567890' },
        flowCta: 'Book 📅',
        body: 'Book your appointment',
      }),
      (e) => e instanceof ConnectorError && e.kind === 'invalid-input' && e.field === 'flow-cta',
    );
    assert.equal(graph.requests.length, 1, 'the refused Flow made no request');
  } finally {
    await connector.close();
    await graph.close();
  }
});

test('blocking answers user by user, and a group is created by request', async () => {
  const graph = await graphServer((request) => {
    if (request.url.endsWith('/groups')) {
      return { body: { messaging_product: 'whatsapp', request_id: 'R1' } };
    }
    return {
      status: 400,
      body: {
        messaging_product: 'whatsapp',
        block_users: {
          added_users: [{ input: '+16505551234', wa_id: '16505551234' }],
          failed_users: [
            {
              input: '+16505559876',
              wa_id: '16505559876',
              errors: [{ message: 'Re-engagement required', code: 131047, error_data: { details: 'User has not messaged in the last 24 hours' } }],
            },
          ],
        },
        error: { message: '(#139100) Failed to block/unblock users', code: 139100 },
      },
    };
  });
  const connector = await loadConnector({ graphUrl: graph.url });
  try {
    const output = await connector.blockUsers(connection, { users: ['+16505551234', '+16505559876'] });
    assert.equal(output.done[0].waId, '16505551234');
    assert.equal(output.failed[0].errors[0].code, 131047);
    assert.match(output.failed[0].errors[0].hint, /template/);
    assert.equal(graph.requests[0].method, 'POST');
    assert.equal(graph.requests[0].url, `/v27.0/${PHONE_NUMBER_ID}/block_users`);
    const created = await connector.createGroup(connection, { subject: 'Spring sale VIPs' });
    assert.equal(created.requestId, 'R1');
    assert.deepEqual(JSON.parse(graph.requests[1].body), { messaging_product: 'whatsapp', subject: 'Spring sale VIPs' });
    await assert.rejects(
      connector.sendInteractive(connection, {
        sendMessageTo: 'group:Y2FwaV9ncm91cDox',
        form: { tag: 'cta-url', val: { displayText: 'Shop', url: 'https://example.com' } },
        body: 'Our sale',
      }),
      (e) => e.kind === 'invalid-input' && e.field === 'send-message-to' && /group/.test(e.reason),
    );
    assert.equal(graph.requests.length, 2, 'the refused send made no request');
  } finally {
    await connector.close();
    await graph.close();
  }
});
