//! What every action that sends a message shares: the recipient (a `+` number or a
//! business-scoped user ID), an optional reply-to, the envelope of
//! `POST /{phone-number-id}/messages`, the limits (counted in Unicode scalar values, as
//! WhatsApp counts), and the answer.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::graph::{Credentials, Error, GraphRequest};
use crate::identity::Recipient;

/// Most characters of a message ID (`wamid.…`) the actions take.
pub const MAX_MESSAGE_ID_CHARS: usize = 512;

/// Who receives the message, and which message it replies to.
#[derive(Debug, Clone, Copy)]
pub struct Addressee<'a> {
    /// "Send message to": a `+` number or a BSUID.
    pub send_message_to: &'a str,
    /// "Reply to": the ID of the message this one quotes.
    pub reply_to: Option<&'a str>,
}

/// The body Meta's `/messages` takes: `{messaging_product, recipient_type, to |
/// recipient, context?, type, <type>: content}`.
struct Envelope<'a, T> {
    recipient: &'a Recipient,
    reply_to: Option<&'a str>,
    kind: &'static str,
    content: &'a T,
    /// Members after the content, e.g. the Marketing Messages API's `product_policy`.
    extra: &'a [(&'static str, Member)],
}

/// A member of the envelope after the content: a text or a flag.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum Member {
    Text(&'static str),
    Flag(bool),
}

impl<T: Serialize> Serialize for Envelope<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Context<'a> {
            message_id: &'a str,
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("messaging_product", "whatsapp")?;
        let group = matches!(self.recipient, Recipient::Group(_));
        map.serialize_entry("recipient_type", if group { "group" } else { "individual" })?;
        match self.recipient {
            // Meta lets `to` win when both are given, so only one is ever sent.
            Recipient::Phone(number) => map.serialize_entry("to", number)?,
            Recipient::UserId(id) => map.serialize_entry("recipient", id)?,
            // Meta's "Group messaging": `to` takes the group's ID.
            Recipient::Group(id) => map.serialize_entry("to", id)?,
        }
        if let Some(message_id) = self.reply_to {
            map.serialize_entry("context", &Context { message_id })?;
        }
        map.serialize_entry("type", self.kind)?;
        map.serialize_entry(self.kind, self.content)?;
        for (key, value) in self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A validated connection and addressee: where a message goes.
#[derive(Debug)]
pub struct Addressed<'a> {
    phone_number_id: &'a str,
    recipient: Recipient,
    reply_to: Option<&'a str>,
}

/// Validates the connection, the recipient and the reply-to: the first checks of every
/// action that sends a message.
pub fn address<'a>(
    credentials: Credentials<'a>,
    to: Addressee<'a>,
) -> Result<Addressed<'a>, Error> {
    credentials.validate()?;
    let recipient = Recipient::parse(to.send_message_to)
        .map_err(|reason| Error::invalid("send-message-to", reason))?;
    if let Some(reply_to) = to.reply_to {
        message_id("reply-to", reply_to)?;
    }
    Ok(Addressed {
        phone_number_id: credentials.phone_number_id,
        recipient,
        reply_to: to.reply_to,
    })
}

