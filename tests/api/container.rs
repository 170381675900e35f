//! The image, built and run for real with podman: the README's container section as written
//! (build, walkthrough, upgrade, backup and restore), the process's uid, the HEALTHCHECK,
//! SIGTERM during an upload, and compose.yaml through `podman-compose config`.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::podman::{which, Podman};
use crate::common::{attachment, eventually, random_bytes, sha256_hex, tools, until_ready, Backend, TestDb};
use crate::readme::block_after;

/// The image's size limit (the release image is about 31 MB; the tests' debug binary,
/// stripped, adds about 10).
const IMAGE_LIMIT_BYTES: u64 = 80 << 20;

fn readme() -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/README.md"
    ))?)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The build context: the Dockerfile and the tests' own binary, stripped, where a release
/// build puts it.
fn context() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["Dockerfile", ".dockerignore"] {
        std::fs::copy(root.join(file), dir.path().join(file))?;
    }
    let binary = dir.path().join("target/release/attachd");
    std::fs::create_dir_all(dir.path().join("target/release"))?;
    tools::run(
        std::process::Command::new("strip")
            .arg("-o")
            .arg(&binary)
            .arg(env!("CARGO_BIN_EXE_attachd")),
    )?;
    Ok(dir)
}

/// What one running container serves: the blobs, verified and byte for byte, and the event
/// in its signed log, checked offline by `attachd verify` against the log's key.
struct Served<'a> {
    http: &'a reqwest::Client,
    token: &'a str,
    work: &'a Path,
    blobs: &'a [(String, Vec<u8>)],
}

impl Served<'_> {
    async fn check(&self, base: &str) -> anyhow::Result<()> {
        for (id, content) in self.blobs {
            let response = self
                .http
                .get(format!("{base}/archivist/v1/blobs/{id}"))
                .bearer_auth(self.token)
                .send()
                .await?;
            anyhow::ensure!(response.status() == 200, "blob {id}: {}", response.status());
            anyhow::ensure!(
                response.bytes().await?.as_ref() == content.as_slice(),
                "blob {id} altered"
            );
        }
        let key: Value = self
            .http
            .get(format!("{base}/archivist/v1/merklelog/public-key"))
            .send()
            .await?
            .json()
            .await?;
        std::fs::write(self.work.join("log.pem"), key["pem"].as_str().unwrap_or_default())?;
        eventually("the event is sealed and verifies", Duration::from_secs(30), || async {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
                .args(["verify", "--key", "log.pem", "--url", base, "event.json"])
                .current_dir(self.work)
                .output()
                .await?;
            Ok(output.status.success() && String::from_utf8_lossy(&output.stdout).starts_with("OK "))
        })
        .await
    }
}

