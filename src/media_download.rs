//! Action "Download Media": `GET /{media-id}` for the file's URL and description, then a
//! `GET` of that URL, with the same bearer token, for the bytes (copied in chunks and
//! checked by [`transfer::Integrity`](crate::transfer::Integrity)).
//!
//! The token goes with the second request, so its URL is checked first: `https`, on
//! Meta's media host, nothing else ([`media_url`]). Meta documents it as
//! `https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=…&ext=…&hash=…`,
//! valid for five minutes.

#[allow(unused_imports)]
use crate::prelude::*;

use serde::Deserialize;

use crate::graph::{Credentials, Error, GraphRequest, HttpResponse, parse_answer};
use crate::template::{self, MediaSource};
use crate::transfer::TransferError;

/// The hosts a media URL may point at: the media host of `allowedOutboundHosts` in
/// `component.json` (a test keeps the two in step).
pub const MEDIA_HOSTS: &[&str] = &["lookaside.fbsbx.com"];

/// Validates the input and builds `GET /{media-id}`.
pub fn metadata_request(
    credentials: Credentials<'_>,
    media_id: &str,
) -> Result<GraphRequest, Error> {
    credentials.validate()?;
    template::check_media("media-id", MediaSource::Id(media_id))?;
    Ok(GraphRequest::get(media_id))
}

/// What `GET /{media-id}` says of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub url: String,
    pub mime_type: String,
    /// Lowercase hex.
    pub sha256: String,
    pub file_size: u64,
    pub id: String,
}

/// `file_size` is a number in Meta's examples; a numeric string is taken too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    Number(u64),
    Text(String),
}

#[derive(Deserialize)]
struct Answer {
    url: String,
    mime_type: String,
    sha256: String,
    file_size: Size,
    id: String,
}

/// Reads the answer to `GET /{media-id}`: every member is needed to download and check.
pub fn parse_metadata(response: &HttpResponse) -> Result<Metadata, Error> {
    let answer: Answer = parse_answer(response)?;
    let unexpected = |reason: String| Error::UnexpectedResponse {
        status: response.status,
        reason,
        retryable: false,
    };
    let file_size = match answer.file_size {
        Size::Number(n) => n,
        Size::Text(text) => text
            .parse()
            .map_err(|_| unexpected(format!("file_size {text:?} is not a number")))?,
    };
    if answer.sha256.len() != 64 || !answer.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unexpected(
            "sha256 is not 64 hex characters, so the bytes could not be checked".into(),
        ));
    }
    Ok(Metadata {
        url: answer.url,
        mime_type: answer.mime_type,
        sha256: answer.sha256.to_ascii_lowercase(),
        file_size,
        id: answer.id,
    })
}

/// Where the bytes are fetched: always `https`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaUrl {
    /// The host (and port, if the URL gives one).
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path_and_query: String,
}

/// Checks that the token may go to `url`: `https`, a host in [`MEDIA_HOSTS`], no
/// credentials, no port other than 443. Anything else is refused before a request.
pub fn media_url(url: &str) -> Result<MediaUrl, TransferError> {
    let refuse = |why: &str| Err(TransferError::UrlRefused(format!("the media URL {why}")));
    let Some(rest) = url
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
    else {
        return refuse("is not https");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("contains whitespace or control characters");
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') {
        return refuse("carries credentials");
    }
    let host = match authority.rsplit_once(':') {
        Some((host, "443")) => host,
        Some(_) => return refuse("names a port other than 443"),
        None => authority,
    };
    if !MEDIA_HOSTS.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return refuse(&format!(
            "is on {host:?}, not on Meta's media host {}: the token is not sent there",
            MEDIA_HOSTS.join(", ")
        ));
    }
    let tail = tail.split('#').next().unwrap_or_default();
    let path_and_query = match tail.strip_prefix('?') {
        Some(_) => format!("/{tail}"),
        None if tail.is_empty() => "/".to_owned(),
        None => tail.to_owned(),
    };
    Ok(MediaUrl {
        authority: host.to_ascii_lowercase(),
        path_and_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    const CREDS: Credentials<'static> = Credentials {
        token: Secret::new("EAAtoken"),
        phone_number_id: "1",
    };

    #[test]
    fn the_media_id_must_be_digits() {
        let request = metadata_request(CREDS, "1037543291543636").unwrap();
        assert_eq!(request.path_and_query, "/v27.0/1037543291543636");
        for bad in ["", "12a", "../me", "1 2"] {
            let Err(Error::InvalidInput { field, .. }) = metadata_request(CREDS, bad) else {
                panic!("{bad:?} must be refused");
            };
            assert_eq!(field, "media-id");
        }
    }

    fn answer(body: &str) -> HttpResponse {
        HttpResponse {
            status: 200,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn metadata_is_read_whole_or_refused() {
        let hash = "AB".repeat(32);
        let body = format!(
            r#"{{"messaging_product":"whatsapp","url":"https://lookaside.fbsbx.com/x","mime_type":"image/jpeg","sha256":"{hash}","file_size":"12","id":"7"}}"#
        );
        let m = parse_metadata(&answer(&body)).unwrap();
        assert_eq!(
            (m.file_size, m.sha256, m.id),
            (12, "ab".repeat(32), "7".into())
        );
        for bad in [
            r#"{"url":"u","mime_type":"m","sha256":"00","file_size":1,"id":"7"}"#,
            r#"{"url":"u","mime_type":"m","file_size":1,"id":"7"}"#,
            r#"{"url":"u","mime_type":"m","sha256":"x","file_size":"big","id":"7"}"#,
        ] {
            assert!(matches!(
                parse_metadata(&answer(bad)),
                Err(Error::UnexpectedResponse { .. })
            ));
        }
    }

    #[test]
    fn only_metas_media_host_over_https_gets_the_token() {
        let ok = media_url(
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1&ext=2&hash=3",
        )
        .unwrap();
        assert_eq!(ok.authority, "lookaside.fbsbx.com");
        assert_eq!(
            ok.path_and_query,
            "/whatsapp_business/attachments/?mid=1&ext=2&hash=3"
        );
        assert_eq!(
            media_url("https://LOOKASIDE.fbsbx.com:443?a=1")
                .unwrap()
                .path_and_query,
            "/?a=1"
        );
        for bad in [
            "http://lookaside.fbsbx.com/x",
            "https://evil.example.com/x",
            "https://lookaside.fbsbx.com.evil.example/x",
            "https://lookaside.fbsbx.com:8443/x",
            "https://user@lookaside.fbsbx.com/x",
            "https://evil.example#@lookaside.fbsbx.com/",
            "https://lookaside.fbsbx.com/a b",
            "ftp://lookaside.fbsbx.com/x",
        ] {
            assert!(
                matches!(media_url(bad), Err(TransferError::UrlRefused(_))),
                "{bad} must be refused"
            );
        }
    }
}
