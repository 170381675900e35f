//! The Blobs API: streamed upload, verified download, info, limits.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use crate::all_stores;
use crate::common::{bare_id, default_settings, eventually, random_bytes, sha256_hex, Backend, TestApp, TestDb};

all_stores!(
    round_trip_small_sizes,
    round_trip_200_mib,
    mime_types_are_sniffed,
    other_tenants_get_404,
    bad_requests_are_json_400,
    cut_off_upload_leaves_nothing,
    oversized_upload_is_413_and_stores_nothing,
    restart_keeps_every_blob,
    altered_content_is_never_delivered,
);

async fn get_info(app: &TestApp, token: &str, id: &str) -> anyhow::Result<(u16, Value)> {
    let response = app
        .http
        .get(app.url(&format!("/archivist/v1/blobs/{id}/info")))
        .bearer_auth(token)
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await?))
}

async fn round_trip_small_sizes(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    for (i, size) in [0usize, 1, 5 << 20].into_iter().enumerate() {
        let content = random_bytes(size, i as u64);
        let uploaded = app.upload(&tenant.token, "data.bin", content.clone()).await?;
        assert_eq!(uploaded["size"], size);
        assert_eq!(uploaded["hash"]["alg"], "SHA256");
        assert_eq!(uploaded["hash"]["value"], sha256_hex(&content));
        assert_eq!(uploaded["tenantid"], tenant.credentials.tenant);
        assert_eq!(uploaded["scanned_status"], "NOT_SCANNED");
        assert_eq!(uploaded["subject"], tenant.credentials.client_id);
        let id = bare_id(&uploaded["identity"]);

        let response = app
            .http
            .get(app.url(&format!("/archivist/v1/blobs/{id}")))
            .bearer_auth(&tenant.token)
            .send()
            .await?;
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-length"], size.to_string().as_str());
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["etag"], format!("\"{}\"", sha256_hex(&content)).as_str());
        assert_eq!(response.bytes().await?.as_ref(), content.as_slice(), "size {size}");

        let (status, info) = get_info(&app, &tenant.token, &id).await?;
        assert_eq!(status, 200);
        assert_eq!(info, uploaded);
    }
    Ok(())
}

async fn round_trip_200_mib(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(200 << 20, 7);
    let expected_hash = sha256_hex(&content);
    let uploaded = app.upload(&tenant.token, "big.bin", content).await?;
    assert_eq!(uploaded["hash"]["value"], expected_hash);
    let id = bare_id(&uploaded["identity"]);
    let response = app
        .http
        .get(app.url(&format!("/archivist/v1/blobs/{id}")))
        .bearer_auth(&tenant.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let mut hasher = sha2::Sha256::new();
    let mut received = 0usize;
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece?;
        received += piece.len();
        hasher.update(&piece);
    }
    assert_eq!(received, 200 << 20);
    assert_eq!(hex::encode(hasher.finalize()), expected_hash);
    Ok(())
}

fn minimal_docx() -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("[Content_Types].xml", options)?;
    zip.write_all(
        br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#,
    )?;
    zip.start_file("word/document.xml", options)?;
    zip.write_all(b"<w:document/>")?;
    Ok(zip.finish()?.into_inner())
}

