//! What a partner does with what is shared with it: lists it beside its own assets, reads
//! the granted events, downloads their attachments verified, and writes nothing.

use serde_json::{json, Value};

use crate::both;
use std::time::Duration;

use crate::common::{attachment, bare_id, eventually, random_bytes, Backend, TestApp, TestDb};
use crate::sharing::{count, share, POLICIES};

both!(
    a_partner_lists_reads_and_downloads_what_is_shared,
    a_policy_change_reaches_every_node_within_two_seconds
);

const ASSETS: &str = "/archivist/v2/assets";

/// Every identity of the asset list at `query`, a page at a time.
async fn all_pages(app: &TestApp, token: &str, query: &str) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut next = String::new();
    loop {
        let path = match next.is_empty() {
            true => format!("{ASSETS}?{query}"),
            false => format!("{ASSETS}?page_token={next}"),
        };
        let (status, page) = app.get_json(Some(token), &path).await?;
        anyhow::ensure!(status == 200, "list answered {status}: {page}");
        for asset in page["assets"].as_array().into_iter().flatten() {
            ids.push(asset["identity"].as_str().unwrap_or_default().to_string());
        }
        next = page["next_page_token"].as_str().unwrap_or_default().to_string();
        if next.is_empty() {
            return Ok(ids);
        }
    }
}

async fn a_partner_lists_reads_and_downloads_what_is_shared(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let (a, b, stranger) = (app.tenant().await?, app.tenant().await?, app.tenant().await?);
    let (b_in_a, _) = share(&app, &a.token, &b.token).await?;
    let namespace = uuid::Uuid::new_v4().to_string();
    let shared_attributes =
        |n: u32| json!({"arc_display_name": format!("shipment {n}"), "arc_namespace": namespace, "cost": "secret"});
    // Own and shared assets interleaved, newest last.
    let mut expected = Vec::new();
    let mut unshared = Vec::new();
    for n in 0..3 {
        expected.push(app.create_asset(&a.token, shared_attributes(n), false).await?);
        expected.push(
            app.create_asset(&b.token, json!({"arc_display_name": format!("own {n}")}), false)
                .await?,
        );
        unshared.push(
            app.create_asset(&a.token, json!({"arc_display_name": format!("hidden {n}")}), false)
                .await?,
        );
    }
    // Public assets are never shared: their public routes serve them.
    app.create_asset(&a.token, shared_attributes(9), true).await?;
    let identities = |assets: &[Value]| -> Vec<String> {
        assets
            .iter()
            .rev()
            .map(|a| a["identity"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let policy = json!({
        "display_name": "customer",
        "filters": [{"or": [format!("attributes.arc_namespace={namespace}")]}],
        "access_permissions": [{
            "subjects": [b_in_a["identity"]],
            "include_attributes": ["arc_display_name", "arc_display_type", "certificate"],
            "event_arc_display_type_read": ["Inspection"],
        }],
    });
    let (status, created) = app.post_json(&a.token, POLICIES, &policy).await?;
    assert_eq!(status, 200, "{created}");

    // B's list holds its own and the shared assets, in one order, across page tokens.
    assert_eq!(all_pages(&app, &b.token, "page_size=2").await?, identities(&expected));
    assert_eq!(count(&app, &b.token, &format!("{ASSETS}?page_size=1")).await?, 6);
    let (_, page) = app.get_json(Some(&b.token), &format!("{ASSETS}?page_size=2")).await?;
    let newest = &page["assets"][1];
    assert_eq!(newest["attributes"], json!({"arc_display_name": "shipment 2"}));
    assert_eq!(
        newest["tenant_identity"], expected[4]["tenant_identity"],
        "the owner is named"
    );
    assert_ne!(newest["tenant_identity"], page["assets"][0]["tenant_identity"]);
    // Filters apply to what B can see, never to what it cannot.
    let by_name = all_pages(&app, &b.token, "attributes.arc_display_name=shipment%201").await?;
    assert_eq!(
        by_name,
        vec![expected[2]["identity"].as_str().unwrap_or_default().to_string()]
    );
    assert!(all_pages(&app, &b.token, "attributes.cost=secret").await?.is_empty());
    assert!(all_pages(&app, &stranger.token, "page_size=50").await?.is_empty());
    assert_eq!(
        all_pages(&app, &a.token, "page_size=50").await?.len(),
        7,
        "A sees its own only"
    );

    // A records a certificate on a shared asset, and an internal note B may not read.
    let asset = bare_id(&expected[0]["identity"]);
    let content = random_bytes(70_000, 24);
    let blob = app.upload(&a.token, "certificate.pdf", content.clone()).await?;
    let events = format!("{ASSETS}/{asset}/events");
    let record = |kind: &str| {
        json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {
            "arc_display_type": kind, "certificate": attachment(&blob, "certificate.pdf"), "cost": "secret",
        }})
    };
    let (_, inspection) = app.post_json(&a.token, &events, &record("Inspection")).await?;
    let (_, internal) = app.post_json(&a.token, &events, &record("Internal")).await?;

    // B reads the granted event with the granted attributes only.
    let (status, listed) = app.get_json(Some(&b.token), &events).await?;
    assert_eq!(status, 200, "{listed}");
    let listed = listed["events"].as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["identity"], inspection["identity"]);
    assert!(listed[0]["event_attributes"].get("cost").is_none());
    assert_eq!(count(&app, &b.token, &events).await?, 1);
    let event_path = |event: &Value| format!("{events}/{}", bare_id(&event["identity"]));
    assert_eq!(app.get_json(Some(&b.token), &event_path(&inspection)).await?.0, 200);
    assert_eq!(app.get_json(Some(&b.token), &event_path(&internal)).await?.0, 404);

    // …and downloads its attachment, verified, as the owner would.
    let blob_id = bare_id(&blob["identity"]);
    let attachment_path = |event: &Value| {
        format!(
            "/archivist/v2/attachments/assets/{asset}/events/{}/{blob_id}",
            bare_id(&event["identity"])
        )
    };
    let (status, bytes) = app.get_bytes(Some(&b.token), &attachment_path(&inspection)).await?;
    assert_eq!((status, bytes.as_deref()), (200, Some(content.as_slice())));
    let (status, info) = app
        .get_json(Some(&b.token), &format!("{}/info", attachment_path(&inspection)))
        .await?;
    assert_eq!((status, &info["hash"]["value"]), (200, &blob["hash"]["value"]));
    assert_eq!(app.get_bytes(Some(&b.token), &attachment_path(&internal)).await?.0, 404);
    assert_eq!(
        app.get_bytes(Some(&stranger.token), &attachment_path(&inspection))
            .await?
            .0,
        404
    );

    // B writes nothing: 403 on a shared asset, 404 on one it cannot see.
    let (status, refused) = app.post_json(&b.token, &events, &record("Inspection")).await?;
    assert_eq!(status, 403, "{refused}");
    let hidden = format!("{ASSETS}/{}/events", bare_id(&unshared[0]["identity"]));
    assert_eq!(app.post_json(&b.token, &hidden, &record("Inspection")).await?.0, 404);
    assert_eq!(app.post_json(&b.token, &events, &json!({"operation": 7})).await?.0, 403);
    app.stop().await
}

