//! File names, display names and attribute keys: control characters are refused with the
//! same 400 on both databases and every route, before anything is stored; every other name
//! (any Unicode, right-to-left overrides, 4-byte characters) is kept byte for byte.

use std::time::Duration;

use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::both;
use crate::common::raw::{read_answer, send};
use crate::common::{attachment, bare_id, random_bytes, Backend, TestApp, TestDb};

both!(control_characters_in_names_are_400, generated_names_round_trip);

/// What is stored anywhere a name could land.
const STORED: &str = "SELECT (SELECT COUNT(*) FROM blobs) + (SELECT COUNT(*) FROM dialect_attachments) \
     + (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM apps)";

/// A multipart upload to `path` whose file part is named `name` (raw bytes, as a client
/// may send them); its status.
async fn upload_named(app: &TestApp, token: &str, path: &str, name: &str) -> anyhow::Result<u16> {
    let boundary = "names";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&random_bytes(100, 3));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let mut socket = send(app, &request).await?;
    Ok(read_answer(&mut socket, Duration::from_secs(10)).await?.0)
}

async fn control_characters_in_names_are_400(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let token = tenant.token.as_str();
    let blob = app.upload(token, "fine.txt", b"evidence".to_vec()).await?;
    let asset = app.create_asset(token, json!({}), false).await?;
    let events = format!("/archivist/v2/assets/{}/events", bare_id(&asset["identity"]));
    let navarik = format!(
        "/v2/workspaces/{}/documents/{}/attachments",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    for control in ['\0', '\u{1}', '\t', '\u{1b}', '\u{7f}'] {
        let name = format!("report{control}.pdf");
        let before = db.scalar(STORED).await?;
        for path in ["/archivist/v1/blobs", navarik.as_str()] {
            let status = upload_named(&app, token, path, &name).await?;
            assert_eq!(status, 400, "{path}: file name {name:?}");
        }
        let refused: [(&str, Value); 5] = [
            (
                &events,
                json!({"operation": "Record", "behaviour": "RecordEvidence",
                "event_attributes": {"doc": attachment(&blob, &name)}}),
            ),
            (
                &events,
                json!({"operation": "Record", "behaviour": "RecordEvidence",
                "event_attributes": {name.clone(): "a key with a control character"}}),
            ),
            (
                "/archivist/v2/assets",
                json!({"behaviours": ["RecordEvidence"], "attributes": {"arc_display_name": name}}),
            ),
            ("/archivist/iam/v1/applications", json!({"display_name": name})),
            (
                "/archivist/v1/events",
                json!({"attributes": {"x": {"arc_file_name": name}}}),
            ),
        ];
        for (path, body) in &refused {
            let (status, answer) = app.post_json(token, path, body).await?;
            assert_eq!(status, 400, "{path}: {name:?}: {answer}");
        }
        let mediapocket = format!("/api/v2/assets/{}/attachments", bare_id(&asset["identity"]));
        let response = app
            .http
            .post(app.url(&mediapocket))
            .header("x-api-key", token)
            .json(&json!({"title": name}))
            .send()
            .await?;
        assert_eq!(response.status(), 400, "mediapocket title {name:?}");
        assert_eq!(db.scalar(STORED).await?, before, "{name:?}: something was stored");
    }
    assert!(!db.upload_staged().await?, "a refused upload left content behind");
    app.stop().await?;
    Ok(())
}

/// Names from every corner of Unicode (NUL and other controls, right-to-left overrides,
/// 4-byte characters, quotes, percent signs, slashes) as `arc_file_name`s: a name is refused
/// with 400 exactly when it holds a control character, never a 500, and every accepted name
/// comes back byte for byte in the event and in the download's `Content-Disposition`.
async fn generated_names_round_trip(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let token = tenant.token.clone();
    let blob = app.upload(&token, "x.bin", random_bytes(200, 9)).await?;
    let asset = app.create_asset(&token, json!({}), false).await?;
    let events = format!("/archivist/v2/assets/{}/events", bare_id(&asset["identity"]));
    let tricky = prop_oneof![
        Just('\0'),
        Just('\u{1}'),
        Just('\u{202e}'),
        Just('\u{1f4c4}'),
        Just('"'),
        Just('%'),
        Just('/'),
        Just('\\'),
        Just(' '),
        any::<char>(),
    ];
    let names = proptest::collection::vec(tricky, 1..24).prop_map(|chars| chars.into_iter().collect::<String>());
    let config = ProptestConfig {
        cases: 48,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        config,
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&names, |name| {
            handle
                .block_on(round_trip(&app, &token, &events, &blob, &name))
                .map_err(|e| TestCaseError::fail(format!("{name:?}: {e:#}")))
        })
    });
    result.map_err(|e| anyhow::anyhow!("{e}"))?;
    app.stop().await?;
    Ok(())
}

async fn round_trip(app: &TestApp, token: &str, events: &str, blob: &Value, name: &str) -> anyhow::Result<()> {
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
        "event_attributes": {"doc": attachment(blob, name)}});
    let (status, event) = app.post_json(token, events, &body).await?;
    let controlled = name.chars().any(|c| c.is_ascii_control());
    match (status, controlled) {
        (400, true) => return Ok(()),
        (200, false) => {}
        other => anyhow::bail!("answered {other:?}: {event}"),
    }
    anyhow::ensure!(
        event["event_attributes"]["doc"]["arc_file_name"] == json!(name),
        "{event}"
    );
    let download = format!(
        "/archivist/v2/attachments/{}/{}",
        event["identity"].as_str().unwrap_or_default(),
        bare_id(&blob["identity"])
    );
    let response = app.http.get(app.url(&download)).bearer_auth(token).send().await?;
    anyhow::ensure!(response.status() == 200, "download: {}", response.status());
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let encoded = disposition
        .split("filename*=UTF-8''")
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("no filename*: {disposition}"))?;
    let decoded = percent_decode_str(encoded).decode_utf8()?;
    anyhow::ensure!(decoded == name, "Content-Disposition gave back {decoded:?}");
    Ok(())
}
