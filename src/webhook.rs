//! A webhook body → one event per incoming message.
//!
//! Meta batches: one POST holds entries, each with changes, each change's `value` with
//! `contacts` and `messages`. Every message of every `messages` change becomes one
//! [`Event`], in order; status updates and other fields yield nothing.
//!
//! The body is parsed once into borrowed, typed structs (no `serde_json::Value`), so a
//! text body is copied only into the event that carries it. Only when parsing fails is
//! the body parsed again, and a small scanner names the place where it broke.

use std::borrow::Cow;

use crate::phone;

/// The only `object` a WhatsApp Business Account webhook carries.
pub const OBJECT: &str = "whatsapp_business_account";

/// One incoming message with its context: the documented output of the trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub object: String,
    /// `entry.id`: the WhatsApp Business Account ID.
    pub entry_id: String,
    pub messaging_product: String,
    pub display_phone_number: String,
    pub phone_number_id: String,
    /// The sender's contact card, when the change lists one.
    pub contact: Option<Contact>,
    pub message: Message,
}

/// `contacts[]`: who sent the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub profile_name: Option<String>,
    pub wa_id: String,
}

/// `messages[]`: one incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub from: String,
    pub id: String,
    pub timestamp: String,
    /// `type`.
    pub kind: String,
    /// `text.body`, for text messages only.
    pub text: Option<String>,
    /// `context` as JSON text.
    pub context: Option<String>,
    /// For any type but text: the JSON text of the object under the key named `type`.
    pub content: Option<String>,
    /// `errors` as JSON text.
    pub errors: Option<String>,
}

/// Parses a webhook body into events, keeping only messages from `sender_digits`
/// when given (see [`phone::sender_filter`]). The error says why and where.
pub fn events(body: &[u8], sender_digits: Option<&str>) -> Result<Vec<Event>, String> {
    let payload: wire::Payload<'_> =
        serde_json::from_slice(body).map_err(|e| wire::describe_error(body, &e))?;
    if payload.object != OBJECT {
        return Err(wire::wrong_object(&payload.object));
    }
    let mut events = Vec::new();
    for (i, entry) in payload.entry.iter().enumerate() {
        for (j, change) in entry.changes.iter().enumerate() {
            if change.field != "messages" {
                continue;
            }
            let value = &change.value;
            let messages = value.messages.as_deref().unwrap_or_default();
            if messages.is_empty() {
                continue; // statuses, errors: no message, no event
            }
            let missing =
                |what: &str| format!("entry[{i}].changes[{j}].value: missing field `{what}`");
            let metadata = value.metadata.as_ref().ok_or_else(|| missing("metadata"))?;
            let product = value
                .messaging_product
                .as_deref()
                .ok_or_else(|| missing("messaging_product"))?;
            let contacts = value.contacts.as_deref().unwrap_or_default();
            for message in messages {
                if let Some(digits) = sender_digits
                    && !phone::same_number(&message.from, digits)
                {
                    continue;
                }
                let contact = contacts
                    .iter()
                    .find(|c| c.wa_id == message.from)
                    .or(contacts.first());
                events.push(Event {
                    object: OBJECT.to_owned(),
                    entry_id: entry.id.clone().into_owned(),
                    messaging_product: product.to_owned(),
                    display_phone_number: metadata.display_phone_number.clone().into_owned(),
                    phone_number_id: metadata.phone_number_id.clone().into_owned(),
                    contact: contact.map(|c| Contact {
                        profile_name: c
                            .profile
                            .as_ref()
                            .and_then(|p| p.name.clone())
                            .map(Cow::into_owned),
                        wa_id: c.wa_id.clone().into_owned(),
                    }),
                    message: message.to_owned_message(),
                });
            }
        }
    }
    Ok(events)
}

/// The body as Meta sends it, borrowed from the raw bytes.
mod wire {
    use std::borrow::Cow;
    use std::fmt;
    use std::marker::PhantomData;

    use serde::Deserialize;
    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;

