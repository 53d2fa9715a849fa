//! The media actions' I/O (wasm32 only): the Graph API calls of [`media_download`] and
//! [`media_upload`], and the host's `wasi:io` streams the bytes come from or go to, in
//! chunks of [`CHUNK_BYTES`]. What is checked, and when, is decided in those modules
//! and in [`transfer`](crate::transfer).

#[allow(unused_imports)]
use crate::prelude::*;

use wasip2::io::streams::{InputStream, OutputStream, StreamError};

use crate::graph::{Credentials, Error};
use crate::http_client;
use crate::media_download::{self, Metadata};
use crate::media_upload::{self, UploadInput};
use crate::transfer::{CHUNK_BYTES, Integrity, TransferError};

/// What the host said of a failed stream operation (never a secret: the streams carry
/// only the file).
fn detail(error: &StreamError) -> String {
    match error {
        StreamError::Closed => "the stream is closed".into(),
        StreamError::LastOperationFailed(e) => e.to_debug_string(),
    }
}

fn stream_error(what: &str) -> TransferError {
    TransferError::Stream(what.to_owned())
}

/// Downloads the media into `destination` and checks it; `destination` is flushed
/// before this returns `Ok`.
pub fn download(
    credentials: Credentials<'_>,
    media_id: &str,
    destination: &OutputStream,
) -> Result<Metadata, TransferError> {
    let token = *credentials.token.expose();
    let request = media_download::metadata_request(credentials, media_id)?;
    let answer = http_client::send(&request, token)?;
    let metadata = media_download::parse_metadata(&answer)?;
    // Checked before the request: the token never goes to another host.
    let url = media_download::media_url(&metadata.url)?;
    let mut integrity = Integrity::new(metadata.file_size);
    http_client::download(&url.authority, &url.path_and_query, token, |chunk| {
        integrity.update(chunk)?;
        http_client::write_all(destination, chunk)
            .map_err(|_| stream_error("the destination could not be written"))
    })?;
    integrity.finish(&metadata.sha256)?;
    destination
        .blocking_flush()
        .map_err(|_| stream_error("the destination could not be flushed"))?;
    Ok(metadata)
}

/// Reads up to `want` bytes; fewer only at the end of the stream.
fn read_up_to(source: &InputStream, want: usize) -> Result<Vec<u8>, TransferError> {
    let mut bytes = Vec::with_capacity(want);
    while bytes.len() < want {
        match source.blocking_read((want - bytes.len()) as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(_)) => {
                return Err(stream_error("the source could not be read"));
            }
        }
    }
    Ok(bytes)
}

/// Uploads `input.file_size` bytes from `source`; the answer's media ID.
pub fn upload(
    credentials: Credentials<'_>,
    input: UploadInput<'_>,
    source: &InputStream,
) -> Result<String, TransferError> {
    let token = *credentials.token.expose();
    // The first chunk is read before anything is sent: a sticker's limit depends on
    // whether its header says it is animated.
    let first = CHUNK_BYTES.min(usize::try_from(input.file_size).unwrap_or(CHUNK_BYTES));
    let head = read_up_to(source, first)?;
    let random = wasip2::random::random::get_random_bytes(16);
    let boundary = format!("whatsapp-connector-{}", hex::encode(random));
    let upload = media_upload::prepare(credentials, input, &head, &boundary)?;
    let answer = http_client::upload(
        &upload.path_and_query,
        token,
        &upload.content_type,
        upload.content_length,
        |body| {
            let sent = |r: Result<(), StreamError>| {
                r.map_err(|e| {
                    TransferError::from(Error::Transport {
                        message: format!("the request body could not be sent: {}", detail(&e)),
                    })
                })
            };
            sent(http_client::write_all(body, &upload.prefix))?;
            sent(http_client::write_all(body, &head))?;
            let mut left = input.file_size - head.len() as u64;
            while left > 0 {
                let chunk = read_up_to(source, CHUNK_BYTES.min(left as usize))?;
                if chunk.is_empty() {
                    return Err(stream_error(&format!(
                        "the source ended {left} bytes before its file-size of {}",
                        input.file_size
                    )));
                }
                left -= chunk.len() as u64;
                sent(http_client::write_all(body, &chunk))?;
            }
            if !read_up_to(source, 1)?.is_empty() {
                return Err(stream_error(&format!(
                    "the source went on past its file-size of {} bytes",
                    input.file_size
                )));
            }
            sent(http_client::write_all(body, &upload.suffix))
        },
    )?;
    Ok(media_upload::parse_answer_id(&answer)?)
}
