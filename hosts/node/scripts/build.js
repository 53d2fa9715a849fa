// `npm run build`: transpiles the component cargo built into `generated/` with jco
// (ESM, instantiated by the worker with its own imports), with the TypeScript
// declarations jco derives from the WIT. Build the component first:
//
//   cargo build --target wasm32-wasip2 --profile guest -p whatsapp-connector
//
// (`cargo test` builds it too, under target/guest-build/). WHATSAPP_CONNECTOR_WASM
// names another .wasm.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const manifest = JSON.parse(readFileSync(join(root, 'component.json'), 'utf8'));
const candidates = process.env.WHATSAPP_CONNECTOR_WASM
  ? [process.env.WHATSAPP_CONNECTOR_WASM]
  : [join(root, manifest.artifact.path), join(root, 'target/guest-build/wasm32-wasip2/guest/whatsapp_connector.wasm')];
// The newest of them: the one built from this checkout most recently.
const wasm = candidates.filter((path) => existsSync(path)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
if (!wasm) {
  console.error(
    `no component found (looked at ${candidates.join(', ')}).\n` + `Build it first: ${manifest.artifact.build}`,
  );
  process.exit(1);
}
const out = join(here, '..', 'generated');
rmSync(out, { recursive: true, force: true });
const jco = join(here, '..', 'node_modules', '.bin', 'jco');
execFileSync(jco, ['transpile', wasm, '--out-dir', out, '--name', 'connector', '--instantiation', 'async', '--quiet'], {
  stdio: 'inherit',
});
// The manifest travels with the package: the outbound policy is read from it.
copyFileSync(join(root, 'component.json'), join(out, 'component.json'));
console.log(`transpiled ${wasm} into ${out}`);
