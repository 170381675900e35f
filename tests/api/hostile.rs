//! Hostile and unlucky clients: slow uploaders, stalls anywhere in a form, ambiguous
//! credentials, lenient attachment attributes, content a browser could render, and what a
//! crash leaves behind.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::both;
use crate::common::raw::{file_part_head, read_answer, send, upload_head};
use crate::common::resources::Resources;
use crate::common::{
    attachment, bare_id, default_settings, download_routes, eventually, random_bytes, Backend, TestApp, TestDb,
};

both!(
    slow_uploaders_block_nobody,
    stalls_anywhere_in_a_form_are_408,
    duplicate_credentials_are_refused,
    unchecked_blob_references_are_refused,
    content_is_never_rendered,
    crash_leftovers_are_swept,
    broken_framing_stores_nothing,
);

/// 40 uploads trickling a byte every 2 s hold no write lock and no pooled connection, so a
/// normal client's uploads, downloads and asset writes go on as if they were not there.
async fn slow_uploaders_block_nobody(backend: Backend) -> anyhow::Result<()> {
    const SLOW: usize = 40;
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.body_idle_timeout = 30.into();
    let app = TestApp::start_with(&db, settings).await?;
    let slowpoke = app.tenant().await?;
    let normal = app.tenant().await?;
    let mut sockets = Vec::new();
    for _ in 0..SLOW {
        let head = upload_head("/archivist/v1/blobs", &slowpoke.token, "S", 1 << 20);
        sockets.push(send(&app, format!("{head}{}", file_part_head("S")).as_bytes()).await?);
    }
    eventually("every slow upload is open", Duration::from_secs(30), || async {
        Ok(db.scalar("SELECT COUNT(*) FROM blob_uploads").await? == SLOW as i64)
    })
    .await?;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let trickle = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stopped.changed() => return Ok::<_, std::io::Error>(sockets),
            }
            for socket in &mut sockets {
                socket.write_all(b"x").await?;
            }
        }
    });

    let content = random_bytes(1 << 20, 9);
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        let started = Instant::now();
        let blob = app.upload(&normal.token, "normal.bin", content.clone()).await;
        latencies.push(started.elapsed());
        let blob = match blob {
            Ok(blob) => blob,
            Err(err) => {
                failures.push(format!("upload: {err}"));
                continue;
            }
        };
        let started = Instant::now();
        let path = format!("/archivist/v1/blobs/{}", bare_id(&blob["identity"]));
        let (status, body) = app.get_bytes(Some(&normal.token), &path).await?;
        latencies.push(started.elapsed());
        if status != 200 || body.as_deref() != Some(content.as_slice()) {
            failures.push(format!("download: {status}"));
        }
        let started = Instant::now();
        let asset = app.create_asset(&normal.token, json!({"n": "1"}), false).await;
        latencies.push(started.elapsed());
        if let Err(err) = asset {
            failures.push(format!("asset: {err}"));
        }
    }
    let _ = stop.send(true);
    let sockets = trickle.await??;
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(
        p99 < Duration::from_secs(2),
        "p99 {p99:?} over {} calls",
        latencies.len()
    );
    // The slow uploads were open all along.
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blob_uploads").await?, SLOW as i64);
    drop(sockets);
    eventually("the abandoned uploads are removed", Duration::from_secs(30), || async {
        Ok(!db.upload_staged().await?)
    })
    .await?;
    Ok(())
}

/// The idle timeout covers every byte: the preamble, part headers and the gap between parts.
async fn stalls_anywhere_in_a_form_are_408(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    settings.body_idle_timeout = 1.into();
    let app = TestApp::start_with(&db, settings).await?;
    let tenant = app.tenant().await?;
    let file = file_part_head("B");
    let stalls = [
        ("before the first boundary", "preamble text".to_string()),
        (
            "inside a part's headers",
            "--B\r\nContent-Disposition: form-da".to_string(),
        ),
        ("after the file, between parts", format!("{file}content\r\n--B")),
        (
            "inside the next part's headers",
            format!("{file}content\r\n--B\r\nContent-Type: te"),
        ),
    ];
    for (where_, body) in stalls {
        let head = upload_head("/archivist/v1/blobs", &tenant.token, "B", 100_000);
        let started = Instant::now();
        let mut socket = send(&app, format!("{head}{body}").as_bytes()).await?;
        let (status, answer) = read_answer(&mut socket, Duration::from_secs(20)).await?;
        assert_eq!(status, 408, "stalled {where_}: {answer}");
        assert_eq!(answer["code"], 4, "stalled {where_}: {answer}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "stalled {where_}: {:?}",
            started.elapsed()
        );
    }
    eventually("nothing is staged", Duration::from_secs(30), || async {
        Ok(!db.upload_staged().await?)
    })
    .await?;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM blobs").await?, 0);
    Ok(())
}

