//! The webhook as owned types, shared by miniserde and nanoserde (each derives its own
//! `Deserialize` on them).
// nanoserde's derive expands to code this lint flags.
#![allow(clippy::question_mark)]

use crate::Tally;

#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
#[cfg_attr(feature = "nanoserde", derive(nanoserde::DeJson))]
pub struct Payload {
    object: Option<String>,
    entry: Option<Vec<Entry>>,
}

#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
#[cfg_attr(feature = "nanoserde", derive(nanoserde::DeJson))]
pub struct Entry {
    id: Option<String>,
    changes: Option<Vec<Change>>,
}

#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
#[cfg_attr(feature = "nanoserde", derive(nanoserde::DeJson))]
pub struct Change {
    field: Option<String>,
    value: Option<Value>,
}

#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
#[cfg_attr(feature = "nanoserde", derive(nanoserde::DeJson))]
pub struct Value {
    messaging_product: Option<String>,
    metadata: Option<Metadata>,
    contacts: Option<Vec<Contact>>,
    messages: Option<Vec<Message>>,
}

#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
#[cfg_attr(feature = "nanoserde", derive(nanoserde::DeJson))]
pub struct Metadata {
    display_phone_number: Option<String>,
    phone_number_id: Option<String>,
}

#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
#[cfg_attr(feature = "nanoserde", derive(nanoserde::DeJson))]
pub struct Contact {
    profile: Option<Profile>,
    wa_id: Option<String>,
}

#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
#[cfg_attr(feature = "nanoserde", derive(nanoserde::DeJson))]
pub struct Profile {
    name: Option<String>,
}

#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
#[cfg_attr(feature = "nanoserde", derive(nanoserde::DeJson))]
pub struct Message {
    from: Option<String>,
    id: Option<String>,
    timestamp: Option<String>,
    #[cfg_attr(feature = "miniserde", serde(rename = "type"))]
    #[cfg_attr(feature = "nanoserde", nserde(rename = "type"))]
    kind: Option<String>,
    text: Option<Text>,
}

#[cfg_attr(feature = "miniserde", derive(miniserde::Deserialize))]
#[cfg_attr(feature = "nanoserde", derive(nanoserde::DeJson))]
pub struct Text {
    body: Option<String>,
}

pub fn tally(payload: &Payload) -> Tally {
    let mut tally = Tally::default();
    tally.add_opt(payload.object.as_deref());
    for entry in payload.entry.iter().flatten() {
        tally.add_opt(entry.id.as_deref());
        for change in entry.changes.iter().flatten() {
            tally.add_opt(change.field.as_deref());
            let Some(value) = &change.value else { continue };
            tally.add_opt(value.messaging_product.as_deref());
            if let Some(m) = &value.metadata {
                tally.add_opt(m.display_phone_number.as_deref());
                tally.add_opt(m.phone_number_id.as_deref());
            }
            for c in value.contacts.iter().flatten() {
                tally.add_opt(c.profile.as_ref().and_then(|p| p.name.as_deref()));
                tally.add_opt(c.wa_id.as_deref());
            }
            for m in value.messages.iter().flatten() {
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
