//! Real tools hunt for faults through the published contract: schemathesis fuzzes every
//! operation of /openapi.json, and newman runs the Postman collection, each against a live
//! attachd with a tenant that has one of everything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::both;
use crate::common::clamd::Clamd;
use crate::common::resources::Resources;
use crate::common::{eventually, tools, Backend, TestApp, TestDb};

both!(schemathesis_finds_no_fault, postman_collection_passes_in_newman);

/// Pinned with the Hypothesis it was run against, so a run is repeatable.
const SCHEMATHESIS: &[&str] = &["schemathesis==4.32.5", "hypothesis==6.170.15"];
/// Bounds that keep a run inside CI's time on 2 cores: examples per operation, and seconds.
const EXAMPLES: &str = "10";
const MAX_SECONDS: &str = "90";

fn schemathesis() -> anyhow::Result<PathBuf> {
    static VENV: tools::Installed = tools::Installed::new();
    tools::installed_once(&VENV, || tools::venv("schemathesis-venv", SCHEMATHESIS))
}

/// One of each resource, by the environment names `tests/contract/schemathesis.toml` uses.
async fn seed(app: &TestApp, token: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    // Over one chunk, so ranges and the held-back last piece are exercised.
    let content: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 251) as u8).collect();
    let made = Resources::create(app, token, content, true).await?;
    // Deleted by the first DELETE the fuzzer sends, so the other operations keep theirs.
    let (_, doomed) = app
        .post_json(
            token,
            "/archivist/iam/v1/applications",
            &serde_json::json!({"display_name": "doomed"}),
        )
        .await?;
    // Likewise for the Navarik DELETE, in the same document as the one the others read.
    let part = reqwest::multipart::Part::bytes(b"doomed".to_vec()).file_name("doomed.txt");
    let doomed_attachment: serde_json::Value = app
        .http
        .post(app.url(&format!(
            "/v2/workspaces/{}/documents/{}/attachments",
            made.workspace, made.document
        )))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?
        .json()
        .await?;
    Ok(vec![
        (
            "NAVARIK_TO_DELETE",
            doomed_attachment["body"]["id"].as_str().unwrap_or_default().to_string(),
        ),
        ("WORKSPACE", made.workspace),
        ("DOCUMENT", made.document),
        ("NAVARIK", made.navarik),
        ("BLOB", made.blob),
        ("ASSET", made.asset),
        ("EVENT", made.event),
        ("FREE_EVENT", made.free_event),
        ("APP", made.app),
        ("APP_TO_DELETE", crate::common::bare_id(&doomed["identity"])),
    ])
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

async fn schemathesis_finds_no_fault(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    // Scanned clean, the seeded blob is served under `strict=true` too.
    let clamd = Clamd::start("25M").await?;
    let app = TestApp::start_with(&db, clamd.serve_args()).await?;
    let tenant = app.tenant().await?;
    let seeded = seed(&app, &tenant.token).await?;
    let blob = seeded
        .iter()
        .find(|(name, _)| *name == "BLOB")
        .map(|(_, id)| id.clone());
    let info = format!("/archivist/v1/blobs/{}/info", blob.unwrap_or_default());
    eventually("the seeded blob is scanned", Duration::from_secs(60), || async {
        Ok(app.get_json(Some(&tenant.token), &info).await?.1["scanned_status"] == "SCANNED_OK")
    })
    .await?;
    let bin = tokio::task::spawn_blocking(schemathesis).await??;
    let reports = tempfile::tempdir()?;
    let output = tokio::process::Command::new(bin.join("schemathesis"))
        .arg("--config-file")
        .arg(repo_file("tests/contract/schemathesis.toml"))
        .args(["--no-color", "run"])
        .arg(app.url("/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {}", tenant.token)])
        // The Mediapocket routes' own header, holding the same token.
        .args(["--header", &format!("X-API-KEY: {}", tenant.token)])
        .args(["--max-examples", EXAMPLES, "--max-time", MAX_SECONDS])
        // One worker: Hypothesis' lambda-source parsing is not thread-safe.
        .args(["--seed", "1", "--workers", "1"])
        .arg("--report-dir")
        .arg(reports.path())
        .envs(seeded)
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Shown with `cargo test -- --nocapture`: the cases run and any warnings.
    println!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found faults:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The run reached every operation it was given (the CLI leaves out the one serving the spec).
    let spec = serde_json::to_value(attachd::api::spec())?;
    let operations: usize = spec["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, item)| item.as_object().map_or(0, |methods| methods.len()))
        .sum();
    // Less the one schemathesis.toml turns off (SCRAPI registration: a body it cannot make).
    let (total, fuzzed) = (operations - 1, operations - 2);
    assert!(
        stdout.contains(&format!("Selected: {fuzzed}/{total}")) && stdout.contains(&format!("Tested: {fuzzed}")),
        "{stdout}"
    );
    Ok(())
}

/// newman as `postman/package-lock.json` pins it, installed once under target/.
fn newman() -> anyhow::Result<PathBuf> {
    static NEWMAN: tools::Installed = tools::Installed::new();
    tools::installed_once(&NEWMAN, install_newman)
}

fn install_newman() -> anyhow::Result<PathBuf> {
    Ok(tools::npm_installed("postman", "newman")?.join("node_modules/.bin/newman"))
}

async fn postman_collection_passes_in_newman(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant =
        attachd::tenants::create_tenant(app.state.repo.as_ref(), &app.state.log.trust.anchor, "postman").await?;
    let newman = tokio::task::spawn_blocking(newman).await??;
    let output = tokio::process::Command::new(newman)
        .arg("run")
        .arg(repo_file("postman/attachd.postman_collection.json"))
        .arg("--environment")
        .arg(repo_file("postman/attachd.postman_environment.json"))
        .args(["--env-var", &format!("baseUrl={}", app.base)])
        .args(["--env-var", &format!("clientId={}", tenant.client_id)])
        .args(["--env-var", &format!("clientSecret={}", tenant.client_secret)])
        .arg("--working-dir")
        .arg(repo_file("postman"))
        .args(["--reporters", "cli", "--color", "off"])
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Shown with `cargo test -- --nocapture`.
    println!("{stdout}");
    assert!(
        output.status.success(),
        "newman failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Every seed system's flow ran its tests, and the token came from the pre-request script.
    for passed in [
        "✓  the content hashes to the recorded SHA-256",
        "✓  the content hashes to the SHA-256 recorded on attaching",
        "✓  Missing parameter title",
    ] {
        assert!(stdout.contains(passed), "{passed}: {stdout}");
    }
    assert!(stdout.contains("appidp/token"), "{stdout}");
    Ok(())
}
