// The events' documented output forms, from the component's WIT records: the same
// JSON the wasmtime host writes (the component crate's `Serialize` of its event types),
// so that a workflow gets the same object whichever host ran the trigger. JSON-text
// fields are parsed (numbers beyond 2^53 lose precision, as with any `JSON.parse`).
// The tests compare this with `host-harness trigger` on every fixture.

/** Sets `key` when `value` is not undefined. */
function put(object, key, value) {
  if (value !== undefined) {
    object[key] = value;
  }
}

const parsed = (text) => (text === undefined ? undefined : JSON.parse(text));

function valueJson(value) {
  const out = {};
  put(out, 'messaging_product', value.messagingProduct);
  if (value.metadata) {
    const metadata = {};
    put(metadata, 'display_phone_number', value.metadata.displayPhoneNumber);
    put(metadata, 'phone_number_id', value.metadata.phoneNumberId);
    out.metadata = metadata;
  }
  return out;
}

function contactJson(contact) {
  const out = {};
  if (contact.profileName !== undefined || contact.username !== undefined) {
    out.profile = {};
    put(out.profile, 'name', contact.profileName);
    put(out.profile, 'username', contact.username);
  }
  put(out, 'wa_id', contact.waId);
  put(out, 'user_id', contact.userId);
  put(out, 'parent_user_id', contact.parentUserId);
  return out;
}

function members(out, others) {
  for (const { name, json } of others) {
    out[name] = JSON.parse(json);
  }
}

/**
 * A message the component carries raw: an element that is not an object, parsed; or an
 * object that repeats a key (Meta never sends one), given as its JSON text verbatim,
 * since a JavaScript object cannot hold both values and the wasmtime host writes both.
 */
function rawJson(raw) {
  const value = JSON.parse(raw);
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? raw : value;
}

function messageJson(m, to) {
  if (m.raw !== undefined) {
    return rawJson(m.raw);
  }
  const out = {};
  put(out, 'from', m.from);
  put(out, 'to', to);
  put(out, 'from_user_id', m.fromUserId);
  put(out, 'from_parent_user_id', m.fromParentUserId);
  put(out, 'id', m.id);
  put(out, 'timestamp', m.timestamp);
  put(out, 'type', m.type);
  if (m.text) {
    out.text = { body: m.text.body };
  }
  if (m.type !== undefined && m.content !== undefined) {
    out[m.type] = JSON.parse(m.content);
  }
  put(out, 'context', parsed(m.context));
  put(out, 'errors', parsed(m.errors));
  put(out, 'group_id', m.groupId);
  put(out, 'original_message_id', m.originalMessageId);
  if (m.flowReply) {
    const reply = {};
    put(reply, 'response', parsed(m.flowReply.response));
    put(reply, 'flow_token', m.flowReply.flowToken);
    put(reply, 'invalid_reason', m.flowReply.invalidReason);
    out.flow_reply = reply;
  }
  members(out, m.others);
  return out;
}

/** A "Message received" event: `{dedupKey, event: {object, entry: {id, changes: {value, contacts, messages}}}}`. */
export function eventJson(e) {
  const entry = {};
  put(entry, 'id', e.entry.id);
  const changes = { value: valueJson(e.entry.changes.value) };
  if (e.entry.changes.contacts) {
    changes.contacts = contactJson(e.entry.changes.contacts);
  }
  changes.messages = messageJson(e.entry.changes.messages);
  entry.changes = changes;
  return { dedupKey: e.dedupKey, event: { object: e.object, entry } };
}

function statusErrorJson(e) {
  const out = {};
  put(out, 'code', e.code === undefined ? undefined : Number(e.code));
  put(out, 'title', e.title);
  put(out, 'message', e.message);
  if (e.details !== undefined) {
    out.error_data = { details: e.details };
  }
  put(out, 'href', e.href);
  put(out, 'hint', e.hint);
  return out;
}

