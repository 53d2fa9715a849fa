//! Real HTTP on 127.0.0.1, for tests and the benchmark: a fake Graph API server that
//! answers with a closure and records what it got, and a minimal HTTP/1.1 client.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::runtime::bindings::WebhookRequest;
use crate::runtime::outbound::header_list;
use crate::runtime::{RecordedRequest, StubResponse};

type Handler =
    dyn Fn(RecordedRequest) -> Pin<Box<dyn Future<Output = StubResponse> + Send>> + Send + Sync;

/// A fake Graph API on a free loopback port. Stops when dropped.
pub struct GraphServer {
    address: SocketAddr,
    journal: Arc<Mutex<Vec<RecordedRequest>>>,
    task: JoinHandle<()>,
}

impl GraphServer {
    /// Starts a server that answers every request with `handler`.
    pub async fn start(
        handler: impl Fn(&RecordedRequest) -> StubResponse + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        Self::start_async(move |request| {
            let answer = handler(&request);
            async move { answer }
        })
        .await
    }

    /// Starts a server whose answers may wait on I/O (a fake Meta that verifies a
    /// callback URL before it answers, say). Requests are journaled as they arrive.
    pub async fn start_async<F>(
        handler: impl Fn(RecordedRequest) -> F + Send + Sync + 'static,
    ) -> std::io::Result<Self>
    where
        F: Future<Output = StubResponse> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let journal: Arc<Mutex<Vec<RecordedRequest>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(move |request| Box::pin(handler(request)));
        let task = tokio::spawn({
            let journal = journal.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (journal, handler) = (journal.clone(), handler.clone());
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let (journal, handler) = (journal.clone(), handler.clone());
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await?.to_bytes().to_vec();
                                let recorded = RecordedRequest::from_parts(&parts, body);
                                journal.lock().unwrap().push(recorded.clone());
                                let answer = handler(recorded).await;
                                let mut response = hyper::Response::builder().status(answer.status);
                                for (name, value) in &answer.headers {
                                    response = response.header(name, value);
                                }
                                Ok::<_, hyper::Error>(
                                    response
                                        .body(Full::new(Bytes::from(answer.body)))
                                        .expect("valid response"),
                                )
                            }
                        });
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        });
        Ok(Self {
            address,
            journal,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What the server received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.journal.lock().unwrap().clone()
    }
}

impl Drop for GraphServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A response as a client saw it.
#[derive(Debug, Clone)]
pub struct ClientResponse {
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ClientResponse {
    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive HTTP/1.1 connection to a loopback server.
pub struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    authority: String,
}

impl Client {
    pub async fn connect(address: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self {
            sender,
            authority: address.to_string(),
        })
    }

    /// Sends a webhook request (as [`signed_post`](super::signed_post) makes one) to
    /// `path`.
    pub async fn webhook(
        &mut self,
        path: &str,
        request: WebhookRequest,
    ) -> anyhow::Result<ClientResponse> {
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let path = match request.query.as_str() {
            "" => path.to_owned(),
            query => format!("{path}?{query}"),
        };
        self.request(&request.method, &path, &headers, request.body)
            .await
    }

    /// Sends one request and reads the whole response.
    pub async fn request(
        &mut self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> anyhow::Result<ClientResponse> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header("host", &self.authority);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let headers = header_list(response.headers());
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        Ok(ClientResponse {
            status,
            headers,
            body,
        })
    }
}
