//! Phone numbers: the recipient of "Send Message" and the trigger's "Sender number".

#[allow(unused_imports)]
use crate::prelude::*;

/// Fewest digits an international number has (country code included).
pub const MIN_DIGITS: usize = 7;
/// Most digits E.164 allows.
pub const MAX_DIGITS: usize = 15;

/// Separators people write inside phone numbers; they are dropped.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')')
}

/// Normalises a recipient to `+digits`.
///
/// It must start with `+` and hold 7 to 15 digits; spaces, dashes, dots and parentheses
/// are allowed and stripped. The error is the reason, fit to show the user.
pub fn normalize_recipient(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    let Some(rest) = trimmed.strip_prefix('+') else {
        return Err("must start with the \"+\" sign, e.g. +15550101234".into());
    };
    let mut out = String::with_capacity(rest.len() + 1);
    out.push('+');
    for c in rest.chars() {
        if c.is_ascii_digit() {
            out.push(c);
        } else if !is_separator(c) {
            return Err(format!(
                "contains {c:?}; only digits, spaces, dashes, dots and parentheses may follow the \"+\""
            ));
        }
    }
    check_digits(&out[1..])?;
    Ok(out)
}

/// A number's digits: a count E.164 allows, and a country code first, which never
/// starts with 0 (a leading `00` is a dialling prefix, not part of the number).
fn check_digits(digits: &str) -> Result<(), String> {
    if digits.starts_with('0') {
        return Err(
            "starts with 0 after the \"+\": a country code never does (leave out a dialling prefix such as 00)"
                .into(),
        );
    }
    check_digit_count(digits.len())
}

fn check_digit_count(digits: usize) -> Result<(), String> {
    if digits < MIN_DIGITS {
        Err(format!(
            "has {digits} digits; a phone number has at least {MIN_DIGITS}"
        ))
    } else if digits > MAX_DIGITS {
        Err(format!(
            "has {digits} digits; a phone number has at most {MAX_DIGITS}"
        ))
    } else {
        Ok(())
    }
}

/// The digits of a "Sender number" filter, or `None` when the filter is empty (every
/// sender passes). A leading `+` and separators are allowed; anything else is an error.
pub fn sender_filter(raw: Option<&str>) -> Result<Option<String>, String> {
    let trimmed = raw.map(str::trim).unwrap_or_default();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let rest = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !is_separator(c) {
            return Err(format!(
                "contains {c:?}; a sender is a phone number (digits, optionally with a leading \"+\" and separators) or a business-scoped user ID (e.g. US.13491208655302741918)"
            ));
        }
    }
    check_digits(&digits)?;
    Ok(Some(digits))
}

/// Whether a webhook's `from` (digits, as Meta sends it) is the filter's number.
/// Compares digits only, without allocating.
pub fn same_number(from: &str, filter_digits: &str) -> bool {
    from.bytes()
        .filter(u8::is_ascii_digit)
        .eq(filter_digits.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipient_is_normalised() {
        assert_eq!(
            normalize_recipient(" +1 (555) 010-1234 ").unwrap(),
            "+15550101234"
        );
        assert_eq!(
            normalize_recipient("+44.20.7946.0958").unwrap(),
            "+442079460958"
        );
    }

    #[test]
    fn recipient_rejections_say_why() {
        assert!(
            normalize_recipient("15550101234")
                .unwrap_err()
                .contains("\"+\"")
        );
        assert!(
            normalize_recipient("+1555abc1234")
                .unwrap_err()
                .contains("'a'")
        );
        assert!(
            normalize_recipient("+123456")
                .unwrap_err()
                .contains("at least 7")
        );
        assert!(
            normalize_recipient("+1234567890123456")
                .unwrap_err()
                .contains("at most 15")
        );
        assert!(normalize_recipient("+").is_err());
        assert!(normalize_recipient("+1555\r\n0101234").is_err());
    }

    #[test]
    fn sender_filter_compares_digits_only() {
        let f = sender_filter(Some("+1 (555) 010-1234")).unwrap().unwrap();
        assert!(same_number("15550101234", &f));
        assert!(same_number("+15550101234", &f));
        assert!(!same_number("15550101235", &f));
        assert!(!same_number("155501012345", &f));
        assert_eq!(sender_filter(Some("  ")).unwrap(), None);
        assert_eq!(sender_filter(None).unwrap(), None);
        assert!(sender_filter(Some("alice")).is_err());
        assert!(sender_filter(Some("+0015551234567")).is_err());
    }

    #[test]
    fn a_country_code_never_starts_with_0() {
        let reason = normalize_recipient("+0015551234567").unwrap_err();
        assert!(reason.contains("country code"), "{reason}");
        assert!(normalize_recipient("+015551234567").is_err());
        assert!(normalize_recipient("+15551234567").is_ok());
    }
}
