//! `attachd store migrate`: content moves from the database to a directory or S3 and back,
//! verified, resumably, while a server runs; servers switch over without a blob going missing.

use serde_json::Value;

use crate::common::store::{corrupt_byte_in, delete_content_in};
use crate::common::{
    bare_id, default_settings, random_bytes, sha256_hex, shared_log_key, Backend, ContentPlace, Store, TestApp, TestDb,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_database_to_file() -> anyhow::Result<()> {
    moves_between_stores(Backend::Sqlite, Store::File).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_to_s3() -> anyhow::Result<()> {
    moves_between_stores(Backend::Postgres, Store::S3).await
}

/// Moving into the database store: until the copy is done, a server on the database reads
/// what it lacks from the previous store, and never takes the gap for tampering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_to_database() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    let source = ContentPlace::of(Store::File)?;
    let mut settings = default_settings();
    source.configure(&mut settings)?;
    let old = TestApp::start_with(&db, settings).await?;
    let tenant = old.tenant().await?;
    let contents = [random_bytes(1000, 5), random_bytes((2 << 20) + 9, 6)];
    let mut blobs = Vec::new();
    for content in &contents {
        blobs.push(bare_id(
            &old.upload(&tenant.token, "f.bin", content.clone()).await?["identity"],
        ));
    }
    old.stop().await?;

    let mut settings = default_settings();
    ContentPlace::database().configure(&mut settings)?;
    settings.store.content_store_previous = Some(source.url.clone());
    let new = TestApp::start_with(&db, settings.clone()).await?;
    for (blob, content) in blobs.iter().zip(&contents) {
        let (status, bytes) = new.download(&tenant.token, blob, None).await?;
        assert_eq!(
            (status, bytes.map(|b| sha256_hex(&b))),
            (200, Some(sha256_hex(content)))
        );
        let (_, info) = new
            .get_json(Some(&tenant.token), &format!("/archivist/v1/blobs/{blob}/info"))
            .await?;
        assert!(info["tampered_timestamp"].is_null(), "{info}");
    }
    new.stop().await?;

    let from = source.url.to_string();
    let (ok, summary) = migrate(&db, &ContentPlace::database(), &["--from", &from]).await?;
    assert!(ok, "{summary}");
    assert_eq!(summary["copied"].as_u64(), Some(2), "{summary}");
    settings.store.content_store_previous = None;
    let new = TestApp::start_with(&db, settings).await?;
    for (blob, content) in blobs.iter().zip(&contents) {
        let (status, bytes) = new.download(&tenant.token, blob, None).await?;
        assert_eq!(
            (status, bytes.map(|b| sha256_hex(&b))),
            (200, Some(sha256_hex(content)))
        );
    }
    Ok(())
}

/// Runs `attachd store migrate --to TARGET`; its status and printed summary.
async fn migrate(db: &TestDb, target: &ContentPlace, extra: &[&str]) -> anyhow::Result<(bool, Value)> {
    let mut settings = default_settings();
    target.configure(&mut settings)?;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_attachd"));
    command
        .args([
            "store",
            "migrate",
            "--to",
            &target.url.to_string(),
            "--database-url",
            &db.url,
        ])
        .args(extra);
    if db.backend == Backend::Postgres {
        command.arg("--log-signing-key").arg(shared_log_key()?);
        command
            .arg("--log-anchor")
            .arg(format!("file://{}", db.anchor.path().display()));
        command.arg("--jwt-key-file").arg(crate::common::shared_token_secret()?);
    }
    if let Some(endpoint) = &settings.store.s3_endpoint {
        command
            .args(["--s3-endpoint", endpoint, "--s3-allow-http", "true"])
            .env("AWS_ACCESS_KEY_ID", settings.store.s3_access_key_id.unwrap_or_default())
            .env(
                "AWS_SECRET_ACCESS_KEY",
                settings.store.s3_secret_access_key.map(|s| s.0).unwrap_or_default(),
            );
    }
    let output = command.output().await?;
    let summary: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| anyhow::anyhow!("{e}: {}", String::from_utf8_lossy(&output.stderr)))?;
    Ok((output.status.success(), summary))
}

