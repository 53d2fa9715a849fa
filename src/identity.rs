//! Who a WhatsApp user is: a phone number, or a business-scoped user ID (BSUID).
//!
//! Since April 2026 a user who adopts a username may reach a business without a phone
//! number. Meta then identifies them by a BSUID: an ISO country code, a dot and up to 128
//! alphanumerics (`US.13491208655302741918`); a business with linked portfolios also
//! gets a parent BSUID (`US.ENT.11815799212886844830`). See Meta's "Business-scoped user
//! IDs" (developers.facebook.com/documentation/business-messaging/whatsapp/business-scoped-user-ids/).
//!
//! - [`Recipient`]: "Send message to" is a `+` number (sent as `to`) or a BSUID (sent as
//!   `recipient`).
//! - [`SenderFilter`]: the trigger's "Sender number" is a phone number, compared by
//!   digits with `from` and `wa_id`, or a BSUID, compared exactly with the user IDs.

#[allow(unused_imports)]
use crate::prelude::*;

use crate::phone;

/// Most alphanumerics after the country code (and `ENT.`) of a BSUID.
pub const MAX_BSUID_ID_CHARS: usize = 128;

/// Whether `value` is written like a BSUID: two letters and a dot. Such a value is never
/// read as a phone number, so a malformed BSUID is reported as one.
fn looks_like_bsuid(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 3 && bytes[..2].iter().all(u8::is_ascii_alphabetic) && bytes[2] == b'.'
}

/// Checks a BSUID or parent BSUID; the error is the reason, fit to show the user.
pub fn validate_bsuid(value: &str) -> Result<(), String> {
    const EXAMPLE: &str = "e.g. US.13491208655302741918";
    let (country, rest) = value.split_at_checked(2).unwrap_or((value, ""));
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "a business-scoped user ID starts with a two-letter country code in capitals, {EXAMPLE}"
        ));
    }
    let Some(rest) = rest.strip_prefix('.') else {
        return Err(format!(
            "a business-scoped user ID has a dot after its country code, {EXAMPLE}"
        ));
    };
    let id = rest.strip_prefix("ENT.").unwrap_or(rest);
    if id.is_empty() {
        return Err(format!(
            "a business-scoped user ID has an ID after the country code, {EXAMPLE}"
        ));
    }
    if let Some(c) = id.chars().find(|c| !c.is_ascii_alphanumeric()) {
        return Err(format!(
            "contains {c:?}; a business-scoped user ID holds only letters and digits after its country code"
        ));
    }
    if id.len() > MAX_BSUID_ID_CHARS {
        return Err(format!(
            "its ID has {} characters; a business-scoped user ID has at most {MAX_BSUID_ID_CHARS}",
            id.len()
        ));
    }
    Ok(())
}

/// How "Send message to" (and a filter) names a group: `group:` and the group's ID, as
/// the Groups API gives it (`group:Y2FwaV9ncm91cDox…`).
pub const GROUP_PREFIX: &str = "group:";
/// Most characters of a group ID the connector takes (Meta's are about 60).
pub const MAX_GROUP_ID_CHARS: usize = 256;

/// Checks a group ID: 1 to 256 letters, digits, `-`, `_`, `=` or `.`. It goes into URL
/// paths (`/{group-id}/invite_link`), so nothing else may pass.
pub fn validate_group_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("a group ID is empty; the Groups API gives one like Y2FwaV9ncm91cDox…".into());
    }
    if id.len() > MAX_GROUP_ID_CHARS {
        return Err(format!(
            "a group ID has at most {MAX_GROUP_ID_CHARS} characters; this one has {}",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | '.')))
    {
        return Err(format!(
            "contains {c:?}; a group ID holds only letters, digits, '-', '_', '=' and '.'"
        ));
    }
    Ok(())
}

/// Whom "Send message to" names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// `+digits`, sent as `"to"`.
    Phone(String),
    /// A BSUID or parent BSUID, sent as `"recipient"` (never `"to"`: Meta lets `to`
    /// win when both are given).
    UserId(String),
    /// `group:ID`: a group (Groups API), sent as `"to"` with `"recipient_type":
    /// "group"`.
    Group(String),
}

impl Recipient {
    /// A `+` number (7 to 15 digits, separators stripped), a BSUID, or `group:` and a
    /// group ID. The error is the reason, fit to show the user.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if let Some(id) = trimmed.strip_prefix(GROUP_PREFIX) {
            validate_group_id(id)?;
            return Ok(Recipient::Group(id.to_owned()));
        }
        if looks_like_bsuid(trimmed) {
            validate_bsuid(trimmed)?;
            return Ok(Recipient::UserId(trimmed.to_owned()));
        }
        if !trimmed.starts_with('+') {
            return Err(
                "must start with the \"+\" sign (e.g. +15550101234), be a business-scoped user ID (e.g. US.13491208655302741918) or name a group (group:ID)"
                    .into(),
            );
        }
        phone::normalize_recipient(trimmed).map(Recipient::Phone)
    }
}

/// The trigger's "Sender number" property: whose messages fire the trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderFilter {
    /// Digits of a phone number, compared with `from` and the contact's `wa_id`.
    Phone(String),
    /// A BSUID or parent BSUID, compared exactly with `from_user_id`,
    /// `from_parent_user_id` and the contact's `user_id` and `parent_user_id`.
    UserId(String),
    /// `group:ID`: messages sent in that group (compared exactly with `group_id`), or
    /// statuses of messages sent to it.
    Group(String),
}

