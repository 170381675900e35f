//! The anchor as the authority on which tenants exist. The attack it stops, on a stopped
//! deployment: forge a blob's content and hashes, give the whole tenant a new id (every
//! row, its applications included, so its credentials still work), and rebuild that
//! tenant's log from its rows with no seal. Without a record of the new id, nothing of it
//! is sealed or served, `/readyz` names both ids and the audit fails. Also: a tenant that
//! the anchor cannot record is not made; a deployment from before this change gets its
//! records once, with the marker in the anchor; and verdicts are checked again.

use std::time::Duration;

use serde_json::{json, Value};

use crate::anchor::{forge_content, readyz_says, readyz_says_within, rebuild_log, refused_everywhere, scene, Scene};
use crate::common::audit::{anchor_dir, audit, deployment_args};
use crate::common::{bare_id, eventually, random_bytes, sha256_hex, Backend, ContentPlace, TestApp, TestDb};
use crate::{all_stores, both};
use attachd::store::StoreUrl;

all_stores!(a_renamed_tenant_is_never_trusted, a_tenant_is_recorded_before_it_exists);
both!(
    a_deployment_from_before_gets_its_records_once,
    a_lost_record_is_reported_and_served_again_once_back
);

/// Every table naming a tenant, as an attacker finds them in the schema.
async fn tenant_tables(db: &TestDb) -> anyhow::Result<Vec<String>> {
    use sqlx::Connection;
    Ok(match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await?;
            sqlx::query_scalar(
                "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c \
                 WHERE m.type = 'table' AND c.name = 'tenant_id'",
            )
            .fetch_all(&mut conn)
            .await?
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await?;
            sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.columns \
                 WHERE column_name = 'tenant_id' AND table_schema = current_schema()",
            )
            .fetch_all(&mut conn)
            .await?
        }
    })
}

/// Gives tenant `old` the id `new` in every row, in one connection with foreign keys off.
async fn rename_tenant(db: &TestDb, old: uuid::Uuid, new: uuid::Uuid) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut statements = vec![format!(
        "UPDATE tenants SET id = {} WHERE id = {}",
        db.uuid(&new),
        db.uuid(&old)
    )];
    for table in tenant_tables(db).await? {
        statements.push(format!(
            "UPDATE {table} SET tenant_id = {} WHERE tenant_id = {}",
            db.uuid(&new),
            db.uuid(&old)
        ));
    }
    match db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await?;
            sqlx::query("PRAGMA foreign_keys = OFF").execute(&mut conn).await?;
            for statement in &statements {
                sqlx::query(statement).execute(&mut conn).await?;
            }
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await?;
            sqlx::query("SET session_replication_role = replica")
                .execute(&mut conn)
                .await?;
            for statement in &statements {
                sqlx::query(statement).execute(&mut conn).await?;
            }
        }
    }
    Ok(())
}

/// Moves a blob's stored content to where the new tenant's would be, forged (the database
/// store's content moved with the rows).
async fn move_content(
    place: &ContentPlace,
    old: uuid::Uuid,
    new: uuid::Uuid,
    blob: &str,
    bytes: &[u8],
) -> anyhow::Result<()> {
    use object_store::ObjectStoreExt;
    match &place.url {
        StoreUrl::Database => {}
        StoreUrl::File(root) => {
            std::fs::create_dir_all(root.join(new.to_string()))?;
            std::fs::write(root.join(new.to_string()).join(blob), bytes)?;
            std::fs::remove_file(root.join(old.to_string()).join(blob))?;
        }
        StoreUrl::S3 { prefix, .. } => {
            let client = crate::common::seaweedfs::seaweed()?.client()?;
            let at = |tenant: uuid::Uuid| object_store::path::Path::from(format!("{prefix}/{tenant}/{blob}"));
            client.put(&at(new), bytes.to_vec().into()).await?;
            client.delete(&at(old)).await?;
        }
    }
    Ok(())
}

fn uuid_of(identity: &str) -> anyhow::Result<uuid::Uuid> {
    Ok(identity.trim_start_matches("tenant/").parse()?)
}

