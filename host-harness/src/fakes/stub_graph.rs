//! The built-in stub Graph API: answers like `graph.facebook.com` does, in process, so
//! the CLI and the demo work with no credentials and no network.
//!
//! It keeps the one piece of state the connector changes, each phone number's alternate
//! callback URL, and, like Meta, verifies a new one with a `hub.challenge` GET before it
//! answers success. How that GET reaches the URL is the [`Callback`] it is given.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use whatsapp_connector::graph::GRAPH_VERSION;

use crate::endpoint::Endpoint;
use crate::runtime::bindings::WebhookRequest;
use crate::runtime::{Outbound, RecordedRequest, StubResponse};

static NEXT_MESSAGE: AtomicU64 = AtomicU64::new(1);
static NEXT_CHALLENGE: AtomicU64 = AtomicU64::new(1);

/// Sends Meta's verification GET to a callback URL: gets the URL and the query
/// (`hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`), returns the status and
/// body that came back, or `None` when the URL could not be reached.
pub type Callback = Arc<
    dyn Fn(String, String) -> Pin<Box<dyn Future<Output = Option<(u16, String)>> + Send>>
        + Send
        + Sync,
>;

/// A [`Callback`] that hands Meta's verification GET to `endpoint` in process, through
/// the same front door as a GET over HTTP: as if the callback URL were served by this
/// host.
pub fn in_process(endpoint: Arc<Endpoint>) -> Callback {
    Arc::new(move |url, query| {
        let endpoint = endpoint.clone();
        Box::pin(async move {
            let request = WebhookRequest {
                method: "GET".into(),
                headers: Vec::new(),
                query,
                body: Vec::new(),
            };
            let path = crate::registration::callback_path(&url);
            let reply = endpoint.handle(&path, request).await;
            Some((
                reply.status,
                String::from_utf8_lossy(&reply.body).into_owned(),
            ))
        })
    })
}

/// The stub Graph API and the state the connector changes on it: the alternate
/// callback URLs, and the media uploaded.
#[derive(Default)]
pub struct StubGraph {
    overrides: Mutex<HashMap<String, String>>,
    media: Mutex<HashMap<String, StubMedia>>,
    callback: Option<Callback>,
}

/// A media file the stub holds.
#[derive(Debug, Clone)]
pub struct StubMedia {
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

/// Any media ID the stub was not given by an upload stands for a customer's photo: a
/// small file made from the ID, so that the demo can download what a webhook names.
pub fn sample_media(media_id: &str) -> StubMedia {
    let mut bytes = b"\xFF\xD8\xFF\xE0 stub JPEG for media ".to_vec();
    bytes.extend_from_slice(media_id.as_bytes());
    bytes.resize(4096, b'.');
    StubMedia {
        mime_type: "image/jpeg".into(),
        bytes,
    }
}

/// The media URL `GET /{media-id}` answers with, on Meta's media host.
pub fn media_url(media_id: &str) -> String {
    format!(
        "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={media_id}&ext=1767225600&hash=stub"
    )
}

impl StubGraph {
    /// A stub that reaches callback URLs through `callback`; without one, setting an
    /// alternate callback fails as it does when Meta cannot reach the URL.
    pub fn new(callback: Option<Callback>) -> Arc<Self> {
        Arc::new(Self {
            callback,
            ..Self::default()
        })
    }

    /// This stub as the component's outbound route.
    pub fn outbound(self: &Arc<Self>) -> Outbound {
        let stub = self.clone();
        Outbound::stub_async(move |request| {
            let stub = stub.clone();
            async move { Some(stub.answer(&request).await) }
        })
    }

    /// The alternate callback URL set on a phone number now.
    pub fn alternate_callback(&self, phone_number_id: &str) -> Option<String> {
        self.overrides.lock().unwrap().get(phone_number_id).cloned()
    }

    /// The media held under `media_id`: uploaded, or else the sample.
    pub fn media(&self, media_id: &str) -> StubMedia {
        self.media
            .lock()
            .unwrap()
            .get(media_id)
            .cloned()
            .unwrap_or_else(|| sample_media(media_id))
    }

    /// Answers one request like the Graph API (and Meta's media host) would.
    pub async fn answer(&self, request: &RecordedRequest) -> StubResponse {
        let (phone_number_id, query) = match route(request) {
            Route::Answered(answer) => return answer,
            Route::Media { id } => return self.media_metadata(&id),
            Route::MediaBytes { id } => {
                let media = self.media(&id);
                return StubResponse {
                    status: 200,
                    headers: vec![("content-type".into(), media.mime_type)],
                    body: media.bytes,
                };
            }
            Route::Upload { boundary } => return self.upload(&boundary, &request.body).await,
            Route::PhoneNumber { id, query } => (id, query),
        };
        match request.method.as_str() {
            "GET" if query.contains("webhook_configuration") => {
                let mut configuration =
                    json!({"application": "https://stub-app.example.com/webhook"});
                if let Some(url) = self.alternate_callback(&phone_number_id) {
                    configuration["phone_number"] = url.into();
                }
                StubResponse::json(
                    200,
                    &json!({"webhook_configuration": configuration, "id": phone_number_id}),
                )
            }
            "GET" => account(&phone_number_id),
            "POST" => self.configure(&phone_number_id, &request.body).await,
            _ => unsupported(),
        }
    }

