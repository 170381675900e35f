//! An attacker who can write the database, and only the database: every edit of the
//! issue's table (content, hashes, events, log nodes, seals, MACs, places in the log, the
//! migration marker) made between a stop and a start, or while attachd runs. In each case no
//! forged byte is served, the tenant is named by `/readyz`, the integrity counter rises and
//! `attachd verify` fails. A lost anchor record stops the tenant's sealing until an operator
//! audits and re-anchors it.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::both;
use crate::common::audit::{anchor_dir, audit};
use crate::common::{attachment, bare_id, eventually, random_bytes, sha256_hex, Backend, TestApp, TestDb};
use crate::merklelog::{pinned_key, sealed, verify_event};

both!(
    database_edits_never_serve_forged_bytes,
    edits_while_running_are_caught,
    a_lost_anchor_record_stops_sealing_until_reanchored,
    lost_chunk_macs_refuse_ranges,
    a_database_from_before_the_anchor_is_migrated_once
);

/// A tenant's evidence: a blob attached by an event, sealed, and a seal from before it.
pub struct Scene {
    pub token: String,
    pub credentials: attachd::tenants::TenantCredentials,
    pub tenant: String,
    pub blob: String,
    pub event_path: String,
    /// The blob, the event's attachment and the asset's attachment.
    pub routes: [String; 3],
    /// The latest seal before the blob was uploaded, and the size it covers.
    older_seal: Vec<u8>,
    older_size: i64,
    pub key: PathBuf,
    pub dir: tempfile::TempDir,
}

pub async fn scene(app: &TestApp) -> anyhow::Result<Scene> {
    let tenant = app.tenant().await?;
    let token = tenant.token.clone();
    let asset = app
        .create_asset(&token, json!({"arc_display_name": "site"}), false)
        .await?;
    let asset_id = bare_id(&asset["identity"]);
    // The asset's creation event sealed: the seal an attacker may later put back.
    let tenant_uuid = tenant.credentials.tenant.trim_start_matches("tenant/").to_string();
    let seal_path =
        format!("/verifiabledata/merklelogs/v1/mmrs/tenant/{tenant_uuid}/0/massifseals/0000000000000000.sth");
    let found = std::sync::Mutex::new(Vec::new());
    eventually("the asset is sealed", Duration::from_secs(10), || async {
        let (status, bytes) = app.get_bytes(None, &seal_path).await?;
        *found.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = bytes.unwrap_or_default();
        Ok(status == 200)
    })
    .await?;
    let older_seal = found.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let older_size = merklelog::seal::SealContents::parse(&older_seal)?.state.size as i64;
    let blob = app.upload(&token, "report.pdf", random_bytes(3000, 7)).await?;
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
        "event_attributes": {"report": attachment(&blob, "report.pdf"), "note": "as found"},
        "asset_attributes": {"report": attachment(&blob, "report.pdf")}});
    let (status, event) = app
        .post_json(&token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
        .await?;
    anyhow::ensure!(status == 200, "{event}");
    let event_id = bare_id(&event["identity"]);
    let event_path = format!("/archivist/v2/assets/{asset_id}/events/{event_id}");
    sealed(app, &token, &event_path).await?;
    let blob_id = bare_id(&blob["identity"]);
    let dir = tempfile::tempdir()?;
    let key = pinned_key(app, dir.path()).await?;
    Ok(Scene {
        token,
        tenant: tenant.credentials.tenant.clone(),
        credentials: tenant.credentials,
        routes: [
            format!("/archivist/v1/blobs/{blob_id}"),
            format!("/archivist/v2/attachments/assets/{asset_id}/events/{event_id}/{blob_id}"),
            format!("/archivist/v2/attachments/assets/{asset_id}/{blob_id}"),
        ],
        blob: blob_id,
        event_path,
        older_seal,
        older_size,
        key,
        dir,
    })
}

