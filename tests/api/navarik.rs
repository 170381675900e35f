//! The Navarik-style attachment routes (seed 004): attach, describe, list, download, delete.

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::common::{random_bytes, sha256_hex, Backend, TestApp, TestDb};
use crate::stores;

stores!(
    seed_004_attachment_lifecycle,
    lists_sort_and_page,
    bad_requests_store_nothing,
    other_tenants_see_nothing,
    downloads_are_checked_against_the_recorded_hash,
);

const WORKSPACE: &str = "a2070b04-ca32-4a36-af58-c56e25715cb5";
const DOCUMENT: &str = "ff16bb4f-e595-47d1-b945-acd8a0a898e1";

fn base() -> String {
    format!("/v2/workspaces/{WORKSPACE}/documents/{DOCUMENT}/attachments")
}

/// A JPEG-looking file, so its format is sniffed as image/jpeg.
fn jpeg(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend(random_bytes(len - 4, seed));
    bytes
}

/// Attaches `content` as `name` with the given extra form parts; the status and answer.
async fn attach(
    app: &TestApp,
    token: &str,
    query: &str,
    name: &str,
    content: Vec<u8>,
    parts: &[(&str, &str)],
) -> anyhow::Result<(u16, Value, Option<String>)> {
    let mut form = Form::new();
    for (part, value) in parts {
        form = form.text(part.to_string(), value.to_string());
    }
    form = form.part("file", Part::bytes(content).file_name(name.to_string()));
    let response = app
        .http
        .post(app.url(&format!("{}{query}", base())))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((status, response.json().await?, location))
}

async fn seed_004_attachment_lifecycle(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = jpeg(56068, 7);
    let (status, created, location) = attach(
        &app,
        &tenant.token,
        "?vendorReferenceNumber=4132762",
        "4qj46d.jpg",
        content.clone(),
        &[
            ("clientReferenceNumber", "164A72F"),
            ("description", "Certificate of Analysis"),
        ],
    )
    .await?;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["type"], "navarik.bridge.attachment");
    let body = &created["body"];
    let id = body["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(location, Some(format!("{}/{id}", base())));
    for (field, value) in [
        ("workspace", WORKSPACE),
        ("document", DOCUMENT),
        ("caption", "4qj46d.jpg"),
        ("format", "image/jpeg"),
        ("clientReferenceNumber", "164A72F"),
        ("vendorReferenceNumber", "4132762"),
        ("description", "Certificate of Analysis"),
    ] {
        assert_eq!(body[field], value, "{field}: {body}");
    }
    assert_eq!(body["size"], 56068);
    assert_eq!(body["hash"]["value"], sha256_hex(&content));
    assert!(
        body["location"].as_str().is_some_and(|l| l.starts_with("blobs/")),
        "{body}"
    );

    // The descriptor, the content, a range, and the blob behind it.
    let one = format!("{}/{id}", base());
    let (status, described) = app.get_json(Some(&tenant.token), &one).await?;
    assert_eq!((status, &described), (200, &created));
    let response = app
        .http
        .get(app.url(&format!("{one}/content")))
        .bearer_auth(&tenant.token)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let disposition = response.headers().get("content-disposition").cloned();
    assert!(
        disposition.is_some_and(|d| d.to_str().unwrap_or_default().contains("filename=\"4qj46d.jpg\"")),
        "{:?}",
        response.headers()
    );
    assert_eq!(sha256_hex(&response.bytes().await?), sha256_hex(&content));
    let ranged = app
        .http
        .get(app.url(&format!("{one}/content")))
        .bearer_auth(&tenant.token)
        .header("range", "bytes=100-199")
        .send()
        .await?;
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.bytes().await?.as_ref(), &content[100..200]);
    let blob_path = format!("/archivist/v1/{}", body["location"].as_str().unwrap_or_default());
    let (status, from_blob) = app.get_bytes(Some(&tenant.token), &blob_path).await?;
    assert_eq!((status, from_blob), (200, Some(content.clone())));

    // Deleted: answered as it was last, then gone from every route.
    let response = app.http.delete(app.url(&one)).bearer_auth(&tenant.token).send().await?;
    assert_eq!(response.status(), 200);
    let deleted: Value = response.json().await?;
    assert_eq!(deleted["body"]["id"], id.as_str());
    assert!(deleted["body"]["deletedAt"].is_string(), "{deleted}");
    for path in [one.clone(), format!("{one}/content")] {
        assert_eq!(app.get_json(Some(&tenant.token), &path).await?.0, 404, "{path}");
    }
    let again = app.http.delete(app.url(&one)).bearer_auth(&tenant.token).send().await?;
    assert_eq!(again.status(), 404);
    let (_, listed) = app.get_json(Some(&tenant.token), &base()).await?;
    assert_eq!(listed, serde_json::json!([]));
    Ok(())
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|e| e["body"]["caption"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn lists_sort_and_page(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    // Captions and sizes in different orders from creation.
    for (name, size) in [("b.txt", 30), ("c.txt", 10), ("a.txt", 20)] {
        let (status, body, _) = attach(&app, &tenant.token, "", name, vec![b'x'; size], &[]).await?;
        assert_eq!(status, 201, "{body}");
    }
    let list = |query: &str| {
        let path = format!("{}{query}", base());
        let token = tenant.token.clone();
        let app = &app;
        async move { app.get_json(Some(&token), &path).await }
    };
    let (status, newest_first) = list("").await?;
    assert_eq!(status, 200);
    assert_eq!(ids(&newest_first), ["a.txt", "c.txt", "b.txt"]);
    assert!(newest_first[0]["body"]["createdAt"].is_string());
    assert_eq!(ids(&list("?sort=caption:asc").await?.1), ["a.txt", "b.txt", "c.txt"]);
    assert_eq!(ids(&list("?sort=size:desc").await?.1), ["b.txt", "a.txt", "c.txt"]);
    assert_eq!(
        ids(&list("?sort=created_at:asc,%20id:asc").await?.1),
        ["b.txt", "c.txt", "a.txt"]
    );
    assert_eq!(ids(&list("?limit=2").await?.1), ["a.txt", "c.txt"]);
    assert_eq!(ids(&list("?limit=2&offset=2").await?.1), ["b.txt"]);
    assert_eq!(ids(&list("?offset=3").await?.1), Vec::<String>::new());
    // Another document of the same workspace has its own attachments.
    let other = format!(
        "/v2/workspaces/{WORKSPACE}/documents/{}/attachments",
        uuid::Uuid::new_v4()
    );
    assert_eq!(
        app.get_json(Some(&tenant.token), &other).await?,
        (200, serde_json::json!([]))
    );
    Ok(())
}

async fn bad_requests_store_nothing(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let token = &tenant.token;
    for query in [
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?offset=-1",
        "?sort=owner:asc",
        "?sort=size:up",
    ] {
        let (status, body) = app.get_json(Some(token), &format!("{}{query}", base())).await?;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["code"], 3, "{body}");
    }
    let malformed = format!("/v2/workspaces/not-a-uuid/documents/{DOCUMENT}/attachments");
    assert_eq!(app.get_json(Some(token), &malformed).await?.0, 400);
    assert_eq!(app.get_json(Some(token), &format!("{}/nope", base())).await?.0, 400);
    let unknown = format!("{}/{}", base(), uuid::Uuid::new_v4());
    assert_eq!(app.get_json(Some(token), &unknown).await?.0, 404);
    assert_eq!(app.get_json(None, &base()).await?.0, 401);

    let file = || b"evidence".to_vec();
    for (query, parts) in [
        ("", vec![("comment", "a part nobody reads")]),
        ("?description=one", vec![("description", "two")]),
        ("", vec![("description", "two"), ("description", "twice")]),
    ] {
        let (status, body, _) = attach(&app, token, query, "f.txt", file(), &parts).await?;
        assert_eq!(status, 400, "{query} {parts:?}: {body}");
    }
    let long = "é".repeat(1025);
    let (status, body, _) = attach(&app, token, "", "f.txt", file(), &[("description", &long)]).await?;
    assert_eq!(status, 400, "{body}");
    let query = format!("?description={}", "x".repeat(1025));
    let (status, body, _) = attach(&app, token, &query, "f.txt", file(), &[]).await?;
    assert_eq!(status, 400, "{body}");
    let no_file = app
        .http
        .post(app.url(&base()))
        .bearer_auth(token)
        .multipart(Form::new().text("description", "no file"))
        .send()
        .await?;
    assert_eq!(no_file.status(), 400);
    let json_body = app.post_json(token, &base(), &serde_json::json!({"file": "x"})).await?;
    assert_eq!(json_body.0, 400);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM dialect_attachments").await?, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 0);
    Ok(())
}