    /// `GET /{media-id}`: `{url, mime_type, sha256, file_size, id}`.
    fn media_metadata(&self, media_id: &str) -> StubResponse {
        use sha2::Digest as _;
        let media = self.media(media_id);
        StubResponse::json(
            200,
            &json!({
                "messaging_product": "whatsapp",
                "url": media_url(media_id),
                "mime_type": media.mime_type,
                "sha256": hex::encode(sha2::Sha256::digest(&media.bytes)),
                "file_size": media.bytes.len(),
                "id": media_id,
            }),
        )
    }

    /// `POST /{phone-number-id}/media`: the multipart body, read with a real parser;
    /// the file is kept under a new ID.
    async fn upload(&self, boundary: &str, body: &[u8]) -> StubResponse {
        let fields = match multipart_fields(boundary, body.to_vec()).await {
            Ok(fields) => fields,
            Err(e) => return invalid_parameter(&format!("the multipart body is invalid: {e}")),
        };
        let field = |name: &str| fields.iter().find(|f| f.name == name);
        if field("messaging_product").map(|f| f.bytes.as_slice()) != Some(b"whatsapp") {
            return invalid_parameter("The parameter messaging_product is required");
        }
        let (Some(kind), Some(file)) = (field("type"), field("file")) else {
            return invalid_parameter("The parameters type and file are required");
        };
        let id = format!(
            "{}",
            900_000_000_000 + NEXT_MESSAGE.fetch_add(1, Ordering::Relaxed)
        );
        let media = StubMedia {
            mime_type: String::from_utf8_lossy(&kind.bytes).into_owned(),
            bytes: file.bytes.clone(),
        };
        self.media.lock().unwrap().insert(id.clone(), media);
        StubResponse::json(200, &json!({"id": id}))
    }

