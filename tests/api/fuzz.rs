//! Random multipart uploads: odd boundaries, odd part layouts, bodies cut anywhere. The
//! server must answer every one with a clean JSON status (never 5xx), store a blob only for
//! a complete, well-formed `file` part, and keep serving.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both;
use crate::common::{Backend, TestApp, TestDb};

both!(random_multipart_bodies_never_break_the_server);

#[derive(Debug, Clone)]
struct Upload {
    boundary: String,
    extra_before: bool,
    content: Vec<u8>,
    /// Cut the body after this many bytes (None: send it whole).
    cut: Option<usize>,
}

fn uploads() -> impl Strategy<Value = Upload> {
    (
        "[A-Za-z0-9'()+_,./:=?-]{1,70}",
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..3000),
        prop::option::of(0usize..4000),
    )
        .prop_map(|(boundary, extra_before, content, cut)| Upload {
            boundary,
            extra_before,
            content,
            cut,
        })
}

fn body(upload: &Upload) -> Vec<u8> {
    let b = &upload.boundary;
    let mut body = Vec::new();
    if upload.extra_before {
        body.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(&upload.content);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    body
}

/// Sends the request by hand (so it can be cut anywhere) and returns the status, if any came.
async fn send(app: &TestApp, token: &str, upload: &Upload) -> anyhow::Result<Option<u16>> {
    let body = body(upload);
    let sent = upload.cut.map_or(body.len(), |cut| cut.min(body.len()));
    let mut socket = tokio::net::TcpStream::connect(app.addr).await?;
    let head = format!(
        "POST /archivist/v1/blobs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary=\"{}\"\r\nContent-Length: {}\r\n\r\n",
        upload.boundary,
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(&body[..sent]).await?;
    if sent < body.len() {
        // The client gives up: the server sees the connection end mid-body.
        socket.shutdown().await?;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), socket.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    Ok(text.get(9..12).and_then(|s| s.parse().ok()))
}

async fn random_multipart_bodies_never_break_the_server(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    // A fixed seed: a failure in CI reproduces on any machine.
    let mut runner = TestRunner::deterministic();
    let mut cases = Vec::new();
    for _ in 0..48 {
        cases.push(
            uploads()
                .new_tree(&mut runner)
                .map_err(|e| anyhow::anyhow!(e))?
                .current(),
        );
    }
    let (mut stored, mut refused, mut cut) = (0, 0, 0);
    for upload in &cases {
        let status = send(&app, &tenant.token, upload).await?;
        let whole = upload.cut.is_none_or(|cut| cut >= body(upload).len());
        match status {
            Some(200) => {
                assert!(whole, "a cut body was stored: {upload:?}");
                stored += 1;
            }
            Some(status) => {
                assert!((400..500).contains(&status), "{status} for {upload:?}");
                refused += 1;
            }
            None => {
                assert!(!whole, "no answer to a whole body: {upload:?}");
                cut += 1;
            }
        }
    }
    assert!(
        stored > 0 && refused + cut > 0,
        "stored {stored}, refused {refused}, cut {cut}"
    );
    // Only complete uploads left rows behind, and the server still works.
    crate::common::eventually("no upload is open", std::time::Duration::from_secs(30), || async {
        Ok(!db.upload_staged().await?)
    })
    .await?;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, stored);
    let blob: Value = app
        .upload(&tenant.token, "after.txt", b"still serving".to_vec())
        .await?;
    assert_eq!(blob["size"], 13);
    Ok(())
}
