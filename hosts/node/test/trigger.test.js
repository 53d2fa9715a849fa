// The trigger in Node gives, for every fixture the Rust tests use, exactly the events
// the wasmtime host gives for the same file: both triggers, signed and unsigned.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { loadConnector } from '../src/index.js';
import { APP_SECRET, FIXTURES, fixture, fixtures, harness, signedPost } from './helpers.js';

let connector;
before(async () => {
  connector = await loadConnector();
});
after(() => connector.close());

test("every fixture gives the harness's message events", async () => {
  const names = fixtures();
  assert.ok(names.length >= 15, `only ${names.length} fixtures`);
  let compared = 0;
  for (const name of names) {
    const expected = harness(['trigger', '--payload', `${FIXTURES}${name}`]);
    const outcome = await connector.handleWebhook(signedPost(fixture(name)), {}, { appSecret: APP_SECRET });
    assert.deepEqual(
      outcome.events.map((e) => e.event),
      expected,
      name,
    );
    compared += expected.length;
  }
  assert.ok(compared >= 15, `only ${compared} events compared`);
});

test("every fixture gives the harness's status events", async () => {
  let compared = 0;
  for (const name of fixtures()) {
    const expected = harness(['trigger', '--statuses', '--payload', `${FIXTURES}${name}`]);
    const outcome = await connector.handleStatusWebhook(signedPost(fixture(name)), { statuses: [] }, {});
    assert.deepEqual(
      outcome.events.map((e) => e.event),
      expected,
      name,
    );
    compared += expected.length;
  }
  assert.ok(compared >= 5, `only ${compared} status events compared`);
});

test("every fixture gives the harness's echo, preference and group events", async () => {
  const kinds = [
    ['--echoes', (request) => connector.handleEchoWebhook(request, {}, {})],
    ['--preferences', (request) => connector.handlePreferenceWebhook(request, {}, {})],
    ['--groups', (request) => connector.handleGroupWebhook(request, { fields: [] }, {})],
  ];
  for (const [flag, handle] of kinds) {
    let compared = 0;
    for (const name of fixtures()) {
      const expected = harness(['trigger', flag, '--payload', `${FIXTURES}${name}`]);
      const outcome = await handle(signedPost(fixture(name)));
      assert.deepEqual(
        outcome.events.map((e) => e.event),
        expected,
        `${flag} ${name}`,
      );
      compared += expected.length;
    }
    assert.ok(compared >= 2, `${flag}: only ${compared} events compared`);
  }
  // Properties reach the component: a recipient filter, and group updates by kind.
  const echoes = await connector.handleEchoWebhook(signedPost(fixture('smb_message_echo.json')), {
    recipient: '+1 650 555 0000',
  });
  assert.equal(echoes.events.length, 0);
  const groups = await connector.handleGroupWebhook(signedPost(fixture('group_participants_join.json')), {
    fields: ['lifecycle'],
  });
  assert.equal(groups.events.length, 0);
  const stop = await connector.handlePreferenceWebhook(signedPost(fixture('user_preferences_stop.json')));
  assert.equal(stop.events[0].dedupKey, '16505551234:marketing_messages:stop:1739321024');
  assert.equal(stop.events[0].event.entry.changes.user_preferences.timestamp, 1739321024);
});

test('filters, dedup keys, the handshake and a forged signature', async () => {
  const body = fixture('batch_two_messages_one_status.json');
  const filtered = await connector.handleWebhook(
    signedPost(body),
    { senderNumber: '+1 650 555 1234' },
    { appSecret: APP_SECRET },
  );
  assert.equal(filtered.events.length, 1);
  assert.equal(filtered.events[0].event.entry.changes.messages.from, '16505551234');
  assert.equal(filtered.events[0].dedupKey, filtered.events[0].event.entry.changes.messages.id);

  const failed = await connector.handleStatusWebhook(
    signedPost(fixture('status_failed_131047.json')),
    { statuses: ['failed'] },
    {},
  );
  assert.equal(failed.events.length, 1);
  assert.match(failed.events[0].event.entry.changes.statuses.errors[0].hint, /template/);
  assert.match(failed.events[0].dedupKey, /:failed$/);

  const handshake = await connector.handleWebhook(
    {
      method: 'GET',
      headers: [],
      query: 'hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=tok',
      body: new Uint8Array(),
    },
    {},
    { verifyToken: 'tok' },
  );
  assert.deepEqual(handshake.respond, { status: 200, contentType: 'text/plain', body: '1158201444' });

  await assert.rejects(
    connector.handleWebhook(signedPost(body, 'another secret'), {}, { appSecret: APP_SECRET }),
    (e) => e.name === 'ConnectorError' && e.kind === 'invalid-signature' && typeof e.reason === 'string',
  );
  await assert.rejects(
    connector.handleWebhook(signedPost(Buffer.from('[1,2')), {}, {}),
    (e) => e.kind === 'invalid-payload',
  );
});

test('a message that repeats a key is carried verbatim, both values kept (#22.18)', async () => {
  const message = '{"from":"16505551234","id":"wamid.DUP","type":"text","text":{"body":"first"},"text":{"body":"second"}}';
  const body = Buffer.from(
    `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[${message}]}}]}]}`,
  );
  const outcome = await connector.handleWebhook(signedPost(body), {}, { appSecret: APP_SECRET });
  assert.equal(outcome.events.length, 1);
  const carried = outcome.events[0].event.entry.changes.messages;
  assert.equal(carried, message, 'the JSON text as received');
  assert.ok(carried.includes('"first"') && carried.includes('"second"'));
  // A message that is not an object is still a value, as the wasmtime host writes it.
  const odd = Buffer.from(
    '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[[1,2]]}}]}]}',
  );
  const oddOutcome = await connector.handleWebhook(signedPost(odd), {}, { appSecret: APP_SECRET });
  assert.deepEqual(oddOutcome.events[0].event.entry.changes.messages, [1, 2]);
});
