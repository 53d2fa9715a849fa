//! The kept-alive connections of one HTTP sink, made with hyper's own HTTP/1 client
//! connections.
//!
//! Why not hyper-util's pooled client, which served here until session 14: it is made
//! for any number of origins, and pays for that on every request. It keys a pool shared
//! by all its origins with the request's scheme and authority, formats the `Host`
//! header, rewrites the URI to its path, races the pool's checkout against a connect,
//! and spawns a task to put the connection back once it is idle. A sink always talks to
//! one origin with one path, so here those are made once, and a connection goes back to
//! its sink when the attempt has read the answer: 8% less of `serve`'s CPU per
//! delivery (docs/performance.md, "Connections of the sink's own").
//!
//! What the pooled client did and this keeps:
//! - at most `max_idle` connections kept, and none idle longer than [`IDLE_LIMIT`];
//! - a request that a kept connection refused before sending anything (the receiver
//!   closed it while it was idle) goes on the next one, or on a new connection: it was
//!   never sent, so this is not a retry;
//! - the connect timeout and TLS of the process's connector.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service as _;

/// How the process connects: TCP with the connect timeout, then TLS for `https`.
pub type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// How long a connection is kept unused, as hyper-util's pool does by default.
pub const IDLE_LIMIT: Duration = Duration::from_secs(90);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request got no answer. Neither holds the URL.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No connection: refused, unreachable, timed out, or TLS failed.
    #[error("cannot connect")]
    Connect(#[source] BoxError),
    /// The connection failed during the exchange, or the answer was not HTTP.
    #[error("the exchange failed")]
    Exchange(#[source] hyper::Error),
}

/// A connection lent to one attempt, to be given back once its answer is read.
pub struct Lease(SendRequest<Full<Bytes>>);

/// One sink's connections to its receiver.
pub struct Connections {
    connector: Connector,
    /// Where to connect: the URL's scheme and authority.
    origin: http::Uri,
    /// What the request line names: the URL's path and query.
    path: http::Uri,
    host: HeaderValue,
    max_idle: usize,
    idle: Mutex<Vec<(SendRequest<Full<Bytes>>, Instant)>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL is often the receiver's only credential: not shown.
        f.debug_struct("Connections")
            .field("max_idle", &self.max_idle)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// `None` when `url` has no host, or a scheme other than `http` and `https`.
    pub fn new(connector: Connector, url: &http::Uri, max_idle: usize) -> Option<Self> {
        let scheme = url.scheme()?;
        let host = url.host()?;
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let host = match url.port_u16() {
            Some(port) if port != default_port => format!("{host}:{port}"),
            _ => host.to_owned(),
        };
        let origin = http::Uri::builder()
            .scheme(scheme.clone())
            .authority(url.authority()?.clone())
            .path_and_query("/")
            .build()
            .ok()?;
        let path = match url.path_and_query() {
            Some(path) => http::Uri::from(path.clone()),
            None => http::Uri::from_static("/"),
        };
        Some(Self {
            connector,
            origin,
            path,
            host: HeaderValue::from_str(&host).ok()?,
            max_idle,
            idle: Mutex::default(),
        })
    }

    /// Sends `request` (its URI and `Host` header set here) on a kept connection, or on
    /// a new one.
    pub async fn send(
        &self,
        mut request: http::Request<Full<Bytes>>,
    ) -> Result<(http::Response<Incoming>, Lease), SendError> {
        *request.uri_mut() = self.path.clone();
        request.headers_mut().insert(HOST, self.host.clone());
        while let Some(mut sender) = self.kept() {
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, Lease(sender))),
                Err(mut error) => match error.take_message() {
                    // Refused before anything was written: closed while idle.
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Exchange(error.into_error())),
                },
            }
        }
        let mut sender = self.connect().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(SendError::Exchange)?;
        Ok((response, Lease(sender)))
    }

    /// Keeps the lent connection once it can take the next request (the answer read and
    /// dropped first); a connection that closed meanwhile, or one too many, is let go.
    pub async fn give_back(&self, Lease(mut sender): Lease) {
        if sender.ready().await.is_err() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle {
            idle.push((sender, Instant::now()));
        }
    }

    /// The most recently used kept connection that is still open and not too old.
    fn kept(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // The oldest are first: the ones kept too long are all at the front.
        let stale = idle
            .iter()
            .take_while(|(_, since)| now.duration_since(*since) > IDLE_LIMIT)
            .count();
        idle.drain(..stale);
        while let Some((sender, _)) = idle.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, SendError> {
        let io = self
            .connector
            .clone()
            .call(self.origin.clone())
            .await
            .map_err(SendError::Connect)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(SendError::Exchange)?;
        // On the delivery thread's runtime, like the attempt that made it; it ends when
        // its `SendRequest` is dropped, or when the receiver closes it.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::BodyExt as _;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    use super::*;

    /// A receiver answering 204 that counts the connections it accepted; it closes each
    /// one `lifetime` after accepting it, if given.
    async fn receiver(lifetime: Option<Duration>) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let service = service_fn(|_: http::Request<Incoming>| async {
                    let mut response = http::Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = http::StatusCode::NO_CONTENT;
                    Ok::<_, hyper::Error>(response)
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::spawn(async move {
                    match lifetime {
                        Some(lifetime) => drop(tokio::time::timeout(lifetime, connection).await),
                        None => drop(connection.await),
                    }
                });
            }
        });
        (address, accepted)
    }

    fn connections(address: SocketAddr, max_idle: usize) -> Connections {
        let client =
            crate::delivery::http::client(Duration::from_secs(5), Duration::from_secs(5), max_idle)
                .unwrap();
        let url: http::Uri = format!("http://{address}/hook?x=1").parse().unwrap();
        Connections::new(client.connector().clone(), &url, max_idle).unwrap()
    }

    /// One exchange, its answer read, and the connection's lease.
    async fn exchange(connections: &Connections) -> Lease {
        let request = http::Request::new(Full::new(Bytes::from_static(b"{}")));
        let (response, lease) = connections.send(request).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::NO_CONTENT);
        response.into_body().collect().await.unwrap();
        lease
    }

    #[tokio::test]
    async fn a_connection_is_kept_and_used_again() {
        let (address, accepted) = receiver(None).await;
        let connections = connections(address, 4);
        for _ in 0..3 {
            let lease = exchange(&connections).await;
            connections.give_back(lease).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn one_the_receiver_closed_while_idle_is_replaced_without_a_failure() {
        let (address, accepted) = receiver(Some(Duration::from_millis(100))).await;
        let connections = connections(address, 4);
        let lease = exchange(&connections).await;
        connections.give_back(lease).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let lease = exchange(&connections).await;
        connections.give_back(lease).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_more_than_max_idle_are_kept() {
        let (address, accepted) = receiver(None).await;
        let connections = connections(address, 1);
        let (a, b) = tokio::join!(exchange(&connections), exchange(&connections));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        connections.give_back(a).await;
        connections.give_back(b).await;
        // One kept, one let go: of the next two at once, one needs a new connection.
        let (a, b) = tokio::join!(exchange(&connections), exchange(&connections));
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        drop((a, b));
    }

    #[test]
    fn the_host_header_and_request_target_come_from_the_url() {
        let client =
            crate::delivery::http::client(Duration::from_secs(5), Duration::from_secs(5), 1)
                .unwrap();
        let made = |url: &str| {
            let c = Connections::new(client.connector().clone(), &url.parse().unwrap(), 1)?;
            Some((
                c.host.to_str().unwrap().to_owned(),
                c.path.to_string(),
                c.origin.to_string(),
            ))
        };
        assert_eq!(
            made("https://n8n.example.com/webhook/abc?x=1").unwrap(),
            (
                "n8n.example.com".into(),
                "/webhook/abc?x=1".into(),
                "https://n8n.example.com/".into()
            )
        );
        assert_eq!(
            made("http://127.0.0.1:5678/webhook").unwrap(),
            (
                "127.0.0.1:5678".into(),
                "/webhook".into(),
                "http://127.0.0.1:5678/".into()
            )
        );
        assert_eq!(made("https://[::1]:443/").unwrap().0, "[::1]");
        assert!(made("ftp://example.com/x").is_none());
        assert!(made("/relative").is_none());
    }
}
