// What the tests share: the fixtures, `host-harness` (the wasmtime host, for the same
// answers), a loopback Graph API written with Node's `http`, and signed webhooks.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES = `${ROOT}tests/fixtures/`;
export const TOKEN = 'EAAGnodeTOKENmustNeverLeak0042';
export const PHONE_NUMBER_ID = '106540352242922';
export const APP_SECRET = 'nodeAPPsecretMustNeverLeak';
export const connection = { systemUserAccessToken: TOKEN, phoneNumberId: PHONE_NUMBER_ID };

export const fixtures = () =>
  readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .sort();
export const fixture = (name) => readFileSync(`${FIXTURES}${name}`);

/** `host-harness` as `cargo test` built it (HOST_HARNESS names another). */
export function harness(args) {
  const bin = process.env.HOST_HARNESS ?? `${ROOT}target/debug/host-harness`;
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: run \`cargo build -p host-harness\` (or cargo test) first`);
  }
  return JSON.parse(execFileSync(bin, args, { encoding: 'utf8' }));
}

/** A webhook POST as Meta signs it. */
export function signedPost(body, secret = APP_SECRET) {
  const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return { method: 'POST', headers: [['x-hub-signature-256', signature]], query: '', body: new Uint8Array(body) };
}

/**
 * A Graph API on a free loopback port: `answer(request)` gives `{status, body, delayMs}`;
 * every request is recorded with its raw head and body.
 */
export async function graphServer(answer) {
  const requests = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const request = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) };
    requests.push(request);
    const { status = 200, body = {}, delayMs = 0, headers = {} } = (await answer(request)) ?? {};
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

export const SENT = {
  messaging_product: 'whatsapp',
  contacts: [{ input: '+15550101234', wa_id: '15550101234' }],
  messages: [{ id: 'wamid.SENT' }],
};
