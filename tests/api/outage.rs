//! The database going away and the disk filling up: fast, clear answers (503, 507), nothing
//! partial left behind, and service again once the cause is gone — without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::common::postgres::Cluster;
use crate::common::raw;
use crate::common::{bare_id, default_settings, eventually, random_bytes, sha256_hex, Backend, TestApp, TestDb};

/// One call during the outage: 503 JSON (code 14) with Retry-After, well inside 5 s.
async fn assert_unavailable(request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    let response = request.send().await?;
    let took = started.elapsed();
    assert_eq!(response.status(), 503, "{what}");
    assert!(response.headers().contains_key("retry-after"), "{what}");
    let body: Value = response.json().await?;
    assert_eq!(body["code"], 14, "{what}: {body}");
    assert!(took < Duration::from_secs(5), "{what} took {took:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_a_fast_503() -> anyhow::Result<()> {
    // A cluster of its own: stopping the shared one would fail every other test.
    let cluster = Arc::new(tokio::task::spawn_blocking(Cluster::start).await??);
    let db = TestDb::at(Backend::Postgres, cluster.create_database().await?)?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(3 << 20, 21);
    let blob = app.upload(&tenant.token, "before.bin", content.clone()).await?;

    let token = tenant.token.as_str();
    // A database that takes connections and never answers: nothing may wait on it for long.
    cluster.signal_all("STOP")?;
    assert_unavailable(app.http.get(app.url("/readyz")), "readyz, frozen").await?;
    assert_unavailable(
        app.http.get(app.url("/archivist/v2/assets")).bearer_auth(token),
        "list, frozen",
    )
    .await?;
    cluster.signal_all("CONT")?;
    eventually("the thawed database answers", Duration::from_secs(30), || async {
        Ok(app.http.get(app.url("/readyz")).send().await?.status() == 200)
    })
    .await?;

    // A database that is gone.
    let halted = cluster.clone();
    tokio::task::spawn_blocking(move || halted.halt()).await??;
    assert_unavailable(app.http.get(app.url("/readyz")), "readyz").await?;
    assert_unavailable(
        app.http.get(app.url("/archivist/v2/assets")).bearer_auth(token),
        "asset list",
    )
    .await?;
    assert_unavailable(
        app.http
            .post(app.url("/archivist/v2/assets"))
            .bearer_auth(token)
            .json(&json!({"attributes": {}})),
        "asset create",
    )
    .await?;
    let part = reqwest::multipart::Part::bytes(b"during".to_vec()).file_name("during.txt");
    assert_unavailable(
        app.http
            .post(app.url("/archivist/v1/blobs"))
            .bearer_auth(token)
            .multipart(reqwest::multipart::Form::new().part("file", part)),
        "upload",
    )
    .await?;
    // Again: a pool that gave up once still answers fast.
    assert_unavailable(app.http.get(app.url("/readyz")), "readyz again").await?;

    let resumed = cluster.clone();
    tokio::task::spawn_blocking(move || resumed.resume()).await??;
    eventually("the server is ready again", Duration::from_secs(30), || async {
        Ok(app.http.get(app.url("/readyz")).send().await?.status() == 200)
    })
    .await?;
    let path = format!("/archivist/v1/blobs/{}", bare_id(&blob["identity"]));
    let (status, body) = app.get_bytes(Some(token), &path).await?;
    assert_eq!(status, 200);
    assert_eq!(body.as_deref().map(sha256_hex), Some(sha256_hex(&content)));
    app.upload(token, "after.txt", b"after".to_vec()).await?;
    app.create_asset(token, json!({}), false).await?;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 2);
    Ok(())
}

/// A small file system of its own, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` where this process may not mount (not root).
    fn mount(bytes: u64) -> anyhow::Result<Option<Self>> {
        let dir = tempfile::tempdir()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .status()?;
        Ok(status.success().then_some(Self { dir }))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A small disk for the embedded default, or `None` (and a line saying why) where this
/// process may not mount one.
fn small_disk(bytes: u64, test: &str) -> anyhow::Result<Option<SmallDisk>> {
    let disk = SmallDisk::mount(bytes)?;
    if disk.is_none() {
        let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)?;
        anyhow::ensure!(!root, "root could not mount a tmpfs");
        eprintln!("{test}: not run: mounting a small file system needs root");
    }
    Ok(disk)
}

