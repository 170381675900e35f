//! Assets, events and the Attachments API, as the seed documents use them.

use serde_json::{json, Value};

use crate::common::{attachment, bare_id, download_routes, random_bytes, Backend, TestApp, TestDb};
use crate::stores;

stores!(
    seed_002_cat_id_walkthrough,
    two_attachments_on_one_event,
    asset_attachment_via_asset_attributes,
    asset_free_event_attachments,
    public_and_private_asset_routes,
    other_tenants_get_404_on_every_attachment_route,
    bad_references_are_rejected_and_nothing_stored,
    altered_content_is_refused_on_every_route,
);

/// Seed 002, "Create an Asset-Event Attachment", with its JSON as written.
async fn seed_002_cat_id_walkthrough(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(81254, 42);
    let blob = app.upload(&tenant.token, "cat.jpg", content.clone()).await?;
    let asset = app
        .create_asset(&tenant.token, json!({"arc_display_name": "Scene"}), false)
        .await?;
    let (blob_id, blob_hash, blob_file) = (
        blob["identity"].as_str().unwrap_or_default(),
        blob["hash"]["value"].as_str().unwrap_or_default(),
        "cat.jpg",
    );
    let event_json = format!(
        r#"{{
  "operation": "Record",
  "behaviour": "RecordEvidence",
  "event_attributes": {{
    "arc_display_type": "Cat-ID",
    "arc_description": "Fydor, the cat on the scene",
    "cat-id": {{
      "arc_attribute_type": "arc_attachment",
      "arc_blob_hash_value": "{blob_hash}",
      "arc_blob_identity": "{blob_id}",
      "arc_blob_hash_alg": "SHA256",
      "arc_file_name": "{blob_file}",
      "arc_display_name": "Fydor"
    }}
  }}
}}"#
    );
    let sent: Value = serde_json::from_str(&event_json)?;
    let asset_id = asset["identity"].as_str().unwrap_or_default();
    let response = app
        .http
        .post(app.url(&format!("/archivist/v2/{asset_id}/events")))
        .bearer_auth(&tenant.token)
        .header("content-type", "application/json")
        .body(event_json)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let event: Value = response.json().await?;
    assert_eq!(event["event_attributes"], sent["event_attributes"]);
    assert_eq!(event["asset_identity"], asset["identity"]);
    assert_eq!(event["confirmation_status"], "CONFIRMED");
    assert_eq!(event["principal_accepted"]["subject"], tenant.credentials.client_id);
    let event_keys: Vec<&String> = event["event_attributes"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        event_keys,
        ["arc_display_type", "arc_description", "cat-id"],
        "attribute order is kept"
    );

    // EVENT_ID=events/…; ATTACHMENT_ID=$(echo ${BLOB_ID} | cut -d '/' -f 2)
    let event_id = format!("events/{}", bare_id(&event["identity"]));
    let attachment_id = bare_id(&blob["identity"]);
    let path = format!("/archivist/v2/attachments/{asset_id}/{event_id}/{attachment_id}");
    let response = app.http.get(app.url(&path)).bearer_auth(&tenant.token).send().await?;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"cat.jpg\"; filename*=UTF-8''cat.jpg"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-length"], "81254");
    assert_eq!(headers["etag"], format!("\"{blob_hash}\"").as_str());
    assert_eq!(response.bytes().await?.as_ref(), content.as_slice());

    let (status, info) = app.get_json(Some(&tenant.token), &format!("{path}/info")).await?;
    assert_eq!(status, 200);
    assert_eq!(info["identity"], format!("attachments/{attachment_id}"));
    assert_eq!(info["hash"], blob["hash"]);
    assert_eq!(info["size"], 81254);
    assert_eq!(info["scanned_status"], "NOT_SCANNED");

    let (status, got) = app
        .get_json(
            Some(&tenant.token),
            &format!("/archivist/v2/{asset_id}/events/{}", bare_id(&event["identity"])),
        )
        .await?;
    assert_eq!(status, 200);
    // The sealer sealed the log: the event now carries its seal, and is otherwise the same.
    let mut got = got;
    let confirm = got["merklelog_entry"]
        .as_object_mut()
        .and_then(|entry| entry.remove("confirm"))
        .unwrap_or_default();
    // The blob's record, the asset's creation event, their parent and the event.
    assert_eq!(confirm["mmr_size"], "4", "{confirm}");
    assert_eq!(got, event);
    let ranged = app
        .http
        .get(app.url(&path))
        .bearer_auth(&tenant.token)
        .header("range", "bytes=10-19")
        .send()
        .await?;
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await?.as_ref(), &content[10..20]);
    Ok(())
}

