//! The official DataTrails Python SDK (`datatrails-archivist`) against a live attachd, in
//! a venv the test makes (kept under target/ between runs).

use std::path::{Path, PathBuf};

use crate::both;
use crate::common::clamd::{Clamd, SIGNATURE};
use crate::common::{default_settings, tools, Backend, TestApp, TestDb};

both!(
    official_sdk_flows,
    sdk_lists_and_waits,
    sdk_retries_when_rate_limited,
    sdk_shares_between_tenants,
    sdk_reads_scanned_public_attachments
);

/// The SDK release the flows were written against.
const SDK: &str = "datatrails-archivist==0.35.0";

fn venv() -> anyhow::Result<PathBuf> {
    static VENV: tools::Installed = tools::Installed::new();
    tools::installed_once(&VENV, || tools::venv("sdk-venv", &[SDK]))
}

async fn official_sdk_flows(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    run_script(&app, "flow.py").await
}

/// Filtered lists followed page by page, counts, `wait_for_confirmed`, the public filter.
async fn sdk_lists_and_waits(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    run_script(&app, "lists.py").await
}

async fn sdk_retries_when_rate_limited(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.rate_limit_per_second = Some(2);
    settings.rate_limit_burst = Some(1);
    let app = TestApp::start_with(&db, settings).await?;
    run_script(&app, "ratelimit.py").await
}

/// `subjects.share`, a policy, and the other tenant's reads of what it grants.
async fn sdk_shares_between_tenants(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    run_script_for(&app, "sharing.py", 2, &[]).await
}

/// `execpublicassets`' flow: a public asset made with `create_if_not_exists` and two
/// attachments, one infected, read without a token once clamd has judged them.
async fn sdk_reads_scanned_public_attachments(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let clamd = Clamd::start("1M").await?;
    let app = TestApp::start_with(&db, clamd.serve_args()).await?;
    run_script_for(&app, "public_scan.py", 1, &[SIGNATURE]).await
}

/// Runs `tests/sdk/<script> URL CLIENT_ID CLIENT_SECRET` for a new tenant; it must exit 0.
async fn run_script(app: &TestApp, script: &str) -> anyhow::Result<()> {
    run_script_for(app, script, 1, &[]).await
}

/// Runs `tests/sdk/<script> URL` with the client id and secret of each of `tenants` new
/// tenants, then `extra`; it must exit 0.
async fn run_script_for(app: &TestApp, script: &str, tenants: usize, extra: &[&str]) -> anyhow::Result<()> {
    let python = tokio::task::spawn_blocking(venv).await??.join("python");
    let mut args = vec![app.base.clone()];
    for _ in 0..tenants {
        let tenant =
            attachd::tenants::create_tenant(app.state.repo.as_ref(), &app.state.log.trust.anchor, "sdk").await?;
        args.extend([tenant.client_id, tenant.client_secret]);
    }
    args.extend(extra.iter().map(|arg| arg.to_string()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk").join(script);
    let output = tokio::process::Command::new(python)
        .arg(script)
        .args(&args)
        .output()
        .await?;
    assert!(
        output.status.success(),
        "SDK flow failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}