impl Addressed<'_> {
    /// Refuses a group recipient for a message kind WhatsApp groups do not take (Meta's
    /// "Group messaging": text, media and templates only), before any request.
    pub fn not_to_a_group(&self, what: &str) -> Result<(), Error> {
        match self.recipient {
            Recipient::Group(_) => Err(Error::invalid(
                "send-message-to",
                format!(
                    "{what} cannot be sent to a group: a WhatsApp group takes text, media and templates"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// `POST /vNN.0/{phone-number-id}/messages` of message type `kind`, with `content`
    /// (validated by the action) under the key of that name.
    pub fn request(&self, kind: &'static str, content: &impl Serialize) -> GraphRequest {
        self.request_to("messages", kind, content, &[])
    }

    /// [`Self::request`] to another edge of the phone number that takes the same body
    /// (`marketing_messages`), with `extra` members after the content.
    pub fn request_to(
        &self,
        edge: &str,
        kind: &'static str,
        content: &impl Serialize,
        extra: &[(&'static str, Member)],
    ) -> GraphRequest {
        GraphRequest::post_json(
            &format!("{}/{edge}", self.phone_number_id),
            &Envelope {
                recipient: &self.recipient,
                reply_to: self.reply_to,
                kind,
                content,
                extra,
            },
        )
    }
}

/// `value` has `min` to `max` characters (Unicode scalar values: an emoji is one).
pub fn chars(field: &'static str, value: &str, min: usize, max: usize) -> Result<(), Error> {
    let count = value.chars().count();
    if count < min || (min > 0 && value.trim().is_empty()) {
        return Err(Error::invalid(
            field,
            if min <= 1 {
                "is empty".to_owned()
            } else {
                format!("has {count} characters; at least {min} are needed")
            },
        ));
    }
    if count > max {
        return Err(Error::invalid(
            field,
            format!("has {count} characters; at most {max} are allowed"),
        ));
    }
    Ok(())
}

/// [`chars`] for an optional value: absent is fine.
pub fn optional_chars(field: &'static str, value: Option<&str>, max: usize) -> Result<(), Error> {
    value.map_or(Ok(()), |value| chars(field, value, 1, max))
}

/// A message ID (`wamid.…`): not empty, no whitespace or control characters.
pub fn message_id(field: &'static str, value: &str) -> Result<(), Error> {
    chars(field, value, 1, MAX_MESSAGE_ID_CHARS)?;
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            field,
            "contains whitespace or control characters; a message ID looks like wamid.HBgL…",
        ));
    }
    Ok(())
}

/// An `https` URL with a host, at most `max` characters: Meta fetches media links and
/// opens call-to-action URLs only over HTTPS.
pub fn https_link(field: &'static str, value: &str, max: usize) -> Result<(), Error> {
    chars(field, value, 1, max)?;
    let rest = value
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &value[8..]);
    let host = rest.and_then(|rest| rest.split(['/', '?', '#']).next());
    if host.is_none_or(str::is_empty) {
        return Err(Error::invalid(field, "must be an https:// URL"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            field,
            "contains whitespace or control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    pub const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "106540352242922",
    };

    #[derive(Serialize)]
    struct Content {
        body: &'static str,
    }

    fn body(to: &str, reply_to: Option<&str>) -> String {
        let to = Addressee {
            send_message_to: to,
            reply_to,
        };
        let request = address(CREDS, to)
            .unwrap()
            .request("text", &Content { body: "hi" });
        String::from_utf8(request.json_body.unwrap()).unwrap()
    }

    #[test]
    fn the_envelope_takes_a_number_or_a_user_id_and_a_reply() {
        assert_eq!(
            body("+1 555 010 1234", Some("wamid.ABC")),
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"+15550101234","context":{"message_id":"wamid.ABC"},"type":"text","text":{"body":"hi"}}"#
        );
        assert_eq!(
            body("US.13491208655302741918", None),
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"US.13491208655302741918","type":"text","text":{"body":"hi"}}"#
        );
    }

    #[test]
    fn limits_count_scalar_values_at_their_edges() {
        assert!(chars("f", &"😀".repeat(20), 1, 20).is_ok());
        assert!(chars("f", &"😀".repeat(21), 1, 20).is_err());
        assert!(chars("f", "", 1, 20).is_err());
        assert!(chars("f", "  ", 1, 20).is_err());
        assert!(message_id("reply-to", "wamid.A B").is_err());
        assert!(https_link("link", "https://example.com/a.png", 2000).is_ok());
        for bad in [
            "http://example.com/a.png",
            "https://",
            "https:///x",
            "example.com",
        ] {
            assert!(https_link("link", bad, 2000).is_err(), "{bad}");
        }
    }
}
