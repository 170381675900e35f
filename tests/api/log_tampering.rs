//! Tampering with the verifiable log or what it covers, and rotating its key: each change
//! made behind attachd's back is caught by the download and by `attachd verify`.

use serde_json::{json, Value};

use crate::both;
use crate::common::{bare_id, default_settings, random_bytes, Backend, TestApp, TestDb};
use crate::merklelog::{evidence, pinned_key, sealed, verify, verify_event};

both!(tampering_is_caught, a_new_key_keeps_old_seals_verifiable);

/// Each tampering, on its own database: the download is refused as a tamper (500, code
/// 15) and `attachd verify` fails.
async fn tampering_is_caught(backend: Backend) -> anyhow::Result<()> {
    for case in [
        "event attribute",
        "blob, hash and event together",
        "massif node",
        "seal by another key",
        "log rewritten",
    ] {
        let db = TestDb::new(backend).await?;
        let mut app = TestApp::start(&db).await?;
        let dir = tempfile::tempdir()?;
        let key = pinned_key(&app, dir.path()).await?;
        let evidence = evidence(&app).await?;
        for download in [&evidence.download, &evidence.asset_download] {
            let (status, _) = app.get_bytes(Some(&evidence.token), download).await?;
            assert_eq!(status, 200, "{case}: before: {download}");
        }
        let (ok, line) = verify_event(&app, &key, dir.path(), &evidence.event)?;
        assert!(ok, "{case}: before: {line}");
        let tenant_uuid = evidence.tenant.trim_start_matches("tenant/");
        let old_seal = app
            .get_bytes(
                None,
                &format!("/verifiabledata/merklelogs/v1/mmrs/tenant/{tenant_uuid}/0/massifseals/0000000000000000.sth"),
            )
            .await?
            .1
            .unwrap_or_default();
        let old_seal_file = dir.path().join("old.sth");
        std::fs::write(&old_seal_file, &old_seal)?;
        let index: i64 = evidence.event["merklelog_entry"]["commit"]["index"]
            .as_str()
            .unwrap_or_default()
            .parse()?;
        // Edited behind attachd's back; a restart drops what it cached.
        app.stop().await?;
        match case {
            "event attribute" => {
                db.execute("UPDATE events SET event_attributes = replace(event_attributes, 'as found', 'as left')")
                    .await?;
            }
            "blob, hash and event together" => {
                let forged = random_bytes(3000, 8);
                let hash = crate::common::sha256_hex(&forged);
                let old = evidence.event["event_attributes"]["report"]["arc_blob_hash_value"]
                    .as_str()
                    .unwrap_or_default();
                let hex_blob = hex::encode(&forged);
                let literal = match backend {
                    Backend::Sqlite => format!("X'{hex_blob}'"),
                    Backend::Postgres => format!("'\\x{hex_blob}'::bytea"),
                };
                db.execute(&format!("UPDATE blob_chunks SET data = {literal}")).await?;
                db.execute(&format!("UPDATE blobs SET hash_sha256 = '{hash}'")).await?;
                db.execute(&format!(
                    "UPDATE events SET event_attributes = replace(event_attributes, '{old}', '{hash}'), \
                     asset_attributes = replace(asset_attributes, '{old}', '{hash}')"
                ))
                .await?;
                db.execute(&format!(
                    "UPDATE assets SET attributes = replace(attributes, '{old}', '{hash}')"
                ))
                .await?;
            }
            "massif node" => {
                let zero = match backend {
                    Backend::Sqlite => "zeroblob(32)".to_string(),
                    Backend::Postgres => {
                        "'\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea".to_string()
                    }
                };
                db.execute(&format!("UPDATE log_nodes SET hash = {zero} WHERE mmr_index = {index}"))
                    .await?;
            }
            "seal by another key" => {
                let other = merklelog::signing::SealKey::new(p384::ecdsa::SigningKey::random(&mut rand_core()));
                let contents = merklelog::seal::SealContents::parse(&old_seal)?;
                let app_check = TestApp::start(&db).await?;
                let peaks = peaks_of(&app_check, tenant_uuid, contents.state.size).await?;
                app_check.stop().await?;
                let state = merklelog::seal::MmrState {
                    peaks,
                    ..contents.state
                };
                let forged = merklelog::seal::sign(&other, &state, "attachd", "v1/mmrs/forged")?;
                let literal = match backend {
                    Backend::Sqlite => format!("X'{}'", hex::encode(&forged)),
                    Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(&forged)),
                };
                db.execute(&format!("UPDATE log_seals SET seal = {literal}")).await?;
            }
            _ => {
                // Drop the event's leaf and everything after it, then grow the log again
                // with another event in its place.
                db.execute(&format!(
                    "DELETE FROM event_terms WHERE event_seq IN (SELECT seq FROM events WHERE log_index >= {index})"
                ))
                .await?;
                db.execute(&format!("DELETE FROM events WHERE log_index >= {index}"))
                    .await?;
                db.execute(&format!("DELETE FROM log_nodes WHERE mmr_index >= {index}"))
                    .await?;
                db.execute(&format!("UPDATE log_heads SET size = {index}")).await?;
            }
        }
        app = TestApp::start(&db).await?;
        if case == "seal by another key" {
            // Proofs trust the anchored seal, not the database's: the evidence is served,
            // and the sealer reports the forged seal and publishes the anchored one again.
            crate::anchor::readyz_names(&app, &evidence.tenant).await?;
            for download in [&evidence.download, &evidence.asset_download] {
                let (status, _) = app.get_bytes(Some(&evidence.token), download).await?;
                assert_eq!(status, 200, "{case}: {download}");
            }
            let (ok, line) = verify_event(&app, &key, dir.path(), &evidence.event)?;
            assert!(ok, "{case}: the anchored seal is published again: {line}");
            app.stop().await?;
            continue;
        }
        if case == "log rewritten" {
            let asset = evidence.event["asset_identity"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let body =
                json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"note": "other"}});
            let (status, _) = app
                .post_json(&evidence.token, &format!("/archivist/v2/{asset}/events"), &body)
                .await?;
            assert_eq!(status, 200, "{case}: regrow");
            let (ok, line) = verify(
                &app,
                &key,
                &[
                    "--consistency",
                    old_seal_file.to_str().unwrap_or_default(),
                    "--tenant",
                    &evidence.tenant,
                ],
            )?;
            assert!(!ok, "{case}: verify --consistency: {line}");
            // The sealer refuses to sign the regrown log.
            let (status, proof) = app
                .get_json(
                    Some(&evidence.token),
                    &format!("/archivist/v2/{asset}/events?page_size=1"),
                )
                .await?;
            assert_eq!(status, 200);
            let newest = &proof["events"][0];
            assert!(
                newest["merklelog_entry"]["confirm"].is_null()
                    || newest["merklelog_entry"]["confirm"]["mmr_size"] != json!((index + 1).to_string()),
                "{case}: {newest}"
            );
            app.stop().await?;
            continue;
        }
        for download in [&evidence.download, &evidence.asset_download] {
            let (status, body) = app.get_bytes(Some(&evidence.token), download).await?;
            let body: Value = serde_json::from_slice(&body.unwrap_or_default()).unwrap_or_default();
            assert_eq!(status, 500, "{case}: {download}: {body}");
            assert_eq!(body["code"], 15, "{case}: {download}: {body}");
        }
        let (_, now) = app.get_json(Some(&evidence.token), &evidence.event_path).await?;
        let (ok, line) = verify_event(&app, &key, dir.path(), &now)?;
        assert!(!ok, "{case}: verify: {line}");
        let (status, info) = app
            .get_json(Some(&evidence.token), &format!("{}/info", evidence.download))
            .await?;
        // An altered record is refused outright; an intact one shows the mark.
        assert!(
            info["tampered_timestamp"].is_string() || (status, info["code"].clone()) == (500, json!(15)),
            "{case}: the blob is marked: {info}"
        );
        app.stop().await?;
    }
    Ok(())
}

