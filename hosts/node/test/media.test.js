// Download Media and Upload Media in Node: the bytes stream through the shim's own file
// streams, the download lands only when Meta's SHA-256 matched, and the media host gets
// its own response cap.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadConnector } from '../src/index.js';
import { TOKEN, connection, graphServer } from './helpers.js';

const MEDIA_PATH = '/whatsapp_business/attachments/?mid=77&ext=1&hash=x';

/** A Graph API describing `bytes` with `sha256`, serving them on the media host's path. */
function mediaServer(bytes, sha256) {
  return graphServer((request) => {
    if (request.url === '/v27.0/77') {
      return {
        body: {
          url: `https://lookaside.fbsbx.com${MEDIA_PATH}`,
          mime_type: 'application/pdf',
          sha256,
          file_size: bytes.length,
          id: '77',
        },
      };
    }
    if (request.url === MEDIA_PATH) return { body: bytes, headers: { 'content-type': 'application/pdf' } };
    return { body: { id: '4490709327384033' } };
  });
}

test('a download lands whole, or not at all', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wa-node-media-'));
  const bytes = Buffer.alloc(5 << 20, 7).map((_, i) => (i * 31) & 0xff);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const good = await mediaServer(bytes, sha256);
  // 5 MiB is past the Graph API's 2 MiB cap: the media host has its own.
  const connector = await loadConnector({ graphUrl: good.url });
  try {
    const out = join(dir, 'report.pdf');
    const output = await connector.downloadMedia(connection, { mediaId: '77' }, out);
    assert.deepEqual(output, { id: '77', mimeType: 'application/pdf', sha256, fileSize: bytes.length });
    assert.ok(readFileSync(out).equals(bytes));
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal(good.requests[1].headers.authorization, `Bearer ${TOKEN}`);
    assert.deepEqual(readdirSync(dir), ['report.pdf'], 'no temporary file left');
  } finally {
    await connector.close();
    await good.close();
  }
  const bad = await mediaServer(bytes, 'ab'.repeat(32));
  const checking = await loadConnector({ graphUrl: bad.url });
  try {
    await assert.rejects(checking.downloadMedia(connection, { mediaId: '77' }, join(dir, 'bad.pdf')), (e) => {
      assert.deepEqual([e.kind, e.check], ['mismatch', 'sha256']);
      return true;
    });
    assert.deepEqual(readdirSync(dir), ['report.pdf'], 'a bad download leaves nothing');
  } finally {
    await checking.close();
    await bad.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an upload streams the file as multipart, and a wrong type sends nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wa-node-upload-'));
  const file = join(dir, 'note.pdf');
  const bytes = Buffer.alloc(300_000).map((_, i) => (i * 7) & 0xff);
  writeFileSync(file, bytes);
  const graph = await mediaServer(Buffer.alloc(0), '00'.repeat(32));
  const connector = await loadConnector({ graphUrl: graph.url });
  try {
    const output = await connector.uploadMedia(connection, { mimeType: 'application/pdf' }, file);
    assert.deepEqual(output, { id: '4490709327384033' });
    const [request] = graph.requests;
    assert.equal(request.url, '/v27.0/106540352242922/media');
    assert.equal(request.headers['content-length'], String(request.body.length));
    const boundary = request.headers['content-type'].split('boundary=')[1];
    // A multipart parser's reading (undici's, through the Fetch API's FormData).
    const form = await new Response(request.body, {
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    }).formData();
    assert.equal(form.get('messaging_product'), 'whatsapp');
    assert.equal(form.get('type'), 'application/pdf');
    const part = form.get('file');
    assert.equal(part.name, 'note.pdf');
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(bytes));

    await assert.rejects(connector.uploadMedia(connection, { mimeType: 'image/gif' }, file), (e) => {
      assert.deepEqual([e.kind, e.field], ['invalid-input', 'mime-type']);
      return true;
    });
    assert.equal(graph.requests.length, 1, 'a refused file makes no request');
  } finally {
    await connector.close();
    await graph.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a download in progress is private from its first byte (#22.8)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wa-node-media-'));
  const bytes = Buffer.from('abc');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let seen;
  const slow = await graphServer((request) => {
    if (request.url === '/v27.0/77') {
      return { body: { url: `https://lookaside.fbsbx.com${MEDIA_PATH}`, mime_type: 'text/plain', sha256, file_size: 3, id: '77' } };
    }
    // While the media host takes its time, the temporary file is already there: 0600.
    const temporary = readdirSync(dir).find((name) => name.startsWith('.download-'));
    seen = temporary && statSync(join(dir, temporary)).mode & 0o777;
    return { body: bytes, delayMs: 200 };
  });
  const connector = await loadConnector({ graphUrl: slow.url });
  try {
    await connector.downloadMedia(connection, { mediaId: '77' }, join(dir, 'note.txt'));
    assert.equal(seen, 0o600);
    assert.deepEqual(readdirSync(dir), ['note.txt']);
  } finally {
    await connector.close();
    await slow.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('media transfers have their own time limit, longer than a call (#22.12)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wa-node-media-'));
  const bytes = Buffer.from('abc');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const slow = await graphServer((request) => {
    if (request.url === '/v27.0/77') {
      return { body: { url: `https://lookaside.fbsbx.com${MEDIA_PATH}`, mime_type: 'text/plain', sha256, file_size: 3, id: '77' } };
    }
    return { body: bytes, delayMs: 700 };
  });
  // A call may take 300 ms; a download longer, by default.
  const patient = await loadConnector({ graphUrl: slow.url, timeoutMs: 300 });
  const strict = await loadConnector({ graphUrl: slow.url, timeoutMs: 300, mediaTimeoutMs: 300 });
  try {
    await patient.downloadMedia(connection, { mediaId: '77' }, join(dir, 'a.txt'));
    assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'abc');
    await assert.rejects(strict.downloadMedia(connection, { mediaId: '77' }, join(dir, 'b.txt')), (e) => e.kind === 'timeout');
    assert.deepEqual(readdirSync(dir), ['a.txt'], 'the stopped download left nothing');
  } finally {
    await patient.close();
    await strict.close();
    await slow.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