/// Ten 16 MiB uploads at once to the embedded default on a 64 MiB disk, with the default
/// storage reserve: what fits is stored whole, the rest is refused with 507 before it
/// writes, an event recorded meanwhile is stored and sealed, a small upload works again at
/// once, and so does a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_that_fills_the_disk_wedges_nothing() -> anyhow::Result<()> {
    let Some(disk) = small_disk(64 << 20, "a_burst_that_fills_the_disk_wedges_nothing")? else {
        return Ok(());
    };
    let db = TestDb::at(
        Backend::Sqlite,
        format!("sqlite://{}", disk.dir.path().join("attachd.db").display()),
    )?;
    let mut settings = default_settings();
    settings.body_idle_timeout = 1.into();
    let app = TestApp::start_with(&db, settings.clone()).await?;
    let tenant = app.tenant().await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let events = format!("/archivist/v2/assets/{}/events", bare_id(&asset["identity"]));

    let uploads = (0..10).map(|seed| {
        let content = random_bytes(16 << 20, seed);
        // Sent in paced pieces, as ten real clients would: the uploads interleave.
        let pieces: Vec<Result<Vec<u8>, std::io::Error>> = content.chunks(256 << 10).map(|c| Ok(c.to_vec())).collect();
        let paced = futures::stream::iter(pieces).then(|piece| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            piece
        });
        let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(paced), 16 << 20)
            .file_name("burst.bin");
        let request = app
            .http
            .post(app.url("/archivist/v1/blobs"))
            .bearer_auth(&tenant.token)
            .multipart(reqwest::multipart::Form::new().part("file", part));
        async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            Ok::<_, anyhow::Error>((status, response.json::<Value>().await?, content))
        }
    });
    let event = async {
        let body =
            json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"during": "burst"}});
        app.post_json(&tenant.token, &events, &body).await
    };
    let (results, event) = tokio::join!(futures::future::join_all(uploads), event);
    let (status, event) = event?;
    assert_eq!(status, 200, "an event during the burst: {event}");
    let mut stored = Vec::new();
    for result in results {
        let (status, body, content) = result?;
        match status {
            200 => stored.push((bare_id(&body["identity"]), content)),
            507 => assert_eq!(body["code"], 8, "{body}"),
            other => anyhow::bail!("an upload in the burst answered {other}: {body}"),
        }
    }
    assert!((1..10).contains(&stored.len()), "stored {} of 10", stored.len());
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, stored.len() as i64);

    // At once (within 10 s), without a hand: a small upload works and the losers are gone.
    let started = Instant::now();
    let small = random_bytes(64 << 10, 99);
    let mut after = None;
    while after.is_none() && started.elapsed() < Duration::from_secs(10) {
        let response = app
            .upload_request(&tenant.token, "after.bin", small.clone())
            .send()
            .await?;
        if response.status() == 200 {
            after = Some(response.json::<Value>().await?);
        }
    }
    let after = after.ok_or_else(|| anyhow::anyhow!("no small upload within 10 s of the burst"))?;
    assert!(!db.upload_staged().await?, "the losers left staged content");
    for (blob, content) in &stored {
        let (status, body) = app
            .get_bytes(Some(&tenant.token), &format!("/archivist/v1/blobs/{blob}"))
            .await?;
        assert_eq!((status, body.map(|b| sha256_hex(&b))), (200, Some(sha256_hex(content))));
    }
    let event_path = format!("{events}/{}", bare_id(&event["identity"]));
    crate::merklelog::sealed(&app, &tenant.token, &event_path).await?;
    app.stop().await?;

    // A restart on the nearly full disk serves reads and takes events.
    let app = TestApp::start_with(&db, settings).await?;
    assert_eq!(app.http.get(app.url("/readyz")).send().await?.status(), 200);
    let path = format!("/archivist/v1/blobs/{}", bare_id(&after["identity"]));
    assert_eq!(
        app.get_bytes(Some(&tenant.token), &path).await?.1.as_deref(),
        Some(small.as_slice())
    );
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence"});
    assert_eq!(app.post_json(&tenant.token, &events, &body).await?.0, 200);
    app.stop().await?;
    Ok(())
}

