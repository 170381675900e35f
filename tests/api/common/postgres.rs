//! A throwaway PostgreSQL cluster for the whole test run: initdb + pg_ctl in a temp dir,
//! listening only on a unix socket there, stopped when the test binary exits.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context};

pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Unprivileged account to run as when the tests run as root (postgres refuses root).
    run_as: Option<(u32, u32)>,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The shared cluster, started on first use.
pub fn cluster() -> anyhow::Result<&'static Cluster> {
    CLUSTER
        .get_or_init(|| Cluster::start().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("starting the test PostgreSQL cluster: {e}"))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data_dir(), "-m", "immediate", "stop"])
            .output();
    }
}

#[ctor::dtor]
fn stop_cluster() {
    if let Some(Ok(cluster)) = CLUSTER.get() {
        let _ = cluster
            .command("pg_ctl")
            .args(["-D", &cluster.data_dir(), "-m", "immediate", "stop"])
            .output();
        // The static is never dropped, so its temp dir is removed here.
        let _ = std::fs::remove_dir_all(cluster.dir.path());
    }
}

fn find_bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    // Debian's postgresql package keeps the server binaries off PATH.
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.filter_map(|d| d.ok()).map(|d| d.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.sort();
    candidates
        .into_iter()
        .rev()
        .find(|dir| dir.join("initdb").is_file())
        .context("initdb not found on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL's server package")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Cluster {
    /// A cluster of its own (the shared one is `cluster()`), stopped when dropped.
    pub fn start() -> anyhow::Result<Self> {
        let bin = find_bin_dir()?;
        let dir = tempfile::Builder::new().prefix("attachd-pg-").tempdir()?;
        let is_root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)?;
        let run_as = if is_root { Some((65534, 65534)) } else { None };
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let cluster = Self {
            bin,
            dir,
            port: free_port()?,
            run_as,
        };
        cluster.run(cluster.command("initdb").args([
            "-D",
            &cluster.data_dir(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]))?;
        cluster.resume()?;
        Ok(cluster)
    }

    /// Starts the (stopped) server; returns once it accepts connections.
    pub fn resume(&self) -> anyhow::Result<()> {
        let options = format!(
            "-k {} -p {} -c listen_addresses='' -c max_connections=200 -c shared_buffers=128MB",
            self.socket_dir().display(),
            self.port
        );
        let log = self.dir.path().join("postgres.log");
        // -w: pg_ctl polls until the server accepts connections.
        self.run(self.command("pg_ctl").args([
            "-D",
            &self.data_dir(),
            "-o",
            &options,
            "-l",
            &log.display().to_string(),
            "-w",
            "start",
        ]))
    }

    /// Stops the server, cutting every connection (an outage); `resume` brings it back.
    pub fn halt(&self) -> anyhow::Result<()> {
        self.run(
            self.command("pg_ctl")
                .args(["-D", &self.data_dir(), "-m", "fast", "-w", "stop"]),
        )
    }

    /// Stops (or, with `CONT`, resumes) every process of the server with `signal`: a
    /// database that accepts connections and never answers.
    pub fn signal_all(&self, signal: &str) -> anyhow::Result<()> {
        let pid_file = std::fs::read_to_string(self.dir.path().join("data").join("postmaster.pid"))?;
        let postmaster = pid_file
            .lines()
            .next()
            .context("empty postmaster.pid")?
            .trim()
            .to_string();
        // Children first, so none is started by a postmaster that is still running.
        let _ = Command::new("pkill")
            .args([&format!("-{signal}"), "-P", &postmaster])
            .status()?;
        let killed = Command::new("kill")
            .args([&format!("-{signal}"), &postmaster])
            .status()?;
        anyhow::ensure!(killed.success(), "kill -{signal} {postmaster} failed");
        Ok(())
    }

    fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(self.dir.path()).env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn run(&self, command: &mut Command) -> anyhow::Result<()> {
        let output = command.output().with_context(|| format!("running {command:?}"))?;
        if !output.status.success() {
            bail!(
                "{command:?} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    /// URL of database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@localhost/{name}?host={}&port={}",
            self.socket_dir().display(),
            self.port
        )
    }

    /// Creates a fresh, empty database and returns its URL.
    pub async fn create_database(&self) -> anyhow::Result<String> {
        use sqlx::Connection;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres")).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(self.url(&name))
    }
}
