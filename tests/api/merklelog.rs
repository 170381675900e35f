//! The verifiable log: every event is a leaf of its tenant's signed log, which anyone can
//! check offline with `attachd verify` and a pinned key, and every attachment download
//! proves its referencing event is in it. Each kind of tampering is caught by both.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::both;
use crate::common::{
    attachment, bare_id, default_settings, eventually, random_bytes, sha256_hex, Backend, TestApp, TestDb,
};

both!(
    every_event_verifies_offline,
    a_crash_before_sealing_loses_nothing,
    two_servers_append_in_one_order,
    concurrent_uploads_each_prove_their_place,
    a_download_right_after_its_event_is_proven_at_the_next_seal
);

/// Massifs of 4 leaves, so a few events span several.
pub fn small_massifs() -> attachd::config::ServeArgs {
    let mut settings = default_settings();
    settings.log_massif_height = 3;
    settings
}

/// The event at `path`, once a seal covers it.
pub async fn sealed(app: &TestApp, token: &str, path: &str) -> anyhow::Result<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, event) = app.get_json(Some(token), path).await?;
        anyhow::ensure!(status == 200, "{path}: {status}");
        if event["merklelog_entry"]["confirm"].is_object() || event["merklelog_commit"].is_object() {
            return Ok(event);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{path} was not sealed in time: {event}"
        );
        // The sealer's round, not readiness: it seals every second.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The server's current public key, written to `dir/key.pem`.
pub async fn pinned_key(app: &TestApp, dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let (status, keys) = app.get_json(None, "/archivist/v1/merklelog/public-key").await?;
    anyhow::ensure!(status == 200, "public key: {status}");
    let path = dir.join("key.pem");
    std::fs::write(&path, keys["pem"].as_str().unwrap_or_default())?;
    Ok(path)
}

/// `attachd verify` against the server, with `args`: whether it said OK, and its line.
pub fn verify(app: &TestApp, key: &Path, args: &[&str]) -> anyhow::Result<(bool, String)> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["verify", "--key"])
        .arg(key)
        .args(["--url", &app.base])
        .args(args)
        .output()?;
    let line = String::from_utf8_lossy(&output.stdout).trim().to_string();
    anyhow::ensure!(
        line.starts_with("OK ") == output.status.success(),
        "verdict and exit status disagree: {line}"
    );
    Ok((output.status.success(), line))
}

pub fn verify_event(app: &TestApp, key: &Path, dir: &Path, event: &Value) -> anyhow::Result<(bool, String)> {
    let file = dir.join("event.json");
    std::fs::write(&file, serde_json::to_vec(event)?)?;
    verify(app, key, &[file.to_str().unwrap_or_default()])
}