/// PostgreSQL out of space for blob content (its `blob_chunks` in a tablespace on a small
/// disk): uploads get 507 (SQLSTATE 53100), events go on, and once the disk has room again
/// uploads work without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_out_of_space_is_507_and_recovers() -> anyhow::Result<()> {
    let Some(disk) = small_disk(24 << 20, "postgres_out_of_space_is_507_and_recovers")? else {
        return Ok(());
    };
    // The test cluster runs as nobody when the tests run as root.
    let nobody = 65534;
    std::os::unix::fs::chown(disk.dir.path(), Some(nobody), Some(nobody))?;
    let db = TestDb::new(Backend::Postgres).await?;
    attachd::repo::connect(&db.url).await?; // migrated, so the table exists
    let space = format!("small_{}", uuid::Uuid::new_v4().simple());
    db.execute(&format!(
        "CREATE TABLESPACE {space} LOCATION '{}'",
        disk.dir.path().display()
    ))
    .await?;
    db.execute(&format!("ALTER TABLE blob_chunks SET TABLESPACE {space}"))
        .await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let mut full = None;
    for seed in 0..12 {
        let response = app
            .upload_request(&tenant.token, "fill.bin", random_bytes(4 << 20, seed))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await?;
        match status {
            200 => {}
            507 => {
                full = Some(body);
                break;
            }
            other => anyhow::bail!("an upload to a full tablespace answered {other}: {body}"),
        }
    }
    let full = full.ok_or_else(|| anyhow::anyhow!("48 MiB fitted in a 24 MiB tablespace"))?;
    assert_eq!(full["code"], 8, "{full}");
    let asset = app.create_asset(&tenant.token, json!({"while": "full"}), false).await?;
    assert!(asset["identity"].is_string());
    // Room again: the disk grows, and the next upload is stored without a restart.
    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=96m"])
        .arg(disk.dir.path())
        .status()?;
    anyhow::ensure!(grown.success(), "could not grow the small disk");
    app.upload(&tenant.token, "after.bin", random_bytes(4 << 20, 99))
        .await?;
    app.stop().await?;
    db.execute("ALTER TABLE blob_chunks SET TABLESPACE pg_default").await?;
    db.execute(&format!("DROP TABLESPACE {space}")).await?;
    Ok(())
}

/// An upload that would eat into the storage reserve is refused before it writes a byte,
/// while events and smaller uploads go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reserve_refuses_before_writing() -> anyhow::Result<()> {
    let Some(disk) = small_disk(64 << 20, "the_reserve_refuses_before_writing")? else {
        return Ok(());
    };
    let db = TestDb::at(
        Backend::Sqlite,
        format!("sqlite://{}", disk.dir.path().join("attachd.db").display()),
    )?;
    let mut settings = default_settings();
    settings.store.min_free_space = "40MiB".parse().map_err(anyhow::Error::msg)?;
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    // 16 MiB is written twice into SQLite (its log, then the file): more than the ~23 MiB
    // above the reserve. The refusal comes from the declared length, before any content is
    // read: only the headers and the part's head are sent (a client still sending the body
    // may see the connection closed before it reads the answer).
    let boundary = "reserve";
    let head = raw::upload_head("/archivist/v1/blobs", &tenant.token, boundary, (16 << 20) + 256);
    let mut socket = raw::send(&app, format!("{head}{}", raw::file_part_head(boundary)).as_bytes()).await?;
    let (status, body) = raw::read_answer(&mut socket, Duration::from_secs(10)).await?;
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["code"], 8, "{body}");
    assert_eq!(db.stored_content().await?, 0, "nothing was written");
    let asset = app
        .create_asset(&tenant.token, json!({"within": "the reserve"}), false)
        .await?;
    assert!(asset["identity"].is_string());
    app.upload(&tenant.token, "small.bin", random_bytes(1 << 20, 2)).await?;
    app.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_content_directory_is_507() -> anyhow::Result<()> {
    let Some(disk) = small_disk(32 << 20, "full_content_directory_is_507")? else {
        return Ok(());
    };
    let db = TestDb::new(Backend::Sqlite).await?;
    let mut settings = default_settings();
    settings.store.content_store = attachd::store::StoreUrl::File(disk.dir.path().join("content"));
    settings.body_idle_timeout = 1.into();
    // No reserve: the disk itself runs out (ENOSPC) mid-upload.
    settings.store.min_free_space = attachd::store::reserve::MinFree::Bytes(0);
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let mut stored = Vec::new();
    let mut refused = None;
    for seed in 0..8 {
        let content = random_bytes(6 << 20, seed);
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(content.clone()).file_name("fill.bin"),
        );
        let response = app
            .http
            .post(app.url("/archivist/v1/blobs"))
            .bearer_auth(&tenant.token)
            .multipart(form)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await?;
        match status {
            200 => stored.push((bare_id(&body["identity"]), content)),
            507 => {
                refused = Some(body);
                break;
            }
            other => anyhow::bail!("an upload to a full directory answered {other}: {body}"),
        }
    }
    let refused = refused.ok_or_else(|| anyhow::anyhow!("48 MiB fitted in a 32 MiB directory"))?;
    assert_eq!(refused["code"], 8, "{refused}");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, stored.len() as i64);
    // The refused upload's partial file is removed, which makes room again.
    eventually(
        "the refused upload's file is removed",
        Duration::from_secs(30),
        || async { Ok(!db.upload_staged().await?) },
    )
    .await?;
    for (blob, content) in &stored {
        let (status, body) = app
            .get_bytes(Some(&tenant.token), &format!("/archivist/v1/blobs/{blob}"))
            .await?;
        assert_eq!((status, body.map(|b| sha256_hex(&b))), (200, Some(sha256_hex(content))));
    }
    app.upload(&tenant.token, "after.bin", random_bytes(1 << 20, 99))
        .await?;
    drop(app);
    Ok(())
}