impl SenderFilter {
    /// The filter for a property value; `None` when it is empty (every sender passes).
    /// A value that is neither a phone number nor a BSUID is an error, with the reason.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, String> {
        let trimmed = raw.map(str::trim).unwrap_or_default();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if let Some(id) = trimmed.strip_prefix(GROUP_PREFIX) {
            validate_group_id(id)?;
            return Ok(Some(SenderFilter::Group(id.to_owned())));
        }
        if looks_like_bsuid(trimmed) {
            validate_bsuid(trimmed)?;
            return Ok(Some(SenderFilter::UserId(trimmed.to_owned())));
        }
        Ok(phone::sender_filter(Some(trimmed))?.map(SenderFilter::Phone))
    }

    /// Whether a message from these identifiers passes. A user without a phone number
    /// (a username user) never matches a phone filter.
    pub fn matches(&self, sender: Identifiers<'_>) -> bool {
        match self {
            SenderFilter::Phone(digits) => [sender.phone, sender.wa_id]
                .into_iter()
                .flatten()
                .any(|number| phone::same_number(number, digits)),
            SenderFilter::UserId(id) => [
                sender.user_id,
                sender.parent_user_id,
                sender.contact_user_id,
                sender.contact_parent_user_id,
            ]
            .into_iter()
            .flatten()
            .any(|candidate| candidate == id),
            SenderFilter::Group(id) => sender.group_id == Some(id.as_str()),
        }
    }
}

/// Every identifier a message and its contact card may carry for the sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identifiers<'a> {
    /// The message's `from`.
    pub phone: Option<&'a str>,
    /// The message's `from_user_id`.
    pub user_id: Option<&'a str>,
    /// The message's `from_parent_user_id`.
    pub parent_user_id: Option<&'a str>,
    /// The contact's `wa_id`.
    pub wa_id: Option<&'a str>,
    /// The contact's `user_id`.
    pub contact_user_id: Option<&'a str>,
    /// The contact's `parent_user_id`.
    pub contact_parent_user_id: Option<&'a str>,
    /// The group the message was sent in, or a status's group recipient.
    pub group_id: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bsuids_are_checked() {
        for ok in [
            "US.13491208655302741918",
            "US.ENT.11815799212886844830",
            "BR.abcDEF123",
            &format!("US.{}", "9".repeat(MAX_BSUID_ID_CHARS)),
        ] {
            assert_eq!(validate_bsuid(ok), Ok(()), "{ok}");
        }
        for bad in [
            "US.",
            "US.ENT.",
            "U.123",
            "us.123",
            "US.12 3",
            "US-123",
            "US.12\r\n3",
            &format!("US.{}", "9".repeat(MAX_BSUID_ID_CHARS + 1)),
        ] {
            assert!(validate_bsuid(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn recipients_are_numbers_or_bsuids() {
        assert_eq!(
            Recipient::parse(" +1 (555) 010-1234 "),
            Ok(Recipient::Phone("+15550101234".into()))
        );
        assert_eq!(
            Recipient::parse("US.13491208655302741918"),
            Ok(Recipient::UserId("US.13491208655302741918".into()))
        );
        assert_eq!(
            Recipient::parse("US.ENT.11815799212886844830"),
            Ok(Recipient::UserId("US.ENT.11815799212886844830".into()))
        );
        let long = format!("US.{}", "1".repeat(197));
        assert_eq!(long.len(), 200);
        for bad in ["US.", "U.123", "US.12 3", &long, "15550101234", "alice"] {
            assert!(Recipient::parse(bad).is_err(), "{bad}");
        }
        assert!(
            Recipient::parse("15550101234")
                .unwrap_err()
                .contains("business-scoped user ID")
        );
    }

    #[test]
    fn sender_filters_compare_the_right_identifiers() {
        let phone = SenderFilter::parse(Some("+1 (650) 555-1234"))
            .unwrap()
            .unwrap();
        let bsuid = SenderFilter::parse(Some("US.13491208655302741918"))
            .unwrap()
            .unwrap();
        let parent = SenderFilter::parse(Some("US.ENT.11815799212886844830"))
            .unwrap()
            .unwrap();
        let classic = Identifiers {
            phone: Some("16505551234"),
            wa_id: Some("16505551234"),
            ..Identifiers::default()
        };
        let username_only = Identifiers {
            user_id: Some("US.13491208655302741918"),
            contact_user_id: Some("US.13491208655302741918"),
            contact_parent_user_id: Some("US.ENT.11815799212886844830"),
            ..Identifiers::default()
        };
        assert!(phone.matches(classic));
        assert!(!phone.matches(username_only), "no phone number, no match");
        assert!(bsuid.matches(username_only));
        assert!(!bsuid.matches(classic));
        assert!(parent.matches(username_only));
        let contact_only = Identifiers {
            wa_id: Some("16505551234"),
            ..Identifiers::default()
        };
        assert!(phone.matches(contact_only));
        assert_eq!(SenderFilter::parse(Some(" ")), Ok(None));
        for bad in ["alice", "US.", "U.123", "US.12 3"] {
            assert!(SenderFilter::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
