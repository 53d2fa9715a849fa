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
/// [`MAX_EMOJI_SCALARS`] scalar values, and one *base* character: what modifies a base
/// (a variation selector, a skin tone, a keycap's mark, a tag) or is joined to it by a
/// zero-width joiner belongs to it, and a flag's two regional indicators are one. So
/// `👨‍👩‍👧‍👦`, `🇧🇷`, `1️⃣` and `👍🏽` are one emoji each, and `😀😀` is two. A keycap (`1️⃣`)
/// is a digit with its combining mark.
fn is_one_emoji(emoji: &str) -> bool {
    let scalars = emoji.chars().count();
    let keycap = emoji.contains('\u{20E3}');
    scalars <= MAX_EMOJI_SCALARS
        && !emoji.chars().any(|c| c.is_whitespace() || c.is_control())
        && (keycap || !emoji.chars().any(|c| c.is_ascii()))
        && (emoji.is_empty() || bases(emoji) == 1)
}

/// How many base characters `emoji` has (see [`is_one_emoji`]).
fn bases(emoji: &str) -> usize {
    let modifies = |c: char| matches!(c, '\u{FE0E}' | '\u{FE0F}' | '\u{20E3}' | '\u{1F3FB}'..='\u{1F3FF}' | '\u{E0020}'..='\u{E007F}');
    let regional = |c: char| matches!(c, '\u{1F1E6}'..='\u{1F1FF}');
    let (mut count, mut joined, mut open_flag) = (0, false, false);
    for c in emoji.chars() {
        if c == '\u{200D}' {
            joined = true;
        } else if modifies(c) {
        } else if regional(c) && open_flag {
            open_flag = false;
        } else {
            if !joined {
                count += 1;
            }
            joined = false;
            open_flag = regional(c);
        }
    }
    count
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
    to.not_to_a_group("a reaction")?;
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
        for bad in [
            "ok",
            "👍 ",
            "a👍",
            "👍👍👍👍👍👍👍👍👍👍👍",
            "😀😀😀😀😀",
            "👍👍",
            "🇧🇷🇧🇷",
            "❤️👍",
        ] {
            assert!(!is_one_emoji(bad), "{bad}");
        }
    }
}
