//! Action "Send Media": an image, video, audio, document or sticker, by uploaded media ID
//! or by `https` link (never both). `{"type": KIND, KIND: {"id" | "link", "caption"?,
//! "filename"?}}`.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Serialize;

use crate::graph::{Credentials, Error, GraphRequest};
use crate::outgoing::{self, Addressee};
use crate::template::{self, MediaSource};

/// Most characters of a caption (images, videos, documents).
pub const MAX_CAPTION_CHARS: usize = 1024;
/// Most characters of a document's file name.
pub const MAX_FILENAME_CHARS: usize = 240;

/// The kinds of media message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl MediaKind {
    /// The message `type`, and the key of its object.
    pub fn name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

/// The action's properties.
#[derive(Debug, Clone, Copy)]
pub struct MediaInput<'a> {
    pub to: Addressee<'a>,
    pub kind: MediaKind,
    pub media_id: Option<&'a str>,
    pub link: Option<&'a str>,
    pub caption: Option<&'a str>,
    pub filename: Option<&'a str>,
}

#[derive(Serialize)]
struct Media<'a> {
    #[serde(flatten)]
    source: template::Media<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<&'a str>,
}

/// Validates every input and builds the request. Nothing is sent when any is invalid.
pub fn prepare(credentials: Credentials<'_>, input: MediaInput<'_>) -> Result<GraphRequest, Error> {
    let to = outgoing::address(credentials, input.to)?;
    let (field, source) = match (input.media_id, input.link) {
        (Some(id), None) => ("media-id", MediaSource::Id(id)),
        (None, Some(link)) => ("link", MediaSource::Link(link)),
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "media-id",
                "give a media ID or a link, not both",
            ));
        }
        (None, None) => {
            return Err(Error::invalid(
                "media-id",
                "give a media ID or an https link",
            ));
        }
    };
    template::check_media(field, source)?;
    let kind = input.kind;
    if input.caption.is_some() && matches!(kind, MediaKind::Audio | MediaKind::Sticker) {
        return Err(Error::invalid(
            "caption",
            format!("{} messages have no caption", kind.name()),
        ));
    }
    outgoing::optional_chars("caption", input.caption, MAX_CAPTION_CHARS)?;
    if input.filename.is_some() && kind != MediaKind::Document {
        return Err(Error::invalid(
            "filename",
            "only a document has a file name",
        ));
    }
    outgoing::optional_chars("filename", input.filename, MAX_FILENAME_CHARS)?;
    let media = Media {
        source: template::Media::of(source),
        caption: input.caption,
        filename: input.filename,
    };
    Ok(to.request(kind.name(), &media))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "1",
    };

    fn input<'a>(kind: MediaKind) -> MediaInput<'a> {
        MediaInput {
            to: Addressee {
                send_message_to: "+15550101234",
                reply_to: None,
            },
            kind,
            media_id: None,
            link: Some("https://example.com/file"),
            caption: None,
            filename: None,
        }
    }

    #[test]
    fn each_kind_in_meta_s_shape() {
        let doc = MediaInput {
            caption: Some("Your invoice"),
            filename: Some("invoice.pdf"),
            ..input(MediaKind::Document)
        };
        let body = prepare(CREDS, doc).unwrap().json_body.unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"+15550101234","type":"document","document":{"link":"https://example.com/file","caption":"Your invoice","filename":"invoice.pdf"}}"#
        );
        let sticker = MediaInput {
            media_id: Some("1003383421387256"),
            link: None,
            ..input(MediaKind::Sticker)
        };
        let body = prepare(CREDS, sticker).unwrap().json_body.unwrap();
        assert!(
            String::from_utf8(body)
                .unwrap()
                .ends_with(r#""type":"sticker","sticker":{"id":"1003383421387256"}}"#)
        );
    }

    #[test]
    fn what_a_kind_cannot_carry_is_refused() {
        let field = |input: MediaInput<'_>| match prepare(CREDS, input) {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(MediaInput {
                caption: Some("x"),
                ..input(MediaKind::Audio)
            }),
            "caption"
        );
        assert_eq!(
            field(MediaInput {
                caption: Some("x"),
                ..input(MediaKind::Sticker)
            }),
            "caption"
        );
        assert_eq!(
            field(MediaInput {
                filename: Some("a.png"),
                ..input(MediaKind::Image)
            }),
            "filename"
        );
        assert_eq!(
            field(MediaInput {
                media_id: Some("1"),
                ..input(MediaKind::Image)
            }),
            "media-id"
        );
        assert_eq!(
            field(MediaInput {
                link: None,
                ..input(MediaKind::Image)
            }),
            "media-id"
        );
        assert_eq!(
            field(MediaInput {
                link: Some("http://x.com/a"),
                ..input(MediaKind::Image)
            }),
            "link"
        );
        let long = "é".repeat(MAX_CAPTION_CHARS + 1);
        assert_eq!(
            field(MediaInput {
                caption: Some(&long),
                ..input(MediaKind::Image)
            }),
            "caption"
        );
        let edge = "é".repeat(MAX_CAPTION_CHARS);
        assert!(
            prepare(
                CREDS,
                MediaInput {
                    caption: Some(&edge),
                    ..input(MediaKind::Image)
                }
            )
            .is_ok()
        );
    }
}
