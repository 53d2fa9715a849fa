//! Action "Send Reaction": an emoji on a message, or none to remove the reaction.
//! `{"type":"reaction","reaction":{"message_id","emoji"}}`.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;

use crate::graph::{Credentials, Error, GraphRequest};
use crate::outgoing::{self, Addressee};

/// Most Unicode scalar values one emoji takes (a family with skin tones joined by
/// zero-width joiners is the longest).
pub const MAX_EMOJI_SCALARS: usize = 10;

/// The action's properties.
#[derive(Debug, Clone, Copy)]
pub struct ReactionInput<'a> {
    pub send_message_to: &'a str,
    /// The message reacted to.
    pub message_id: &'a str,
    /// One emoji; empty removes the reaction.
    pub emoji: &'a str,
}

#[derive(Serialize)]
struct Reaction<'a> {
    message_id: &'a str,
    emoji: &'a str,
}

/// Whether `emoji` is one emoji (or empty): no letters, digits or spaces, at most
/// [`MAX_EMOJI_SCALARS`] scalar values. A keycap (`1️⃣`) is a digit with its combining mark.
fn is_one_emoji(emoji: &str) -> bool {
    let scalars = emoji.chars().count();
    let keycap = emoji.contains('\u{20E3}');
    scalars <= MAX_EMOJI_SCALARS
        && !emoji.chars().any(|c| c.is_whitespace() || c.is_control())
        && (keycap || !emoji.chars().any(|c| c.is_ascii()))
}

/// Validates every input and builds the request. Nothing is sent when any is invalid.
pub fn prepare(
    credentials: Credentials<'_>,
    input: ReactionInput<'_>,
) -> Result<GraphRequest, Error> {
    let to = outgoing::address(
        credentials,
        Addressee {
            send_message_to: input.send_message_to,
            reply_to: None,
        },
    )?;
    outgoing::message_id("message-id", input.message_id)?;
    if !is_one_emoji(input.emoji) {
        return Err(Error::invalid(
            "emoji",
            "must be one emoji, e.g. 👍, or empty to remove the reaction",
        ));
    }
    let reaction = Reaction {
        message_id: input.message_id,
        emoji: input.emoji,
    };
    Ok(to.request("reaction", &reaction))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_or_none() {
        for ok in ["👍", "", "❤️", "👨‍👩‍👧‍👦", "🇧🇷", "1️⃣", "👍🏽"]
        {
            assert!(is_one_emoji(ok), "{ok}");
        }
        for bad in ["ok", "👍 ", "a👍", "👍👍👍👍👍👍👍👍👍👍👍"] {
            assert!(!is_one_emoji(bad), "{bad}");
        }
    }
}
