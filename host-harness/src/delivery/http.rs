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
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::retry::parse_retry_after;
use crate::registration::HttpDelivery;
use crate::standard_webhooks::SigningSecret;

/// The most of a receiver's answer read (and dropped), so that its connection is kept.
const MAX_ANSWER: usize = 64 * 1024;

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

/// The client every HTTP sink of a process shares (one connection pool per host; keep
/// alive).
pub fn client(
    connect_timeout: Duration,
    timeout: Duration,
    per_host: usize,
) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .pool_max_idle_per_host(per_host)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "whatsapp-connector-gateway/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .context("cannot make the delivery HTTP client")
}

/// A subscription's HTTP sink, ready to sign. `Debug` shows no secret.
#[derive(Debug)]
pub struct HttpSink {
    url: reqwest::Url,
    signing: SigningSecret,
    /// Static headers and Basic auth, marked sensitive.
    headers: HeaderMap,
}

impl HttpSink {
    /// Errors name the header, never its value.
    pub fn new(url: &str, delivery: &HttpDelivery) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(url)
            .ok()
            .context("the events URL is not a valid URL")?;
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
        Ok(Self {
            url,
            signing,
            headers,
        })
    }

    /// POSTs `body` (the event's JSON) as the event `id`.
    pub async fn attempt(&self, client: &reqwest::Client, id: &str, body: &[u8]) -> Attempt {
        let timestamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signature = self.signing.sign(id, timestamp, body);
        let request = client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec());
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return failed(None, describe(&e), None),
        };
        let status = response.status();
        let retry_after = matches!(status.as_u16(), 429 | 503)
            .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        // Read (a bounded part of) the answer, so the connection can be kept.
        let mut read = 0;
        while read < MAX_ANSWER {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) => break,
                Err(e) if status.is_success() => {
                    // The receiver took the event; only its answer broke off.
                    tracing::debug!(error = %describe(&e), "delivery: the answer broke off");
                    break;
                }
                Err(_) => break,
            }
        }
        if status.is_success() {
            Attempt::Delivered
        } else if status == reqwest::StatusCode::GONE {
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

/// A transport error, without its URL: reqwest's own message names the URL, so the
/// reason is the kind of failure and its innermost cause.
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        return "timed out".into();
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_request() {
        "the request failed"
    } else {
        "the exchange failed"
    };
    let mut cause = None;
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        cause = Some(e.to_string());
        source = e.source();
    }
    match cause {
        Some(cause) => format!("{kind}: {cause}"),
        None => kind.into(),
    }
}