async fn two_attachments_on_one_event(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let conformance = random_bytes(5000, 1);
    let security = random_bytes(7000, 2);
    let a = app
        .upload(&tenant.token, "conformance.pdf", conformance.clone())
        .await?;
    let b = app
        .upload(&tenant.token, "security-report.pdf", security.clone())
        .await?;
    let unreferenced = app.upload(&tenant.token, "other.pdf", random_bytes(10, 3)).await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let asset_id = bare_id(&asset["identity"]);
    let body = json!({
        "operation": "Record", "behaviour": "RecordEvidence",
        "event_attributes": {
            "arc_description": "Conformance approved for version 1.6",
            "conformance_report": attachment(&a, "conformance.pdf"),
            "security_report": attachment(&b, "security-report.pdf"),
        }
    });
    let (status, event) = app
        .post_json(&tenant.token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
        .await?;
    assert_eq!(status, 200, "{event}");
    let base = format!(
        "/archivist/v2/attachments/assets/{asset_id}/events/{}",
        bare_id(&event["identity"])
    );
    for (blob, content, name) in [
        (&a, &conformance, "conformance.pdf"),
        (&b, &security, "security-report.pdf"),
    ] {
        let path = format!("{base}/{}", bare_id(&blob["identity"]));
        let response = app.http.get(app.url(&path)).bearer_auth(&tenant.token).send().await?;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-disposition"].to_str()?.contains(name));
        assert_eq!(response.bytes().await?.as_ref(), content.as_slice());
    }
    let (status, _) = app
        .get_bytes(
            Some(&tenant.token),
            &format!("{base}/{}", bare_id(&unreferenced["identity"])),
        )
        .await?;
    assert_eq!(status, 404, "a blob the event does not name is not served through it");
    Ok(())
}

async fn asset_attachment_via_asset_attributes(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(3 << 20, 5);
    let blob = app.upload(&tenant.token, "photo.png", content.clone()).await?;
    let asset = app
        .create_asset(&tenant.token, json!({"arc_display_name": "Truck", "keep": "me"}), false)
        .await?;
    let asset_id = bare_id(&asset["identity"]);
    let body = json!({
        "operation": "Record", "behaviour": "RecordEvidence",
        "event_attributes": {"arc_description": "photo added"},
        "asset_attributes": {"arc_attachments": [attachment(&blob, "photo.png")]},
    });
    let (status, _) = app
        .post_json(&tenant.token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
        .await?;
    assert_eq!(status, 200);
    let (_, asset) = app
        .get_json(Some(&tenant.token), &format!("/archivist/v2/assets/{asset_id}"))
        .await?;
    assert_eq!(asset["attributes"]["keep"], "me");
    assert_eq!(
        asset["attributes"]["arc_attachments"][0]["arc_blob_identity"],
        blob["identity"]
    );
    let path = format!(
        "/archivist/v2/attachments/assets/{asset_id}/{}",
        bare_id(&blob["identity"])
    );
    let (status, bytes) = app.get_bytes(Some(&tenant.token), &path).await?;
    assert_eq!(status, 200);
    assert_eq!(bytes.as_deref(), Some(content.as_slice()));
    let (status, info) = app.get_json(Some(&tenant.token), &format!("{path}/info")).await?;
    assert_eq!((status, &info["hash"]), (200, &blob["hash"]));
    Ok(())
}

async fn asset_free_event_attachments(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(2000, 8);
    let blob = app.upload(&tenant.token, "manifest.json", content.clone()).await?;
    let body = json!({"attributes": {"doc": attachment(&blob, "manifest.json"), "external": {
        "arc_blob_hash_value": "ab".repeat(32), "arc_blob_hash_alg": "SHA256", "arc_file_name": "elsewhere.pdf"}},
        "trails": ["shipment-1"]});
    let (status, event) = app.post_json(&tenant.token, "/archivist/v1/events", &body).await?;
    assert_eq!(status, 200, "{event}");
    assert!(event["identity"].as_str().is_some_and(|i| i.starts_with("events/")));
    assert_eq!(event["trails"], json!(["shipment-1"]));
    let event_id = bare_id(&event["identity"]);
    let (status, got) = app
        .get_json(Some(&tenant.token), &format!("/archivist/v1/events/{event_id}"))
        .await?;
    assert_eq!((status, &got), (200, &event));
    let path = format!(
        "/archivist/v2/attachments/events/{event_id}/{}",
        bare_id(&blob["identity"])
    );
    let (status, bytes) = app.get_bytes(Some(&tenant.token), &path).await?;
    assert_eq!((status, bytes.as_deref()), (200, Some(content.as_slice())));
    let (status, _) = app.get_json(Some(&tenant.token), &format!("{path}/info")).await?;
    assert_eq!(status, 200);
    Ok(())
}

async fn public_and_private_asset_routes(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(4000, 9);
    let blob = app.upload(&tenant.token, "pub.txt", content.clone()).await?;
    let uuid = bare_id(&blob["identity"]);
    for public in [true, false] {
        let asset = app
            .create_asset(
                &tenant.token,
                json!({"arc_attachments": [attachment(&blob, "pub.txt")]}),
                public,
            )
            .await?;
        let asset_id = bare_id(&asset["identity"]);
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
                          "event_attributes": {"doc": attachment(&blob, "pub.txt")}});
        let (_, event) = app
            .post_json(&tenant.token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
            .await?;
        let event_id = bare_id(&event["identity"]);
        let routes = [
            format!("/archivist/v2/publicassets/{asset_id}"),
            format!("/archivist/v2/publicassets/{asset_id}/events"),
            format!("/archivist/v2/publicassets/{asset_id}/events/{event_id}"),
            format!("/archivist/v2/attachments/publicassets/{asset_id}/{uuid}/info"),
            format!("/archivist/v2/attachments/publicassets/{asset_id}/events/{event_id}/{uuid}/info"),
            format!("/archivist/v2/attachments/publicassets/{asset_id}/{uuid}"),
            format!("/archivist/v2/attachments/publicassets/{asset_id}/events/{event_id}/{uuid}"),
        ];
        for route in &routes {
            for token in [None, Some(tenant.token.as_str())] {
                let (status, body) = app.get_bytes(token, route).await?;
                if public {
                    assert_eq!(status, 200, "{route}");
                    if route.ends_with(&uuid) {
                        assert_eq!(body.as_deref(), Some(content.as_slice()), "{route}");
                    }
                } else {
                    assert_eq!(status, 404, "a non-public asset is not served at {route}");
                }
            }
        }
        // The same asset through the tenant's own routes needs a token.
        let own = format!("/archivist/v2/attachments/assets/{asset_id}/{uuid}");
        assert_eq!(app.get_bytes(None, &own).await?.0, 401);
        assert_eq!(app.get_bytes(Some(&tenant.token), &own).await?.0, 200);
        let (status, url) = app
            .get_json(
                Some(&tenant.token),
                &format!("/archivist/v2/assets/{asset_id}:publicurl"),
            )
            .await?;
        if public {
            assert_eq!(status, 200);
            assert!(url["publicurl"]
                .as_str()
                .is_some_and(|u| u.ends_with(&format!("/archivist/v2/publicassets/{asset_id}"))));
        } else {
            assert_eq!(status, 404);
        }
    }
    Ok(())
}

async fn other_tenants_get_404_on_every_attachment_route(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let owner = app.tenant().await?;
    let other = app.tenant().await?;
    let blob = app.upload(&owner.token, "a.txt", b"private".to_vec()).await?;
    let uuid = bare_id(&blob["identity"]);
    let asset = app
        .create_asset(&owner.token, json!({"doc": attachment(&blob, "a.txt")}), false)
        .await?;
    let asset_id = bare_id(&asset["identity"]);
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"doc": attachment(&blob, "a.txt")}});
    let (_, event) = app
        .post_json(&owner.token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
        .await?;
    let event_id = bare_id(&event["identity"]);
    let (_, free) = app
        .post_json(
            &owner.token,
            "/archivist/v1/events",
            &json!({"attributes": {"doc": attachment(&blob, "a.txt")}}),
        )
        .await?;
    let free_id = bare_id(&free["identity"]);
    let routes = [
        format!("/archivist/v2/attachments/assets/{asset_id}/{uuid}"),
        format!("/archivist/v2/attachments/assets/{asset_id}/{uuid}/info"),
        format!("/archivist/v2/attachments/assets/{asset_id}/events/{event_id}/{uuid}"),
        format!("/archivist/v2/attachments/assets/{asset_id}/events/{event_id}/{uuid}/info"),
        format!("/archivist/v2/attachments/events/{free_id}/{uuid}"),
        format!("/archivist/v2/attachments/events/{free_id}/{uuid}/info"),
        format!("/archivist/v2/assets/{asset_id}"),
        format!("/archivist/v2/assets/{asset_id}/events"),
        format!("/archivist/v2/assets/{asset_id}/events/{event_id}"),
        format!("/archivist/v1/events/{free_id}"),
    ];
    for route in &routes {
        assert_eq!(app.get_bytes(Some(&other.token), route).await?.0, 404, "{route}");
        assert_eq!(app.get_bytes(Some(&owner.token), route).await?.0, 200, "{route}");
    }
    let (status, _) = app
        .post_json(&other.token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
        .await?;
    assert_eq!(status, 404, "posting an event on another tenant's asset");
    let (_, list) = app
        .get_json(Some(&other.token), "/archivist/v2/assets/-/events")
        .await?;
    assert_eq!(list["events"], json!([]));
    Ok(())
}

async fn bad_references_are_rejected_and_nothing_stored(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let other = app.tenant().await?;
    let mine = app.upload(&tenant.token, "m.txt", b"mine".to_vec()).await?;
    let foreign = app.upload(&other.token, "f.txt", b"theirs".to_vec()).await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let asset_id = bare_id(&asset["identity"]);
    let mut wrong_hash = attachment(&mine, "m.txt");
    wrong_hash["arc_blob_hash_value"] = json!("00".repeat(32));
    let mut unknown = attachment(&mine, "m.txt");
    unknown["arc_blob_identity"] = json!(format!("blobs/{}", uuid::Uuid::new_v4()));
    let mut malformed = attachment(&mine, "m.txt");
    malformed["arc_blob_hash_alg"] = json!("MD5");
    let cases = [
        ("event_attributes.report", json!({"report": wrong_hash})),
        (
            "event_attributes.evidence[1]",
            json!({"evidence": ["x", attachment(&foreign, "f.txt")]}),
        ),
        ("event_attributes.nested.deep", json!({"nested": {"deep": unknown}})),
        ("event_attributes.report", json!({"report": malformed})),
    ];
    for (attribute, event_attributes) in cases {
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": event_attributes});
        let (status, error) = app
            .post_json(&tenant.token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
            .await?;
        assert_eq!(status, 400, "{error}");
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(attribute)),
            "{attribute}: {error}"
        );
        let (status, error) = app
            .post_json(
                &tenant.token,
                "/archivist/v2/assets",
                &json!({"attributes": body["event_attributes"]}),
            )
            .await?;
        assert_eq!(status, 400, "{error}");
    }
    // Only the asset's own creation event.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM events WHERE operation <> 'NewAsset'")
            .await?,
        0
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM assets").await?, 1);
    let (status, _) = app
        .post_json(
            &tenant.token,
            &format!("/archivist/v2/assets/{asset_id}/events"),
            &json!({"event_attributes": {}}),
        )
        .await?;
    assert_eq!(status, 400, "operation and behaviour are required");
    Ok(())
}

