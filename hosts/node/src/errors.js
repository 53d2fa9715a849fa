// Errors as plain data that crosses the worker boundary: the WIT error variant's case as
// `kind`, its fields beside it (as the wasmtime host's JSON errors have them), numbers
// as numbers. `ConnectorError` (index.js) wraps them.

const number = (v) => (typeof v === 'bigint' ? Number(v) : v);

/** The fields of a record, with 64-bit integers as numbers. */
function fields(record) {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, number(v)]));
}

/** The variant `{tag, val}` the component returned, as `{kind, ...fields}`. */
export function variantJson({ tag, val }) {
  if (val === undefined || val === null) {
    return { kind: tag };
  }
  if (typeof val === 'string') {
    return { kind: tag, reason: val };
  }
  switch (tag) {
    // A rate limit carries the Graph error and `retryAfter`.
    case 'rate-limited':
      return { kind: tag, ...fields(val.error), retryAfter: val.retryAfter };
    // A media transfer's failed request carries a connection error.
    case 'request':
      return variantJson(val);
    default:
      return { kind: tag, ...fields(val) };
  }
}

/** Anything a call threw, as plain data: the component's error, or the host's. */
export function errorJson(e) {
  if (e && typeof e === 'object' && e.payload && typeof e.payload.tag === 'string') {
    return variantJson(e.payload);
  }
  // A trap, or a failure of the glue: the component is not to be trusted after it.
  return { kind: 'trap', message: String(e?.message ?? e) };
}
