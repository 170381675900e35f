//! A private clamd for a test: its own config, a signature database the suite writes (a
//! body signature for the EICAR test string), a unix socket in a temp dir.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use attachd::scan::clamd::{ping, ClamdAddr};

/// The EICAR anti-virus test string: harmless, and what every scanner is built to find.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
pub const SIGNATURE: &str = "Attachd.Test.EICAR";

pub struct Clamd {
    dir: tempfile::TempDir,
    child: Option<tokio::process::Child>,
}

fn clamd_binary() -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("clamd")).find(|c| c.is_file()))
        .unwrap_or_default();
    on_path
        .or_else(|| Some(PathBuf::from("/usr/sbin/clamd")).filter(|p| p.is_file()))
        .context("clamd not found: install Debian's clamav-daemon")
}

impl Clamd {
    /// Starts clamd refusing streams over `stream_max_length` (clamd syntax, e.g. `1M`).
    pub async fn start(stream_max_length: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("attachd-clamd-").tempdir()?;
        let db = dir.path().join("db");
        std::fs::create_dir(&db)?;
        std::fs::write(
            db.join("attachd-test.ndb"),
            format!("{SIGNATURE}:0:*:{}\n", hex::encode(EICAR)),
        )?;
        let config = format!(
            "Foreground yes\nLocalSocket {socket}\nDatabaseDirectory {db}\nLogFile {log}\n\
             StreamMaxLength {stream_max_length}\nMaxFileSize 100M\nMaxScanSize 100M\nAlertExceedsMax yes\n",
            socket = dir.path().join("clamd.sock").display(),
            db = db.display(),
            log = dir.path().join("clamd.log").display(),
        );
        std::fs::write(dir.path().join("clamd.conf"), config)?;
        let mut clamd = Self { dir, child: None };
        clamd.resume().await?;
        Ok(clamd)
    }

    pub fn addr(&self) -> ClamdAddr {
        ClamdAddr::Unix(self.dir.path().join("clamd.sock"))
    }

    /// Server settings that scan with this clamd, looking for new blobs every second.
    pub fn serve_args(&self) -> attachd::config::ServeArgs {
        let mut settings = super::default_settings();
        settings.clamd = Some(self.addr());
        settings.scan_interval = 1.into();
        settings
    }

    /// Starts (again) and waits until clamd answers PING.
    pub async fn resume(&mut self) -> anyhow::Result<()> {
        let child = tokio::process::Command::new(clamd_binary()?)
            .arg("-c")
            .arg(self.dir.path().join("clamd.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let addr = self.addr();
        crate::common::eventually("clamd answers PING", Duration::from_secs(60), || async {
            Ok(ping(&addr).await.is_ok())
        })
        .await
        .with_context(|| std::fs::read_to_string(self.dir.path().join("clamd.log")).unwrap_or_default())
    }

    /// Stops clamd, as an outage would.
    pub async fn pause(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        let _ = std::fs::remove_file(self.dir.path().join("clamd.sock"));
        Ok(())
    }
}
