//! The README's log walkthrough, run as written: its shell blocks, in bash, with curl, jq and
//! the built `attachd`, against a live server (only the address is the test server's).

use crate::both;
use crate::common::{Backend, TestApp, TestDb};
use crate::merklelog::evidence;

both!(the_log_walkthrough_runs_as_written);

/// The first ```sh block after the line holding `marker`.
pub fn block_after(readme: &str, marker: &str) -> anyhow::Result<String> {
    let from = readme
        .find(marker)
        .ok_or_else(|| anyhow::anyhow!("the README has no {marker:?}"))?;
    let rest = &readme[from..];
    let start = rest
        .find("```sh\n")
        .ok_or_else(|| anyhow::anyhow!("no block after {marker:?}"))?
        + 6;
    let end = rest[start..]
        .find("```")
        .ok_or_else(|| anyhow::anyhow!("unclosed block"))?;
    Ok(rest[start..start + end].to_string())
}

async fn the_log_walkthrough_runs_as_written(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let evidence = evidence(&app).await?;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    let script = [
        block_after(&readme, "Check an event yourself")?,
        block_after(&readme, "Keep a seal and later prove")?,
    ]
    .join("\n")
    .replace("http://127.0.0.1:8080", &app.base);
    let identity = evidence.event["identity"].as_str().unwrap_or_default();
    let parts: Vec<&str> = identity.split('/').collect();
    anyhow::ensure!(parts.len() == 4, "{identity}");
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_attachd"));
    let bin_dir = binary.parent().ok_or_else(|| anyhow::anyhow!("no bin dir"))?;
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let dir = tempfile::tempdir()?;
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("TOKEN", &evidence.token)
        .env("ASSET", parts[1])
        .env("EVENT", parts[3])
        .env("TENANT", evidence.tenant.trim_start_matches("tenant/"))
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script}\n{stdout}\n{stderr}");
    let verdicts: Vec<&str> = stdout.lines().filter(|line| line.starts_with("OK ")).collect();
    assert_eq!(verdicts.len(), 2, "{stdout}\n{stderr}");
    // jq -r writes the key with a trailing newline, which the verifier accepts.
    let pem = std::fs::read_to_string(dir.path().join("attachd-log.pem"))?;
    assert!(pem.ends_with("-----\n\n"), "{pem:?}");
    app.stop().await?;
    Ok(())
}
