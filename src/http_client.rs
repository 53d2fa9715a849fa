//! Sends a [`GraphRequest`] through `wasi:http/outgoing-handler`, and streams the media
//! actions' bodies. The only network I/O the component does; everything it sends and
//! reads is decided in the domain modules.

#[allow(unused_imports)]
use crate::prelude::*;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, Method, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasip2::io::streams::{OutputStream, StreamError};

use crate::graph::{self, Error, GRAPH_HOST, GraphRequest, HttpResponse, MAX_RESPONSE_BYTES};
use crate::transfer::{CHUNK_BYTES, TransferError};

/// Nanoseconds per second, for `wasi:clocks` durations.
const SECOND: u64 = 1_000_000_000;
const CONNECT_TIMEOUT: u64 = 5 * SECOND;
const RESPONSE_TIMEOUT: u64 = 30 * SECOND;
const USER_AGENT: &str = concat!("whatsapp-connector/", env!("CARGO_PKG_VERSION"));

fn transport(message: impl Into<String>) -> Error {
    Error::Transport {
        message: message.into(),
    }
}

fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::DnsError(_) => "DNS lookup failed".into(),
        ErrorCode::HttpRequestDenied => "the host denied the outbound request".into(),
        other => format!("{other:?}"),
    }
}

/// Sends `request` to the Graph API with the bearer token and reads the answer.
pub fn send(request: &GraphRequest, token: &str) -> Result<HttpResponse, Error> {
    let method = match request.method {
        graph::Method::Get => Method::Get,
        graph::Method::Post => Method::Post,
        graph::Method::Delete => Method::Delete,
    };
    let content = request
        .json_body
        .as_ref()
        .map(|json| ("application/json", json.len() as u64));
    let (future, body) = start(method, GRAPH_HOST, &request.path_and_query, token, content)?;
    if let Some(json) = &request.json_body {
        let stream = body
            .write()
            .map_err(|_| transport("the request body could not be sent"))?;
        write_all(&stream, json).map_err(|_| transport("the request body could not be sent"))?;
    }
    answer(body, future)
}

/// Finishes the request's body and reads the whole answer (a Graph API answer is
/// small: at most `MAX_RESPONSE_BYTES`).
fn answer(body: OutgoingBody, future: FutureIncomingResponse) -> Result<HttpResponse, Error> {
    OutgoingBody::finish(body, None).map_err(|code| transport(describe(&code)))?;
    let (status, retry_after, incoming) = response(future)?;
    let body = read_capped(&incoming, status)?;
    // Trailers are of no interest; dropping the future releases them.
    drop(IncomingBody::finish(incoming));
    Ok(HttpResponse {
        status,
        retry_after,
        body,
    })
}

/// Starts a request: headers (the bearer token; a body's type and length up front, since
/// a host that streams the body, as jco's Node shim does, would otherwise send it
/// chunked, which some servers read as empty), method, `https://{authority}{path}`,
/// timeouts. The caller writes the body and finishes it.
fn start(
    method: Method,
    authority: &str,
    path_and_query: &str,
    token: &str,
    content: Option<(&str, u64)>,
) -> Result<(FutureIncomingResponse, OutgoingBody), Error> {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (
            "authorization".into(),
            format!("Bearer {token}").into_bytes(),
        ),
        ("accept".into(), b"application/json".to_vec()),
        ("user-agent".into(), USER_AGENT.as_bytes().to_vec()),
    ];
    if let Some((content_type, length)) = content {
        headers.push(("content-type".into(), content_type.as_bytes().to_vec()));
        headers.push(("content-length".into(), length.to_string().into_bytes()));
    }
    // The error names no value: a header holds the token.
    let fields = Fields::from_list(&headers).map_err(|_| transport("a header value is invalid"))?;
    let outgoing = OutgoingRequest::new(fields);
    let invalid = |what: &str| transport(format!("invalid request {what}"));
    outgoing
        .set_method(&method)
        .map_err(|_| invalid("method"))?;
    outgoing
        .set_scheme(Some(&Scheme::Https))
        .map_err(|_| invalid("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|_| invalid("authority"))?;
    outgoing
        .set_path_with_query(Some(path_and_query))
        .map_err(|_| invalid("path"))?;
    let body = outgoing.body().map_err(|_| invalid("body"))?;

    let options = RequestOptions::new();
    // A host may not support setting these; its own limits then apply.
    let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let _ = options.set_first_byte_timeout(Some(RESPONSE_TIMEOUT));
    let _ = options.set_between_bytes_timeout(Some(RESPONSE_TIMEOUT));

    let future = outgoing_handler::handle(outgoing, Some(options))
        .map_err(|code| transport(describe(&code)))?;
    Ok((future, body))
}

/// Waits for the response head: status, `Retry-After`, and the body to read.
fn response(future: FutureIncomingResponse) -> Result<(u16, Option<String>, IncomingBody), Error> {
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(transport(describe(&code))),
        _ => return Err(transport("the response never arrived")),
    };
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let incoming = response
        .consume()
        .map_err(|_| transport("the response body could not be read"))?;
    Ok((status, retry_after, incoming))
}

