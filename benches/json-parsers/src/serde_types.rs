//! The webhook as serde types, shared by the serde-based parsers; strings borrowed where
//! they need no unescaping (as the component reads webhooks).
use std::borrow::Cow;

use serde::Deserialize;

use crate::Tally;

#[derive(Deserialize)]
pub struct Payload<'a> {
    #[serde(borrow)]
    object: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    entry: Vec<Entry<'a>>,
}

#[derive(Deserialize)]
pub struct Entry<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    changes: Vec<Change<'a>>,
}

#[derive(Deserialize)]
pub struct Change<'a> {
    #[serde(borrow)]
    field: Option<Cow<'a, str>>,
    #[serde(borrow)]
    value: Option<Value<'a>>,
}

#[derive(Deserialize)]
pub struct Value<'a> {
    #[serde(borrow)]
    messaging_product: Option<Cow<'a, str>>,
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow, default)]
    contacts: Vec<Contact<'a>>,
    #[serde(borrow, default)]
    messages: Vec<Message<'a>>,
}

#[derive(Deserialize)]
pub struct Metadata<'a> {
    #[serde(borrow)]
    display_phone_number: Option<Cow<'a, str>>,
    #[serde(borrow)]
    phone_number_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct Contact<'a> {
    #[serde(borrow)]
    profile: Option<Profile<'a>>,
    #[serde(borrow)]
    wa_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct Profile<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub struct Message<'a> {
    #[serde(borrow)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<Text<'a>>,
}

#[derive(Deserialize)]
pub struct Text<'a> {
    #[serde(borrow)]
    body: Option<Cow<'a, str>>,
}

pub fn tally(payload: &Payload<'_>) -> Tally {
    let mut tally = Tally::default();
    tally.add_opt(payload.object.as_deref());
    for entry in &payload.entry {
        tally.add_opt(entry.id.as_deref());
        for change in &entry.changes {
            tally.add_opt(change.field.as_deref());
            let Some(value) = &change.value else { continue };
            tally.add_opt(value.messaging_product.as_deref());
            if let Some(m) = &value.metadata {
                tally.add_opt(m.display_phone_number.as_deref());
                tally.add_opt(m.phone_number_id.as_deref());
            }
            for c in &value.contacts {
                tally.add_opt(c.profile.as_ref().and_then(|p| p.name.as_deref()));
                tally.add_opt(c.wa_id.as_deref());
            }
            for m in &value.messages {
                tally.messages += 1;
                tally.add_opt(m.from.as_deref());
                tally.add_opt(m.id.as_deref());
                tally.add_opt(m.timestamp.as_deref());
                tally.add_opt(m.kind.as_deref());
                tally.add_opt(m.text.as_ref().and_then(|t| t.body.as_deref()));
            }
        }
    }
    tally
}
