//! Action "Send Location": a pin on the map, with an optional name and address.
//! `{"type":"location","location":{"latitude","longitude","name"?,"address"?}}`.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;

use crate::graph::{Credentials, Error, GraphRequest};
use crate::outgoing::{self, Addressee};

/// Most characters of the location's name.
pub const MAX_NAME_CHARS: usize = 1000;
/// Most characters of the location's address.
pub const MAX_ADDRESS_CHARS: usize = 1000;

/// The action's properties.
#[derive(Debug, Clone, Copy)]
pub struct LocationInput<'a> {
    pub to: Addressee<'a>,
    /// Degrees, −90 to 90.
    pub latitude: f64,
    /// Degrees, −180 to 180.
    pub longitude: f64,
    pub name: Option<&'a str>,
    pub address: Option<&'a str>,
}

#[derive(Serialize)]
struct Location<'a> {
    latitude: f64,
    longitude: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
}

fn degrees(field: &'static str, value: f64, limit: f64) -> Result<(), Error> {
    if value.is_finite() && (-limit..=limit).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be a number from -{limit} to {limit}"),
        ))
    }
}

/// Validates every input and builds the request. Nothing is sent when any is invalid.
pub fn prepare(
    credentials: Credentials<'_>,
    input: LocationInput<'_>,
) -> Result<GraphRequest, Error> {
    let to = outgoing::address(credentials, input.to)?;
    to.not_to_a_group("a location")?;
    degrees("latitude", input.latitude, 90.0)?;
    degrees("longitude", input.longitude, 180.0)?;
    outgoing::optional_chars("name", input.name, MAX_NAME_CHARS)?;
    outgoing::optional_chars("address", input.address, MAX_ADDRESS_CHARS)?;
    let location = Location {
        latitude: input.latitude,
        longitude: input.longitude,
        name: input.name,
        address: input.address,
    };
    Ok(to.request("location", &location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_checked_at_their_edges() {
        for (lat, lon, ok) in [
            (90.0, 180.0, true),
            (-90.0, -180.0, true),
            (90.000001, 0.0, false),
            (0.0, -180.000001, false),
            (f64::NAN, 0.0, false),
            (0.0, f64::INFINITY, false),
        ] {
            assert_eq!(
                degrees("latitude", lat, 90.0).is_ok() && degrees("longitude", lon, 180.0).is_ok(),
                ok,
                "{lat} {lon}"
            );
        }
    }
}