    #[derive(Deserialize)]
    pub struct Payload<'a> {
        #[serde(borrow)]
        pub object: Cow<'a, str>,
        #[serde(borrow)]
        pub entry: Vec<Entry<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Entry<'a> {
        #[serde(borrow)]
        pub id: Cow<'a, str>,
        #[serde(borrow)]
        pub changes: Vec<Change<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Change<'a> {
        #[serde(borrow)]
        pub field: Cow<'a, str>,
        #[serde(borrow)]
        pub value: Value<'a>,
    }

    /// Lenient: other fields (`statuses`, `errors`, ...) share the shape loosely.
    #[derive(Deserialize)]
    pub struct Value<'a> {
        #[serde(borrow)]
        pub messaging_product: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub metadata: Option<Metadata<'a>>,
        #[serde(borrow)]
        pub contacts: Option<Vec<Contact<'a>>>,
        #[serde(borrow)]
        pub messages: Option<Vec<Message<'a>>>,
    }

    #[derive(Deserialize)]
    pub struct Metadata<'a> {
        #[serde(borrow)]
        pub display_phone_number: Cow<'a, str>,
        #[serde(borrow)]
        pub phone_number_id: Cow<'a, str>,
    }

    #[derive(Deserialize)]
    pub struct Contact<'a> {
        #[serde(borrow)]
        pub profile: Option<Profile<'a>>,
        #[serde(borrow)]
        pub wa_id: Cow<'a, str>,
    }

    #[derive(Deserialize)]
    pub struct Profile<'a> {
        #[serde(borrow)]
        pub name: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    pub struct Text<'a> {
        #[serde(borrow)]
        pub body: Cow<'a, str>,
    }

    /// A message keeps its known fields typed and every other key raw, so the object
    /// of any type (even one Meta adds later) reaches the event.
    pub struct Message<'a> {
        pub from: Cow<'a, str>,
        pub id: Cow<'a, str>,
        pub timestamp: Cow<'a, str>,
        pub kind: Cow<'a, str>,
        pub text: Option<Text<'a>>,
        pub context: Option<&'a RawValue>,
        pub errors: Option<&'a RawValue>,
        pub others: Vec<(Cow<'a, str>, &'a RawValue)>,
    }

    impl Message<'_> {
        pub fn to_owned_message(&self) -> super::Message {
            let is_text = self.kind == "text";
            super::Message {
                from: self.from.clone().into_owned(),
                id: self.id.clone().into_owned(),
                timestamp: self.timestamp.clone().into_owned(),
                kind: self.kind.clone().into_owned(),
                text: self
                    .text
                    .as_ref()
                    .filter(|_| is_text)
                    .map(|t| t.body.clone().into_owned()),
                context: self.context.map(|c| c.get().to_owned()),
                content: (!is_text)
                    .then(|| self.others.iter().find(|(k, _)| *k == self.kind))
                    .flatten()
                    .map(|(_, v)| v.get().to_owned()),
                errors: self.errors.map(|e| e.get().to_owned()),
            }
        }
    }

    /// A string borrowed from the body when it has no escapes.
    struct Str<'a>(Cow<'a, str>);

    impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<'a>(PhantomData<&'a ()>);
            impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
                type Value = Str<'a>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'a>, E> {
                    Ok(Str(Cow::Borrowed(v)))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'a>, E> {
                    Ok(Str(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'a>, E> {
                    Ok(Str(Cow::Owned(v)))
                }
            }
            d.deserialize_str(V(PhantomData))
        }
    }

    impl<'de: 'a, 'a> Deserialize<'de> for Message<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(MessageVisitor(PhantomData))
        }
    }

    struct MessageVisitor<'a>(PhantomData<&'a ()>);

    fn set<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), E> {
        if slot.replace(v).is_some() {
            return Err(E::duplicate_field(name));
        }
        Ok(())
    }

    impl<'de: 'a, 'a> Visitor<'de> for MessageVisitor<'a> {
        type Value = Message<'a>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a message object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message<'a>, A::Error> {
            let (mut from, mut id, mut timestamp, mut kind) = (None, None, None, None);
            let (mut text, mut context, mut errors) = (None, None, None);
            let mut others: Vec<(Cow<'a, str>, &'a RawValue)> = Vec::new();
            while let Some(Str(key)) = map.next_key::<Str<'a>>()? {
                match key.as_ref() {
                    "from" => set(&mut from, "from", map.next_value::<Str<'a>>()?.0)?,
                    "id" => set(&mut id, "id", map.next_value::<Str<'a>>()?.0)?,
                    "timestamp" => {
                        set(&mut timestamp, "timestamp", map.next_value::<Str<'a>>()?.0)?
                    }
                    "type" => set(&mut kind, "type", map.next_value::<Str<'a>>()?.0)?,
                    "text" => set(&mut text, "text", map.next_value::<Text<'a>>()?)?,
                    "context" => set(&mut context, "context", map.next_value()?)?,
                    "errors" => set(&mut errors, "errors", map.next_value()?)?,
                    _ => {
                        if others.iter().any(|(k, _)| *k == key) {
                            return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                        }
                        others.push((key, map.next_value()?));
                    }
                }
            }
            Ok(Message {
                from: from.ok_or_else(|| de::Error::missing_field("from"))?,
                id: id.ok_or_else(|| de::Error::missing_field("id"))?,
                timestamp: timestamp.ok_or_else(|| de::Error::missing_field("timestamp"))?,
                kind: kind.ok_or_else(|| de::Error::missing_field("type"))?,
                text,
                context,
                errors,
                others,
            })
        }
    }

    pub fn wrong_object(object: &str) -> String {
        format!(
            "`object` is {object:?}, expected \"{}\": not a WhatsApp Business Account webhook",
            super::OBJECT
        )
    }

    /// The slow path, taken only for a body that failed to parse with `error`: says why
    /// and where.
    pub fn describe_error(body: &[u8], error: &serde_json::Error) -> String {
        #[derive(Deserialize)]
        struct ObjectOnly<'a> {
            #[serde(borrow)]
            object: Option<Cow<'a, str>>,
        }
        if std::str::from_utf8(body).is_err() {
            return "the body is not valid UTF-8".to_owned();
        }
        if body.trim_ascii_start().first() != Some(&b'{') {
            return "the body is not a JSON object".to_owned();
        }
        // A body of another object type fails on its own shape; name the real reason.
        if let Ok(ObjectOnly {
            object: Some(object),
        }) = serde_json::from_slice(body)
            && object != super::OBJECT
        {
            return wrong_object(&object);
        }
        match json_path_at(body, byte_offset(body, error.line(), error.column())) {
            path if path.is_empty() => format!("not a webhook body: {error}"),
            path => format!("{path}: {error}"),
        }
    }

    /// The byte offset of serde_json's one-based line and column.
    fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
        let line_start: usize = body
            .split(|b| *b == b'\n')
            .take(line.saturating_sub(1))
            .map(|l| l.len() + 1)
            .sum();
        (line_start + column).min(body.len())
    }

    /// Where in the document `offset` is, as a path like
    /// `entry[0].changes[0].value.messages[0].from`: the objects and arrays open there,
    /// with the key or index being read in each. A small scanner instead of tracking the
    /// path while deserializing, which would double the deserializer code in the component.
    pub(super) fn json_path_at(body: &[u8], offset: usize) -> String {
        enum Frame {
            /// The key being read or whose value is being read; `None` between members.
            Object(Option<String>),
            Array(usize),
        }
        let mut stack: Vec<Frame> = Vec::new();
        let mut key_start = None;
        let mut in_string = false;
        let mut escaped = false;
        let mut i = 0;
        while i < offset {
            let b = body[i];
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if let (Some(start), Some(Frame::Object(key))) =
                        (key_start.take(), stack.last_mut())
                    {
                        *key = Some(String::from_utf8_lossy(&body[start..i]).into_owned());
                    }
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => {
                    in_string = true;
                    // A string where a key is expected is the key.
                    if matches!(stack.last(), Some(Frame::Object(None))) {
                        key_start = Some(i + 1);
                    }
                }
                b'{' => stack.push(Frame::Object(None)),
                b'[' => stack.push(Frame::Array(0)),
                b'}' | b']' => {
                    stack.pop();
                }
                b',' => match stack.last_mut() {
                    Some(Frame::Array(index)) => *index += 1,
                    Some(Frame::Object(key)) => *key = None,
                    None => {}
                },
                _ => {}
            }
            i += 1;
        }
        const MAX_SEGMENTS: usize = 12;
        let mut path = String::new();
        for frame in stack.iter().take(MAX_SEGMENTS) {
            match frame {
                Frame::Object(Some(key)) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Frame::Object(None) => {}
                Frame::Array(index) => path.push_str(&format!("[{index}]")),
            }
        }
        if stack.len() > MAX_SEGMENTS {
            path.push('…');
        }
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_TEXT: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;

    #[test]
    fn one_text_message_is_one_event() {
        let events = events(ONE_TEXT.as_bytes(), None).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e.entry_id, "102290129340398");
        assert_eq!(e.phone_number_id, "106540352242922");
        assert_eq!(
            e.contact.as_ref().unwrap().profile_name.as_deref(),
            Some("Sheena Nelson")
        );
        assert_eq!(
            e.message.text.as_deref(),
            Some("Does it come in another color?")
        );
        assert_eq!(e.message.kind, "text");
        assert_eq!(e.message.content, None);
    }

    #[test]
    fn escaped_text_is_unescaped() {
        let body = ONE_TEXT.replace("Does it come", "Caf\\u00e9 \\\"quoted\\\"");
        let events = events(body.as_bytes(), None).unwrap();
        assert!(
            events[0]
                .message
                .text
                .as_deref()
                .unwrap()
                .starts_with("Café \"quoted\"")
        );
    }

    #[test]
    fn paths_name_the_place_in_the_document() {
        let body = br#"{"entry":[{"id":"1","changes":[{},{"value":{"messages":[{"id":12}]}}]}]}"#;
        let at = |needle: &str| {
            let offset = body
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .unwrap();
            wire::json_path_at(body, offset + needle.len())
        };
        assert_eq!(at(r#""id":12"#), "entry[0].changes[1].value.messages[0].id");
        assert_eq!(at(r#""id":12}"#), "entry[0].changes[1].value.messages[0]");
        assert_eq!(at(r#""id":"1","#), "entry[0]");
        assert_eq!(wire::json_path_at(body, 0), "");
        let escaped = br#"{"a\"b":{"c":["x\\",1,"#;
        assert_eq!(wire::json_path_at(escaped, escaped.len()), r#"a\"b.c[2]"#);
    }

    #[test]
    fn errors_say_where() {
        let no_from = ONE_TEXT.replace("\"from\":\"16505551234\",", "");
        let err = events(no_from.as_bytes(), None).unwrap_err();
        assert!(
            err.contains("entry[0].changes[0].value.messages[0]"),
            "{err}"
        );
        assert!(err.contains("from"), "{err}");
        let page = r#"{"object":"page","entry":[{"id":"1","time":1,"messaging":[]}]}"#;
        assert!(
            events(page.as_bytes(), None)
                .unwrap_err()
                .contains("\"page\"")
        );
        assert!(events(b"not json", None).is_err());
        assert!(events(b"[]", None).is_err());
        let dup = ONE_TEXT.replace("\"type\":\"text\"", "\"type\":\"text\",\"type\":\"image\"");
        assert!(
            events(dup.as_bytes(), None)
                .unwrap_err()
                .contains("duplicate")
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(events(deep.as_bytes(), None).is_err());
        let nested_in_message = ONE_TEXT.replace(
            "\"type\":\"text\"",
            &format!(
                "\"type\":\"text\",\"x\":{}1{}",
                "[".repeat(10_000),
                "]".repeat(10_000)
            ),
        );
        // Skipped unknown keys are not recursed into: no crash, the message still counts.
        assert_eq!(events(nested_in_message.as_bytes(), None).unwrap().len(), 1);
    }
}