async fn other_tenants_see_nothing(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let a = app.tenant().await?;
    let b = app.tenant().await?;
    let (_, created, _) = attach(&app, &a.token, "", "a.pdf", b"A's".to_vec(), &[]).await?;
    let one = format!("{}/{}", base(), created["body"]["id"].as_str().unwrap_or_default());
    assert_eq!(
        app.get_json(Some(&b.token), &base()).await?,
        (200, serde_json::json!([]))
    );
    for path in [one.clone(), format!("{one}/content")] {
        assert_eq!(app.get_json(Some(&b.token), &path).await?.0, 404, "{path}");
    }
    let response = app.http.delete(app.url(&one)).bearer_auth(&b.token).send().await?;
    assert_eq!(response.status(), 404);
    assert_eq!(app.get_json(Some(&a.token), &one).await?.0, 200);
    Ok(())
}

async fn downloads_are_checked_against_the_recorded_hash(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let content = random_bytes(700, 3);
    let (_, altered, _) = attach(&app, &tenant.token, "", "altered.bin", content.clone(), &[]).await?;
    let (_, misrecorded, _) = attach(&app, &tenant.token, "", "misrecorded.bin", content, &[]).await?;
    let blob = altered["body"]["location"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("blobs/");
    db.corrupt_chunk(blob, 0).await?;
    // The blob itself is intact; only the hash this attachment recorded differs.
    let recorded = misrecorded["body"]["id"].as_str().unwrap_or_default();
    let id_literal = match backend {
        Backend::Postgres => format!("'{recorded}'"),
        Backend::Sqlite => format!("X'{}'", recorded.replace('-', "")),
    };
    let rows = db
        .execute(&format!(
            "UPDATE dialect_attachments SET hash_sha256 = '{}' WHERE id = {id_literal}",
            "0".repeat(64)
        ))
        .await?;
    assert_eq!(rows, 1);
    for created in [&altered, &misrecorded] {
        let path = format!(
            "{}/{}/content",
            base(),
            created["body"]["id"].as_str().unwrap_or_default()
        );
        let (status, body) = app.get_json(Some(&tenant.token), &path).await?;
        assert_eq!((status, &body["code"]), (500, &Value::from(15)), "{path}: {body}");
    }
    Ok(())
}
