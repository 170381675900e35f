//! `attachd log audit`, run as an operator runs it, and where the log anchor of a test
//! database lives.

use std::path::PathBuf;

use serde_json::Value;

use super::{Backend, TestDb};

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
    command.args(["log", "audit", "--database-url", &db.url]).args(args);
    if db.backend == Backend::Postgres {
        command
            .arg("--log-signing-key")
            .arg(crate::common::shared_log_key()?)
            .arg("--log-anchor")
            .arg(format!("file://{}", anchor_dir(db).display()));
    }
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