async fn every_event_verifies_offline(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start_with(&db, small_massifs()).await?;
    let tenant = app.tenant().await?;
    let token = tenant.token.as_str();
    let dir = tempfile::tempdir()?;
    let key = pinned_key(&app, dir.path()).await?;
    let asset = app
        .create_asset(token, json!({"arc_display_name": "door"}), false)
        .await?;
    let asset_id = bare_id(&asset["identity"]);
    let events_path = format!("/archivist/v2/assets/{asset_id}/events");
    let mut paths = Vec::new();
    for n in 0..6 {
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
            "event_attributes": {"n": n.to_string(), "list": ["a", {"b": "c"}], "num": n, "flag": true},
            "asset_attributes": {"last": n.to_string()}});
        let (status, event) = app.post_json(token, &events_path, &body).await?;
        anyhow::ensure!(status == 200, "{event}");
        paths.push(format!("{events_path}/{}", bare_id(&event["identity"])));
    }
    let (status, free) = app
        .post_json(
            token,
            "/archivist/v1/events",
            &json!({"attributes": {"k": "<&>"}, "trails": ["t"]}),
        )
        .await?;
    assert_eq!(status, 200, "{free}");
    // The first seal, kept to check later that the log only grew from it.
    let first = sealed(&app, token, &paths[0]).await?;
    let tenant_uuid = tenant.credentials.tenant.trim_start_matches("tenant/").to_string();
    let seal_path =
        format!("/verifiabledata/merklelogs/v1/mmrs/tenant/{tenant_uuid}/0/massifseals/0000000000000000.sth");
    let (status, old_seal) = app.get_bytes(None, &seal_path).await?;
    assert_eq!(status, 200);
    let old_seal_file = dir.path().join("old.sth");
    std::fs::write(&old_seal_file, old_seal.unwrap_or_default())?;
    assert_eq!(
        first["merklelog_entry"]["commit"]["index"], "1",
        "the asset's creation is leaf 0"
    );

    // 8 leaves over massifs of 4: two massifs, each sealed.
    let (_, list) = app
        .get_json(Some(token), &format!("{events_path}?page_size=50"))
        .await?;
    let events = list["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 7, "six events and the asset's creation");
    sealed(&app, token, &paths[5]).await?;
    for path in &paths {
        let event = sealed(&app, token, path).await?;
        let (ok, line) = verify_event(&app, &key, dir.path(), &event)?;
        assert!(ok, "{line}");
    }
    let free_path = format!("/archivist/v1/events/{}", bare_id(&free["identity"]));
    let free = sealed(&app, token, &free_path).await?;
    eventually("the free event sealed", Duration::from_secs(10), || async {
        Ok(verify_event(&app, &key, dir.path(), &free)?.0)
    })
    .await?;
    let massif1 = format!("/verifiabledata/merklelogs/v1/mmrs/tenant/{tenant_uuid}/0/massifs/0000000000000001.log");
    assert_eq!(app.get_bytes(None, &massif1).await?.0, 200);
    let massifs = format!("/verifiabledata/merklelogs/v1/mmrs/tenant/{tenant_uuid}/0/massifs");
    for missing in [
        "0000000000000099.log",
        "9999999999999999.log",
        "1.log",
        "0000000000000000.sth",
    ] {
        let (status, _) = app.get_json(None, &format!("{massifs}/{missing}")).await?;
        assert_eq!(status, 404, "{missing}");
    }

    // The proof route answers what the verifier recomputes.
    let (status, proof) = app.get_json(Some(token), &format!("{}:proof", paths[2])).await?;
    assert_eq!(status, 200, "{proof}");
    let event = sealed(&app, token, &paths[2]).await?;
    let id = merklelog::idtimestamp::from_hex(proof["idtimestamp"].as_str().unwrap_or_default()).unwrap_or_default();
    assert_eq!(proof["leaf"], hex::encode(merklelog::leaf::leaf_hash(id, &event)?));
    assert_eq!(proof["leaf_scheme"], "v3");

    // A changed event JSON is refused.
    let mut changed = event.clone();
    changed["event_attributes"]["n"] = json!("99");
    let (ok, line) = verify_event(&app, &key, dir.path(), &changed)?;
    assert!(!ok && line.contains("not the event"), "{line}");
    // The log only grew since the first seal.
    let (ok, line) = verify(
        &app,
        &key,
        &[
            "--consistency",
            old_seal_file.to_str().unwrap_or_default(),
            "--tenant",
            &tenant.credentials.tenant,
        ],
    )?;
    assert!(ok, "{line}");
    Ok(())
}

/// A tenant with an asset, an event attaching a blob, the event sealed; and the paths.
pub struct Evidence {
    pub token: String,
    pub tenant: String,
    pub event: Value,
    pub event_path: String,
    pub download: String,
    /// The same blob through the asset attribute the event set.
    pub asset_download: String,
}

pub async fn evidence(app: &TestApp) -> anyhow::Result<Evidence> {
    let tenant = app.tenant().await?;
    let token = tenant.token.clone();
    let content = random_bytes(3000, 7);
    let blob = app.upload(&token, "report.pdf", content).await?;
    let asset = app
        .create_asset(&token, json!({"arc_display_name": "site"}), false)
        .await?;
    let asset_id = bare_id(&asset["identity"]);
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
        "event_attributes": {"report": attachment(&blob, "report.pdf"), "note": "as found"},
        "asset_attributes": {"report": attachment(&blob, "report.pdf")}});
    let (status, event) = app
        .post_json(&token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
        .await?;
    anyhow::ensure!(status == 200, "{event}");
    let event_id = bare_id(&event["identity"]);
    let event_path = format!("/archivist/v2/assets/{asset_id}/events/{event_id}");
    let event = sealed(app, &token, &event_path).await?;
    let blob_id = bare_id(&blob["identity"]);
    Ok(Evidence {
        token,
        tenant: tenant.credentials.tenant.clone(),
        event,
        event_path,
        download: format!("/archivist/v2/attachments/assets/{asset_id}/events/{event_id}/{blob_id}"),
        asset_download: format!("/archivist/v2/attachments/assets/{asset_id}/{blob_id}"),
    })
}

