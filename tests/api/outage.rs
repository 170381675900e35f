//! The database going away and the disk filling up: fast, clear answers (503, 507), nothing
//! partial left behind, and service again once the cause is gone — without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::postgres::Cluster;
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
    let db = TestDb::at(Backend::Postgres, cluster.create_database().await?);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_is_507() -> anyhow::Result<()> {
    let Some(disk) = SmallDisk::mount(64 << 20)? else {
        let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)?;
        anyhow::ensure!(!root, "root could not mount a tmpfs");
        eprintln!("full_disk_is_507: not run: mounting a small file system needs root");
        return Ok(());
    };
    let db = TestDb::at(
        Backend::Sqlite,
        format!("sqlite://{}", disk.dir.path().join("attachd.db").display()),
    );
    let mut settings = default_settings();
    settings.body_idle_timeout = 1.into();
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let filler = disk.dir.path().join("filler");
    // Something else on the disk, to free later.
    std::fs::write(&filler, vec![0u8; 24 << 20])?;

    // 6 MiB uploads until the disk is full, then four at once: each is stored whole or
    // refused with 507.
    let upload = |seed: u64| {
        let content = random_bytes(6 << 20, seed);
        let request = app.upload_request(&tenant.token, "fill.bin", content.clone());
        async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            Ok::<_, anyhow::Error>((status, response.json::<Value>().await?, content))
        }
    };
    let mut stored = Vec::new();
    let mut full = 0;
    let mut judge = |result: anyhow::Result<(u16, Value, Vec<u8>)>| -> anyhow::Result<bool> {
        let (status, body, content) = result?;
        match status {
            200 => stored.push((body, content)),
            507 => {
                assert_eq!(body["code"], 8, "{body}");
                full += 1;
                return Ok(true);
            }
            other => anyhow::bail!("an upload on a full disk answered {other}: {body}"),
        }
        Ok(false)
    };
    for seed in 0..10 {
        if judge(upload(seed).await)? {
            break;
        }
    }
    for result in futures::future::join_all((10..14).map(upload)).await {
        judge(result)?;
    }
    assert!(full > 0 && !stored.is_empty(), "stored {}, full {full}", stored.len());
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, stored.len() as i64);
    for (blob, content) in &stored {
        let path = format!("/archivist/v1/blobs/{}", bare_id(&blob["identity"]));
        let (status, body) = app.get_bytes(Some(&tenant.token), &path).await?;
        assert_eq!(status, 200);
        assert_eq!(body.as_deref(), Some(content.as_slice()));
    }
    assert_eq!(app.http.get(app.url("/readyz")).send().await?.status(), 200);

    // Room again: the losers' chunks are gone and uploads work.
    std::fs::remove_file(&filler)?;
    eventually("the losers' chunks are removed", Duration::from_secs(30), || async {
        Ok(!db.upload_staged().await?)
    })
    .await?;
    let content = random_bytes(6 << 20, 99);
    let blob = app.upload(&tenant.token, "after.bin", content.clone()).await?;
    let path = format!("/archivist/v1/blobs/{}", bare_id(&blob["identity"]));
    assert_eq!(
        app.get_bytes(Some(&tenant.token), &path).await?.1.as_deref(),
        Some(content.as_slice())
    );
    drop(app);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_content_directory_is_507() -> anyhow::Result<()> {
    let Some(disk) = SmallDisk::mount(32 << 20)? else {
        let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)?;
        anyhow::ensure!(!root, "root could not mount a tmpfs");
        eprintln!("full_content_directory_is_507: not run: mounting a small file system needs root");
        return Ok(());
    };
    let db = TestDb::new(Backend::Sqlite).await?;
    let mut settings = default_settings();
    settings.store.content_store = attachd::store::StoreUrl::File(disk.dir.path().join("content"));
    settings.body_idle_timeout = 1.into();
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