/// Two `Authorization` (or `X-API-KEY`) headers are ambiguous: 400, whatever they hold.
async fn duplicate_credentials_are_refused(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let a = app.tenant().await?;
    let b = app.tenant().await?;
    let asset = app.create_asset(&a.token, json!({}), false).await?;
    let mediapocket = format!("/api/v2/assets/{}/attachments", bare_id(&asset["identity"]));
    let bearer = |token: &str| format!("Bearer {token}");
    let pairs = [
        (bearer(&a.token), "Bearer garbage".to_string()),
        ("Bearer garbage".to_string(), bearer(&a.token)),
        (bearer(&a.token), bearer(&b.token)),
        (bearer(&a.token), bearer(&a.token)),
    ];
    for (first, second) in &pairs {
        for path in ["/archivist/v2/assets", mediapocket.as_str()] {
            let response = app
                .http
                .get(app.url(path))
                .header("authorization", first)
                .header("authorization", second)
                .send()
                .await?;
            assert_eq!(response.status(), 400, "{path}");
            let body: Value = response.json().await?;
            let message = body["message"].as_str().or(body["error"].as_str()).unwrap_or_default();
            assert!(message.contains("more than once"), "{path}: {body}");
        }
    }
    for (first, second) in [(&a.token, &b.token), (&a.token, &a.token)] {
        let response = app
            .http
            .get(app.url(&mediapocket))
            .header("x-api-key", first.as_str())
            .header("x-api-key", second.as_str())
            .send()
            .await?;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await?;
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("more than once")),
            "{body}"
        );
    }
    // One of each is fine.
    let response = app
        .http
        .get(app.url(&mediapocket))
        .header("x-api-key", a.token.as_str())
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(app.get_json(Some(&a.token), "/archivist/v2/assets").await?.0, 200);
    Ok(())
}

/// A blob identity under any `arc_attribute_type` but `arc_attachment` is 400, never stored
/// unchecked; a JSON body over its limit is 413.
async fn unchecked_blob_references_are_refused(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let blob = app.upload(&tenant.token, "x.txt", b"evidence".to_vec()).await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let events = format!("/archivist/v2/assets/{}/events", bare_id(&asset["identity"]));
    for kind in [
        json!(1),
        json!(null),
        json!(["arc_attachment"]),
        json!("Arc_Attachment"),
        json!("arc_attachments"),
    ] {
        let mut doc = attachment(&blob, "x.txt");
        doc["arc_attribute_type"] = kind.clone();
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"doc": doc}});
        let (status, answer) = app.post_json(&tenant.token, &events, &body).await?;
        assert_eq!(status, 400, "{kind}: {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| m.contains("doc")),
            "{answer}"
        );
        let (status, _) = app
            .post_json(
                &tenant.token,
                "/archivist/v2/assets",
                &json!({"attributes": {"doc": doc}}),
            )
            .await?;
        assert_eq!(status, 400, "{kind}");
    }
    // Only the asset's own creation event.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM events WHERE operation <> 'NewAsset'")
            .await?,
        0
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM assets").await?, 1);

    let huge = json!({"attributes": {"big": "x".repeat(3 << 20)}});
    let (status, answer) = app.post_json(&tenant.token, "/archivist/v2/assets", &huge).await?;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["code"], 8);
    Ok(())
}

