//! serde_json with derived `Deserialize` (the component's parser).
use crate::Tally;
use crate::serde_types::{Payload, tally};

pub const NAME: &str = "serde_json";

pub fn parse(body: &[u8]) -> Tally {
    serde_json::from_slice::<Payload<'_>>(body).map_or_else(|_| Tally::default(), |p| tally(&p))
}
