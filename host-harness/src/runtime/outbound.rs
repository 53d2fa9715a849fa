//! Outbound HTTP policy: the component may only reach the hosts `component.json` allows
//! (`https://graph.facebook.com` and Meta's media host), and the caller decides where those requests go:
//! nowhere (the default: [`Outbound::deny_all`]), an in-process stub, or a loopback
//! server. Every other host is refused before any connection is made, so a component run
//! by the harness never reaches the internet. Answers are bounded in time and size by
//! [`OutboundLimits`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use super::manifest::allowed_outbound_hosts;

/// Bounds on what an outbound request may cost the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundLimits {
    /// Establishing the connection.
    pub connect_timeout: Duration,
    /// Waiting for the response head, and between two chunks of its body.
    pub response_timeout: Duration,
    /// The whole request, from sending it to the last byte of the answer: a server that
    /// drips a byte just inside `response_timeout` cannot keep a call alive for ever.
    pub request_timeout: Duration,
    /// The same for Meta's media host, whose answers are files of up to 100 MB.
    pub media_timeout: Duration,
    /// Bytes of response body the guest may read; past them its read fails.
    pub max_response_bytes: u64,
    /// The same for Meta's media host, whose answers are files (Meta's largest, a
    /// document, is 100 MB).
    pub max_media_bytes: u64,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            // 100 MB at 2 Mbit/s, with room to spare.
            media_timeout: Duration::from_secs(600),
            max_response_bytes: 2 << 20,
            max_media_bytes: 128 << 20,
        }
    }
}

/// An outbound request as the component made it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The full URL the component asked for, e.g. `https://graph.facebook.com/v27.0/1/messages`.
    pub url: String,
    /// Path and query, e.g. `/v27.0/1/messages`.
    pub path_and_query: String,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// Records a request from its head and its whole body.
    pub fn from_parts(parts: &http::request::Parts, body: Vec<u8>) -> Self {
        Self {
            method: parts.method.to_string(),
            url: parts.uri.to_string(),
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.to_string()),
            headers: header_list(&parts.headers),
            body,
        }
    }

    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request as an operator may see it: the bearer token is redacted.
    pub fn redacted(&self) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let v = if n == "authorization" {
                    "Bearer [redacted]".to_owned()
                } else {
                    v.clone()
                };
                (n.clone(), v.into())
            })
            .collect();
        let body = serde_json::from_slice::<serde_json::Value>(&self.body)
            .unwrap_or_else(|_| String::from_utf8_lossy(&self.body).into_owned().into());
        serde_json::json!({
            "method": self.method,
            "url": self.url,
            "headers": headers,
            "body": if self.body.is_empty() { serde_json::Value::Null } else { body },
        })
    }
}

/// `Debug` never shows the `Authorization` header.
impl std::fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordedRequest({})", self.redacted())
    }
}

/// What a stub answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StubResponse {
    /// A JSON answer.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

/// A stub: sees each request, answers it (possibly after I/O of its own, as the stub
/// Graph API's callback verification does). `None` refuses the connection.
pub type StubFn = dyn Fn(RecordedRequest) -> Pin<Box<dyn Future<Output = Option<StubResponse>> + Send>>
    + Send
    + Sync;

/// Where `graph.facebook.com` requests go.
#[derive(Clone)]
pub enum Route {
    /// Nowhere: every request fails in the guest as `HTTP-request-denied`.
    Deny,
    /// Answered in process.
    Stub(Arc<StubFn>),
    /// Sent over real HTTP to this base URL (e.g. `http://127.0.0.1:8080`): every host
    /// of the manifest, path, query and headers unchanged.
    Redirect(http::Uri),
}

/// Requests the journal keeps, newest last: enough to inspect, bounded for long runs.
pub const JOURNAL_CAPACITY: usize = 1_000;

/// An outbound policy and the journal of what the component asked for.
#[derive(Clone)]
pub struct Outbound {
    route: Route,
    journal: Arc<Mutex<VecDeque<RecordedRequest>>>,
}

impl Outbound {
    /// Every request refused (and journaled): the runtime's default.
    pub fn deny_all() -> Self {
        Self::new(Route::Deny)
    }

    pub fn new(route: Route) -> Self {
        Self {
            route,
            journal: Arc::default(),
        }
    }

    /// Whether `component.json` allows the component to reach `uri`'s origin.
    pub fn allows(uri: &http::Uri) -> bool {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return false;
        };
        let origin = format!("{scheme}://{authority}").to_ascii_lowercase();
        allowed_outbound_hosts().contains(&origin)
    }

    /// An in-process stub that answers at once.
    pub fn stub(
        f: impl Fn(&RecordedRequest) -> Option<StubResponse> + Send + Sync + 'static,
    ) -> Self {
        Self::stub_async(move |request| {
            let answer = f(&request);
            async move { answer }
        })
    }

    /// An in-process stub whose answer may wait on I/O.
    pub fn stub_async<F>(f: impl Fn(RecordedRequest) -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = Option<StubResponse>> + Send + 'static,
    {
        Self::new(Route::Stub(Arc::new(move |request| Box::pin(f(request)))))
    }

    /// A redirect of `graph.facebook.com` to `base_url` (`http://host:port`).
    pub fn redirect(base_url: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = base_url.parse()?;
        anyhow::ensure!(
            uri.authority().is_some() && matches!(uri.scheme_str(), Some("http" | "https")),
            "the Graph URL must look like http://127.0.0.1:PORT"
        );
        Ok(Self::new(Route::Redirect(uri)))
    }

    fn record(&self, request: RecordedRequest) {
        let mut journal = self.journal.lock().unwrap();
        if journal.len() == JOURNAL_CAPACITY {
            journal.pop_front();
        }
        journal.push_back(request);
    }

    /// The requests the component made (or tried to make), the last
    /// [`JOURNAL_CAPACITY`] of them.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.journal.lock().unwrap().iter().cloned().collect()
    }

    pub(crate) fn hooks(&self, limits: OutboundLimits) -> OutboundHooks {
        OutboundHooks {
            outbound: self.clone(),
            limits,
        }
    }
}