function statusJson(s) {
  if (s.raw !== undefined) {
    return rawJson(s.raw);
  }
  const out = {};
  put(out, 'id', s.id);
  put(out, 'status', s.status);
  put(out, 'timestamp', s.timestamp);
  put(out, 'recipient_id', s.recipientId);
  put(out, 'recipient_user_id', s.recipientUserId);
  put(out, 'recipient_parent_user_id', s.recipientParentUserId);
  put(out, 'recipient_type', s.recipientType);
  put(out, 'recipient_participant_id', s.recipientParticipantId);
  put(out, 'recipient_participant_user_id', s.recipientParticipantUserId);
  put(out, 'recipient_participant_parent_user_id', s.recipientParticipantParentUserId);
  put(out, 'conversation', parsed(s.conversation));
  put(out, 'pricing', parsed(s.pricing));
  put(out, 'biz_opaque_callback_data', s.bizOpaqueCallbackData);
  if (s.errors.length > 0) {
    out.errors = s.errors.map(statusErrorJson);
  }
  members(out, s.others);
  return out;
}

/** A "Message status updated" event: `{dedupKey, event: {object, entry: {id, changes: {value, statuses}}}}`. */
export function statusEventJson(e) {
  const entry = {};
  put(entry, 'id', e.entry.id);
  entry.changes = {
    value: valueJson(e.entry.changes.value),
    statuses: statusJson(e.entry.changes.statuses),
  };
  return { dedupKey: e.dedupKey, event: { object: e.object, entry } };
}

/** A "Message echoed" event: `{dedupKey, event: {object, entry: {id, changes: {value, message_echoes}}}}`. */
export function echoEventJson(e) {
  const entry = {};
  put(entry, 'id', e.entry.id);
  const echo = e.entry.changes.messageEchoes;
  entry.changes = {
    value: valueJson(e.entry.changes.value),
    message_echoes: messageJson(echo.message, echo.to),
  };
  return { dedupKey: e.dedupKey, event: { object: e.object, entry } };
}

function preferenceJson(p) {
  if (p.raw !== undefined) {
    return rawJson(p.raw);
  }
  const out = {};
  put(out, 'wa_id', p.waId);
  put(out, 'user_id', p.userId);
  put(out, 'detail', p.detail);
  put(out, 'category', p.category);
  put(out, 'value', p.value);
  put(out, 'timestamp', parsed(p.timestamp));
  members(out, p.others);
  return out;
}

/** A "Marketing preference changed" event: `{dedupKey, event: {object, entry: {id, changes: {value, contacts, user_preferences}}}}`. */
export function preferenceEventJson(e) {
  const entry = {};
  put(entry, 'id', e.entry.id);
  const changes = { value: valueJson(e.entry.changes.value) };
  if (e.entry.changes.contacts) {
    changes.contacts = contactJson(e.entry.changes.contacts);
  }
  changes.user_preferences = preferenceJson(e.entry.changes.userPreferences);
  entry.changes = changes;
  return { dedupKey: e.dedupKey, event: { object: e.object, entry } };
}

function groupUpdateJson(u) {
  if (u.raw !== undefined) {
    return rawJson(u.raw);
  }
  const out = {};
  put(out, 'timestamp', u.timestamp);
  put(out, 'group_id', u.groupId);
  put(out, 'type', u.type);
  put(out, 'request_id', u.requestId);
  put(out, 'errors', parsed(u.errors));
  members(out, u.others);
  return out;
}

/** A "Group updated" event: `{dedupKey, event: {object, entry: {id, changes: {field, value, groups}}}}`. */
export function groupEventJson(e) {
  const entry = {};
  put(entry, 'id', e.entry.id);
  entry.changes = {
    field: e.entry.changes.field,
    value: valueJson(e.entry.changes.value),
    groups: groupUpdateJson(e.entry.changes.groups),
  };
  return { dedupKey: e.dedupKey, event: { object: e.object, entry } };
}
