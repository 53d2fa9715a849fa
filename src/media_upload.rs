//! Action "Upload Media": `POST /{phone-number-id}/media` as `multipart/form-data` with
//! the fields `messaging_product=whatsapp`, `type=<mime>` and `file`. The body is built
//! as three pieces: a prefix (the two fields and the file part's head), the file's bytes
//! (streamed by the caller, never held here) and a suffix (the closing boundary), so that
//! its length is known before the first byte is sent.
//!
//! Meta's supported types and limits, from "Supported media types" in the Cloud API's
//! media reference: image (JPEG, PNG) 5 MB; audio (AAC, AMR, MP3, M4A, OGG/Opus) and
//! video (3GP, MP4) 16 MB; document (text, PDF, Word, Excel, PowerPoint) 100 MB; sticker
//! (WebP) 100 KB, or 500 KB when animated. Meta does not say whether its MB is 10^6 or
//! 2^20 bytes: the larger reading is used, so that nothing Meta accepts is refused here.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Deserialize;

use crate::graph::{Credentials, Error, GRAPH_VERSION, HttpResponse, parse_answer};
use crate::media::MediaKind;
use crate::outgoing;

const KB: u64 = 1024;
const MB: u64 = 1024 * KB;

/// Most characters of the file part's name (as a document's file name).
pub const MAX_FILENAME_CHARS: usize = crate::media::MAX_FILENAME_CHARS;

/// Every MIME type Meta accepts, with its kind.
pub const MIME_TYPES: &[(&str, MediaKind)] = &[
    ("image/jpeg", MediaKind::Image),
    ("image/png", MediaKind::Image),
    ("audio/aac", MediaKind::Audio),
    ("audio/amr", MediaKind::Audio),
    ("audio/mpeg", MediaKind::Audio),
    ("audio/mp4", MediaKind::Audio),
    ("audio/ogg", MediaKind::Audio),
    ("video/3gpp", MediaKind::Video),
    ("video/mp4", MediaKind::Video),
    ("text/plain", MediaKind::Document),
    ("application/pdf", MediaKind::Document),
    ("application/vnd.ms-powerpoint", MediaKind::Document),
    ("application/msword", MediaKind::Document),
    ("application/vnd.ms-excel", MediaKind::Document),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        MediaKind::Document,
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        MediaKind::Document,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        MediaKind::Document,
    ),
    ("image/webp", MediaKind::Sticker),
];

/// The largest file of a kind, in bytes (a sticker: the animated limit; a static one
/// may have [`MAX_STATIC_STICKER_BYTES`]).
pub fn max_bytes(kind: MediaKind) -> u64 {
    match kind {
        MediaKind::Image => 5 * MB,
        MediaKind::Audio | MediaKind::Video => 16 * MB,
        MediaKind::Document => 100 * MB,
        MediaKind::Sticker => 500 * KB,
    }
}

/// The largest static (not animated) sticker.
pub const MAX_STATIC_STICKER_BYTES: u64 = 100 * KB;

/// The action's properties.
#[derive(Debug, Clone, Copy)]
pub struct UploadInput<'a> {
    pub mime_type: &'a str,
    pub filename: &'a str,
    pub file_size: u64,
}

/// A checked upload: where it goes and the body around the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub path_and_query: String,
    /// `multipart/form-data; boundary=…`.
    pub content_type: String,
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    /// The body's whole length: prefix, file, suffix.
    pub content_length: u64,
}

/// The media kind of a MIME type Meta accepts (parameters such as `; codecs=opus` are
/// ignored; the comparison ignores case).
pub fn kind_of(mime_type: &str) -> Option<MediaKind> {
    let essence = mime_type.split(';').next().unwrap_or_default().trim();
    MIME_TYPES
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(essence))
        .map(|&(_, kind)| kind)
}

/// Whether a WebP file's first bytes say it is animated: an extended (`VP8X`) header
/// with the animation flag.
pub fn is_animated_webp(head: &[u8]) -> bool {
    head.len() > 20
        && &head[..4] == b"RIFF"
        && &head[8..12] == b"WEBP"
        && &head[12..16] == b"VP8X"
        && head[20] & 0x02 != 0
}