async fn mime_types_are_sniffed(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    let cases: [(&str, Vec<u8>, Option<&str>, &str); 4] = [
        (
            "report.docx",
            minimal_docx()?,
            Some("application/octet-stream"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("pixel", png.clone(), Some("application/octet-stream"), "image/png"),
        ("pixel.png", png, None, "image/png"),
        (
            "notes.bin",
            b"just text".to_vec(),
            Some("application/pdf"),
            "application/pdf",
        ),
    ];
    for (name, content, declared, expected) in cases {
        let mut part = reqwest::multipart::Part::bytes(content).file_name(name);
        if let Some(declared) = declared {
            part = part.mime_str(declared)?;
        }
        let uploaded: Value = app
            .http
            .post(app.url("/archivist/v1/blobs"))
            .bearer_auth(&tenant.token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(uploaded["mime_type"], expected, "{name}");
        let id = bare_id(&uploaded["identity"]);
        let response = app
            .http
            .get(app.url(&format!("/archivist/v1/blobs/{id}")))
            .bearer_auth(&tenant.token)
            .send()
            .await?;
        assert_eq!(response.headers()["content-type"], expected);
    }
    Ok(())
}

async fn other_tenants_get_404(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let owner = app.tenant().await?;
    let other = app.tenant().await?;
    let uploaded = app.upload(&owner.token, "secret.txt", b"owner only".to_vec()).await?;
    let id = bare_id(&uploaded["identity"]);
    for path in [
        format!("/archivist/v1/blobs/{id}"),
        format!("/archivist/v1/blobs/{id}/info"),
    ] {
        let response = app.http.get(app.url(&path)).bearer_auth(&other.token).send().await?;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await?;
        assert_eq!(body["code"], 5);
        let mine = app.http.get(app.url(&path)).bearer_auth(&owner.token).send().await?;
        assert_eq!(mine.status(), 200, "{path}");
    }
    Ok(())
}

async fn bad_requests_are_json_400(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let no_file = reqwest::multipart::Form::new().text("note", "no file here");
    let file = || reqwest::multipart::Part::bytes(b"evidence".to_vec()).file_name("e.txt");
    // A part the server would drop is refused, before or after the file.
    let note_first = reqwest::multipart::Form::new()
        .text("note", "kept nowhere")
        .part("file", file());
    let note_after = reqwest::multipart::Form::new()
        .part("file", file())
        .text("note", "kept nowhere");
    let not_multipart = app
        .http
        .post(app.url("/archivist/v1/blobs"))
        .bearer_auth(&tenant.token)
        .json(&serde_json::json!({"file": "x"}));
    let requests = [
        app.http
            .post(app.url("/archivist/v1/blobs"))
            .bearer_auth(&tenant.token)
            .multipart(no_file),
        not_multipart,
        app.http
            .post(app.url("/archivist/v1/blobs"))
            .bearer_auth(&tenant.token)
            .multipart(note_first),
        app.http
            .post(app.url("/archivist/v1/blobs"))
            .bearer_auth(&tenant.token)
            .multipart(note_after),
        app.http
            .get(app.url("/archivist/v2/assets"))
            .header("X-Request-Total-Count", "yes")
            .bearer_auth(&tenant.token),
        app.http
            .get(app.url("/archivist/v2/assets?page_token=c2VxOjE1"))
            .bearer_auth(&tenant.token),
        // serde alone would read an array as an empty struct.
        app.http
            .post(app.url("/archivist/v2/assets"))
            .bearer_auth(&tenant.token)
            .json(&serde_json::json!([])),
        app.http
            .post(app.url("/archivist/v1/events"))
            .bearer_auth(&tenant.token)
            .json(&serde_json::json!([])),
        // PostgreSQL text cannot hold U+0000: refused on both backends alike, never a 500.
        app.http
            .post(app.url("/archivist/v2/assets"))
            .bearer_auth(&tenant.token)
            .json(&serde_json::json!({"attributes": {"note": "a\u{0}b"}})),
        app.http
            .get(app.url("/archivist/v2/assets?attributes.note=a%00b"))
            .bearer_auth(&tenant.token),
        app.http.post(app.url("/archivist/iam/v1/appidp/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "a\u{0}"),
            ("client_secret", "x"),
        ]),
        app.http
            .get(app.url("/archivist/v1/blobs/00000000-0000-0000-0000-000000000000?strict=1"))
            .bearer_auth(&tenant.token),
        app.http
            .get(app.url("/archivist/v1/blobs/not-a-uuid"))
            .bearer_auth(&tenant.token),
        app.http
            .get(app.url("/archivist/v1/blobs/not-a-uuid/info"))
            .bearer_auth(&tenant.token),
    ];
    for request in requests {
        let response = request.send().await?;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await?;
        assert_eq!(body["code"], 3);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(body["details"], serde_json::json!([]));
    }
    let unknown = uuid::Uuid::new_v4();
    let response = app
        .http
        .get(app.url(&format!("/archivist/v1/blobs/{unknown}")))
        .bearer_auth(&tenant.token)
        .send()
        .await?;
    assert_eq!(response.status(), 404);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 0);
    assert_eq!(db.stored_content().await?, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM assets").await?, 0);
    Ok(())
}

/// Sends the start of a multipart upload by hand and returns the open socket.
async fn start_raw_upload(
    app: &TestApp,
    token: &str,
    declared_len: usize,
    first_bytes: &[u8],
) -> anyhow::Result<tokio::net::TcpStream> {
    let mut socket = tokio::net::TcpStream::connect(app.addr).await?;
    let preamble = "--XBOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\
                    Content-Type: application/octet-stream\r\n\r\n";
    let head = format!(
        "POST /archivist/v1/blobs HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XBOUNDARY\r\nContent-Length: {}\r\n\r\n{preamble}",
        declared_len + preamble.len() + 20
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(first_bytes).await?;
    socket.flush().await?;
    Ok(socket)
}

async fn cut_off_upload_leaves_nothing(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    // More than one S3 part, so a multipart upload is under way too.
    let socket = start_raw_upload(&app, &tenant.token, 20 << 20, &random_bytes(10 << 20, 1)).await?;
    // The server has staged content before the client vanishes.
    eventually("the upload has staged content", Duration::from_secs(30), || async {
        Ok(db.staged_chunks().await? > 0)
    })
    .await?;
    let multipart = crate::common::store::multipart_upload(&db).await?;
    drop(socket);
    eventually(
        "the upload's staged content is gone",
        Duration::from_secs(30),
        || async { Ok(!db.upload_staged().await?) },
    )
    .await?;
    if let Some((path, id)) = multipart {
        crate::common::store::assert_aborted(&path, &id).await?;
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 0);
    assert_eq!(db.stored_content().await?, 0);
    // The server is unharmed.
    app.upload(&tenant.token, "after.txt", b"still fine".to_vec()).await?;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 1);
    Ok(())
}

async fn oversized_upload_is_413_and_stores_nothing(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.max_blob_bytes = 2 << 20;
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    // Streamed without Content-Length, so only the counted bytes can trip the limit.
    let content = random_bytes(3 << 20, 3);
    let stream = futures::stream::iter(
        content
            .chunks(64 << 10)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let part = reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream)).file_name("big.bin");
    let response = app
        .http
        .post(app.url("/archivist/v1/blobs"))
        .bearer_auth(&tenant.token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await?;
    assert_eq!(body["code"], 8);
    // Declared too large by Content-Length: refused before anything is stored.
    let response = app
        .http
        .post(app.url("/archivist/v1/blobs"))
        .bearer_auth(&tenant.token)
        .multipart(
            reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(random_bytes(4 << 20, 4))),
        )
        .send()
        .await?;
    assert_eq!(response.status(), 413);
    eventually("no upload is open", Duration::from_secs(30), || async {
        Ok(!db.upload_staged().await?)
    })
    .await?;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 0);
    assert_eq!(db.stored_content().await?, 0);
    // Exactly at the limit is fine.
    app.upload(&tenant.token, "fits.bin", random_bytes(2 << 20, 5)).await?;
    Ok(())
}

async fn restart_keeps_every_blob(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let mut stored = Vec::new();
    for (i, size) in [0usize, 10, 1 << 20, (3 << 20) + 1].into_iter().enumerate() {
        let content = random_bytes(size, 100 + i as u64);
        let id = bare_id(&app.upload(&tenant.token, "keep.bin", content.clone()).await?["identity"]);
        stored.push((id, content));
    }
    app.stop().await?;
    let app = TestApp::start(&db).await?;
    // The old token still verifies: the signing key is kept in the database.
    for (id, content) in stored {
        let response = app
            .http
            .get(app.url(&format!("/archivist/v1/blobs/{id}")))
            .bearer_auth(&tenant.token)
            .send()
            .await?;
        assert_eq!(response.status(), 200);
        assert_eq!(response.bytes().await?.as_ref(), content.as_slice());
    }
    Ok(())
}

async fn altered_content_is_never_delivered(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let small = bare_id(&app.upload(&tenant.token, "s.bin", random_bytes(1000, 1)).await?["identity"]);
    let large = bare_id(
        &app.upload(&tenant.token, "l.bin", random_bytes((3 << 20) + 7, 2))
            .await?["identity"],
    );
    let gone = bare_id(&app.upload(&tenant.token, "g.bin", random_bytes(2000, 3)).await?["identity"]);
    db.corrupt_chunk(&small, 0).await?;
    db.corrupt_chunk(&large, 1).await?;
    crate::common::store::delete_content(&db, &gone).await?;

    // Small, or gone from the store: refused before the first byte.
    for id in [&small, &gone] {
        let response = app
            .http
            .get(app.url(&format!("/archivist/v1/blobs/{id}")))
            .bearer_auth(&tenant.token)
            .send()
            .await?;
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await?;
        assert_eq!(body["code"], 15);
        assert!(body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no longer matches its recorded hash"));
    }

    // Large: the transfer fails before it completes, whole or over two chunks.
    for range in [None, Some("bytes=0-1048580")] {
        let mut request = app
            .http
            .get(app.url(&format!("/archivist/v1/blobs/{large}")))
            .bearer_auth(&tenant.token);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        let response = request.send().await?;
        assert!(response.status().is_success());
        assert!(
            response.bytes().await.is_err(),
            "an altered blob was delivered whole ({range:?})"
        );
    }
    // A range inside the altered chunk is refused before its first byte.
    let response = app
        .http
        .get(app.url(&format!("/archivist/v1/blobs/{large}")))
        .bearer_auth(&tenant.token)
        .header("range", "bytes=1048600-1048700")
        .send()
        .await?;
    assert_eq!(response.status(), 500);
    for id in [small, large, gone] {
        let (_, info) = get_info(&app, &tenant.token, &id).await?;
        assert!(info["tampered_timestamp"].is_string(), "{info}");
    }
    Ok(())
}