fn rand_core() -> rand::rngs::OsRng {
    rand::rngs::OsRng
}

/// The peaks the server's log holds at `size`, from its massif.
async fn peaks_of(app: &TestApp, tenant: &str, size: u64) -> anyhow::Result<Vec<[u8; 32]>> {
    let (_, blob) = app
        .get_bytes(
            None,
            &format!("/verifiabledata/merklelogs/v1/mmrs/tenant/{tenant}/0/massifs/0000000000000000.log"),
        )
        .await?;
    let massif = merklelog::massif::ParsedMassif::parse(blob.unwrap_or_default())?;
    Ok(merklelog::mmr::peak_hashes(size, &massif)?)
}

/// Rotating the signing key: new seals use the new key; the old key, listed as trusted,
/// keeps the old seals good, and the log verifies with both keys pinned. Without it listed,
/// nothing signed by it is believed.
async fn a_new_key_keeps_old_seals_verifiable(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let dir = tempfile::tempdir()?;
    let (old_key, new_key) = (dir.path().join("old.pem"), dir.path().join("new.pem"));
    let old = attachd::log::signing::load(&old_key, true)?;
    attachd::log::signing::load(&new_key, true)?;
    let old_public = dir.path().join("old-public.pem");
    std::fs::write(&old_public, merklelog::signing::public_pem(old.verifying())?)?;

    let mut settings = default_settings();
    settings.log_signing_key = Some(old_key.clone());
    let app = TestApp::start_with(&db, settings.clone()).await?;
    let evidence = evidence(&app).await?;
    let tenant_uuid = evidence.tenant.trim_start_matches("tenant/").to_string();
    let seal_path =
        format!("/verifiabledata/merklelogs/v1/mmrs/tenant/{tenant_uuid}/0/massifseals/0000000000000000.sth");
    let old_seal = dir.path().join("then.sth");
    std::fs::write(&old_seal, app.get_bytes(None, &seal_path).await?.1.unwrap_or_default())?;
    app.stop().await?;

    // The old key not listed: nothing it signed is believed.
    settings.log_signing_key = Some(new_key.clone());
    let app = TestApp::start_with(&db, settings.clone()).await?;
    let proof = format!("{}:proof", evidence.event_path);
    let (status, body) = app.get_json(Some(&evidence.token), &proof).await?;
    assert_eq!((status, body["code"].clone()), (500, json!(15)), "{body}");
    app.stop().await?;

    settings.log_trusted_keys = vec![old_public.clone()];
    let app = TestApp::start_with(&db, settings).await?;
    let (_, keys) = app.get_json(None, "/archivist/v1/merklelog/public-key").await?;
    assert_eq!(keys["trusted"].as_array().map(Vec::len), Some(2), "{keys}");
    let new_public = dir.path().join("new-public.pem");
    std::fs::write(&new_public, keys["pem"].as_str().unwrap_or_default())?;
    assert_eq!(
        app.get_bytes(Some(&evidence.token), &evidence.download).await?.0,
        200,
        "old seal trusted"
    );
    let asset = evidence.event["asset_identity"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence"});
    let (_, next) = app
        .post_json(&evidence.token, &format!("/archivist/v2/{asset}/events"), &body)
        .await?;
    let next = sealed(
        &app,
        &evidence.token,
        &format!("/archivist/v2/{asset}/events/{}", bare_id(&next["identity"])),
    )
    .await?;
    let (ok, line) = verify_event(&app, &new_public, dir.path(), &next)?;
    assert!(ok, "new seal, new key: {line}");
    let (ok, line) = verify(
        &app,
        &old_public,
        &[
            "--key",
            new_public.to_str().unwrap_or_default(),
            "--consistency",
            old_seal.to_str().unwrap_or_default(),
            "--tenant",
            &evidence.tenant,
        ],
    )?;
    assert!(ok, "the old seal (old key) and the new (new key): {line}");
    let (ok, line) = verify_event(&app, &old_public, dir.path(), &next)?;
    assert!(!ok && line.contains("not a pinned key"), "{line}");
    app.stop().await?;
    Ok(())
}