/// The attack end to end: after the edit and a restart, no route serves a forged byte,
/// `/readyz` names both ids, the forged log is never sealed, and the audit fails.
async fn a_renamed_tenant_is_never_trusted(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let mut scene = scene(&app).await?;
    app.stop().await?;

    let forged = forge_content(&db, &scene).await?;
    let old = uuid_of(&scene.tenant)?;
    let new = uuid::Uuid::new_v4();
    rename_tenant(&db, old, new).await?;
    move_content(&db.content, old, new, &scene.blob, &forged).await?;
    let renamed = format!("tenant/{new}");
    rebuild_log(&db, &renamed).await?;
    db.execute("DELETE FROM log_seals").await?;

    let app = TestApp::start(&db).await?;
    // The credentials still work, now for the new id.
    scene.token = app.token_for(&scene.credentials).await?;
    refused_everywhere(&app, &scene, &forged, "renamed").await?;
    let reason = readyz_says(&app, &renamed, "never saw").await?;
    assert!(reason.contains("no record"), "{reason}");
    readyz_says(&app, &scene.tenant, "no such tenant").await?;
    // Rounds later, the forged log is still unsealed and nothing is served.
    app.state.log.trust.next_round(Duration::from_secs(10)).await;
    app.state.log.trust.next_round(Duration::from_secs(10)).await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM log_seals").await?, 0, "nothing sealed");
    assert_eq!(
        app.get_bytes(Some(&scene.token), &scene.routes[0]).await?.0,
        500,
        "still refused"
    );
    app.stop().await?;

    let (ok, summary) = audit(&db, &[])?;
    assert!(!ok, "the audit fails: {summary}");
    let failed = summary["failed"].to_string();
    assert!(failed.contains(&renamed) && failed.contains(&scene.tenant), "{summary}");
    Ok(())
}

/// `attachd tenant create` as an operator runs it, against this deployment, with `extra`
/// arguments (a broken anchor, say): its exit status and what it printed.
fn tenant_create(db: &TestDb, extra: &[&str]) -> anyhow::Result<(bool, String)> {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"));
    command.args(["tenant", "create", "--name", "acme"]);
    deployment_args(db, &mut command)?;
    command.args(extra);
    let output = command.output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), said))
}

/// A tenant's record is written before the tenant: a tenant made by `attachd tenant create`
/// is served at once on a running node; with the anchor out of reach, nothing is made.
async fn a_tenant_is_recorded_before_it_exists(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let (ok, said) = tenant_create(&db, &[])?;
    assert!(ok, "{said}");
    let credentials: attachd::tenants::TenantCredentials = serde_json::from_str(said.trim())?;
    let tenant = attachd::ids::TenantId(uuid_of(&credentials.tenant)?);
    let record = app.state.log.trust.anchor.read(tenant).await?;
    assert!(record.is_some_and(|r| r.is_empty()), "an empty log, recorded");
    let token = app.token_for(&credentials).await?;
    let content = random_bytes(5000, 3);
    let blob = bare_id(&app.upload(&token, "new.bin", content.clone()).await?["identity"]);
    let (status, body) = app.download(&token, &blob, None).await?;
    assert_eq!(
        (status, body.map(|b| sha256_hex(&b))),
        (200, Some(sha256_hex(&content)))
    );

    // The anchor out of reach: a directory that is a file, or an S3 endpoint nobody serves.
    let tenants = db.scalar("SELECT COUNT(*) FROM tenants").await?;
    let blocked = tempfile::NamedTempFile::new()?;
    let unreachable = match db.content.store {
        crate::common::Store::S3 => vec!["--s3-endpoint".to_string(), "http://127.0.0.1:9".into()],
        _ => vec![
            "--log-anchor".to_string(),
            format!("file://{}", blocked.path().display()),
        ],
    };
    let extra: Vec<&str> = unreachable.iter().map(String::as_str).collect();
    let (ok, said) = tenant_create(&db, &extra)?;
    assert!(!ok, "created without its record: {said}");
    assert!(said.contains("log anchor"), "{said}");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM tenants").await?,
        tenants,
        "nothing left behind"
    );
    let (status, ready) = app.get_json(None, "/readyz").await?;
    assert_eq!(
        (status, ready["integrity_failures"].clone()),
        (200, json!([])),
        "{ready}"
    );
    app.stop().await?;
    Ok(())
}

