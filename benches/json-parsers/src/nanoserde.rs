//! nanoserde (no dependencies, its own derive): `DeJson`, owned strings.
use nanoserde::DeJson;

use crate::Tally;
use crate::owned_types::{Payload, tally};

pub const NAME: &str = "nanoserde";

pub fn parse(body: &[u8]) -> Tally {
    let Ok(text) = std::str::from_utf8(body) else {
        return Tally::default();
    };
    Payload::deserialize_json(text).map_or_else(|_| Tally::default(), |p| tally(&p))
}
