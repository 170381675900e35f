//! Malware scanning against a real clamd, and the scan gate on every download route.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::clamd::{Clamd, EICAR, SIGNATURE};
use crate::common::{attachment, bare_id, download_routes, eventually, random_bytes, Backend, TestApp, TestDb};
use crate::{both, stores};

both!(
    verdicts_and_the_scan_gate,
    clamd_outage_loses_nothing,
    edited_rows_are_refused_and_do_not_stop_scanning
);
// Two nodes on one database and one content store.
stores!(two_scanners_scan_each_blob_once);

async fn info(app: &TestApp, token: &str, blob: &Value) -> anyhow::Result<Value> {
    let path = format!("/archivist/v1/blobs/{}/info", bare_id(&blob["identity"]));
    Ok(app.get_json(Some(token), &path).await?.1)
}

/// Polls until `blob`'s scan has been decided (or skipped with a reason).
async fn scanned(app: &TestApp, token: &str, blob: &Value) -> anyhow::Result<Value> {
    eventually("the blob is scanned", Duration::from_secs(60), || async {
        let info = info(app, token, blob).await?;
        Ok(info["scanned_status"] != "NOT_SCANNED" || info["scanned_bad_reason"] != "")
    })
    .await?;
    info(app, token, blob).await
}

async fn verdicts_and_the_scan_gate(backend: Backend) -> anyhow::Result<()> {
    // clamd refuses streams over 1 MiB; attachd itself sends nothing over 3 MiB.
    let clamd = Clamd::start("1M").await?;
    let db = TestDb::new(backend).await?;
    let mut settings = clamd.serve_args();
    settings.clamd_max_bytes = 3 << 20;
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let token = tenant.token.as_str();
    let clean = app.upload(token, "clean.txt", b"a clean report".to_vec()).await?;
    let mut infected_content = b"prefix ".to_vec();
    infected_content.extend_from_slice(EICAR);
    let infected = app.upload(token, "eicar.com", infected_content).await?;
    let over_clamd = app.upload(token, "big.bin", random_bytes(2 << 20, 1)).await?;
    let over_ours = app.upload(token, "bigger.bin", random_bytes(4 << 20, 2)).await?;

    let verdict = scanned(&app, token, &clean).await?;
    assert_eq!(
        (
            verdict["scanned_status"].as_str(),
            verdict["scanned_bad_reason"].as_str()
        ),
        (Some("SCANNED_OK"), Some(""))
    );
    assert!(verdict["scanned_timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
    let verdict = scanned(&app, token, &infected).await?;
    assert_eq!(verdict["scanned_status"], "SCANNED_BAD");
    assert!(
        verdict["scanned_bad_reason"]
            .as_str()
            .is_some_and(|r| r.contains(SIGNATURE)),
        "{verdict}"
    );
    // Content clamd did not judge is never recorded as clean.
    for blob in [&over_clamd, &over_ours] {
        let verdict = scanned(&app, token, blob).await?;
        assert_eq!(verdict["scanned_status"], "NOT_SCANNED", "{verdict}");
        assert!(
            verdict["scanned_bad_reason"]
                .as_str()
                .is_some_and(|r| r.starts_with("not scanned")),
            "{verdict}"
        );
    }

    // The gate, on every download route.
    let docs = json!({"clean": attachment(&clean, "clean.txt"), "infected": attachment(&infected, "eicar.com"),
                      "unscanned": attachment(&over_clamd, "big.bin")});
    let asset = app.create_asset(token, docs.clone(), true).await?;
    let asset_id = bare_id(&asset["identity"]);
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": docs});
    let (_, event) = app
        .post_json(token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
        .await?;
    let event_id = bare_id(&event["identity"]);
    let (_, free) = app
        .post_json(
            token,
            "/archivist/v1/events",
            &json!({"attributes": body["event_attributes"]}),
        )
        .await?;
    let free_id = bare_id(&free["identity"]);
    for (blob, plain, strict, insecure) in [
        (&clean, 200, 200, 200),
        (&infected, 403, 403, 200),
        (&over_clamd, 200, 400, 200),
    ] {
        let uuid = bare_id(&blob["identity"]);
        for route in download_routes(&asset_id, &event_id, &free_id, &uuid) {
            for (query, expected) in [
                ("", plain),
                ("?strict=true", strict),
                ("?allow_insecure=true", insecure),
            ] {
                let (status, body) = app.get_bytes(Some(token), &format!("{route}{query}")).await?;
                assert_eq!(status, expected, "{route}{query}");
                if status == 403 {
                    let error: Value = serde_json::from_slice(&body.unwrap_or_default())?;
                    assert!(
                        error["message"].as_str().is_some_and(|m| m.contains(SIGNATURE)),
                        "{error}"
                    );
                }
            }
        }
    }
    Ok(())
}

async fn clamd_outage_loses_nothing(backend: Backend) -> anyhow::Result<()> {
    let mut clamd = Clamd::start("25M").await?;
    let db = TestDb::new(backend).await?;
    let app = TestApp::start_with(&db, clamd.serve_args()).await?;
    let tenant = app.tenant().await?;
    let first = app
        .upload(&tenant.token, "before.txt", b"scanned while clamd is up".to_vec())
        .await?;
    assert_eq!(
        scanned(&app, &tenant.token, &first).await?["scanned_status"],
        "SCANNED_OK"
    );

    clamd.pause().await?;
    let during = app
        .upload(&tenant.token, "during.txt", b"uploaded while clamd is down".to_vec())
        .await?;
    // Several scan rounds (one a second) fail meanwhile; the server keeps serving.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let info = info(&app, &tenant.token, &during).await?;
        assert_eq!(
            (info["scanned_status"].as_str(), info["scanned_bad_reason"].as_str()),
            (Some("NOT_SCANNED"), Some(""))
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.upload(&tenant.token, "still.txt", b"uploads still work".to_vec())
        .await?;
    clamd.resume().await?;
    assert_eq!(
        scanned(&app, &tenant.token, &during).await?["scanned_status"],
        "SCANNED_OK"
    );
    Ok(())
}

async fn two_scanners_scan_each_blob_once(backend: Backend) -> anyhow::Result<()> {
    let clamd = Clamd::start("25M").await?;
    let db = TestDb::new(backend).await?;
    // Two attachd processes on one database, each with its scanner.
    let one = TestApp::start_with(&db, clamd.serve_args()).await?;
    let two = TestApp::start_with(&db, clamd.serve_args()).await?;
    let tenant = one.tenant().await?;
    for i in 0..30 {
        let app = if i % 2 == 0 { &one } else { &two };
        app.upload(&tenant.token, "n.txt", random_bytes(5000, i)).await?;
    }
    eventually("every blob is scanned", Duration::from_secs(90), || async {
        Ok(db
            .scalar("SELECT COUNT(*) FROM blobs WHERE scanned_status = 'SCANNED_OK'")
            .await?
            == 30)
    })
    .await?;
    assert_eq!(db.scalar("SELECT MAX(scan_count) FROM blobs").await?, 1);
    assert_eq!(db.scalar("SELECT MIN(scan_count) FROM blobs").await?, 1);
    Ok(())
}

/// Blob rows edited by hand, and content deleted from the store: each such blob is marked
/// tampered and refused with the integrity error (never an internal one), and the scanner
/// passes over it rather than stopping there. An impossible MIME type serves as octet-stream.
async fn edited_rows_are_refused_and_do_not_stop_scanning(backend: Backend) -> anyhow::Result<()> {
    let mut clamd = Clamd::start("25M").await?;
    let db = TestDb::new(backend).await?;
    let app = TestApp::start_with(&db, clamd.serve_args()).await?;
    let tenant = app.tenant().await?;
    let token = tenant.token.as_str();
    let edit = |blob: &Value, set: &str| {
        let id = bare_id(&blob["identity"]);
        let set = set.to_string();
        let db = &db;
        async move {
            let id: uuid::Uuid = id.parse()?;
            db.execute(&format!("UPDATE blobs SET {set} WHERE id = {}", db.uuid(&id)))
                .await
        }
    };
    // Uploaded while clamd is away, so that every one waits in the scanner's queue.
    clamd.pause().await?;
    let cases = [
        ("content deleted", None),
        ("a negative size", Some("size = -5")),
        ("a zero chunk size", Some("chunk_bytes = 0")),
        ("a one-byte chunk size", Some("chunk_bytes = 1")),
        ("a hash that is no hash", Some("hash_sha256 = 'not a hash'")),
    ];
    let mut broken = Vec::new();
    for (n, (what, set)) in cases.into_iter().enumerate() {
        let blob = app.upload(token, "b.bin", random_bytes(5000, 40 + n as u64)).await?;
        match set {
            None => crate::common::store::delete_content(&db, &bare_id(&blob["identity"])).await?,
            Some(set) => anyhow::ensure!(edit(&blob, set).await? == 1, "{what}: no row edited"),
        }
        broken.push((what, set.is_some(), set.is_some_and(|s| s.starts_with("hash")), blob));
    }
    let odd_type = app.upload(token, "t.txt", b"plain words".to_vec()).await?;
    edit(&odd_type, "mime_type = 'text/plain\u{1}'").await?;
    let good = app.upload(token, "good.txt", b"a clean report".to_vec()).await?;
    clamd.resume().await?;

    assert_eq!(scanned(&app, token, &good).await?["scanned_status"], "SCANNED_OK");
    for (what, edited, content_intact, blob) in &broken {
        let id: uuid::Uuid = bare_id(&blob["identity"]).parse()?;
        if *edited {
            // An edited row is not the record its log leaf holds: /info refuses it, and
            // the scanner marks it and goes on.
            let marked = format!(
                "SELECT COUNT(*) FROM blobs WHERE id = {} AND tampered_at IS NOT NULL",
                db.uuid(&id)
            );
            eventually("the scanner marks it", Duration::from_secs(60), || async {
                Ok(db.scalar(&marked).await? == 1)
            })
            .await?;
            let (status, info) = app
                .get_json(Some(token), &format!("/archivist/v1/blobs/{id}/info"))
                .await?;
            assert_eq!(
                (status, info["code"].clone()),
                (500, serde_json::json!(15)),
                "{what}: {info}"
            );
        } else {
            let info = scanned(&app, token, blob).await?;
            assert!(info["tampered_timestamp"].is_string(), "{what}: {info}");
        }
        if !content_intact {
            let unscanned = format!(
                "SELECT COUNT(*) FROM blobs WHERE id = {} AND scanned_status = 'NOT_SCANNED' AND scanned_bad_reason <> ''",
                db.uuid(&id)
            );
            assert_eq!(db.scalar(&unscanned).await?, 1, "{what}");
        }
        let path = format!("/archivist/v1/blobs/{}", bare_id(&blob["identity"]));
        let response = app.http.get(app.url(&path)).bearer_auth(token).send().await?;
        assert_eq!(response.status(), 500, "{what}");
        let body: Value = response.json().await?;
        assert_eq!(body["code"], 15, "{what}: {body}");
    }
    let path = format!("/archivist/v1/blobs/{}", bare_id(&odd_type["identity"]));
    let response = app.http.get(app.url(&path)).bearer_auth(token).send().await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    assert_eq!(response.bytes().await?.as_ref(), b"plain words");
    Ok(())
}

/// A FIFO or a directory put in place of a blob's file in a `file://` store: the download
/// and the scanner refuse it as tampered content rather than waiting on it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_that_is_no_file_is_refused_not_awaited() -> anyhow::Result<()> {
    use crate::common::store::{content_file, Store, STORE};
    STORE
        .scope(Store::File, async {
            let mut clamd = Clamd::start("25M").await?;
            let db = TestDb::new(Backend::Sqlite).await?;
            let app = TestApp::start_with(&db, clamd.serve_args()).await?;
            let tenant = app.tenant().await?;
            let token = tenant.token.as_str();
            clamd.pause().await?;
            let fifo = app.upload(token, "fifo.bin", random_bytes(5000, 50)).await?;
            let dir = app.upload(token, "dir.bin", random_bytes(5000, 51)).await?;
            let good = app.upload(token, "good.txt", b"a clean report".to_vec()).await?;
            let fifo_path = content_file(&db.content, &bare_id(&fifo["identity"]))?;
            std::fs::remove_file(&fifo_path)?;
            let made = std::process::Command::new("mkfifo").arg(&fifo_path).status()?;
            anyhow::ensure!(made.success(), "mkfifo failed");
            let dir_path = content_file(&db.content, &bare_id(&dir["identity"]))?;
            std::fs::remove_file(&dir_path)?;
            std::fs::create_dir(&dir_path)?;
            clamd.resume().await?;
            let checked = refused_not_awaited(&app, token, [&fifo, &dir], &good).await;
            // Were the FIFO awaited after all, its reader is let go, so that the failure ends
            // the test instead of hanging it.
            let flags = rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK;
            drop(rustix::fs::open(&fifo_path, flags, rustix::fs::Mode::empty()));
            checked
        })
        .await
}

async fn refused_not_awaited(app: &TestApp, token: &str, broken: [&Value; 2], good: &Value) -> anyhow::Result<()> {
    assert_eq!(scanned(app, token, good).await?["scanned_status"], "SCANNED_OK");
    for blob in broken {
        let verdict = scanned(app, token, blob).await?;
        assert_eq!(verdict["scanned_status"], "NOT_SCANNED", "{verdict}");
        let path = format!("/archivist/v1/blobs/{}", bare_id(&blob["identity"]));
        let request = app.http.get(app.url(&path)).bearer_auth(token).send();
        let response = tokio::time::timeout(Duration::from_secs(10), request)
            .await
            .map_err(|_| anyhow::anyhow!("the download waited on the store"))??;
        assert_eq!(response.status(), 500);
        let body: Value = response.json().await?;
        assert_eq!(body["code"], 15, "{body}");
        assert!(info(app, token, blob).await?["tampered_timestamp"].is_string());
    }
    Ok(())
}
