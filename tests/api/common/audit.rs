//! `attachd log audit`, run as an operator runs it, and where the log anchor of a test
//! database lives.

use std::path::PathBuf;

use serde_json::Value;

use super::{Backend, TestDb};
use attachd::store::StoreUrl;

/// The anchor's directory for this database.
pub fn anchor_dir(db: &TestDb) -> PathBuf {
    match db.backend {
        Backend::Sqlite => PathBuf::from(db.url.trim_start_matches("sqlite://")).with_file_name("log-anchor"),
        Backend::Postgres => db.anchor.path().to_path_buf(),
    }
}

/// `attachd log audit` against this database with `args`: its exit status and summary.
pub fn audit(db: &TestDb, args: &[&str]) -> anyhow::Result<(bool, Value)> {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"));
    command.args(["log", "audit"]).args(args);
    deployment_args(db, &mut command)?;
    let output = command.output()?;
    // Not a summary: what it said instead, to show in a failure.
    let summary = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        let said = String::from_utf8_lossy(&output.stderr);
        Value::String(
            said.split("Stack backtrace")
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        )
    });
    Ok((output.status.success(), summary))
}

/// The flags and variables that point an `attachd` command at this test deployment: its
/// database, log key, and the anchor the test server uses (a directory, or the bucket).
pub fn deployment_args(db: &TestDb, command: &mut std::process::Command) -> anyhow::Result<()> {
    command.args(["--database-url", &db.url]);
    if let StoreUrl::S3 { bucket, prefix } = &db.content.url {
        let seaweed = super::seaweedfs::seaweed()?;
        command
            .arg("--content-store")
            .arg(format!("s3://{bucket}/{prefix}"))
            .env("ATTACHD_S3_ENDPOINT", &seaweed.endpoint)
            .env("ATTACHD_S3_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", super::seaweedfs::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", super::seaweedfs::SECRET_KEY);
    } else if let (StoreUrl::File(dir), Backend::Sqlite) = (&db.content.url, db.backend) {
        command.arg("--content-store").arg(format!("file://{}", dir.display()));
    }
    if db.backend == Backend::Postgres {
        command.arg("--log-signing-key").arg(crate::common::shared_log_key()?);
        command
            .arg("--checkpoint-signing-key")
            .arg(crate::common::shared_checkpoint_key()?);
        command.arg("--jwt-key-file").arg(crate::common::shared_token_secret()?);
        if db.content.url == StoreUrl::Database {
            // A variable, so that a test may name another anchor with the flag.
            command.env("ATTACHD_LOG_ANCHOR", format!("file://{}", anchor_dir(db).display()));
        }
    }
    Ok(())
}
