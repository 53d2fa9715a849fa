//! Sends a [`GraphRequest`] through `wasi:http/outgoing-handler`. The only I/O the
//! component does; everything it sends and reads is decided in the domain modules.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

use crate::graph::{self, Error, GRAPH_HOST, GraphRequest, HttpResponse, MAX_RESPONSE_BYTES};

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
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (
            "authorization".into(),
            format!("Bearer {token}").into_bytes(),
        ),
        ("accept".into(), b"application/json".to_vec()),
        ("user-agent".into(), USER_AGENT.as_bytes().to_vec()),
    ];
    if let Some(json) = &request.json_body {
        headers.push(("content-type".into(), b"application/json".to_vec()));
        // The length up front: a host that streams the body (jco's Node shim) would
        // otherwise send it chunked, which some servers read as empty.
        headers.push(("content-length".into(), json.len().to_string().into_bytes()));
    }
    // The error names no value: a header holds the token.
    let fields = Fields::from_list(&headers).map_err(|_| transport("a header value is invalid"))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        graph::Method::Get => Method::Get,
        graph::Method::Post => Method::Post,
    };
    let invalid = |what: &str| transport(format!("invalid request {what}"));
    outgoing
        .set_method(&method)
        .map_err(|_| invalid("method"))?;
    outgoing
        .set_scheme(Some(&Scheme::Https))
        .map_err(|_| invalid("scheme"))?;
    outgoing
        .set_authority(Some(GRAPH_HOST))
        .map_err(|_| invalid("authority"))?;
    outgoing
        .set_path_with_query(Some(&request.path_and_query))
        .map_err(|_| invalid("path"))?;
    let body = outgoing.body().map_err(|_| invalid("body"))?;

    let options = RequestOptions::new();
    // A host may not support setting these; its own limits then apply.
    let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let _ = options.set_first_byte_timeout(Some(RESPONSE_TIMEOUT));
    let _ = options.set_between_bytes_timeout(Some(RESPONSE_TIMEOUT));

    let future = outgoing_handler::handle(outgoing, Some(options))
        .map_err(|code| transport(describe(&code)))?;
    if let Some(json) = &request.json_body {
        let stream = body.write().map_err(|_| invalid("body"))?;
        for chunk in json.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|_| transport("the request body could not be sent"))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(|code| transport(describe(&code)))?;

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
    let body = read_capped(&incoming, status)?;
    // Trailers are of no interest; dropping the future releases them.
    drop(IncomingBody::finish(incoming));
    Ok(HttpResponse {
        status,
        retry_after,
        body,
    })
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