/// Every content response is a download a browser saves, never a page it renders.
async fn content_is_never_rendered(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let page = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let part = reqwest::multipart::Part::bytes(page.clone())
        .file_name("page.html")
        .mime_str("text/html")?;
    let html: Value = app
        .http
        .post(app.url("/archivist/v1/blobs"))
        .bearer_auth(&tenant.token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(html["mime_type"], "text/html");
    let made = Resources::create(&app, &tenant.token, page, true).await?;
    let mut routes = download_routes(&made.asset, &made.event, &made.free_event, &made.blob).to_vec();
    routes.push(format!("/archivist/v1/blobs/{}", bare_id(&html["identity"])));
    routes.push(format!(
        "/v2/workspaces/{}/documents/{}/attachments/{}/content",
        made.workspace, made.document, made.navarik
    ));
    for route in routes {
        let public = route.contains("/publicassets/");
        let mut request = app.http.get(app.url(&route));
        if !public {
            request = request.bearer_auth(&tenant.token);
        }
        let response = request.send().await?;
        assert_eq!(response.status(), 200, "{route}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            header("content-disposition").starts_with("attachment"),
            "{route}: {}",
            header("content-disposition")
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{route}");
        assert_eq!(header("content-security-policy"), "sandbox", "{route}");
        if !public {
            assert_eq!(header("cache-control"), "private, no-store", "{route}");
        }
    }
    let response = app
        .http
        .get(app.url("/archivist/v2/assets"))
        .bearer_auth(&tenant.token)
        .send()
        .await?;
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    Ok(())
}

/// Staged uploads a crash left (untouched for long) are removed at start-up; one still being
/// written is not.
async fn crash_leftovers_are_swept(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    attachd::repo::connect(&db.url).await?; // migrations only
    let (stale, live) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for (id, touched) in [
        (stale, "2000-01-01T00:00:00+00:00"),
        (live, "2999-01-01T00:00:00+00:00"),
    ] {
        let (uuid, chunk) = match backend {
            Backend::Sqlite => (format!("X'{}'", id.simple()), "X'0102'".to_string()),
            Backend::Postgres => (format!("'{id}'"), "'\\x0102'::bytea".to_string()),
        };
        db.execute(&format!(
            "INSERT INTO blob_uploads (blob_id, tenant_id, started_at, touched_at) VALUES ({uuid}, {uuid}, '{touched}', '{touched}')"
        ))
        .await?;
        for seq in 0..3 {
            db.execute(&format!(
                "INSERT INTO blob_chunks (blob_id, seq, data) VALUES ({uuid}, {seq}, {chunk})"
            ))
            .await?;
        }
    }
    let mut settings = default_settings();
    settings.body_idle_timeout = 1.into();
    let _app = TestApp::start_with(&db, settings).await?;
    eventually("the crashed upload is swept", Duration::from_secs(30), || async {
        Ok(db.scalar("SELECT COUNT(*) FROM blob_uploads").await? == 1 && db.staged_chunks().await? == 3)
    })
    .await?;
    let live_left = match backend {
        Backend::Sqlite => format!("SELECT COUNT(*) FROM blob_uploads WHERE blob_id = X'{}'", live.simple()),
        Backend::Postgres => format!("SELECT COUNT(*) FROM blob_uploads WHERE blob_id = '{live}'"),
    };
    assert_eq!(db.scalar(&live_left).await?, 1);
    Ok(())
}

/// A request whose framing is broken after a complete form or JSON body: a body shorter
/// than its `Content-Length` followed by a half-close, or chunked data missing the CRLF
/// after a chunk. On every route that stores something (DataTrails and Navarik uploads, a
/// Mediapocket placeholder) it is refused (400, or the connection closed) and nothing is
/// stored.
async fn broken_framing_stores_nothing(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let asset = app.create_asset(&tenant.token, json!({}), false).await?;
    let boundary = "framing";
    let mut form = file_part_head(boundary).into_bytes();
    form.extend_from_slice(&random_bytes(3000, 5));
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let navarik = format!(
        "/v2/workspaces/{}/documents/{}/attachments",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    let mediapocket = format!("/api/v2/assets/{}/attachments", bare_id(&asset["identity"]));
    let routes: [(&str, String, Vec<u8>); 3] = [
        (
            "/archivist/v1/blobs",
            format!("multipart/form-data; boundary={boundary}"),
            form.clone(),
        ),
        (&navarik, format!("multipart/form-data; boundary={boundary}"), form),
        (
            &mediapocket,
            "application/json".into(),
            br#"{"title": "framing"}"#.to_vec(),
        ),
    ];
    let stored = "SELECT (SELECT COUNT(*) FROM blobs) + (SELECT COUNT(*) FROM dialect_attachments)";
    let before = db.scalar(stored).await?;
    for (path, content_type, body) in &routes {
        for case in ["short body, then a half-close", "chunk without its CRLF"] {
            let head = |framing: String| {
                format!(
                    "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
                     X-API-KEY: {token}\r\nContent-Type: {content_type}\r\n{framing}\r\n",
                    token = tenant.token
                )
            };
            let mut request = Vec::new();
            if case.starts_with("short") {
                request.extend_from_slice(head(format!("Content-Length: {}\r\n", body.len() + 100)).as_bytes());
                request.extend_from_slice(body);
            } else {
                request.extend_from_slice(head("Transfer-Encoding: chunked\r\n".into()).as_bytes());
                request.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                request.extend_from_slice(body);
                request.extend_from_slice(b"0\r\n\r\n");
            }
            let mut socket = send(&app, &request).await?;
            socket.shutdown().await?;
            match read_answer(&mut socket, Duration::from_secs(10)).await {
                Ok((status, answer)) => assert_eq!(status, 400, "{path}: {case}: {answer}"),
                Err(err) => assert!(err.to_string().contains("closed"), "{path}: {case}: {err}"),
            }
            assert_eq!(db.scalar(stored).await?, before, "{path}: {case}: something was stored");
        }
    }
    eventually("nothing is left staged", Duration::from_secs(10), || async {
        Ok(!db.upload_staged().await?)
    })
    .await?;
    app.stop().await?;
    Ok(())
}
