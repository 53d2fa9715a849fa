//! The verification handshake: before Meta delivers to a callback URL it sends
//! `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…` and expects the
//! challenge back, as plain text, only from an endpoint that knows the verify token.

#[allow(unused_imports)]
use crate::prelude::*;

use alloc::borrow::Cow;

use subtle::ConstantTimeEq;

/// Longest challenge echoed back; Meta's are short numbers.
pub const MAX_CHALLENGE_LEN: usize = 1024;

/// Why a handshake was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a well-formed `hub.mode=subscribe` request (HTTP 400).
    Invalid(String),
    /// The verify token is wrong or none is configured (HTTP 403).
    Forbidden(String),
}

/// Answers a handshake: the challenge to echo, or why not.
pub fn answer(query: &str, verify_token: Option<&str>) -> Result<String, HandshakeError> {
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match percent_decode(key).as_ref() {
            "hub.mode" => &mut mode,
            "hub.verify_token" => &mut token,
            "hub.challenge" => &mut challenge,
            _ => continue,
        };
        if slot.replace(percent_decode(value).into_owned()).is_some() {
            return Err(HandshakeError::Invalid(
                "a hub.* parameter is given twice".into(),
            ));
        }
    }
    match mode.as_deref() {
        Some("subscribe") => {}
        Some(other) => {
            return Err(HandshakeError::Invalid(format!(
                "hub.mode is {other:?}, expected \"subscribe\""
            )));
        }
        None => return Err(HandshakeError::Invalid("hub.mode is missing".into())),
    }
    let challenge = challenge
        .filter(|c| !c.is_empty())
        .ok_or_else(|| HandshakeError::Invalid("hub.challenge is missing".into()))?;
    if challenge.len() > MAX_CHALLENGE_LEN {
        return Err(HandshakeError::Invalid("hub.challenge is too long".into()));
    }
    let expected = verify_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| HandshakeError::Forbidden("no verify token is configured".into()))?;
    let given = token.unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(HandshakeError::Forbidden(
            "hub.verify_token does not match".into(),
        ));
    }
    Ok(challenge)
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte.
/// Invalid escapes stay as they are; invalid UTF-8 becomes U+FFFD.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| hex_pair(h[0], h[1]));
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 2;
            }
            (b'+', None) => out.push(b' '),
            (b, None) => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    Some(digit(hi)? << 4 | digit(lo)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_token_echoes_the_challenge() {
        let q = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
        assert_eq!(answer(q, Some("meatyhamhock")).unwrap(), "1158201444");
    }

    #[test]
    fn values_are_percent_decoded() {
        let q = "hub.mode=subscribe&hub.challenge=a%20b&hub.verify_token=x%2By+z";
        assert_eq!(answer(q, Some("x+y z")).unwrap(), "a b");
    }

    #[test]
    fn refusals() {
        let q = "hub.mode=subscribe&hub.challenge=1&hub.verify_token=nope";
        assert!(matches!(
            answer(q, Some("yes")),
            Err(HandshakeError::Forbidden(_))
        ));
        assert!(matches!(answer(q, None), Err(HandshakeError::Forbidden(_))));
        let no_challenge = "hub.mode=subscribe&hub.verify_token=yes";
        assert!(matches!(
            answer(no_challenge, Some("yes")),
            Err(HandshakeError::Invalid(_))
        ));
        let wrong_mode = "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=yes";
        assert!(matches!(
            answer(wrong_mode, Some("yes")),
            Err(HandshakeError::Invalid(_))
        ));
        let twice = "hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token=yes";
        assert!(matches!(
            answer(twice, Some("yes")),
            Err(HandshakeError::Invalid(_))
        ));
        assert!(matches!(
            answer("", Some("yes")),
            Err(HandshakeError::Invalid(_))
        ));
    }

    #[test]
    fn errors_never_echo_tokens() {
        let q = "hub.mode=subscribe&hub.challenge=1&hub.verify_token=GIVEN";
        let err = answer(q, Some("EXPECTED")).unwrap_err();
        let text = format!("{err:?}");
        assert!(!text.contains("GIVEN") && !text.contains("EXPECTED"));
    }

    #[test]
    fn bad_escapes_do_not_panic() {
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
