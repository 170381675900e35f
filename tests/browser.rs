//! The console in a real browser: Debian's chromium, driven by playwright-core (npm, pinned
//! by tests/console/package-lock.json), against a live attachd on both databases; and the
//! console's receipt checker (console/verify.js) under node, against receipts attachd made.
//! A test binary of its own, so its timings are not taken while the API tests load the machine.

#[path = "api/common/mod.rs"]
#[allow(dead_code, unused_imports)]
mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

use common::{tools, Backend, TestApp, TestDb};

both!(
    console_flows_pass_in_chromium,
    verify_module_checks_receipts_attachd_made
);

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// One browser at a time: the two databases' runs would otherwise share the CPUs they time.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CHROMIUM: &str = "/usr/bin/chromium";

/// playwright-core as the lock file pins it, installed once under target/ with the script
/// beside it (node resolves an ES module's imports from the module's own folder).
fn playwright() -> anyhow::Result<PathBuf> {
    static INSTALLED: tools::Installed = tools::Installed::new();
    tools::installed_once(&INSTALLED, || {
        let dir = tools::npm_installed("tests/console", "console-browser")?;
        let script = dir.join("console.mjs");
        std::fs::copy(repo_file("tests/console/console.mjs"), &script)?;
        Ok(script)
    })
}

async fn console_flows_pass_in_chromium(backend: Backend) -> anyhow::Result<()> {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("SKIPPED console_flows_pass_in_chromium: no {CHROMIUM} (Debian: apt-get install chromium)");
        return Ok(());
    }
    let script = tokio::task::spawn_blocking(playwright).await??;
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant =
        attachd::tenants::create_tenant(app.state.repo.as_ref(), &app.state.log.trust.anchor, "console").await?;
    let name = format!("{backend:?}").to_lowercase();
    let out = repo_file(&format!("target/console-browser/{name}"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    let _one = BROWSER.lock().await;
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .env("ATTACHD_BASE", &app.base)
        .env("ATTACHD_CLIENT_ID", &tenant.client_id)
        .env("ATTACHD_CLIENT_SECRET", &tenant.client_secret)
        .env("ATTACHD_OUT", &out)
        .env("ATTACHD_CHROMIUM", CHROMIUM)
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser flows failed (screenshots in {}):\n{stdout}\n{stderr}",
        out.display()
    );
    let results: Value = serde_json::from_slice(&std::fs::read(out.join("results.json"))?)?;
    eprintln!("console in chromium on {name}: {results}");
    for screenshot in ["console.png", "public-page.png"] {
        assert!(out.join(screenshot).exists(), "no {screenshot}");
    }
    app.stop().await
}

/// Receipts attachd made, as a recipient would be sent them (console/make-verify-fixtures.sh:
/// a file, the event attaching it, both receipt forms, the log's key, and each event's leaf
/// as `:proof` reports it); then `node --test console/verify.test.mjs` over them.
async fn verify_module_checks_receipts_attachd_made(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let fixtures = tempfile::tempdir()?;
    let token_file = fixtures.path().join("token.txt");
    std::fs::write(&token_file, format!("Authorization: Bearer {}\n", tenant.token))?;
    let made = tokio::process::Command::new("bash")
        .arg(repo_file("console/make-verify-fixtures.sh"))
        .arg(fixtures.path().join("made"))
        .env("BASE", &app.base)
        .env("TOKEN_FILE", &token_file)
        .output()
        .await?;
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let output = tokio::process::Command::new("node")
        .arg("--test")
        .arg(repo_file("console/verify.test.mjs"))
        .env("ATTACHD_VERIFY_FIXTURES", fixtures.path().join("made"))
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // node's TAP summary: every test ran and passed, none skipped.
    assert!(
        stdout.contains("# fail 0") && stdout.contains("# skipped 0"),
        "{stdout}"
    );
    app.stop().await
}
