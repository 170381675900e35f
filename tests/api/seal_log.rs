//! The seal log as published: every seal the sealer anchors is an entry, a signed
//! checkpoint covers them, and the tiles under `/verifiabledata/seallog/v1/` are what Go's
//! own sumdb/tlog and sumdb/note say they must be (the judge in crates/seallog).

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::both;
use crate::common::{bare_id, eventually, Backend, TestApp, TestDb};
use crate::merklelog::sealed;
use seallog::{SealEntry, TilePath};

both!(anchored_seals_are_published_in_the_seal_log);

const PREFIX: &str = "/verifiabledata/seallog/v1";

/// The entries in the bundles of a log of `size` entries, fetched from the server into `dir`.
async fn fetch_tiles(app: &TestApp, size: u64, dir: &Path) -> anyhow::Result<Vec<SealEntry>> {
    let mut entries = Vec::new();
    for tile in TilePath::all(size) {
        let (status, bytes) = app.get_bytes(None, &format!("{PREFIX}/{}", tile.path())).await?;
        anyhow::ensure!(status == 200, "{}: {status}", tile.path());
        let bytes = bytes.unwrap_or_default();
        if let TilePath::Entries { .. } = tile {
            let mut rest = bytes.as_slice();
            while let [a, b, tail @ ..] = rest {
                let length = usize::from(u16::from_be_bytes([*a, *b]));
                anyhow::ensure!(tail.len() >= length, "a bundle ends early");
                entries.push(SealEntry::parse(&tail[..length])?);
                rest = &tail[length..];
            }
        }
        let path = dir.join(tile.path());
        std::fs::create_dir_all(path.parent().ok_or_else(|| anyhow::anyhow!("no parent"))?)?;
        std::fs::write(path, bytes)?;
    }
    Ok(entries)
}

async fn anchored_seals_are_published_in_the_seal_log(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let asset = app
        .create_asset(&tenant.token, json!({"arc_display_name": "sealed"}), false)
        .await?;
    let path = format!("/archivist/v2/assets/{}/events", bare_id(&asset["identity"]));
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"n": "1"}});
    let (status, event) = app.post_json(&tenant.token, &path, &body).await?;
    assert_eq!(status, 200, "{event}");
    let event = sealed(
        &app,
        &tenant.token,
        &format!("/archivist/v2/{}", event["identity"].as_str().unwrap_or_default()),
    )
    .await?;
    let sealed_size: u64 = event["merklelog_entry"]["confirm"]["mmr_size"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let uuid = tenant.credentials.tenant.trim_start_matches("tenant/").to_string();
    let seal_path = format!("/verifiabledata/merklelogs/v1/mmrs/tenant/{uuid}/0/massifseals/0000000000000000.sth");

    let (status, vkey) = app.get_bytes(None, &format!("{PREFIX}/vkey")).await?;
    assert_eq!(status, 200);
    let vkey = String::from_utf8(vkey.unwrap_or_default())?.trim().to_string();
    // A checkpoint that holds this tenant's latest anchored seal.
    let found = std::sync::Mutex::new(None);
    eventually(
        "the seal log holds the tenant's seal",
        Duration::from_secs(10),
        || async {
            let (status, note) = app.get_bytes(None, &format!("{PREFIX}/checkpoint")).await?;
            if status != 200 {
                return Ok(false);
            }
            let note = note.unwrap_or_default();
            let checkpoint = seallog::checkpoint::open(&note, &vkey)?;
            let dir = tempfile::tempdir()?;
            let entries = fetch_tiles(&app, checkpoint.size(), dir.path()).await?;
            let (_, seal) = app.get_bytes(None, &seal_path).await?;
            let seal_sha: [u8; 32] = Sha256::digest(seal.unwrap_or_default()).into();
            let holds = entries
                .iter()
                .any(|e| e.tenant.to_string() == uuid && e.mmr_size >= sealed_size && e.seal_sha256 == seal_sha);
            if holds {
                *found.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some((note, checkpoint.size(), dir));
            }
            Ok(holds)
        },
    )
    .await?;
    let Some((note, size, dir)) = found.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))? else {
        anyhow::bail!("no checkpoint found");
    };
    let checkpoint_file = dir.path().join("checkpoint");
    std::fs::write(&checkpoint_file, &note)?;

    // Past the checkpoint, or not a tile: 404.
    for bad in [
        TilePath::Entries {
            index: 0,
            width: (size + 1).min(255),
        }
        .path(),
        TilePath::Entries { index: 1, width: 1 }.path(),
        "tile/0/1".to_string(),
        "tile/entries/000.p/0".to_string(),
    ] {
        let (status, _) = app.get_bytes(None, &format!("{PREFIX}/{bad}")).await?;
        assert_eq!(status, 404, "{bad}");
    }

    // Go's own sumdb code judges what was served.
    let judge = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/seallog/tests/judge/judge.go");
    let go = std::process::Command::new("go").arg("version").output();
    if !go.is_ok_and(|o| o.status.success()) {
        eprintln!("the Go judge did not run: Go is not installed");
        return app.stop().await;
    }
    let cache = tempfile::tempdir()?;
    let output = std::process::Command::new("go")
        .arg("run")
        .arg(&judge)
        .arg(dir.path())
        .arg(&vkey)
        .arg(&checkpoint_file)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", cache.path())
        .output()?;
    let said = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(said.contains(&format!("OK {size} entries")), "{said}");
    app.stop().await
}
