//! The content store going away or filling up: fast, clear answers (503, 507), no blob
//! wrongly marked as tampered, and service again once the cause is gone; a store that cannot
//! be used at all stops the start.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use crate::common::seaweedfs::{Seaweed, ACCESS_KEY, READ_ONLY_ACCESS_KEY, SECRET_KEY};
use crate::common::{bare_id, default_settings, eventually, random_bytes, sha256_hex, Backend, TestApp, TestDb};

/// One answer during the outage: `status` JSON with `code`, well inside 10 s (the store's
/// timeout is 2 s here, and a request is tried at most three times within 5 s).
async fn assert_refused(request: reqwest::RequestBuilder, status: u16, code: i64, what: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(30), request.send())
        .await
        .map_err(|_| anyhow::anyhow!("{what}: no answer in 30 s"))??;
    let took = started.elapsed();
    assert_eq!(response.status(), status, "{what}");
    let body: Value = response.json().await?;
    assert_eq!(body["code"], code, "{what}: {body}");
    assert!(took < Duration::from_secs(10), "{what} took {took:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_outage_is_a_fast_503() -> anyhow::Result<()> {
    // A SeaweedFS of its own: stopping the shared one would fail every other test.
    let seaweed = tokio::task::spawn_blocking(Seaweed::start).await??;
    let db = TestDb::new(Backend::Postgres).await?;
    let mut settings = default_settings();
    settings.store.content_store = format!("s3://{}/outage", crate::common::seaweedfs::BUCKET)
        .parse()
        .map_err(anyhow::Error::msg)?;
    seaweed.configure(&mut settings);
    settings.body_idle_timeout = 1.into();
    settings.store.s3_timeout = 2.into();
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(3 << 20, 31);
    let blob = bare_id(&app.upload(&tenant.token, "before.bin", content.clone()).await?["identity"]);
    let path = format!("/archivist/v1/blobs/{blob}");
    let large = bare_id(
        &app.upload(&tenant.token, "large.bin", random_bytes(48 << 20, 36))
            .await?["identity"],
    );

    // Hung mid-download: the transfer is cut once the store has sent nothing for its timeout.
    let response = app
        .http
        .get(app.url(&format!("/archivist/v1/blobs/{large}")))
        .bearer_auth(&tenant.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    stream.next().await.transpose()?;
    seaweed.freeze(true)?;
    let frozen = Instant::now();
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while stream.next().await.transpose()?.is_some() {}
        Ok::<_, reqwest::Error>(())
    })
    .await;
    assert!(matches!(drained, Ok(Err(_))), "not cut: {drained:?}");
    assert!(
        frozen.elapsed() < Duration::from_secs(10),
        "cut after {:?}",
        frozen.elapsed()
    );

    // Hung: it takes connections and answers nothing.
    let request = app.http.get(app.url(&path)).bearer_auth(&tenant.token);
    assert_refused(request, 503, 14, "download from a hung store").await?;
    let request = app.upload_request(&tenant.token, "hung.bin", random_bytes(1000, 34));
    assert_refused(request, 503, 14, "upload to a hung store").await?;
    seaweed.freeze(false)?;

    // Gone: nothing listens.
    seaweed.stop();
    for size in [1000, 12 << 20] {
        let request = app.upload_request(&tenant.token, "during.bin", random_bytes(size, 32));
        assert_refused(request, 503, 14, &format!("upload of {size} bytes")).await?;
    }
    let request = app.http.get(app.url(&path)).bearer_auth(&tenant.token);
    assert_refused(request, 503, 14, "download").await?;
    let (_, info) = app.get_json(Some(&tenant.token), &format!("{path}/info")).await?;
    assert!(
        info["tampered_timestamp"].is_null(),
        "an unreachable store is not tampering: {info}"
    );
    let (_, info) = app
        .get_json(Some(&tenant.token), &format!("/archivist/v1/blobs/{large}/info"))
        .await?;
    assert!(
        info["tampered_timestamp"].is_null(),
        "a hung store is not tampering: {info}"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 2);

    // Back: the blob serves, uploads work, and the refused uploads' leftovers are swept.
    let resumed = tokio::task::spawn_blocking(move || seaweed.resume().map(|()| seaweed)).await??;
    let (status, body) = app.get_bytes(Some(&tenant.token), &path).await?;
    assert_eq!(
        (status, body.map(|b| sha256_hex(&b))),
        (200, Some(sha256_hex(&content)))
    );
    app.upload(&tenant.token, "after.bin", random_bytes(1000, 33)).await?;
    eventually("the refused uploads leave nothing", Duration::from_secs(30), || async {
        Ok(db.scalar("SELECT COUNT(*) FROM blob_uploads").await? == 0)
    })
    .await?;
    drop(resumed);
    Ok(())
}

/// `attachd serve` on an S3 store it cannot use stops at once with a message naming the
/// store, rather than starting and failing every upload.
#[tokio::test]
async fn a_misconfigured_object_store_stops_the_start() -> anyhow::Result<()> {
    let seaweed = crate::common::seaweedfs::seaweed()?;
    let bucket = crate::common::seaweedfs::BUCKET;
    let cases = [
        (
            format!("s3://{bucket}/start"),
            "a wrong secret key",
            ACCESS_KEY,
            "not-the-secret",
        ),
        (
            "s3://b/start".to_string(),
            "an invalid bucket name",
            ACCESS_KEY,
            SECRET_KEY,
        ),
        (
            format!("s3://{bucket}/start"),
            "a read-only key",
            READ_ONLY_ACCESS_KEY,
            SECRET_KEY,
        ),
    ];
    for (store, what, key, secret) in cases {
        let dir = tempfile::tempdir()?;
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
            .current_dir(dir.path())
            .env_remove("ATTACHD_DATABASE_URL")
            .args(["serve", "--listen", "127.0.0.1:0", "--content-store", &store])
            .args(["--s3-endpoint", &seaweed.endpoint, "--s3-allow-http", "true"])
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .map_err(|_| anyhow::anyhow!("{what}: still running after 30 s"))??;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{what}: started anyway");
        assert!(stderr.contains("cannot use the S3 store"), "{what}: {stderr}");
    }
    Ok(())
}

/// A client reading a large blob far more slowly than the store's timeout still gets all of
/// it, verified: the timeout bounds the store's stalls, not the download's length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_outlasts_the_store_timeout() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Postgres).await?;
    let mut settings = default_settings();
    settings.store.content_store = format!(
        "s3://{}/slow-{}",
        crate::common::seaweedfs::BUCKET,
        uuid::Uuid::new_v4()
    )
    .parse()
    .map_err(anyhow::Error::msg)?;
    crate::common::seaweedfs::seaweed()?.configure(&mut settings);
    settings.store.s3_timeout = 1.into();
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(40 << 20, 35);
    let blob = bare_id(&app.upload(&tenant.token, "slow.bin", content.clone()).await?["identity"]);
    let response = app
        .http
        .get(app.url(&format!("/archivist/v1/blobs/{blob}")))
        .bearer_auth(&tenant.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let (started, mut stream, mut received) = (Instant::now(), response.bytes_stream(), Vec::new());
    while let Some(piece) = stream.next().await {
        received.extend_from_slice(&piece?);
        // About 4 MiB/s: ten seconds for the whole, ten times the store's timeout.
        let due = Duration::from_secs_f64(received.len() as f64 / f64::from(4u32 << 20));
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    assert!(
        started.elapsed() > Duration::from_secs(9),
        "not slow: {:?}",
        started.elapsed()
    );
    assert_eq!(sha256_hex(&received), sha256_hex(&content));
    Ok(())
}
