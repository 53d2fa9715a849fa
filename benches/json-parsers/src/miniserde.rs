//! miniserde (dtolnay's small serde without monomorphised visitors): derived
//! `Deserialize`, owned strings.
use crate::Tally;
use crate::owned_types::{Payload, tally};

pub const NAME: &str = "miniserde";

pub fn parse(body: &[u8]) -> Tally {
    let Ok(text) = std::str::from_utf8(body) else {
        return Tally::default();
    };
    miniserde::json::from_str::<Payload>(text).map_or_else(|_| Tally::default(), |p| tally(&p))
}