async fn moves_between_stores(backend: Backend, to: Store) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let target = ContentPlace::of(to)?;
    let old = TestApp::start(&db).await?;
    let tenant = old.tenant().await?;
    let contents = [
        random_bytes(0, 1),
        random_bytes(1000, 2),
        random_bytes((3 << 20) + 5, 3),
    ];
    let mut blobs = Vec::new();
    for content in &contents {
        blobs.push(bare_id(
            &old.upload(&tenant.token, "m.bin", content.clone()).await?["identity"],
        ));
    }

    // Copied while the old server runs, then again: nothing left to copy.
    let (ok, summary) = migrate(&db, &target, &[]).await?;
    assert!(ok, "{summary}");
    assert_eq!(
        (summary["copied"].as_u64(), summary["already_there"].as_u64()),
        (Some(3), Some(0))
    );
    let (ok, summary) = migrate(&db, &target, &[]).await?;
    assert!(ok, "{summary}");
    assert_eq!(
        (summary["copied"].as_u64(), summary["already_there"].as_u64()),
        (Some(0), Some(3))
    );
    // A copy lost or damaged at the target (an interrupted run) is made again.
    delete_content_in(&db, &target, &blobs[1]).await?;
    corrupt_byte_in(&db, &target, &blobs[2], 70).await?;
    let (ok, summary) = migrate(&db, &target, &[]).await?;
    assert!(ok, "{summary}");
    assert_eq!(
        (summary["copied"].as_u64(), summary["already_there"].as_u64()),
        (Some(2), Some(1))
    );

    // Uploaded after the copy: only the old store has it.
    let late_content = random_bytes(2 << 20, 4);
    let late = bare_id(&old.upload(&tenant.token, "late.bin", late_content.clone()).await?["identity"]);
    old.stop().await?;

    // Switched over, reading what is not copied yet from the old store.
    let mut settings = default_settings();
    target.configure(&mut settings)?;
    settings.store.content_store_previous = Some(attachd::store::StoreUrl::Database);
    if db.backend == Backend::Postgres {
        // The anchor stays where it was (named, as the database store required).
        settings.log_anchor = Some(attachd::store::StoreUrl::File(db.anchor.path().to_path_buf()));
    }
    let new = TestApp::start_with(&db, settings.clone()).await?;
    for (blob, content) in blobs.iter().zip(&contents).chain([(&late, &late_content)]) {
        let (status, bytes) = new.download(&tenant.token, blob, None).await?;
        assert_eq!(
            (status, bytes.map(|b| sha256_hex(&b))),
            (200, Some(sha256_hex(content)))
        );
    }
    // Ranges still check the MACs made at upload.
    let (status, bytes) = new
        .download(&tenant.token, &blobs[2], Some("bytes=3145728-3145732"))
        .await?;
    assert_eq!((status, bytes.as_deref()), (206, Some(&contents[2][3145728..])));
    new.stop().await?;

    // Caught up; then the old store is no longer needed.
    let (ok, summary) = migrate(&db, &target, &[]).await?;
    assert!(ok, "{summary}");
    assert_eq!(summary["copied"].as_u64(), Some(1));
    settings.store.content_store_previous = None;
    let new = TestApp::start_with(&db, settings).await?;
    let (status, bytes) = new.download(&tenant.token, &late, None).await?;
    assert_eq!(
        (status, bytes.map(|b| sha256_hex(&b))),
        (200, Some(sha256_hex(&late_content)))
    );
    new.stop().await?;

    // Content altered in the source is not copied, and the run says so.
    let altered = ContentPlace::database();
    corrupt_byte_in(&db, &altered, &late, 9).await?;
    delete_content_in(&db, &target, &late).await?;
    let (ok, summary) = migrate(&db, &target, &[]).await?;
    assert!(!ok, "{summary}");
    assert_eq!(summary["failed"][0]["blob"].as_str(), Some(late.as_str()));

    // A row edited by hand is listed too, and the run goes on past it.
    let edited: uuid::Uuid = blobs[1].parse()?;
    db.execute(&format!("UPDATE blobs SET size = -1 WHERE id = {}", db.uuid(&edited)))
        .await?;
    let (ok, summary) = migrate(&db, &target, &[]).await?;
    assert!(!ok, "{summary}");
    let mut failed: Vec<&str> = summary["failed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["blob"].as_str())
        .collect();
    failed.sort_unstable();
    let mut expected = vec![late.as_str(), blobs[1].as_str()];
    expected.sort_unstable();
    assert_eq!(failed, expected, "{summary}");
    assert_eq!(summary["already_there"].as_u64(), Some(2), "{summary}");
    Ok(())
}