/// The JSON summary `attachd log audit` printed among a script's output: nothing failed.
fn audited(output: &str) -> anyhow::Result<Value> {
    // The summary is the last JSON object, pretty-printed (curl's answer may end on its line).
    let summary = output
        .match_indices('{')
        .rev()
        .filter_map(|(at, _)| {
            serde_json::Deserializer::from_str(&output[at..])
                .into_iter::<Value>()
                .next()
        })
        .filter_map(Result::ok)
        .find(|value| value.get("failed").is_some())
        .ok_or_else(|| anyhow::anyhow!("no audit summary in {output}"))?;
    anyhow::ensure!(summary["failed"] == json!([]), "{summary}");
    anyhow::ensure!(summary["leaves"].as_u64().unwrap_or(0) >= 3, "{summary}");
    Ok(summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_the_readme_as_written() -> anyhow::Result<()> {
    let podman = match Podman::ready()? {
        Ok(podman) => podman,
        Err(why) => {
            eprintln!("SKIPPED the_image_runs_the_readme_as_written: {why}");
            return Ok(());
        }
    };
    let readme = readme()?;
    let context = context()?;
    let build = block_after(&readme, "or from a binary you built")?;
    let build: Vec<&str> = build.lines().filter(|line| !line.starts_with("cargo build")).collect();
    podman.bash(&build.join("\n"), context.path())?;
    let size: u64 = podman
        .run(&["image", "inspect", "attachd", "--format", "{{.Size}}"])?
        .parse()?;
    eprintln!("the image (the tests' binary, stripped): {:.1} MB", size as f64 / 1e6);
    assert!(size < IMAGE_LIMIT_BYTES, "the image is {size} bytes");

    // The walkthrough, as written, on a free port.
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let localize = |script: String, readme_port: u16, port: u16| {
        script
            .replace(&format!("-p {readme_port}:8080"), &format!("-p 127.0.0.1:{port}:8080"))
            .replace(
                &format!("http://127.0.0.1:{readme_port}"),
                &format!("http://127.0.0.1:{port}"),
            )
    };
    let work = tempfile::tempdir()?;
    let walkthrough = localize(block_after(&readme, "Run it on the embedded database")?, 8080, port);
    let printed = podman.bash(&walkthrough, work.path())?;
    let sums: Vec<&str> = printed
        .lines()
        .filter(|line| line.ends_with(" hello.txt") || line.ends_with(" copy.txt"))
        // The hash ends the token before the name (curl's JSON, unterminated, may precede it).
        .filter_map(|line| line.split_whitespace().rev().nth(1))
        .map(|token| &token[token.len().saturating_sub(64)..])
        .collect();
    assert!(sums.len() == 2 && sums[0] == sums[1], "{printed}");
    let blob: Value = serde_json::from_slice(&std::fs::read(work.path().join("blob.json"))?)?;
    let token_line = std::fs::read_to_string(work.path().join("bearer-token.txt"))?;
    let token = token_line
        .trim()
        .strip_prefix("Authorization: Bearer ")
        .ok_or_else(|| anyhow::anyhow!("{token_line}"))?
        .to_string();

    // Not root, and healthy by its own HEALTHCHECK.
    let pid = podman.run(&["inspect", "attachd", "--format", "{{.State.Pid}}"])?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let uids = status.lines().find(|line| line.starts_with("Uid:")).unwrap_or_default();
    assert_eq!(
        uids.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["10001"; 4],
        "{uids}"
    );
    podman.run(&["healthcheck", "run", "attachd"])?;

    // An event attaching the blob: the signed log holds it.
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let asset: Value = post(
        "/archivist/v2/assets",
        json!({"behaviours": ["RecordEvidence"], "attributes": {}}),
    )
    .await?
    .json()
    .await?;
    let asset_path = format!("/archivist/v2/{}", asset["identity"].as_str().unwrap_or_default());
    let event = post(
        &format!("{asset_path}/events"),
        json!({"operation": "Record", "behaviour": "RecordEvidence",
               "event_attributes": {"report": attachment(&blob, "hello.txt")}}),
    )
    .await?;
    assert_eq!(event.status(), 200);
    std::fs::write(work.path().join("event.json"), event.bytes().await?)?;
    let hello = std::fs::read(work.path().join("hello.txt"))?;
    let mut blobs = vec![(crate::common::bare_id(&blob["identity"]), hello)];
    Served {
        http: &http,
        token: &token,
        work: work.path(),
        blobs: &blobs,
    }
    .check(&base)
    .await?;

    // SIGTERM during an upload: the upload completes, then the process exits 0.
    let volume = podman.run(&["volume", "inspect", "attachd-data", "--format", "{{.Mountpoint}}"])?;
    let database = TestDb::at(Backend::Sqlite, format!("sqlite://{volume}/attachd.db?mode=ro"))?;
    let content = random_bytes(3 << 20, 26);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let part = reqwest::multipart::Part::stream(body).file_name("inflight.bin");
    let upload = http
        .post(format!("{base}/archivist/v1/blobs"))
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send();
    let upload = tokio::spawn(upload);
    tx.send(Ok(content[..1 << 20].to_vec())).await?;
    eventually("the upload has begun", Duration::from_secs(30), || {
        database.upload_staged()
    })
    .await?;
    podman.run(&["kill", "--signal", "TERM", "attachd"])?;
    eventually(
        "the server refuses new connections",
        Duration::from_secs(30),
        || async {
            // A client of its own: a pooled connection would not be a new one.
            Ok(reqwest::Client::new()
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_err())
        },
    )
    .await?;
    tx.send(Ok(content[1 << 20..].to_vec())).await?;
    drop(tx);
    let uploaded = upload.await??;
    assert_eq!(uploaded.status(), 200);
    let uploaded: Value = uploaded.json().await?;
    assert_eq!(uploaded["hash"]["value"], sha256_hex(&content));
    assert_eq!(podman.run(&["wait", "attachd"])?, "0", "the exit code after SIGTERM");
    blobs.push((crate::common::bare_id(&uploaded["identity"]), content));

    // Upgrade: a new container on the same volume.
    let upgrade = localize(block_after(&readme, "**Upgrade:**")?, 8080, port);
    audited(&podman.bash(&upgrade, work.path())?)?;
    let served = Served {
        http: &http,
        token: &token,
        work: work.path(),
        blobs: &blobs,
    };
    served.check(&base).await?;

    // Backup, then restore into a new volume beside it.
    let backup = block_after(&readme, "**Backup:**")?;
    podman.bash(&backup, work.path())?;
    let restored_port = free_port()?;
    let restore = localize(
        block_after(&readme, "Restore it into a new volume")?,
        8081,
        restored_port,
    );
    audited(&podman.bash(&restore, work.path())?)?;
    served.check(&format!("http://127.0.0.1:{restored_port}")).await?;
    until_ready(&http, &base, Duration::from_secs(30)).await?;
    served.check(&base).await
}

/// compose.yaml as podman-compose reads it: every secret a mounted file, none in the
/// environment.
#[test]
fn compose_file_passes_podman_compose_config() -> anyhow::Result<()> {
    if which("podman").is_none() {
        eprintln!("SKIPPED compose_file_passes_podman_compose_config: podman is not installed");
        return Ok(());
    }
    let bin = tools::venv("podman-compose-venv", &["podman-compose==1.6.0"])?;
    let dir = tempfile::tempdir()?;
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/compose.yaml"),
        dir.path().join("compose.yaml"),
    )?;
    std::fs::create_dir(dir.path().join("secrets"))?;
    let password = "a-password-only-in-files";
    for (file, content) in [
        ("db-password", password.to_string()),
        ("db.pgpass", format!("*:*:*:attachd:{password}")),
        ("log-signing-key.pem", "key".into()),
        ("token-signing-secret", "secret".into()),
        ("seaweedfs-s3.json", "{}".into()),
        (
            "s3.env",
            "AWS_ACCESS_KEY_ID=attachd\nAWS_SECRET_ACCESS_KEY=s3-secret\n".into(),
        ),
    ] {
        std::fs::write(dir.path().join("secrets").join(file), content)?;
    }
    let output = std::process::Command::new(bin.join("podman-compose"))
        .arg("config")
        .current_dir(dir.path())
        .output()?;
    let config = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{config}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "ATTACHD_LOG_SIGNING_KEY: /run/secrets/log-signing-key",
        "ATTACHD_JWT_KEY_FILE: /run/secrets/token-signing-secret",
        "PGPASSFILE: /run/secrets/db-pgpass",
        "POSTGRES_PASSWORD_FILE: /run/secrets/db-password",
        "ATTACHD_DATABASE_URL: postgres://attachd@postgres/attachd",
        "attachd-1:",
        "attachd-2:",
        "seaweedfs:",
    ] {
        assert!(config.contains(expected), "{expected} is not in\n{config}");
    }
    for secret in [password, "s3-secret", "POSTGRES_PASSWORD:", "ATTACHD_JWT_SECRET"] {
        assert!(!config.contains(secret), "{secret} is in\n{config}");
    }
    Ok(())
}