/// Events stored by a server that stopped before sealing them are sealed by the next
/// start, and the log carries on from them.
async fn a_crash_before_sealing_loses_nothing(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.log_seal_interval = attachd::config::SecsArg(Duration::from_secs(3600));
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let events_path = format!("/archivist/v2/assets/{}/events", bare_id(&asset["identity"]));
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence"});
    let (_, event) = app.post_json(&tenant.token, &events_path, &body).await?;
    let path = format!("{events_path}/{}", bare_id(&event["identity"]));
    let (_, unsealed) = app.get_json(Some(&tenant.token), &path).await?;
    assert!(unsealed["merklelog_entry"]["confirm"].is_null(), "{unsealed}");
    app.stop().await?;

    let app = TestApp::start(&db).await?;
    let dir = tempfile::tempdir()?;
    let key = pinned_key(&app, dir.path()).await?;
    let event = sealed(&app, &tenant.token, &path).await?;
    let (ok, line) = verify_event(&app, &key, dir.path(), &event)?;
    assert!(ok, "{line}");
    let (_, next) = app.post_json(&tenant.token, &events_path, &body).await?;
    assert_eq!(next["merklelog_entry"]["commit"]["index"], "3", "{next}");
    Ok(())
}

/// 8 writers, half through each of two servers on one database, 50 events each (and a
/// refused event to a missing asset between them, in the same batches): one log, no gaps,
/// no index twice, ids in order, no asset update lost, every event verified offline.
async fn two_servers_append_in_one_order(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let first = TestApp::start_with(&db, small_massifs()).await?;
    let second = TestApp::start_with(&db, small_massifs()).await?;
    let tenant = first.tenant().await?;
    let asset = first.create_asset(&tenant.token, json!({}), false).await?;
    let events_path = format!("/archivist/v2/assets/{}/events", bare_id(&asset["identity"]));
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..8 {
        let app = if writer % 2 == 0 { &first } else { &second };
        let (http, url, token) = (app.http.clone(), app.url(&events_path), tenant.token.clone());
        let missing = app.url(&format!("/archivist/v2/assets/{}/events", uuid::Uuid::new_v4()));
        writers.spawn(async move {
            for n in 0..50 {
                let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
                    "event_attributes": {"writer": writer.to_string(), "n": n.to_string()},
                    "asset_attributes": {format!("last_of_{writer}"): n.to_string()}});
                let response = http.post(&url).bearer_auth(&token).json(&body).send().await?;
                anyhow::ensure!(response.status() == 200, "writer {writer}: {}", response.text().await?);
                if n % 5 == 0 {
                    let response = http.post(&missing).bearer_auth(&token).json(&body).send().await?;
                    anyhow::ensure!(response.status() == 404, "writer {writer}: {}", response.text().await?);
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    let mut events = Vec::new();
    let mut token = String::new();
    loop {
        let (status, page) = first
            .get_json(
                Some(&tenant.token),
                &format!("{events_path}?page_size=100&page_token={token}"),
            )
            .await?;
        anyhow::ensure!(status == 200, "{page}");
        events.extend(page["events"].as_array().cloned().unwrap_or_default());
        token = page["next_page_token"].as_str().unwrap_or_default().to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(events.len(), 401);
    let (_, stored) = first
        .get_json(
            Some(&tenant.token),
            &format!("/archivist/v2/{}", asset["identity"].as_str().unwrap_or_default()),
        )
        .await?;
    for writer in 0..8 {
        assert_eq!(stored["attributes"][format!("last_of_{writer}")], "49", "{stored}");
    }
    let mut placed: Vec<(u64, u64)> = events
        .iter()
        .map(|e| {
            let commit = &e["merklelog_entry"]["commit"];
            let index = commit["index"]
                .as_str()
                .and_then(|i| i.parse().ok())
                .unwrap_or(u64::MAX);
            let id = commit["idtimestamp"]
                .as_str()
                .and_then(merklelog::idtimestamp::from_hex)
                .unwrap_or(0);
            (index, id)
        })
        .collect();
    placed.sort_unstable();
    let indices: Vec<u64> = placed.iter().map(|(index, _)| *index).collect();
    let expected: Vec<u64> = (0..401).map(merklelog::mmr::leaf_mmr_index).collect();
    assert_eq!(indices, expected, "one leaf per event, no gaps");
    assert!(
        placed.windows(2).all(|w| w[0].1 < w[1].1),
        "idtimestamps grow with the log"
    );

    let newest = format!("{events_path}/{}", bare_id(&events[0]["identity"]));
    sealed(&second, &tenant.token, &newest).await?;
    let (_, keys) = first.get_json(None, "/archivist/v1/merklelog/public-key").await?;
    let key = merklelog::signing::public_from_pem(keys["pem"].as_str().unwrap_or_default())?;
    let source = attachd::log::verify::LogSource::Url(second.base.clone());
    for event in &events {
        attachd::log::verify::verify_inclusion(&source, std::slice::from_ref(&key), event).await?;
    }
    Ok(())
}

/// Uploads published at once (on SQLite, several in one transaction): exactly the quota's
/// worth is accepted, each accepted blob's leaf proves under the anchored seal, the refused
/// ones left no place in the log, and the audit finds the log whole.
async fn concurrent_uploads_each_prove_their_place(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.quota_max_blobs = Some(12);
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let uploads = (0..20u64).map(|i| {
        let content = random_bytes(1000, 300 + i);
        let sent = sha256_hex(&content);
        let request = app.upload_request(&tenant.token, "burst.bin", content);
        async move {
            let response = request.send().await?;
            let status = response.status().as_u16();
            anyhow::Ok((status, response.json::<Value>().await?, sent))
        }
    });
    let mut accepted = Vec::new();
    for answer in futures::future::join_all(uploads).await {
        match answer? {
            (200, blob, sent) => {
                // Each writer is answered its own blob, however the commit was shared.
                assert_eq!(blob["hash"]["value"], sent.as_str(), "{blob}");
                accepted.push(bare_id(&blob["identity"]));
            }
            (402, _, _) => {}
            (status, body, _) => anyhow::bail!("an upload answered {status}: {body}"),
        }
    }
    assert_eq!(accepted.len(), 12, "exactly the quota's worth is accepted");
    for blob in &accepted {
        let (status, info) = app
            .get_json(Some(&tenant.token), &format!("/archivist/v1/blobs/{blob}/info"))
            .await?;
        assert_eq!(status, 200, "{blob}: {info}");
    }
    let places = db
        .scalar("SELECT COUNT(DISTINCT log_index) FROM blobs WHERE log_index IS NOT NULL")
        .await?;
    assert_eq!(places, 12, "one place in the log per accepted blob");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 12);
    app.stop().await?;
    let (passed, summary) = crate::common::audit::audit(&db, &[])?;
    assert!(passed, "the audit fails: {summary}");
    Ok(())
}

/// A download of an attachment the moment its event is stored: no seal covers the event
/// yet, and a request never seals, so it waits for the sealer's next round (which it asks
/// for at once) and is answered well within a seal interval plus a second.
async fn a_download_right_after_its_event_is_proven_at_the_next_seal(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let token = tenant.token.clone();
    let content = random_bytes(5000, 11);
    let blob = app.upload(&token, "scan.pdf", content.clone()).await?;
    let asset = app.create_asset(&token, json!({}), false).await?;
    let asset_id = bare_id(&asset["identity"]);
    for round in 0..3 {
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
            "event_attributes": {"scan": attachment(&blob, "scan.pdf"), "round": round.to_string()}});
        let (status, event) = app
            .post_json(&token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
            .await?;
        anyhow::ensure!(status == 200, "{event}");
        let event_id = bare_id(&event["identity"]);
        let download = format!(
            "/archivist/v2/attachments/assets/{asset_id}/events/{event_id}/{}",
            bare_id(&blob["identity"])
        );
        let started = std::time::Instant::now();
        let (status, bytes) = app.get_bytes(Some(&token), &download).await?;
        let waited = started.elapsed();
        assert_eq!(status, 200, "round {round}");
        assert_eq!(bytes.as_deref(), Some(content.as_slice()), "round {round}");
        // The default seal interval is 1 s.
        assert!(waited < Duration::from_secs(2), "round {round} waited {waited:?}");
    }
    Ok(())
}
