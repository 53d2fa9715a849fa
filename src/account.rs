//! The connection test: proves the token can read the business phone number.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Deserialize;

use crate::graph::{Credentials, Error, GraphRequest, HttpResponse, parse_answer};

/// What the Graph API tells about the business phone number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Account {
    pub display_phone_number: String,
    pub verified_name: Option<String>,
    pub quality_rating: Option<String>,
}

/// `GET /vNN.0/{phone-number-id}?fields=display_phone_number,verified_name,quality_rating`.
pub fn prepare(credentials: Credentials<'_>) -> Result<GraphRequest, Error> {
    credentials.validate()?;
    Ok(GraphRequest::get(&format!(
        "{}?fields=display_phone_number,verified_name,quality_rating",
        credentials.phone_number_id
    )))
}

/// Reads the answer to [`prepare`]'s request.
pub fn parse(response: &HttpResponse) -> Result<Account, Error> {
    parse_answer(response)
}