/// The `WasiHttpHooks` of one store.
pub(crate) struct OutboundHooks {
    outbound: Outbound,
    limits: OutboundLimits,
}

type BoxedIo = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
type SendResult = Result<(http::Response<WasiBody>, BoxedIo), wasmtime_wasi_http::Error>;

/// Header names and values as strings, in order.
pub(crate) fn header_list(headers: &http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn full_body(bytes: impl Into<Bytes>) -> WasiBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A response body that fails once more than `remaining` bytes have come through.
struct Capped {
    inner: WasiBody,
    remaining: u64,
    /// When the whole request must be over.
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Body for Capped {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(wasmtime_wasi_http::Error::ConnectionReadTimeout)));
        }
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(data)) = &frame
            && let Some(data) = data.data_ref()
        {
            let len = data.len() as u64;
            if len > self.remaining {
                self.remaining = 0;
                return Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpResponseBodySize(
                    None,
                ))));
            }
            self.remaining -= len;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
}

/// Request bodies up to this size are kept in the journal; larger ones are streamed.
pub const JOURNAL_BODY_BYTES: u64 = 1 << 20;

/// The request's `Content-Length` (0 when absent or unreadable).
fn declared_length(headers: &http::HeaderMap) -> u64 {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether `uri` is on Meta's media host (the component's own list).
fn is_media_host(uri: &http::Uri) -> bool {
    uri.host().is_some_and(|host| {
        whatsapp_connector::media_download::MEDIA_HOSTS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    })
}

/// The shorter of the guest's timeout and the host's.
fn shorter(guest: Option<Duration>, host: Duration) -> Option<Duration> {
    Some(guest.map_or(host, |g| g.min(host)))
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: BoxedIo,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let (outbound, limits) = (self.outbound.clone(), self.limits);
        Box::new(async move {
            use wasmtime_wasi_http::Error;
            let (parts, body) = request.into_parts();
            let allowed = Outbound::allows(&parts.uri);
            let (cap, total) = if is_media_host(&parts.uri) {
                (limits.max_media_bytes, limits.media_timeout)
            } else {
                (limits.max_response_bytes, limits.request_timeout)
            };
            let deadline = tokio::time::Instant::now() + total;
            // A large body (an upload) is streamed to the server, not held: the journal
            // then keeps its head only.
            let (body, kept) = if declared_length(&parts.headers) > JOURNAL_BODY_BYTES {
                (body, Bytes::new())
            } else {
                let bytes = body.collect().await?.to_bytes();
                (full_body(bytes.clone()), bytes)
            };
            let recorded = RecordedRequest::from_parts(&parts, kept.to_vec());
            outbound.record(recorded.clone());
            if !allowed {
                return Err(Error::HttpRequestDenied);
            }
            let (response, io) = match &outbound.route {
                Route::Deny => return Err(Error::HttpRequestDenied),
                Route::Stub(stub) => {
                    // An in-process stub is a test double: it gets the body whole.
                    let recorded = match recorded.body.is_empty() {
                        true => RecordedRequest::from_parts(
                            &parts,
                            body.collect().await?.to_bytes().to_vec(),
                        ),
                        false => recorded,
                    };
                    let answer = stub(recorded).await.ok_or(Error::ConnectionRefused)?;
                    let mut response = http::Response::builder().status(answer.status);
                    for (name, value) in &answer.headers {
                        response = response.header(name, value);
                    }
                    let response = response
                        .body(full_body(answer.body))
                        .map_err(|_| Error::InternalError(Some("invalid stub response".into())))?;
                    (response, Box::new(async { Ok(()) }) as BoxedIo)
                }
                Route::Redirect(base) => {
                    let mut target = base.clone().into_parts();
                    target.path_and_query = parts.uri.path_and_query().cloned();
                    let mut parts = parts;
                    parts.uri =
                        http::Uri::from_parts(target).map_err(|_| Error::HttpRequestUriInvalid)?;
                    let request = http::Request::from_parts(parts, body);
                    let options = RequestOptions {
                        connect_timeout: shorter(
                            options.and_then(|o| o.connect_timeout),
                            limits.connect_timeout,
                        ),
                        first_byte_timeout: shorter(
                            options.and_then(|o| o.first_byte_timeout),
                            limits.response_timeout,
                        ),
                        between_bytes_timeout: shorter(
                            options.and_then(|o| o.between_bytes_timeout),
                            limits.response_timeout,
                        ),
                    };
                    let (response, io) = tokio::time::timeout_at(
                        deadline,
                        wasmtime_wasi_http::default_send_request(request, Some(options)),
                    )
                    .await
                    .map_err(|_| Error::HttpResponseTimeout)??;
                    (response.map(BodyExt::boxed_unsync), Box::new(io) as BoxedIo)
                }
            };
            let response = response.map(|inner| {
                Capped {
                    inner,
                    remaining: cap,
                    deadline: Box::pin(tokio::time::sleep_until(deadline)),
                }
                .boxed_unsync()
            });
            Ok((response, io))
        })
    }
}
