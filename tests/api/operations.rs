//! Operations: health, timeouts, graceful shutdown, the binary's bootstrap, migrations.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both;
use crate::common::{default_settings, eventually, random_bytes, sha256_hex, until_ready, Backend, TestApp, TestDb};

both!(
    health_and_unknown_routes,
    slow_headers_are_cut_off,
    shutdown_finishes_in_flight_uploads,
    metrics_are_scraped,
);

async fn health_and_unknown_routes(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let response = app.http.get(app.url("/healthz")).send().await?;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let ready: Value = app.http.get(app.url("/readyz")).send().await?.json().await?;
    assert_eq!(ready["status"], "ready");
    let response = app.http.get(app.url("/no/such/route")).send().await?;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await?;
    assert_eq!(body["code"], 5);
    let response = app.http.delete(app.url("/archivist/v1/blobs")).send().await?;
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await?;
    assert_eq!(body["code"], 12);
    Ok(())
}

async fn slow_headers_are_cut_off(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.header_read_timeout = 1.into();
    let app = TestApp::start_with(&db, settings).await?;
    let mut socket = tokio::net::TcpStream::connect(app.addr).await?;
    socket.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n").await?;
    let started = std::time::Instant::now();
    let mut sink = Vec::new();
    // The server must close the connection by itself; 20 s is only the test's own limit.
    tokio::time::timeout(Duration::from_secs(20), socket.read_to_end(&mut sink)).await??;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "closed after {:?}",
        started.elapsed()
    );
    assert!(!String::from_utf8_lossy(&sink).contains("200 OK"));
    Ok(())
}

async fn shutdown_finishes_in_flight_uploads(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(3 << 20, 11);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let part = reqwest::multipart::Part::stream(body).file_name("inflight.bin");
    let request = app
        .http
        .post(app.url("/archivist/v1/blobs"))
        .bearer_auth(&tenant.token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send();
    let response = tokio::spawn(request);
    tx.send(Ok(content[..1 << 20].to_vec())).await?;
    eventually("the upload has begun", Duration::from_secs(30), || db.upload_staged()).await?;
    app.begin_shutdown();
    tx.send(Ok(content[1 << 20..].to_vec())).await?;
    drop(tx);
    let response = response.await??;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await?;
    assert_eq!(body["hash"]["value"], sha256_hex(&content));
    app.stop().await?;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 1);
    Ok(())
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The binary on a fresh embedded database: dev tenant, token file usable as
/// `curl -H @file`, `tenant create` output, and a clean exit on SIGTERM.
#[tokio::test]
async fn binary_bootstraps_a_dev_tenant_and_stops_on_sigterm() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let exe = env!("CARGO_BIN_EXE_attachd");

    let created = tokio::process::Command::new(exe)
        .current_dir(dir.path())
        .args(["tenant", "create", "--name", "acme"])
        .env_remove("ATTACHD_DATABASE_URL")
        .output()
        .await?;
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let printed: Value = serde_json::from_slice(&created.stdout)?;
    assert!(printed["tenant"].as_str().is_some_and(|t| t.starts_with("tenant/")));
    assert!(printed["client_id"].is_string() && printed["client_secret"].is_string());
    // A tenant exists now, so the server must not invent a dev tenant; start over empty.
    let dir = tempfile::tempdir()?;
    let mut server = tokio::process::Command::new(exe)
        .current_dir(dir.path())
        .env_remove("ATTACHD_DATABASE_URL")
        .env("ATTACHD_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    until_ready(&http, &base, Duration::from_secs(60)).await?;
    let token_file = dir.path().join("attachd-data/bearer-token.txt");
    let line = std::fs::read_to_string(&token_file)?;
    let (name, value) = line.trim_end().split_once(": ").unwrap_or_default();
    assert_eq!(name, "Authorization");
    assert!(value.starts_with("Bearer "));
    let content = b"evidence".to_vec();
    let part = reqwest::multipart::Part::bytes(content.clone()).file_name("e.txt");
    let response = http
        .post(format!("{base}/archivist/v1/blobs"))
        .header(name, value)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?;
    assert_eq!(response.status(), 200);

    let pid = server.id().map(|p| p.to_string()).unwrap_or_default();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await?;
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait()).await??;
    assert!(status.success(), "exit status {status}");
    let mut log = String::new();
    if let Some(mut stderr) = server.stderr.take() {
        stderr.read_to_string(&mut log).await?;
    }
    assert!(
        log.contains("bearer-token.txt"),
        "the token file's path is logged: {log}"
    );
    Ok(())
}

#[test]
fn migrations_are_paired() -> anyhow::Result<()> {
    let names = |backend: &str| -> anyhow::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR")))?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        Ok(names)
    };
    let postgres = names("postgres")?;
    assert!(!postgres.is_empty());
    assert_eq!(postgres, names("sqlite")?);
    Ok(())
}

/// `/metrics` in Prometheus text: requests by route and status, bytes both ways, and the
/// tenant's quota use.
async fn metrics_are_scraped(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.quota_max_blobs = Some(10);
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(3000, 4);
    let blob = app.upload(&tenant.token, "m.bin", content.clone()).await?;
    let (status, _) = app
        .get_bytes(
            Some(&tenant.token),
            &format!("/archivist/v1/blobs/{}", crate::common::bare_id(&blob["identity"])),
        )
        .await?;
    assert_eq!(status, 200);
    let response = app.http.get(app.url("/metrics")).send().await?;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str()?.starts_with("text/plain"));
    let text = response.text().await?;
    let value = |prefix: &str| -> f64 {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    let upload_requests = "http_requests_total{method=\"POST\",route=\"/archivist/v1/blobs\",status=\"200\"}";
    assert!(value(upload_requests) >= 1.0, "{text}");
    assert!(text.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/archivist/v1/blobs/{uuid}\""));
    // The counters are process-wide (tests share a process), so at least this test's bytes.
    assert!(value("attachd_uploaded_bytes_total") >= 3000.0);
    assert!(value("attachd_downloaded_bytes_total") >= 3000.0);
    let t = &tenant.credentials.tenant;
    assert_eq!(value(&format!("attachd_tenant_blobs{{tenant=\"{t}\"}}")), 1.0);
    assert_eq!(value(&format!("attachd_tenant_bytes{{tenant=\"{t}\"}}")), 3000.0);
    assert_eq!(value(&format!("attachd_tenant_max_blobs{{tenant=\"{t}\"}}")), 10.0);
    Ok(())
}
