//! jiter (pydantic's JSON parser): its DOM, `JsonValue`, with borrowed strings, walked
//! for the same fields. jiter has no derive.
use jiter::{JsonArray, JsonObject, JsonValue};

use crate::Tally;

pub const NAME: &str = "jiter";

fn get<'a, 'j>(object: &'a JsonObject<'j>, key: &str) -> Option<&'a JsonValue<'j>> {
    object.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn str_of<'a>(object: &'a JsonObject<'_>, key: &str) -> Option<&'a str> {
    match get(object, key)? {
        JsonValue::Str(s) => Some(s),
        _ => None,
    }
}

fn object_of<'a, 'j>(object: &'a JsonObject<'j>, key: &str) -> Option<&'a JsonObject<'j>> {
    match get(object, key)? {
        JsonValue::Object(o) => Some(o),
        _ => None,
    }
}

fn objects<'a, 'j>(
    object: &'a JsonObject<'j>,
    key: &str,
) -> impl Iterator<Item = &'a JsonObject<'j>> {
    let array: Option<&'a JsonArray<'j>> = match get(object, key) {
        Some(JsonValue::Array(a)) => Some(a),
        _ => None,
    };
    array
        .into_iter()
        .flat_map(|a| a.iter())
        .filter_map(|v| match v {
            JsonValue::Object(o) => Some(o),
            _ => None,
        })
}

pub fn parse(body: &[u8]) -> Tally {
    let mut tally = Tally::default();
    let Ok(JsonValue::Object(payload)) = JsonValue::parse(body, false) else {
        return tally;
    };
    tally.add_opt(str_of(&payload, "object"));
    for entry in objects(&payload, "entry") {
        tally.add_opt(str_of(entry, "id"));
        for change in objects(entry, "changes") {
            tally.add_opt(str_of(change, "field"));
            let Some(value) = object_of(change, "value") else {
                continue;
            };
            tally.add_opt(str_of(value, "messaging_product"));
            if let Some(m) = object_of(value, "metadata") {
                tally.add_opt(str_of(m, "display_phone_number"));
                tally.add_opt(str_of(m, "phone_number_id"));
            }
            for c in objects(value, "contacts") {
                tally.add_opt(object_of(c, "profile").and_then(|p| str_of(p, "name")));
                tally.add_opt(str_of(c, "wa_id"));
            }
            for m in objects(value, "messages") {
                tally.messages += 1;
                tally.add_opt(str_of(m, "from"));
                tally.add_opt(str_of(m, "id"));
                tally.add_opt(str_of(m, "timestamp"));
                tally.add_opt(str_of(m, "type"));
                tally.add_opt(object_of(m, "text").and_then(|t| str_of(t, "body")));
            }
        }
    }
    tally
}
