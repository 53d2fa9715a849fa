//! Actions "Download Media" and "Upload Media" on the real component, against a loopback
//! Graph API that serves both steps of a download (`--graph-url` sends Meta's media host
//! there too) and reads uploads with a real multipart parser: what arrives, what is
//! checked, what is refused before any request, and that a file streams through with
//! the component's memory flat.

use std::sync::Arc;

use host_harness::bindings::{DownloadInput, TransferError, UploadInput};
use host_harness::fakes::loopback::GraphServer;
use host_harness::fakes::stub_graph::multipart_fields;
use host_harness::{Connector, Outbound, RecordedRequest, StubResponse};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::{TOKEN, assert_graph_call, connection, connector};

const MEDIA_ID: &str = "1037543291543636";
const MEDIA_PATH: &str =
    "/whatsapp_business/attachments/?mid=1037543291543636&ext=1767225600&hash=ATu";

/// A file of `len` bytes that is not all one value (so that a lost or repeated chunk
/// shows in the hash).
fn file_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 65_536) as u8).collect()
}

/// A Graph API that describes `bytes` (with `sha256`, as given) at `url`, and serves
/// `bytes` at [`MEDIA_PATH`].
async fn media_server(bytes: Vec<u8>, sha256: String, url: String) -> GraphServer {
    let bytes = Arc::new(bytes);
    GraphServer::start(move |request: &RecordedRequest| {
        if request.path_and_query == format!("/v27.0/{MEDIA_ID}") {
            StubResponse::json(
                200,
                &json!({
                    "messaging_product": "whatsapp",
                    "url": url,
                    "mime_type": "image/jpeg",
                    "sha256": sha256,
                    "file_size": bytes.len(),
                    "id": MEDIA_ID,
                }),
            )
        } else if request.path_and_query == MEDIA_PATH {
            StubResponse {
                status: 200,
                headers: vec![("content-type".into(), "image/jpeg".into())],
                body: bytes.to_vec(),
            }
        } else {
            StubResponse::json(
                404,
                &json!({"error": {"message": "not found", "code": 100}}),
            )
        }
    })
    .await
    .unwrap()
}

fn metas_url() -> String {
    format!("https://lookaside.fbsbx.com{MEDIA_PATH}")
}

fn over(server: &GraphServer) -> Connector {
    connector().with_outbound(Outbound::redirect(&server.base_url()).unwrap())
}