/// Checks everything before any byte is sent and builds the body's frame. `head` is the
/// file's first bytes (at least 21, when it has them): a sticker's limit depends on
/// whether it is animated. `boundary` must not occur in the file; 32 random hex
/// characters make that as likely as guessing them.
pub fn prepare(
    credentials: Credentials<'_>,
    input: UploadInput<'_>,
    head: &[u8],
    boundary: &str,
) -> Result<Upload, Error> {
    credentials.validate()?;
    // It is written into the file part's headers: a line break there would inject one.
    if input.mime_type.chars().any(char::is_control) {
        return Err(Error::invalid("mime-type", "contains control characters"));
    }
    let Some(kind) = kind_of(input.mime_type) else {
        return Err(Error::invalid(
            "mime-type",
            format!(
                "{:?} is not a type Meta accepts; use one of: {}",
                input.mime_type,
                MIME_TYPES
                    .iter()
                    .map(|(m, _)| *m)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    outgoing::chars("filename", input.filename, 1, MAX_FILENAME_CHARS)?;
    if input.filename.chars().any(char::is_control) {
        return Err(Error::invalid("filename", "contains control characters"));
    }
    if input.file_size == 0 {
        return Err(Error::invalid("file-size", "the file is empty"));
    }
    let limit = match kind {
        MediaKind::Sticker if !is_animated_webp(head) => MAX_STATIC_STICKER_BYTES,
        kind => max_bytes(kind),
    };
    if input.file_size > limit {
        let what = match kind {
            MediaKind::Sticker if limit == MAX_STATIC_STICKER_BYTES => "a static sticker",
            MediaKind::Sticker => "an animated sticker",
            MediaKind::Image => "an image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "a video",
            MediaKind::Document => "a document",
        };
        return Err(Error::invalid(
            "file-size",
            format!(
                "{} bytes is more than Meta accepts for {what} ({limit} bytes)",
                input.file_size
            ),
        ));
    }
    let mime = input.mime_type.trim();
    let mut prefix = Vec::with_capacity(512);
    for (name, value) in [("messaging_product", "whatsapp"), ("type", mime)] {
        prefix.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    prefix.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: {mime}\r\n\r\n",
            quoted(input.filename)
        )
        .as_bytes(),
    );
    let suffix = format!("\r\n--{boundary}--\r\n").into_bytes();
    let content_length = prefix.len() as u64 + input.file_size + suffix.len() as u64;
    Ok(Upload {
        path_and_query: format!("/{GRAPH_VERSION}/{}/media", credentials.phone_number_id),
        content_type: format!("multipart/form-data; boundary={boundary}"),
        prefix,
        suffix,
        content_length,
    })
}

/// A file name inside a quoted header parameter, escaped as browsers do (WHATWG HTML
/// form encoding): `"` as `%22` (control characters were refused before).
fn quoted(filename: &str) -> String {
    filename.replace('"', "%22")
}

#[derive(Deserialize)]
struct Answer {
    id: String,
}

/// The uploaded media's ID, from `{"id": …}`.
pub fn parse_answer_id(response: &HttpResponse) -> Result<String, Error> {
    parse_answer::<Answer>(response).map(|a| a.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "106540352242922",
    };

    fn input(mime_type: &str, file_size: u64) -> UploadInput<'_> {
        UploadInput {
            mime_type,
            filename: "photo.jpg",
            file_size,
        }
    }

    fn refused_field(result: Result<Upload, Error>) -> &'static str {
        match result {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("expected invalid-input, got {other:?}"),
        }
    }

    #[test]
    fn the_frame_around_the_file_is_multipart() {
        let upload = prepare(CREDS, input("image/jpeg", 3), b"abc", "B0UND").unwrap();
        assert_eq!(upload.path_and_query, "/v27.0/106540352242922/media");
        assert_eq!(upload.content_type, "multipart/form-data; boundary=B0UND");
        let mut body = upload.prefix.clone();
        body.extend_from_slice(b"abc");
        body.extend_from_slice(&upload.suffix);
        assert_eq!(body.len() as u64, upload.content_length);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--B0UND\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n\
             --B0UND\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nimage/jpeg\r\n\
             --B0UND\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\
             abc\r\n--B0UND--\r\n"
        );
    }

    #[test]
    fn each_kind_stops_at_its_limit() {
        for (mime, limit) in [
            ("image/png", 5 * MB),
            ("audio/ogg; codecs=opus", 16 * MB),
            ("video/mp4", 16 * MB),
            ("application/pdf", 100 * MB),
            ("image/webp", 100 * KB),
        ] {
            assert!(
                prepare(CREDS, input(mime, limit), b"", "b").is_ok(),
                "{mime}"
            );
            assert_eq!(
                refused_field(prepare(CREDS, input(mime, limit + 1), b"", "b")),
                "file-size"
            );
        }
        let mut animated = b"RIFF\0\0\0\0WEBPVP8X\0\0\0\0\x02".to_vec();
        animated.extend_from_slice(&[0; 8]);
        assert!(is_animated_webp(&animated));
        assert!(prepare(CREDS, input("image/webp", 500 * KB), &animated, "b").is_ok());
        assert_eq!(
            refused_field(prepare(
                CREDS,
                input("image/webp", 500 * KB + 1),
                &animated,
                "b"
            )),
            "file-size"
        );
    }

    #[test]
    fn wrong_types_names_and_sizes_are_refused() {
        for mime in [
            "image/gif",
            "application/zip",
            "",
            "image/jpeg2",
            "image/jpeg; x=1\r\nX-Injected: yes",
            "image/jpeg\n",
        ] {
            assert_eq!(
                refused_field(prepare(CREDS, input(mime, 1), b"", "b")),
                "mime-type"
            );
        }
        assert_eq!(
            refused_field(prepare(CREDS, input("image/png", 0), b"", "b")),
            "file-size"
        );
        let mut bad_name = input("image/png", 1);
        bad_name.filename = "a\r\nContent-Type: text/html";
        assert_eq!(
            refused_field(prepare(CREDS, bad_name, b"", "b")),
            "filename"
        );
        let long = "é".repeat(MAX_FILENAME_CHARS + 1);
        bad_name.filename = &long;
        assert_eq!(
            refused_field(prepare(CREDS, bad_name, b"", "b")),
            "filename"
        );
        let mut quote = input("image/png", 1);
        quote.filename = "say \"cheese\".png";
        let upload = prepare(CREDS, quote, b"", "b").unwrap();
        assert!(
            String::from_utf8(upload.prefix)
                .unwrap()
                .contains("filename=\"say %22cheese%22.png\"")
        );
    }
}
