//! One delivery attempt to an HTTP sink: a POST of the event's JSON, signed as Standard
//! Webhooks says, with the subscription's static headers and Basic auth for receivers
//! that check those instead; and what its answer means.
//!
//! Any 2xx is delivered. 410 Gone stops the subscription. Anything else (another status,
//! a redirect, which is not followed, a timeout, a connection error) is a failure to
//! retry, with the receiver's `Retry-After` on 429 and 503. A failure's reason never
//! holds a secret or the URL (a workflow engine's webhook URL is often its only
//! credential).

use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;

use super::connections::{Connections, Connector, SendError};
use super::retry::parse_retry_after;
use crate::registration::HttpDelivery;
use crate::standard_webhooks::SigningSecret;

/// The most of a receiver's answer read (and dropped), so that its connection is kept.
const MAX_ANSWER: usize = 64 * 1024;

// Standard Webhooks' headers, made once rather than parsed on every attempt.
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    Failed {
        status: Option<u16>,
        reason: String,
        /// The receiver's `Retry-After` (429, 503).
        retry_after: Option<Duration>,
    },
    /// 410: the receiver says this subscription's endpoint is gone for good.
    Gone,
}

/// What every HTTP sink of a process shares: how to connect (TCP with the connect
/// timeout; rustls with the Web PKI's roots and the `ring` provider for `https`) and the
/// whole attempt's timeout. Each sink keeps its own connections ([`Connections`]).
/// Redirects are not followed.
#[derive(Clone)]
pub struct DeliveryClient {
    connector: Connector,
    timeout: Duration,
    /// Connections kept per sink (its attempts at once).
    per_sink: usize,
}

impl std::fmt::Debug for DeliveryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryClient")
            .field("timeout", &self.timeout)
            .field("per_sink", &self.per_sink)
            .finish()
    }
}

impl DeliveryClient {
    /// How the process connects, for a sink's [`Connections`].
    pub fn connector(&self) -> &Connector {
        &self.connector
    }
}

pub fn client(
    connect_timeout: Duration,
    timeout: Duration,
    per_sink: usize,
) -> anyhow::Result<DeliveryClient> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    connector.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .context("cannot make the delivery TLS configuration")?
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Ok(DeliveryClient {
        connector,
        timeout,
        per_sink,
    })
}

/// A subscription's HTTP sink, ready to sign. `Debug` shows no secret.
#[derive(Debug)]
pub struct HttpSink {
    connections: Connections,
    timeout: Duration,
    signing: SigningSecret,
    /// The headers every attempt carries: the content type, the user agent, and the
    /// static headers and Basic auth, those marked sensitive.
    headers: HeaderMap,
}

impl HttpSink {
    /// Errors name the header, never its value.
    pub fn new(
        url: &str,
        delivery: &HttpDelivery,
        client: &DeliveryClient,
    ) -> anyhow::Result<Self> {
        let connections = url
            .parse()
            .ok()
            .and_then(|uri| Connections::new(client.connector.clone(), &uri, client.per_sink))
            .context("the events URL is not a valid http or https URL")?;
        let signing = SigningSecret::parse(delivery.signing_secret.expose())?;
        let mut headers = HeaderMap::new();
        for header in &delivery.headers {
            let name = HeaderName::from_bytes(header.name.as_bytes())
                .ok()
                .with_context(|| format!("{:?} is not a header name", header.name))?;
            let mut value = HeaderValue::from_str(header.value.expose())
                .ok()
                .with_context(|| format!("the value of header {} is not valid", header.name))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        if let Some(basic) = &delivery.basic_auth {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::STANDARD.encode(basic.expose());
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                .context("Basic auth is not valid")?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        // Set after the static headers, so that none of them replaces these.
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static(concat!(
                "whatsapp-connector-gateway/",
                env!("CARGO_PKG_VERSION")
            )),
        );
        Ok(Self {
            connections,
            timeout: client.timeout,
            signing,
            headers,
        })
    }

    /// POSTs `body` (the event's JSON) as the event `id`.
    pub async fn attempt(&self, id: &str, body: Bytes) -> Attempt {
        match tokio::time::timeout(self.timeout, self.exchange(id, body)).await {
            Ok(attempt) => attempt,
            Err(_) => failed(None, "timed out".into(), None),
        }
    }

    async fn exchange(&self, id: &str, body: Bytes) -> Attempt {
        let timestamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signature = self.signing.sign(id, timestamp, &body);
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = http::Method::POST;
        let headers = request.headers_mut();
        headers.clone_from(&self.headers);
        headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp));
        for (name, value) in [(WEBHOOK_ID, id), (WEBHOOK_SIGNATURE, &signature)] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
        let (response, lease) = match self.connections.send(request).await {
            Ok(answer) => answer,
            Err(e) => return failed(None, describe(&e), None),
        };
        let status = response.status();
        let retry_after = matches!(status.as_u16(), 429 | 503)
            .then(|| response.headers().get(http::header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        // Read (a bounded part of) the answer, so the connection can be kept.
        let mut body = response.into_body();
        let mut read = 0;
        while read < MAX_ANSWER {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                Some(Err(_)) | None => break,
            }
        }
        drop(body);
        self.connections.give_back(lease).await;
        if status.is_success() {
            Attempt::Delivered
        } else if status == http::StatusCode::GONE {
            Attempt::Gone
        } else {
            failed(
                Some(status.as_u16()),
                format!("the receiver answered {status}"),
                retry_after,
            )
        }
    }
}

fn failed(status: Option<u16>, reason: String, retry_after: Option<Duration>) -> Attempt {
    Attempt::Failed {
        status,
        reason,
        retry_after,
    }
}

/// A transport error, without its URL: the kind of failure and its innermost cause.
fn describe(error: &SendError) -> String {
    let kind = error.to_string();
    let mut cause = None;
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        cause = Some(e.to_string());
        source = e.source();
    }
    match cause {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind,
    }
}
