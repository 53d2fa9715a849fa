//! miniserde (dtolnay's small serde without monomorphised visitors): derived
//! `Deserialize`, owned strings.
use miniserde::{Deserialize, json};

use crate::Tally;

pub const NAME: &str = "miniserde";

#[derive(Deserialize)]
struct Payload {
    object: Option<String>,
    entry: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    id: Option<String>,
    changes: Option<Vec<Change>>,
}

#[derive(Deserialize)]
struct Change {
    field: Option<String>,
    value: Option<Value>,
}

#[derive(Deserialize)]
struct Value {
    messaging_product: Option<String>,
    metadata: Option<Metadata>,
    contacts: Option<Vec<Contact>>,
    messages: Option<Vec<Message>>,
}

#[derive(Deserialize)]
struct Metadata {
    display_phone_number: Option<String>,
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    profile: Option<Profile>,
    wa_id: Option<String>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    from: Option<String>,
    id: Option<String>,
    timestamp: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<Text>,
}

#[derive(Deserialize)]
struct Text {
    body: Option<String>,
}

pub fn parse(body: &[u8]) -> Tally {
    let mut tally = Tally::default();
    let Ok(text) = std::str::from_utf8(body) else {
        return tally;
    };
    let Ok(payload) = json::from_str::<Payload>(text) else {
        return tally;
    };
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