    /// `POST /{phone-number-id}` with `webhook_configuration`: set (after verifying the
    /// URL) or remove the alternate callback.
    async fn configure(&self, phone_number_id: &str, body: &[u8]) -> StubResponse {
        let body = serde_json::from_slice::<Value>(body).unwrap_or_default();
        let configuration = &body["webhook_configuration"];
        let Some(url) = configuration["override_callback_uri"].as_str() else {
            return invalid_parameter("webhook_configuration.override_callback_uri is required");
        };
        if url.is_empty() {
            self.overrides.lock().unwrap().remove(phone_number_id);
            return StubResponse::json(200, &json!({"success": true}));
        }
        if url.chars().count() > 200 {
            return invalid_parameter("override_callback_uri must be at most 200 characters");
        }
        let Some(verify_token) = configuration["verify_token"].as_str() else {
            return invalid_parameter("webhook_configuration.verify_token is required");
        };
        let challenge = format!(
            "{}",
            1_000_000 + NEXT_CHALLENGE.fetch_add(1, Ordering::Relaxed)
        );
        let query = format!(
            "hub.mode=subscribe&hub.challenge={challenge}&hub.verify_token={}",
            percent_encode(verify_token)
        );
        let answer = match &self.callback {
            Some(callback) => callback(url.to_owned(), query).await,
            None => None,
        };
        match answer {
            Some((200, body)) if body == challenge => {
                self.overrides
                    .lock()
                    .unwrap()
                    .insert(phone_number_id.to_owned(), url.to_owned());
                StubResponse::json(200, &json!({"success": true}))
            }
            other => {
                let status = other.as_ref().map_or(0, |(status, _)| *status);
                let why = match other {
                    Some((200, _)) => "the response did not match the challenge".to_owned(),
                    _ => format!("HTTP Status Code = {status}"),
                };
                graph_error(
                    400,
                    2200,
                    "OAuthException",
                    &format!(
                        "(#2200) Callback verification failed with the following errors: {why}"
                    ),
                )
            }
        }
    }
}

/// Query values as Meta sends them: everything but unreserved characters escaped.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

enum Route {
    Answered(StubResponse),
    PhoneNumber {
        id: String,
        query: String,
    },
    /// `GET /{media-id}`.
    Media {
        id: String,
    },
    /// `GET` of a media URL on Meta's media host.
    MediaBytes {
        id: String,
    },
    /// `POST /{phone-number-id}/media`.
    Upload {
        boundary: String,
    },
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct FormField {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// Reads a `multipart/form-data` body with `multer` (the parser hyper's ecosystem
/// uses), so that the component's encoder is checked by someone else's reading of it.
pub async fn multipart_fields(
    boundary: &str,
    body: Vec<u8>,
) -> Result<Vec<FormField>, multer::Error> {
    let stream = futures_util::stream::once(async move {
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(body))
    });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(|m| m.to_string());
        let bytes = field.bytes().await?.to_vec();
        fields.push(FormField {
            name,
            filename,
            content_type,
            bytes,
        });
    }
    Ok(fields)
}

/// A Graph API error body, as Meta shapes it.
pub fn graph_error(status: u16, code: i64, kind: &str, message: &str) -> StubResponse {
    StubResponse::json(
        status,
        &json!({"error": {
            "message": message,
            "type": kind,
            "code": code,
            "fbtrace_id": "AStubTraceId",
        }}),
    )
}

/// Checks the token and the version; answers what needs no state.
fn route(request: &RecordedRequest) -> Route {
    let token = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if token.is_empty() {
        return Route::Answered(graph_error(
            401,
            190,
            "OAuthException",
            "Invalid OAuth access token - Cannot parse access token",
        ));
    }
    if request.url.starts_with("https://lookaside.fbsbx.com/") {
        let id = request
            .path_and_query
            .split_once("mid=")
            .map(|(_, rest)| rest.split('&').next().unwrap_or_default().to_owned())
            .unwrap_or_default();
        return Route::MediaBytes { id };
    }
    let prefix = format!("/{GRAPH_VERSION}/");
    let Some(rest) = request.path_and_query.strip_prefix(&prefix) else {
        return Route::Answered(graph_error(
            400,
            2635,
            "OAuthException",
            "Unknown API version",
        ));
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let segments: Vec<&str> = path.split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", [_phone_number_id, "messages"]) => Route::Answered(send_message(&request.body)),
        ("POST", [_phone_number_id, "media"]) => {
            let boundary = request
                .header("content-type")
                .and_then(|t| multer::parse_boundary(t).ok());
            match boundary {
                Some(boundary) => Route::Upload { boundary },
                None => {
                    Route::Answered(invalid_parameter("a multipart/form-data body is required"))
                }
            }
        }
        ("GET", [id]) if query.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            Route::Media {
                id: (*id).to_owned(),
            }
        }
        ("GET", [id]) if query.starts_with("fields=") => Route::PhoneNumber {
            id: (*id).to_owned(),
            query: query.to_owned(),
        },
        ("POST", [id]) => Route::PhoneNumber {
            id: (*id).to_owned(),
            query: String::new(),
        },
        _ => Route::Answered(unsupported()),
    }
}

fn unsupported() -> StubResponse {
    graph_error(
        400,
        100,
        "GraphMethodException",
        "Unsupported request - method type or path not supported",
    )
}

fn invalid_parameter(message: &str) -> StubResponse {
    graph_error(400, 100, "OAuthException", &format!("(#100) {message}"))
}

fn account(phone_number_id: &str) -> StubResponse {
    StubResponse::json(
        200,
        &json!({
            "display_phone_number": "+1 555-010-0000",
            "verified_name": "Stub Business",
            "quality_rating": "GREEN",
            "id": phone_number_id,
        }),
    )
}

fn send_message(body: &[u8]) -> StubResponse {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return graph_error(400, 100, "OAuthException", "(#100) Invalid JSON body");
    };
    if body["messaging_product"] != "whatsapp" {
        return invalid_parameter("The parameter messaging_product is required");
    }
    // A read receipt (with or without the typing indicator).
    if body["status"] == "read" {
        return match body["message_id"].as_str() {
            Some(id) if id.starts_with("wamid.") => {
                StubResponse::json(200, &json!({"success": true}))
            }
            _ => invalid_parameter("The parameter message_id is required"),
        };
    }
    // Like Meta: `to` (a phone number) wins over `recipient` (a BSUID).
    let contact = match (body["to"].as_str(), body["recipient"].as_str()) {
        (Some(to), _) => json!({"input": to, "wa_id": to.trim_start_matches('+')}),
        (None, Some(user_id)) => json!({"input": user_id, "user_id": user_id}),
        (None, None) => return invalid_parameter("The parameter to or recipient is required"),
    };
    // Any message type, with its object under the key of that name.
    let kind = body["type"].as_str().unwrap_or_default();
    if !body[kind].is_object() {
        return invalid_parameter("The parameter type, or the object it names, is missing");
    }
    let n = NEXT_MESSAGE.fetch_add(1, Ordering::Relaxed);
    StubResponse::json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{"id": format!("wamid.STUB{n:012}")}],
        }),
    )
}