/// Writes all of `bytes`, as fast as the stream takes them: each write is as large as
/// the stream allows, and it blocks only when the stream is full. (A request body needs
/// no flush after it; a host's output stream does.)
pub fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let room = stream.check_write()?;
        if room == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        stream.write(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// `GET https://{authority}{path}` with the token; a success's body goes to `each`
/// chunk by chunk (never held whole), an error's is read as a Graph API error.
pub fn download(
    authority: &str,
    path_and_query: &str,
    token: &str,
    mut each: impl FnMut(&[u8]) -> Result<(), TransferError>,
) -> Result<(), TransferError> {
    let (future, body) = start(Method::Get, authority, path_and_query, token, None)?;
    OutgoingBody::finish(body, None).map_err(|code| transport(describe(&code)))?;
    let (status, retry_after, incoming) = response(future)?;
    if !(200..300).contains(&status) {
        let body = read_capped(&incoming, status)?;
        return Err(graph::classify_error(&HttpResponse {
            status,
            retry_after,
            body,
        })
        .into());
    }
    let stream = incoming
        .stream()
        .map_err(|_| transport("the response body could not be read"))?;
    loop {
        match stream.blocking_read(CHUNK_BYTES as u64) {
            Ok(chunk) => each(&chunk)?,
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(_)) => {
                return Err(transport("the connection broke while reading the media").into());
            }
        }
    }
    drop(stream);
    drop(IncomingBody::finish(incoming));
    Ok(())
}

/// `POST https://graph.facebook.com{path}` with a body of `content_length` bytes that
/// `write_body` writes to the request's stream; the answer is read whole (it is small).
pub fn upload(
    path_and_query: &str,
    token: &str,
    content_type: &str,
    content_length: u64,
    write_body: impl FnOnce(&OutputStream) -> Result<(), TransferError>,
) -> Result<HttpResponse, TransferError> {
    let (future, body) = start(
        Method::Post,
        GRAPH_HOST,
        path_and_query,
        token,
        Some((content_type, content_length)),
    )?;
    let stream = body
        .write()
        .map_err(|_| transport("the request body could not be sent"))?;
    write_body(&stream)?;
    // No flush: a request body's stream sends each write on at once, and once the
    // server has read `content_length` bytes it may close it, so a flush could fail a
    // body that went out whole. `finish` says whether it did.
    drop(stream);
    Ok(answer(body, future)?)
}

fn read_capped(incoming: &IncomingBody, status: u16) -> Result<Vec<u8>, Error> {
    let stream = incoming
        .stream()
        .map_err(|_| transport("the response body could not be read"))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_RESPONSE_BYTES {
                    return Err(Error::UnexpectedResponse {
                        status,
                        reason: format!("the body is larger than {MAX_RESPONSE_BYTES} bytes"),
                        retryable: false,
                    });
                }
            }
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(_)) => {
                return Err(transport("the connection broke while reading the response"));
            }
        }
    }
}
