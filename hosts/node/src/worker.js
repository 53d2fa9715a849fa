// The worker thread that runs the component. Every call into a component is
// synchronous (a Graph API call blocks until its answer arrives), so it runs here, off
// the main thread: `index.js` posts `{id, method, args}` and gets `{id, ok}` or
// `{id, error}` back, one call at a time.
import { parentPort, workerData } from 'node:worker_threads';

import { errorJson } from './errors.js';
import { instantiateConnector } from './instance.js';

const methods = await instantiateConnector(workerData);

parentPort.on('message', ({ id, method, args }) => {
  try {
    parentPort.postMessage({ id, ok: methods[method](...args) });
  } catch (e) {
    parentPort.postMessage({ id, error: errorJson(e) });
  }
});
parentPort.postMessage({ ready: true });