/// Tenants from before this version: the first start records those without a log, once;
/// the marker is in the anchor, so a record deleted later and the database's settings
/// deleted too do not make it run again.
async fn a_deployment_from_before_gets_its_records_once(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let sealed = scene(&app).await?;
    let quiet = app.tenant().await?;
    app.stop().await?;
    // As a version before this one left them: no record of a tenant without seals, no marker.
    let dir = anchor_dir(&db);
    let quiet_id = uuid_of(&quiet.credentials.tenant)?;
    let record = dir.join(format!("tenant-{quiet_id}.json"));
    std::fs::remove_file(&record)?;
    std::fs::remove_file(dir.join("every-tenant-anchored"))?;

    let app = TestApp::start(&db).await?;
    assert!(record.exists(), "recorded at the first start");
    let content = random_bytes(4000, 5);
    let blob = bare_id(&app.upload(&quiet.token, "q.bin", content.clone()).await?["identity"]);
    let (status, body) = app.download(&quiet.token, &blob, None).await?;
    assert_eq!(
        (status, body.map(|b| sha256_hex(&b))),
        (200, Some(sha256_hex(&content)))
    );
    for route in &sealed.routes {
        assert_eq!(app.get_bytes(Some(&sealed.token), route).await?.0, 200, "{route}");
    }
    let (_, ready) = app.get_json(None, "/readyz").await?;
    assert_eq!(ready["integrity_failures"], json!([]), "{ready}");
    app.stop().await?;
    let (ok, summary) = audit(&db, &[])?;
    assert!(ok, "{summary}");

    // The record deleted, and every setting: the one-time step does not run again.
    std::fs::remove_file(&record)?;
    db.execute("DELETE FROM settings WHERE key <> 'log_massif_height'")
        .await?;
    let app = TestApp::start(&db).await?;
    assert!(!record.exists(), "not recorded again");
    readyz_says(&app, &quiet.credentials.tenant, "never saw").await?;
    let (status, body) = app.download(&quiet.token, &blob, None).await?;
    let error: Value = serde_json::from_slice(&body.unwrap_or_default()).unwrap_or_default();
    assert_eq!((status, error["code"].clone()), (500, json!(15)), "{error}");
    app.stop().await?;
    Ok(())
}

/// A record deleted while attachd runs is reported although the node holds its own copy;
/// once it is back, the tenant is sealed and served again without a restart, `/readyz` is
/// clean, and a tampered mark on genuine content is cleared by a download that proves it.
async fn a_lost_record_is_reported_and_served_again_once_back(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let scene: Scene = scene(&app).await?;
    let record = anchor_dir(&db).join(format!("tenant-{}.json", uuid_of(&scene.tenant)?));
    let kept = std::fs::read(&record)?;
    std::fs::remove_file(&record)?;
    // Found by the sealer's next check of every tenant (every 10 s).
    readyz_says_within(&app, &scene.tenant, "lost its record", Duration::from_secs(30)).await?;
    eventually("downloads are refused", Duration::from_secs(5), || async {
        Ok(app.get_bytes(Some(&scene.token), &scene.routes[1]).await?.0 == 500)
    })
    .await?;
    assert!(!record.exists(), "the node did not write it again by itself");

    std::fs::write(&record, kept)?;
    eventually("the tenant is served again", Duration::from_secs(10), || async {
        let (_, ready) = app.get_json(None, "/readyz").await?;
        Ok(ready["integrity_failures"] == json!([])
            && app.get_bytes(Some(&scene.token), &scene.routes[1]).await?.0 == 200)
    })
    .await?;
    // New events are sealed again.
    let asset_path = scene.event_path.split("/events/").next().unwrap_or_default();
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"note": "later"}});
    let (status, event) = app
        .post_json(&scene.token, &format!("{asset_path}/events"), &body)
        .await?;
    assert_eq!(status, 200, "{event}");
    let event_path = format!("/archivist/v2/{}", event["identity"].as_str().unwrap_or_default());
    crate::merklelog::sealed(&app, &scene.token, &event_path).await?;

    // A mark left by an earlier verdict: a whole download that proves the content clears it.
    db.execute("UPDATE blobs SET tampered_at = timestamp_accepted").await?;
    let info = format!("/archivist/v1/blobs/{}/info", scene.blob);
    eventually("the mark shows", Duration::from_secs(3), || async {
        Ok(app.get_json(Some(&scene.token), &info).await?.1["tampered_timestamp"].is_string())
    })
    .await?;
    assert_eq!(app.get_bytes(Some(&scene.token), &scene.routes[0]).await?.0, 200);
    eventually("the mark is cleared", Duration::from_secs(3), || async {
        Ok(app.get_json(Some(&scene.token), &info).await?.1["tampered_timestamp"].is_null())
    })
    .await?;
    app.stop().await?;
    Ok(())
}