async fn a_policy_change_reaches_every_node_within_two_seconds(backend: Backend) -> anyhow::Result<()> {
    // Two nodes on one database, each with its own caches, as behind a load balancer.
    let db = TestDb::new(backend).await?;
    let (one, other) = (TestApp::start(&db).await?, TestApp::start(&db).await?);
    let (a, b) = (one.tenant().await?, one.tenant().await?);
    let asset = one
        .create_asset(&a.token, json!({"arc_display_name": "pallet"}), false)
        .await?;
    let path = format!("{ASSETS}/{}", bare_id(&asset["identity"]));
    // The other node has read, and kept, that nothing is shared.
    assert_eq!(other.get_json(Some(&b.token), &path).await?.0, 404);
    assert!(all_pages(&other, &b.token, "").await?.is_empty());

    let (b_in_a, _) = share(&one, &a.token, &b.token).await?;
    let policy = json!({
        "display_name": "customer",
        "filters": [{"or": ["attributes.arc_display_name=pallet"]}],
        "access_permissions": [{"subjects": [b_in_a["identity"]], "include_attributes": ["arc_display_name"]}],
    });
    let (status, created) = one.post_json(&a.token, POLICIES, &policy).await?;
    assert_eq!(status, 200, "{created}");
    let limit = Duration::from_secs(2);
    eventually("the other node shares the asset", limit, || async {
        Ok(other.get_json(Some(&b.token), &path).await?.0 == 200)
    })
    .await?;
    eventually("the other node lists it", limit, || async {
        Ok(all_pages(&other, &b.token, "").await? == vec![asset["identity"].as_str().unwrap_or_default().to_string()])
    })
    .await?;

    let policy_path = format!("{POLICIES}/{}", bare_id(&created["identity"]));
    let response = one
        .http
        .delete(one.url(&policy_path))
        .bearer_auth(&a.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(
        one.get_json(Some(&b.token), &path).await?.0,
        404,
        "at once on the node that changed it"
    );
    eventually("the other node stops sharing it", limit, || async {
        Ok(other.get_json(Some(&b.token), &path).await?.0 == 404 && all_pages(&other, &b.token, "").await?.is_empty())
    })
    .await?;
    other.stop().await?;
    one.stop().await
}
