//! Stateless scale-out: two attachd nodes (each with its own caches, pools, rate limits and
//! sealer) on one metadata database and one content store, as behind a load balancer.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{bare_id, random_bytes, sha256_hex, Backend, TestApp, TestDb};
use crate::stores;

stores!(
    content_from_one_node_serves_from_the_other,
    deleting_an_app_on_one_node_revokes_it_on_the_other,
    quotas_hold_across_nodes,
);

const APPS: &str = "/archivist/iam/v1/applications";

async fn two_nodes(db: &TestDb) -> anyhow::Result<(TestApp, TestApp)> {
    Ok((TestApp::start(db).await?, TestApp::start(db).await?))
}

async fn content_from_one_node_serves_from_the_other(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let (a, b) = two_nodes(&db).await?;
    let tenant = a.tenant().await?;
    let content = random_bytes((3 << 20) + 11, 7);
    let blob = a.upload(&tenant.token, "evidence.bin", content.clone()).await?;
    let id = bare_id(&blob["identity"]);

    // Whole and ranged, verified on the node that did not store it.
    let whole = b
        .http
        .get(b.url(&format!("/archivist/v1/blobs/{id}")))
        .bearer_auth(&tenant.token)
        .send()
        .await?;
    assert_eq!(whole.status(), 200);
    assert_eq!(sha256_hex(&whole.bytes().await?), sha256_hex(&content));
    let ranged = b
        .http
        .get(b.url(&format!("/archivist/v1/blobs/{id}")))
        .bearer_auth(&tenant.token)
        .header("range", "bytes=2097152-2097251")
        .send()
        .await?;
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await?.as_ref(), &content[2097152..2097252]);

    // An event made on B naming the blob A stored is accepted, and its attachment serves.
    let (status, asset) = b
        .post_json(
            &tenant.token,
            "/archivist/v2/assets",
            &json!({"behaviours": ["RecordEvidence"], "attributes": {"arc_display_name": "door"}}),
        )
        .await?;
    assert_eq!(status, 200, "{asset}");
    let asset_id = bare_id(&asset["identity"]);
    let attachment = json!({
        "arc_attribute_type": "arc_attachment",
        "arc_blob_identity": blob["identity"],
        "arc_blob_hash_value": blob["hash"]["value"],
        "arc_blob_hash_alg": "SHA256",
        "arc_file_name": "evidence.bin",
    });
    let (status, event) = b
        .post_json(
            &tenant.token,
            &format!("/archivist/v2/assets/{asset_id}/events"),
            &json!({"operation": "Record", "behaviour": "RecordEvidence",
                    "event_attributes": {"arc_primary_image": attachment}}),
        )
        .await?;
    assert_eq!(status, 200, "{event}");
    let event_id = bare_id(&event["identity"]);
    for node in [&a, &b] {
        let response = node
            .http
            .get(node.url(&format!(
                "/archivist/v2/attachments/assets/{asset_id}/events/{event_id}/{id}"
            )))
            .bearer_auth(&tenant.token)
            .send()
            .await?;
        assert_eq!(response.status(), 200);
        assert_eq!(sha256_hex(&response.bytes().await?), sha256_hex(&content));
    }
    Ok(())
}

async fn deleting_an_app_on_one_node_revokes_it_on_the_other(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let (a, b) = two_nodes(&db).await?;
    let admin = a.tenant().await?;
    let (status, created) = a
        .post_json(&admin.token, APPS, &json!({"display_name": "ingest"}))
        .await?;
    assert_eq!(status, 200, "{created}");
    let credentials = attachd::tenants::TenantCredentials {
        tenant: admin.credentials.tenant.clone(),
        client_id: created["client_id"].as_str().unwrap_or_default().to_string(),
        client_secret: created["credentials"][0]["secret"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    let token = b.token_for(&credentials).await?;
    let blob = b.upload(&token, "x.txt", b"x".to_vec()).await?;
    let info = format!("/archivist/v1/blobs/{}/info", bare_id(&blob["identity"]));
    assert_eq!(b.get_json(Some(&token), &info).await?.0, 200);

    let response = a
        .http
        .delete(a.url(&format!("{APPS}/{}", bare_id(&created["identity"]))))
        .bearer_auth(&admin.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    // B caches apps for one second: within that (and a margin) its token stops working.
    let deleted = Instant::now();
    loop {
        let status = b.get_json(Some(&token), &info).await?.0;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            deleted.elapsed() < Duration::from_secs(3),
            "B still honours a deleted app's token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b.token_response(&credentials).await?.status(), 401);
    Ok(())
}

async fn quotas_hold_across_nodes(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let (a, b) = two_nodes(&db).await?;
    let tenant = a.tenant().await?;
    let id = attachd::ids::TenantId::parse_identity(&tenant.credentials.tenant)
        .ok_or_else(|| anyhow::anyhow!("bad tenant identity"))?;
    let quota = attachd::repo::QuotaOverrides {
        max_blobs: Some(6),
        max_bytes: Some(10 << 20),
        max_blob_bytes: None,
    };
    anyhow::ensure!(a.state.repo.set_quota(id, &quota).await?);
    // 16 uploads of 1 MiB at once, alternating nodes: by count at most 6 fit; by bytes 10.
    let size = 1 << 20;
    let uploads = (0..16u64).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        let token = tenant.token.clone();
        async move {
            let part = reqwest::multipart::Part::bytes(random_bytes(size, 100 + i)).file_name("q.bin");
            let response = node
                .http
                .post(node.url("/archivist/v1/blobs"))
                .bearer_auth(token)
                .multipart(reqwest::multipart::Form::new().part("file", part))
                .send()
                .await?;
            let status = response.status().as_u16();
            let body: Value = response.json().await?;
            anyhow::Ok((status, body))
        }
    });
    let answers = futures::future::join_all(uploads).await;
    let mut accepted = 0;
    for answer in answers {
        let (status, body) = answer?;
        match status {
            200 => accepted += 1,
            402 => assert!(body["message"].as_str().is_some_and(|m| m.contains("quota")), "{body}"),
            other => anyhow::bail!("an upload answered {other}: {body}"),
        }
    }
    assert_eq!(accepted, 6, "exactly the quota's worth is accepted");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 6);
    assert_eq!(
        db.scalar("SELECT CAST(SUM(blob_count) AS BIGINT) FROM tenants").await?,
        6
    );
    assert_eq!(
        db.scalar("SELECT CAST(SUM(bytes_used) AS BIGINT) FROM tenants").await?,
        6 * size as i64
    );
    // Nothing of the refused uploads is left in the store.
    crate::common::eventually("refused uploads leave nothing", Duration::from_secs(30), || async {
        Ok(!db.upload_staged().await? && db.stored_content().await? == 6)
    })
    .await?;
    Ok(())
}
