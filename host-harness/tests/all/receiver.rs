//! A real HTTP receiver on a free loopback port, standing in for a workflow engine's
//! webhook: it answers each delivery as the test's behaviour says (a status, a
//! `Retry-After`, or no answer at all) and records every request it got.
//!
//! It runs on a thread and runtime of its own, so that a test blocking its own thread
//! never stalls it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    /// What it answered (0: nothing, it hung).
    pub status: u16,
}

impl Received {
    pub fn id(&self) -> String {
        self.header("webhook-id").to_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The WhatsApp message ID in the event.
    pub fn message_id(&self) -> String {
        let event: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
        event["entry"]["changes"]["messages"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// How to answer.
pub enum Answer {
    Status(u16),
    /// A status and a `Retry-After` in seconds.
    RetryAfter(u16, u64),
    /// Never answer (the connection stays open).
    Hang,
}

type Behaviour = dyn Fn(&Received, usize) -> Answer + Send + Sync;

pub struct Receiver {
    pub address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Arc<Behaviour>>>,
}

impl Receiver {
    /// Answers each request with `behaviour(request, n)`, `n` being how many requests
    /// with its `webhook-id` came before it.
    pub fn start(behaviour: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let behaviour: Arc<Mutex<Arc<Behaviour>>> = Arc::new(Mutex::new(Arc::new(behaviour)));
        let (log, answer) = (received.clone(), behaviour.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((stream, _)) = listener.accept().await {
                    let (log, answer) = (log.clone(), answer.clone());
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let (log, answer) = (log.clone(), answer.clone());
                            async move {
                                let headers = request.headers().clone();
                                let body = request.into_body().collect().await?.to_bytes().to_vec();
                                let mut got = Received {
                                    headers,
                                    body,
                                    status: 0,
                                };
                                let before = {
                                    let log = log.lock().unwrap();
                                    let id = got.id();
                                    log.iter().filter(|r| r.id() == id).count()
                                };
                                let behaviour = answer.lock().unwrap().clone();
                                let decided = behaviour(&got, before);
                                let (status, retry_after) = match decided {
                                    Answer::Status(status) => (status, None),
                                    Answer::RetryAfter(status, secs) => (status, Some(secs)),
                                    Answer::Hang => (0, None),
                                };
                                got.status = status;
                                log.lock().unwrap().push(got);
                                if status == 0 {
                                    std::future::pending::<()>().await;
                                }
                                let mut response =
                                    hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                                *response.status_mut() =
                                    hyper::StatusCode::from_u16(status).unwrap();
                                if let Some(secs) = retry_after {
                                    response
                                        .headers_mut()
                                        .insert("retry-after", secs.to_string().parse().unwrap());
                                }
                                Ok::<_, hyper::Error>(response)
                            }
                        });
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Self {
            address,
            received,
            behaviour,
        }
    }

    /// Answers 200 to everything.
    pub fn healthy() -> Self {
        Self::start(|_, _| Answer::Status(200))
    }

    /// Answers 500 to each event's first attempt, 200 to the next ones.
    pub fn failing_first() -> Self {
        Self::start(|_, before| {
            if before == 0 {
                Answer::Status(500)
            } else {
                Answer::Status(200)
            }
        })
    }

    /// Answers from now on as `behaviour` says.
    pub fn answer(&self, behaviour: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static) {
        *self.behaviour.lock().unwrap() = Arc::new(behaviour);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many 2xx answers each message ID got.
    pub fn delivered(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.received() {
            if (200..300).contains(&r.status) {
                *counts.entry(r.message_id()).or_default() += 1;
            }
        }
        counts
    }

    /// Waits (up to `timeout`) until every message in `ids` got a 2xx answer; the
    /// counts then.
    pub fn wait_delivered(&self, ids: &[String], timeout: Duration) -> HashMap<String, usize> {
        let deadline = Instant::now() + timeout;
        loop {
            let delivered = self.delivered();
            let missing: Vec<_> = ids
                .iter()
                .filter(|id| !delivered.contains_key(*id))
                .collect();
            if missing.is_empty() {
                return delivered;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {} never delivered, e.g. {:?}",
                missing.len(),
                ids.len(),
                &missing[..missing.len().min(3)]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