async fn altered_content_is_refused_on_every_route(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let small = app.upload(&tenant.token, "small.bin", random_bytes(500, 1)).await?;
    let large = app
        .upload(&tenant.token, "large.bin", random_bytes((2 << 20) + 99, 2))
        .await?;
    let attributes = json!({"small": attachment(&small, "small.bin"), "large": attachment(&large, "large.bin")});
    let asset = app.create_asset(&tenant.token, attributes.clone(), true).await?;
    let asset_id = bare_id(&asset["identity"]);
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": attributes});
    let (_, event) = app
        .post_json(&tenant.token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
        .await?;
    let event_id = bare_id(&event["identity"]);
    let (_, free) = app
        .post_json(
            &tenant.token,
            "/archivist/v1/events",
            &json!({"attributes": attributes}),
        )
        .await?;
    let free_id = bare_id(&free["identity"]);
    for (blob, seq) in [(&small, 0), (&large, 2)] {
        db.corrupt_chunk(&bare_id(&blob["identity"]), seq).await?;
    }
    for blob in [&small, &large] {
        let uuid = bare_id(&blob["identity"]);
        for route in download_routes(&asset_id, &event_id, &free_id, &uuid) {
            let (status, body) = app.get_bytes(Some(&tenant.token), &route).await?;
            if blob == &small {
                assert_eq!(status, 500, "{route}");
                let error: Value = serde_json::from_slice(&body.unwrap_or_default())?;
                assert_eq!(error["code"], 15, "{route}");
            } else {
                assert!(body.is_none(), "an altered blob was delivered whole at {route}");
            }
        }
        let (_, info) = app
            .get_json(
                Some(&tenant.token),
                &format!("/archivist/v2/attachments/assets/{asset_id}/{uuid}/info"),
            )
            .await?;
        assert!(info["tampered_timestamp"].is_string(), "{info}");
    }
    Ok(())
}
