//! simd-json's serde deserializer, with the same derived types. It parses in place, so
//! each parse starts with a copy of the body.
use crate::Tally;
use crate::serde_types::{Payload, tally};

pub const NAME: &str = "simd-json";

pub fn parse(body: &[u8]) -> Tally {
    let mut buffer = body.to_vec();
    simd_json::serde::from_slice::<Payload<'_>>(&mut buffer)
        .map_or_else(|_| Tally::default(), |p| tally(&p))
}
