//! Verified byte ranges: a range reads and checks only the chunks it touches (each against
//! its keyed MAC), on every content store.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::all_stores;
use crate::common::{bare_id, default_settings, random_bytes, sha256_hex, Backend, TestApp, TestDb};

all_stores!(
    ranges_are_served_and_verified,
    ranges_cost_only_their_chunks,
    ranges_check_only_their_chunks,
    blobs_without_usable_macs_are_verified_whole,
);

const MIB: usize = 1 << 20;

/// The quickest of `rounds` downloads of `range`, checking each returns `expected`.
async fn quickest(
    app: &TestApp,
    token: &str,
    blob: &str,
    range: Option<&str>,
    expected: &[u8],
    rounds: usize,
) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..rounds {
        let started = Instant::now();
        let (status, bytes) = app.download(token, blob, range).await?;
        best = best.min(started.elapsed());
        anyhow::ensure!(matches!(status, 200 | 206), "download answered {status}");
        let bytes = bytes.ok_or_else(|| anyhow::anyhow!("the download was cut"))?;
        anyhow::ensure!(sha256_hex(&bytes) == sha256_hex(expected), "wrong bytes for {range:?}");
    }
    Ok(best)
}

async fn ranges_cost_only_their_chunks(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.max_blob_bytes = 300 << 20;
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(256 * MIB, 41);
    let blob = bare_id(&app.upload(&tenant.token, "big.bin", content.clone()).await?["identity"]);
    let size = content.len();
    let last = format!("bytes={}-{}", size - MIB, size - 1);
    let whole = quickest(&app, &tenant.token, &blob, None, &content, 2).await?;
    let range = quickest(&app, &tenant.token, &blob, Some(&last), &content[size - MIB..], 5).await?;
    assert!(
        range.as_secs_f64() < whole.as_secs_f64() * 0.05,
        "the last MiB took {range:?}, the whole 256 MiB {whole:?}"
    );
    Ok(())
}

async fn ranges_check_only_their_chunks(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(5 * MIB + 300, 42);
    let blob = bare_id(&app.upload(&tenant.token, "five.bin", content.clone()).await?["identity"]);
    let flipped = 4 * MIB + 1000;
    crate::common::store::corrupt_byte(&db, &blob, flipped as u64).await?;

    // Outside the flipped chunk: delivered, and exactly right.
    for (from, to) in [(0, MIB - 1), (MIB + 5, 3 * MIB + 7), (5 * MIB, 5 * MIB + 299)] {
        let range = format!("bytes={from}-{to}");
        let (status, bytes) = app.download(&tenant.token, &blob, Some(&range)).await?;
        assert_eq!(status, 206, "{range}");
        assert_eq!(bytes.as_deref(), Some(&content[from..=to]), "{range}");
    }
    // Inside it (even far from the flipped byte): refused before any of its bytes.
    let (status, bytes) = app
        .download(&tenant.token, &blob, Some("bytes=4194304-4194310"))
        .await?;
    assert_eq!(status, 500);
    let body: Value = serde_json::from_slice(&bytes.unwrap_or_default())?;
    assert_eq!(body["code"], 15);
    // Across it: cut before the flipped chunk's bytes are sent.
    let (status, bytes) = app
        .download(&tenant.token, &blob, Some("bytes=3145728-5242879"))
        .await?;
    assert_eq!(status, 206);
    assert!(bytes.is_none(), "a range over the altered chunk was delivered");
    // The whole blob: refused.
    let (_, bytes) = app.download(&tenant.token, &blob, None).await?;
    assert!(bytes.is_none(), "the altered blob was delivered whole");
    Ok(())
}

async fn blobs_without_usable_macs_are_verified_whole(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let keys = tempfile::tempdir()?;
    let (first_key, second_key) = (keys.path().join("first"), keys.path().join("second"));
    std::fs::write(&first_key, random_bytes(32, 1))?;
    std::fs::write(&second_key, random_bytes(32, 2))?;
    let mut settings = default_settings();
    settings.store.chunk_mac_key = Some(first_key);
    let app = TestApp::start_with(&db, settings.clone()).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(3 * MIB, 43);
    let keyed_elsewhere = bare_id(&app.upload(&tenant.token, "a.bin", content.clone()).await?["identity"]);
    let unkeyed = bare_id(&app.upload(&tenant.token, "b.bin", content.clone()).await?["identity"]);
    app.stop().await?;
    // As if stored before chunk MACs existed.
    let id = uuid::Uuid::parse_str(&unkeyed)?;
    assert_eq!(
        db.execute(&format!("DELETE FROM blob_chunk_macs WHERE blob_id = {}", db.uuid(&id)))
            .await?,
        1
    );
    // The other blob's MACs were made with a key this server no longer has.
    settings.store.chunk_mac_key = Some(second_key);
    let app = TestApp::start_with(&db, settings).await?;
    for blob in [&keyed_elsewhere, &unkeyed] {
        let (status, bytes) = app.download(&tenant.token, blob, Some("bytes=10-99")).await?;
        assert_eq!((status, bytes.as_deref()), (206, Some(&content[10..100])));
        // Verified whole: an altered byte anywhere refuses the range.
        crate::common::store::corrupt_byte(&db, blob, (2 * MIB + 5) as u64).await?;
        let (_, bytes) = app.download(&tenant.token, blob, Some("bytes=10-99")).await?;
        assert!(
            bytes.is_none(),
            "a range of an altered blob without usable MACs was delivered"
        );
    }
    Ok(())
}

async fn ranges_are_served_and_verified(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes((2 << 20) + 12345, 9);
    let id = bare_id(&app.upload(&tenant.token, "r.bin", content.clone()).await?["identity"]);
    let url = app.url(&format!("/archivist/v1/blobs/{id}"));
    let len = content.len();
    for (header, start, end) in [
        ("bytes=0-99".to_string(), 0, 99),
        (
            format!("bytes={}-{}", (1 << 20) - 10, (1 << 20) + 10),
            (1 << 20) - 10,
            (1 << 20) + 10,
        ),
        ("bytes=-500".to_string(), len - 500, len - 1),
        (format!("bytes={}-", len - 1), len - 1, len - 1),
    ] {
        let response = app
            .http
            .get(&url)
            .bearer_auth(&tenant.token)
            .header("range", &header)
            .send()
            .await?;
        assert_eq!(response.status(), 206, "{header}");
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes {start}-{end}/{len}").as_str()
        );
        assert_eq!(response.bytes().await?.as_ref(), &content[start..=end], "{header}");
    }
    let response = app
        .http
        .get(&url)
        .bearer_auth(&tenant.token)
        .header("range", format!("bytes={len}-"))
        .send()
        .await?;
    assert_eq!(response.status(), 416);
    assert_eq!(response.headers()["content-range"], format!("bytes */{len}").as_str());
    Ok(())
}