/// The forged content, and the edits that make the database agree with it: the blob's
/// chunk, its hash, and every attribute naming the old hash.
pub async fn forge_content(db: &TestDb, scene: &Scene) -> anyhow::Result<Vec<u8>> {
    let forged = random_bytes(3000, 8);
    let hash = sha256_hex(&forged);
    let blob = db.uuid(&scene.blob.parse()?);
    let old = sha256_hex(&random_bytes(3000, 7));
    db.execute(&format!(
        "UPDATE blob_chunks SET data = {} WHERE blob_id = {blob}",
        bytes_literal(db, &forged)
    ))
    .await?;
    db.execute(&format!("UPDATE blobs SET hash_sha256 = '{hash}' WHERE id = {blob}"))
        .await?;
    db.execute(&format!(
        "UPDATE events SET event_attributes = replace(event_attributes, '{old}', '{hash}'), \
         asset_attributes = replace(asset_attributes, '{old}', '{hash}')"
    ))
    .await?;
    db.execute(&format!(
        "UPDATE assets SET attributes = replace(attributes, '{old}', '{hash}')"
    ))
    .await?;
    Ok(forged)
}

pub fn bytes_literal(db: &TestDb, bytes: &[u8]) -> String {
    match db.backend {
        Backend::Sqlite => format!("X'{}'", hex::encode(bytes)),
        Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

/// Recomputes every leaf from the rows as they now are and every node above, and writes
/// the nodes that changed: the log made to agree with the forged rows.
pub async fn rebuild_log(db: &TestDb, tenant: &str) -> anyhow::Result<u64> {
    use attachd::repo::log::LogHead;
    let repo = attachd::repo::connect(&db.url).await?;
    let tenant = attachd::ids::TenantId(tenant.trim_start_matches("tenant/").parse()?);
    let (size, _) = repo.log_head(tenant).await?;
    let mut leaves = std::collections::BTreeMap::new();
    for event in repo.log_events(tenant, 0..size).await? {
        let (Some(i), Some(id)) = (event.log_index, event.idtimestamp) else {
            continue;
        };
        leaves.insert(
            i as u64,
            (attachd::repo::leaves::event_leaf(&event, id as u64)?, id as u64),
        );
    }
    for blob in repo.log_blobs(tenant, 0..size).await? {
        let (Some(i), Some(id)) = (blob.log_index, blob.idtimestamp) else {
            continue;
        };
        leaves.insert(
            i as u64,
            (attachd::repo::leaves::blob_leaf(&blob, id as u64), id as u64),
        );
    }
    let stored = repo.log_node_range(tenant, 0..size).await?;
    let mut head = LogHead {
        size: 0,
        last_id: 0,
        peaks: Vec::new(),
    };
    let mut changed = 0;
    for (index, (leaf, id)) in leaves {
        anyhow::ensure!(index == head.size, "leaf {index} is not where the log expects it");
        let from = head.size;
        for (n, node) in head.append(leaf, id)?.into_iter().enumerate() {
            let i = from + n as u64;
            if stored.get(i as usize) != Some(&node) {
                db.execute(&format!(
                    "UPDATE log_nodes SET hash = {} WHERE mmr_index = {i}",
                    bytes_literal(db, &node)
                ))
                .await?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

/// `/readyz` names the tenant (within the sealer's first rounds); answers its reason.
pub async fn readyz_names(app: &TestApp, tenant: &str) -> anyhow::Result<String> {
    readyz_says(app, tenant, "").await
}

/// `/readyz` names the tenant with a reason holding `needle`; answers the reason.
pub async fn readyz_says(app: &TestApp, tenant: &str, needle: &str) -> anyhow::Result<String> {
    readyz_says_within(app, tenant, needle, Duration::from_secs(10)).await
}

/// `readyz_says`, waiting up to `limit`.
pub async fn readyz_says_within(app: &TestApp, tenant: &str, needle: &str, limit: Duration) -> anyhow::Result<String> {
    let found = std::sync::Mutex::new(String::new());
    eventually(&format!("/readyz names {tenant}: {needle}"), limit, || async {
        let (status, body) = app.get_json(None, "/readyz").await?;
        anyhow::ensure!(status == 200, "/readyz answered {status}: {body}");
        let named = body["integrity_failures"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| f["tenant"] == json!(tenant))
            .cloned();
        let reason = named.map(|n| n["reason"].as_str().unwrap_or_default().to_string());
        let named = reason.as_ref().is_some_and(|reason| reason.contains(needle));
        *found.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = reason.unwrap_or_default();
        Ok(named)
    })
    .await?;
    found.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))
}

/// The sum of `attachd_integrity_failures_total` over every route.
pub async fn integrity_failures(app: &TestApp) -> anyhow::Result<f64> {
    let text = app.http.get(app.url("/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .filter(|line| line.starts_with("attachd_integrity_failures_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// No route serves the forged bytes (whole or a range): each refuses with code 15.
pub async fn refused_everywhere(app: &TestApp, scene: &Scene, forged: &[u8], case: &str) -> anyhow::Result<()> {
    for route in &scene.routes {
        let (status, body) = app.get_bytes(Some(&scene.token), route).await?;
        let body = body.unwrap_or_default();
        assert!(body.as_slice() != forged, "{case}: {route} served the forged bytes");
        let error: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            (status, error["code"].clone()),
            (500, json!(15)),
            "{case}: {route}: {error}"
        );
        let ranged = app
            .http
            .get(app.url(route))
            .bearer_auth(&scene.token)
            .header("range", "bytes=0-99")
            .send()
            .await?;
        let status = ranged.status().as_u16();
        let bytes = ranged.bytes().await.unwrap_or_default();
        assert!(
            status != 206 && bytes.as_ref() != &forged[..100],
            "{case}: {route} served a forged range ({status})"
        );
    }
    let (status, info) = app
        .get_json(Some(&scene.token), &format!("/archivist/v1/blobs/{}/info", scene.blob))
        .await?;
    assert_eq!((status, info["code"].clone()), (500, json!(15)), "{case}: info: {info}");
    Ok(())
}

/// Each attack of the table, on its own database, between a stop and a start.
async fn database_edits_never_serve_forged_bytes(backend: Backend) -> anyhow::Result<()> {
    for case in ["A", "B", "C1", "C2", "D1", "D2"] {
        let db = TestDb::new(backend).await?;
        let app = TestApp::start(&db).await?;
        let scene = scene(&app).await?;
        let before = integrity_failures(&app).await?;
        app.stop().await?;
        let forged = forge_content(&db, &scene).await?;
        let tenant = db.uuid(&scene.tenant.trim_start_matches("tenant/").parse()?);
        match case {
            "A" => {}
            "B" => {
                rebuild_log(&db, &scene.tenant).await?;
            }
            "C1" => {
                rebuild_log(&db, &scene.tenant).await?;
                db.execute("DELETE FROM log_seals").await?;
            }
            "C2" => {
                rebuild_log(&db, &scene.tenant).await?;
                db.execute(&format!(
                    "UPDATE log_seals SET seal = {}, mmr_size = {} WHERE massif_index = 0",
                    bytes_literal(&db, &scene.older_seal),
                    scene.older_size
                ))
                .await?;
                db.execute("DELETE FROM blob_chunk_macs").await?;
                db.execute("UPDATE blobs SET tampered_at = NULL").await?;
            }
            _ => {
                // Out of the log, for attachd to append again at start: everything (D1) or
                // everything after an older genuine seal (D2), and the migration marker.
                let keep = if case == "D1" { 0 } else { scene.older_size };
                for table in ["events", "blobs"] {
                    db.execute(&format!(
                        "UPDATE {table} SET log_index = NULL, idtimestamp = NULL WHERE tenant_id = {tenant} \
                         AND log_index >= {keep}"
                    ))
                    .await?;
                }
                db.execute(&format!("DELETE FROM log_nodes WHERE mmr_index >= {keep}"))
                    .await?;
                db.execute(&format!("UPDATE log_heads SET size = {keep}")).await?;
                match case {
                    "D1" => db.execute("DELETE FROM log_seals").await?,
                    _ => {
                        db.execute(&format!(
                            "UPDATE log_seals SET seal = {}, mmr_size = {keep} WHERE massif_index = 0",
                            bytes_literal(&db, &scene.older_seal)
                        ))
                        .await?
                    }
                };
                db.execute("DELETE FROM settings WHERE key = 'log_anchored'").await?;
            }
        }
        let app = TestApp::start(&db).await?;
        refused_everywhere(&app, &scene, &forged, case).await?;
        // The log itself was changed (all but A): the sealer refuses it.
        let needle = if case == "A" { "" } else { "cannot be trusted" };
        readyz_says(&app, &scene.tenant, needle).await?;
        assert!(integrity_failures(&app).await? > before, "{case}: the counter rose");
        let (_, now) = app.get_json(Some(&scene.token), &scene.event_path).await?;
        let (ok, line) = verify_event(&app, &scene.key, scene.dir.path(), &now)?;
        assert!(!ok, "{case}: verify: {line}");
        app.stop().await?;
    }
    Ok(())
}

/// D3: the log made to agree with forged content, and the seals and MACs deleted, while
/// attachd runs (after the evidence was downloaded once, so the proofs are remembered).
async fn edits_while_running_are_caught(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let scene = scene(&app).await?;
    for route in &scene.routes {
        assert_eq!(app.get_bytes(Some(&scene.token), route).await?.0, 200, "{route}");
    }
    let before = integrity_failures(&app).await?;
    let forged = forge_content(&db, &scene).await?;
    rebuild_log(&db, &scene.tenant).await?;
    db.execute("DELETE FROM log_seals").await?;
    db.execute("DELETE FROM blob_chunk_macs").await?;
    readyz_says(&app, &scene.tenant, "cannot be trusted").await?;
    // The blob row is cached for a second at most: past that, every route refuses.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for route in &scene.routes {
        let (status, body) = app.get_bytes(Some(&scene.token), route).await?;
        assert!(body.unwrap_or_default() != forged, "{route} served the forged bytes");
        assert_eq!(status, 500, "{route}");
    }
    assert!(integrity_failures(&app).await? > before, "the counter rose");
    let (_, event) = app.get_json(Some(&scene.token), &scene.event_path).await?;
    let (ok, line) = verify_event(&app, &scene.key, scene.dir.path(), &event)?;
    assert!(!ok, "verify: {line}");
    app.stop().await?;
    Ok(())
}

/// The anchor's record of a tenant with sealed events deleted: attachd refuses to seal
/// that tenant rather than start over, until `attachd log audit --reanchor` after an audit.
async fn a_lost_anchor_record_stops_sealing_until_reanchored(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let scene = scene(&app).await?;
    app.stop().await?;
    let (ok, summary) = audit(&db, &[])?;
    assert!(ok, "a sound deployment passes: {summary}");
    assert!(summary["leaves"].as_u64() >= Some(3), "{summary}");

    let record = anchor_dir(&db).join(format!("tenant-{}.json", scene.tenant.trim_start_matches("tenant/")));
    std::fs::remove_file(&record)?;
    let app = TestApp::start(&db).await?;
    let reason = readyz_names(&app, &scene.tenant).await?;
    assert!(reason.contains("re-anchor"), "{reason}");
    let (status, _) = app.get_bytes(Some(&scene.token), &scene.routes[1]).await?;
    assert_eq!(status, 500, "nothing is proven without the anchor");
    app.stop().await?;
    assert!(!record.exists(), "nothing anchored the log anew by itself");

    let (ok, summary) = audit(&db, &[])?;
    assert!(!ok, "the audit fails on the missing record: {summary}");
    let (ok, summary) = audit(&db, &["--tenant", &scene.tenant, "--reanchor"])?;
    assert!(ok, "re-anchored: {summary}");
    assert!(record.exists());
    let app = TestApp::start(&db).await?;
    for route in &scene.routes {
        assert_eq!(app.get_bytes(Some(&scene.token), route).await?.0, 200, "{route}");
    }
    let (_, event) = app.get_json(Some(&scene.token), &scene.event_path).await?;
    let (ok, line) = verify_event(&app, &scene.key, scene.dir.path(), &event)?;
    assert!(ok, "{line}");
    // The re-anchored seal is the published one: nothing is named at start.
    let anchored: Value = serde_json::from_slice(&std::fs::read(&record)?)?;
    let published = db.scalar("SELECT COUNT(*) FROM log_seals").await?;
    assert!(published > 0);
    app.state.log.trust.next_round(Duration::from_secs(10)).await;
    let (_, ready) = app.get_json(None, "/readyz").await?;
    assert_eq!(ready["integrity_failures"], json!([]), "{ready} (anchored {anchored})");
    app.stop().await?;

    // A log edited behind attachd's back fails the audit, and cannot be re-anchored.
    let forged = forge_content(&db, &scene).await?;
    assert!(!forged.is_empty());
    let (ok, summary) = audit(&db, &[])?;
    assert!(!ok, "{summary}");
    let (ok, summary) = audit(&db, &["--tenant", &scene.tenant, "--reanchor"])?;
    assert!(!ok, "{summary}");
    Ok(())
}

/// A blob stored with chunk MACs whose MACs are gone (its record, anchored in the log, says
/// they were made): a range is refused as tampered; the whole blob, whose SHA-256 is anchored,
/// is still served.
async fn lost_chunk_macs_refuse_ranges(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes((2 << 20) + 5, 11);
    let blob = bare_id(&app.upload(&tenant.token, "macs.bin", content.clone()).await?["identity"]);
    let (status, part) = app.download(&tenant.token, &blob, Some("bytes=0-99")).await?;
    assert_eq!((status, part.as_deref()), (206, Some(&content[..100])));
    db.execute("DELETE FROM blob_chunk_macs").await?;
    let (status, body) = app.download(&tenant.token, &blob, Some("bytes=0-99")).await?;
    let error: Value = serde_json::from_slice(&body.unwrap_or_default()).unwrap_or_default();
    assert_eq!((status, error["code"].clone()), (500, json!(15)), "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("MACs are missing"),
        "{error}"
    );
    let (status, whole) = app.download(&tenant.token, &blob, None).await?;
    assert_eq!(
        (status, whole.map(|w| sha256_hex(&w))),
        (200, Some(sha256_hex(&content)))
    );
    app.stop().await?;
    Ok(())
}

/// A database from before the anchor (and before the log): no event or blob has a place
/// in a log, there are no seals, no anchor and no marker. The first start appends them all
/// once, seals and anchors the result; the evidence is served, the audit passes, and the
/// next start appends nothing.
async fn a_database_from_before_the_anchor_is_migrated_once(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let scene = scene(&app).await?;
    app.stop().await?;
    for table in ["events", "blobs"] {
        db.execute(&format!("UPDATE {table} SET log_index = NULL, idtimestamp = NULL"))
            .await?;
    }
    for statement in [
        "DELETE FROM log_nodes",
        "DELETE FROM log_seals",
        "DELETE FROM log_heads",
        "DELETE FROM settings WHERE key = 'log_anchored'",
    ] {
        db.execute(statement).await?;
    }
    std::fs::remove_dir_all(anchor_dir(&db))?;

    let app = TestApp::start(&db).await?;
    for route in &scene.routes {
        assert_eq!(app.get_bytes(Some(&scene.token), route).await?.0, 200, "{route}");
    }
    let (status, ready) = app.get_json(None, "/readyz").await?;
    assert_eq!(
        (status, ready["integrity_failures"].clone()),
        (200, json!([])),
        "{ready}"
    );
    let (_, event) = app.get_json(Some(&scene.token), &scene.event_path).await?;
    let event = if event["merklelog_entry"]["confirm"].is_object() {
        event
    } else {
        sealed(&app, &scene.token, &scene.event_path).await?
    };
    let (ok, line) = verify_event(&app, &scene.key, scene.dir.path(), &event)?;
    assert!(ok, "{line}");
    app.stop().await?;
    let size = db.scalar("SELECT size FROM log_heads").await?;
    let (ok, summary) = audit(&db, &[])?;
    assert!(ok, "{summary}");
    let app = TestApp::start(&db).await?;
    app.stop().await?;
    assert_eq!(
        db.scalar("SELECT size FROM log_heads").await?,
        size,
        "nothing appended twice"
    );
    Ok(())
}