/// Downloads into a temporary file; the result and what the file holds.
async fn download(
    connector: &Connector,
) -> (
    Result<host_harness::bindings::DownloadOutput, TransferError>,
    Vec<u8>,
) {
    let file = tempfile::NamedTempFile::new().unwrap();
    let destination = tokio::fs::File::from_std(file.reopen().unwrap());
    let input = DownloadInput {
        media_id: MEDIA_ID.into(),
    };
    let result = connector
        .download_media(&connection(), &input, destination)
        .await
        .expect("the call completes");
    (result, std::fs::read(file.path()).unwrap())
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[tokio::test]
async fn a_download_brings_the_bytes_the_type_and_the_hash() {
    let bytes = file_bytes(300_000);
    let server = media_server(
        bytes.clone(),
        hex_sha256(&bytes).to_uppercase(),
        metas_url(),
    )
    .await;
    let connector = over(&server);
    let (result, written) = download(&connector).await;
    let output = result.unwrap();
    assert_eq!(
        (
            output.id.as_str(),
            output.mime_type.as_str(),
            output.file_size
        ),
        (MEDIA_ID, "image/jpeg", 300_000)
    );
    assert_eq!(output.sha256, hex_sha256(&bytes), "lowercase hex");
    assert!(written == bytes, "the file is the bytes, in order");

    // Both steps with the token; the second to Meta's media host, path and query kept.
    let requests = connector.outbound().requests();
    assert_eq!(requests.len(), 2);
    assert_graph_call(&requests[0], "GET", &format!("/v27.0/{MEDIA_ID}"));
    assert_eq!(requests[1].url, metas_url());
    assert_eq!(requests[1].method, "GET");
    assert_eq!(
        requests[1].header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_wrong_hash_or_size_is_an_error() {
    let bytes = file_bytes(10_000);
    let server = media_server(bytes.clone(), hex_sha256(b"other bytes"), metas_url()).await;
    let (result, _) = download(&over(&server)).await;
    let Err(TransferError::Mismatch(mismatch)) = result else {
        panic!("a wrong hash must fail: {result:?}");
    };
    assert_eq!(mismatch.check, "sha256");
    assert_eq!(mismatch.expected, hex_sha256(b"other bytes"));
    assert_eq!(mismatch.actual, hex_sha256(&bytes));

    // The server sends more than `file_size` says: refused without reading it all.
    let long = GraphServer::start(move |request: &RecordedRequest| {
        if request.path_and_query.starts_with("/v27.0/") {
            StubResponse::json(
                200,
                &json!({"url": metas_url(), "mime_type": "image/png", "sha256": "00".repeat(32), "file_size": 10, "id": MEDIA_ID}),
            )
        } else {
            StubResponse {
                status: 200,
                headers: vec![],
                body: vec![0; 1 << 20],
            }
        }
    })
    .await
    .unwrap();
    let (result, written) = download(&over(&long)).await;
    let Err(TransferError::Mismatch(mismatch)) = result else {
        panic!("a long body must fail: {result:?}");
    };
    assert_eq!(
        (mismatch.check.as_str(), mismatch.actual.as_str()),
        ("file-size", "more than 10")
    );
    assert!(
        written.len() <= 10,
        "no byte past the announced size is written"
    );
}

#[tokio::test]
async fn a_media_url_elsewhere_is_refused_and_the_token_stays() {
    for url in [
        "https://evil.example.com/steal?mid=1".to_owned(),
        format!("http://lookaside.fbsbx.com{MEDIA_PATH}"),
        "https://graph.facebook.com/v27.0/me".to_owned(),
        "https://lookaside.fbsbx.com.evil.example/x".to_owned(),
    ] {
        let server = media_server(vec![1, 2, 3], hex_sha256(&[1, 2, 3]), url.clone()).await;
        let connector = over(&server);
        let (result, written) = download(&connector).await;
        assert!(
            matches!(&result, Err(TransferError::UrlRefused(_))),
            "{url}: {result:?}"
        );
        assert!(written.is_empty());
        // The component asked for nothing but the metadata: no request, refused or
        // not, ever carried the token to the URL.
        let requests = connector.outbound().requests();
        assert_eq!(requests.len(), 1, "{url}: {requests:?}");
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn graph_errors_and_bad_ids_come_back_structured() {
    let server = GraphServer::start(|_: &RecordedRequest| {
        StubResponse::json(
            404,
            &json!({"error": {"message": "Unsupported get request", "type": "GraphMethodException", "code": 100}}),
        )
    })
    .await
    .unwrap();
    let connector = over(&server);
    let (result, _) = download(&connector).await;
    let Err(TransferError::Request(host_harness::bindings::ConnectorError::Graph(e))) = result
    else {
        panic!("{result:?}");
    };
    assert_eq!((e.status, e.code), (404, Some(100)));

    let input = DownloadInput {
        media_id: "../me".into(),
    };
    let file = tokio::fs::File::from_std(tempfile::tempfile().unwrap());
    let refused = connector
        .download_media(&connection(), &input, file)
        .await
        .unwrap();
    assert!(
        matches!(&refused, Err(TransferError::Request(host_harness::bindings::ConnectorError::InvalidInput(f))) if f.field == "media-id"),
        "{refused:?}"
    );
    assert_eq!(server.requests().len(), 1, "the bad ID made no request");
}

#[tokio::test]
async fn fifty_megabytes_stream_through_a_flat_memory() {
    const SIZE: usize = 50 << 20;
    let bytes = file_bytes(SIZE);
    let sha256 = hex_sha256(&bytes);
    let server = media_server(bytes, sha256.clone(), metas_url()).await;
    let connector = over(&server);
    let (output, written) = download(&connector).await;
    assert_eq!(output.unwrap().file_size, SIZE as u64);
    assert_eq!(written.len(), SIZE);
    assert_eq!(hex_sha256(&written), sha256);
    // The component's linear memory never held the file: it stays far below it.
    let peak = connector.peak_memory();
    println!("streamed {SIZE} bytes down: the component's peak linear memory {peak} bytes");
    assert!(
        peak < 1 << 20,
        "peak linear memory {peak} bytes for a 50 MB file"
    );
}

/// A Graph API that reads uploads with `multer` and answers with a media ID.
async fn upload_server() -> GraphServer {
    GraphServer::start(|_: &RecordedRequest| {
        StubResponse::json(200, &json!({"id": "4490709327384033"}))
    })
    .await
    .unwrap()
}

fn upload_input(mime_type: &str, filename: &str, file_size: u64) -> UploadInput {
    UploadInput {
        mime_type: mime_type.into(),
        filename: filename.into(),
        file_size,
    }
}

#[tokio::test]
async fn an_upload_is_multipart_that_a_real_parser_reads() {
    let server = upload_server().await;
    let connector = over(&server);
    let bytes = file_bytes(200_000);
    let input = upload_input("application/pdf", "Invoice \"May\".pdf", bytes.len() as u64);
    let output = connector
        .upload_media(&connection(), &input, std::io::Cursor::new(bytes.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.id, "4490709327384033");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path_and_query, "/v27.0/106540352242922/media");
    assert_eq!(
        request.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(
        request.header("content-length"),
        Some(&*request.body.len().to_string()),
        "the length up front, not chunked"
    );
    assert_eq!(request.header("transfer-encoding"), None);
    let content_type = request.header("content-type").unwrap();
    let boundary = multer::parse_boundary(content_type).unwrap();
    let fields = multipart_fields(&boundary, request.body.clone())
        .await
        .unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["messaging_product", "type", "file"]);
    assert_eq!(fields[0].bytes, b"whatsapp");
    assert_eq!(fields[1].bytes, b"application/pdf");
    assert_eq!(fields[2].filename.as_deref(), Some("Invoice %22May%22.pdf"));
    assert_eq!(fields[2].content_type.as_deref(), Some("application/pdf"));
    assert!(fields[2].bytes == bytes, "the file part is the file");
}

#[tokio::test]
async fn oversize_and_unaccepted_files_are_refused_with_no_request() {
    let server = upload_server().await;
    let connector = over(&server);
    for (input, field) in [
        (
            upload_input("image/jpeg", "a.jpg", (5 << 20) + 1),
            "file-size",
        ),
        (
            upload_input("video/mp4", "a.mp4", (16 << 20) + 1),
            "file-size",
        ),
        (
            upload_input("application/pdf", "a.pdf", (100 << 20) + 1),
            "file-size",
        ),
        (
            upload_input("image/webp", "s.webp", 100 * 1024 + 1),
            "file-size",
        ),
        (upload_input("image/gif", "a.gif", 10), "mime-type"),
        (upload_input("application/zip", "a.zip", 10), "mime-type"),
        (upload_input("image/png", "a\nb.png", 10), "filename"),
        (upload_input("image/png", "empty.png", 0), "file-size"),
    ] {
        let source = std::io::Cursor::new(file_bytes(16));
        let result = connector
            .upload_media(&connection(), &input, source)
            .await
            .unwrap();
        assert!(
            matches!(&result, Err(TransferError::Request(host_harness::bindings::ConnectorError::InvalidInput(f))) if f.field == field),
            "{input:?}: {result:?}"
        );
    }
    assert!(
        server.requests().is_empty(),
        "no request for a refused file"
    );
    assert!(connector.outbound().requests().is_empty());
}

#[tokio::test]
async fn a_source_shorter_or_longer_than_announced_fails() {
    let server = upload_server().await;
    let connector = over(&server);
    for (announced, actual) in [(100_000u64, 70_000usize), (1_000, 1_001)] {
        let input = upload_input("image/png", "a.png", announced);
        let result = connector
            .upload_media(
                &connection(),
                &input,
                std::io::Cursor::new(file_bytes(actual)),
            )
            .await
            .unwrap();
        assert!(
            matches!(&result, Err(TransferError::Stream(_))),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn a_large_upload_streams_through_a_flat_memory() {
    let server = upload_server().await;
    let connector = over(&server);
    let bytes = file_bytes(30 << 20);
    let input = upload_input("application/pdf", "big.pdf", bytes.len() as u64);
    let output = connector
        .upload_media(&connection(), &input, std::io::Cursor::new(bytes.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.id, "4490709327384033");
    let request = &server.requests()[0];
    let boundary = multer::parse_boundary(request.header("content-type").unwrap()).unwrap();
    let fields = multipart_fields(&boundary, request.body.clone())
        .await
        .unwrap();
    assert!(fields[2].bytes == bytes);
    // The host streamed it: its journal kept only the head.
    assert!(connector.outbound().requests()[0].body.is_empty());
    let peak = connector.peak_memory();
    println!(
        "streamed {} bytes up: the component's peak linear memory {peak} bytes",
        bytes.len()
    );
    assert!(
        peak < 1 << 20,
        "peak linear memory {peak} bytes for a 30 MB file"
    );
}
