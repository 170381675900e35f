//! The IETF SCITT Reference API through HTTP with a CBOR client: keys, registration, entries,
//! concise problem details; receipts checked by attachd's verifier and by pycose.

use std::path::Path;

use coset::cbor::Value;
use coset::{iana, CborSerializable, CoseKey};
use serde_json::json;

use crate::both;
use crate::common::{bare_id, Backend, TestApp, TestDb};
use crate::scitt::{scitt_venv, statement};

both!(scrapi_registers_and_proves, scrapi_answers_problems_in_cbor);

/// `{-1: title, -2: detail}` from a problem details body.
fn problem(body: &[u8]) -> anyhow::Result<(String, String)> {
    let value: Value = coset::cbor::from_reader(body)?;
    let text = |key: i64| {
        value
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_integer() == Some(key.into())))
            .and_then(|(_, v)| v.as_text())
            .unwrap_or_default()
            .to_string()
    };
    Ok((text(-1), text(-2)))
}

async fn scrapi_registers_and_proves(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;

    // The keys, as a COSE_Key_Set, are the log's public key.
    let response = app.http.get(app.url("/.well-known/scitt-keys")).send().await?;
    assert_eq!(response.headers()["content-type"], "application/cbor");
    let set: Value = coset::cbor::from_reader(response.bytes().await?.as_ref())?;
    let first = set
        .as_array()
        .and_then(|keys| keys.first())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no key"))?;
    let cose_key = CoseKey::from_slice(&{
        let mut bytes = Vec::new();
        coset::cbor::into_writer(&first, &mut bytes)?;
        bytes
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, published) = app.get_json(None, "/archivist/v1/merklelog/public-key").await?;
    let log_key = merklelog::signing::public_from_pem(published["pem"].as_str().unwrap_or_default())?;
    let point = log_key.to_encoded_point(false);
    let x = cose_key
        .params
        .iter()
        .find(|(l, _)| *l == coset::Label::Int(-2))
        .and_then(|(_, v)| v.as_bytes());
    assert_eq!(x.map(Vec::as_slice), point.x().map(|x| x.as_slice()));
    assert_eq!(
        String::from_utf8_lossy(&cose_key.key_id),
        published["kid"].as_str().unwrap_or_default()
    );
    let by_kid = app
        .get_bytes(
            None,
            &format!(
                "/.well-known/scitt-keys/{}",
                published["kid"].as_str().unwrap_or_default()
            ),
        )
        .await?;
    assert_eq!(by_kid.0, 200);

    // Registration: 201 with the receipt (or 303 to it), and the entry answers it too.
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let body = statement(
        &key,
        Some(key.verifying_key()),
        Some(b"{\"lot\": 8}"),
        iana::Algorithm::ES256,
    )?;
    let response = app
        .http
        .post(app.url("/entries"))
        .bearer_auth(&tenant.token)
        .header("content-type", "application/cose")
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    assert!(status == 201 || status == 303, "registration answered {status}");
    let location = response.headers()["location"].to_str()?.to_string();
    let entry = location.strip_prefix("/entries/").unwrap_or_default().to_string();
    let (asset, event) = entry
        .strip_prefix("assets_")
        .and_then(|rest| rest.split_once("_events_"))
        .ok_or_else(|| anyhow::anyhow!("location {location}"))?;
    // Events below it, so its receipt has a path; the last one's entry waits for their seal.
    let mut last = String::new();
    for n in 0..3 {
        let body =
            json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {"n": n.to_string()}});
        let (status, made) = app
            .post_json(&tenant.token, &format!("/archivist/v2/assets/{asset}/events"), &body)
            .await?;
        assert_eq!(status, 200);
        last = bare_id(&made["identity"]);
    }
    assert_eq!(
        app.get_bytes(None, &format!("/entries/assets_{asset}_events_{last}"))
            .await?
            .0,
        200
    );
    let response = app.http.get(app.url(&location)).send().await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/cose");
    let receipt = response.bytes().await?.to_vec();

    // attachd's verifier: the event's leaf, the path, the pinned key.
    let (_, recorded) = app
        .get_json(None, &format!("/archivist/v2/publicassets/{asset}/events/{event}"))
        .await?;
    let leaf = merklelog::verify::EventEntry::from_json(&recorded)?.leaf;
    let verified = merklelog::receipt::verify(&receipt, &leaf, &log_key)?;
    assert_eq!(verified.form, merklelog::receipt::Form::Draft);
    let mut other_leaf = leaf;
    other_leaf[0] ^= 1;
    assert!(merklelog::receipt::verify(&receipt, &other_leaf, &log_key).is_err());

    // pycose, independently, against the pinned key.
    let dir = tempfile::tempdir()?;
    let file = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(file("receipt.cbor"), &receipt)?;
    std::fs::write(file("event.json"), recorded.to_string())?;
    std::fs::write(file("log-key.pem"), published["pem"].as_str().unwrap_or_default())?;
    let other = p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    std::fs::write(
        file("other-key.pem"),
        p384::pkcs8::EncodePublicKey::to_public_key_pem(other.verifying_key(), Default::default())?,
    )?;
    let bin = tokio::task::spawn_blocking(scitt_venv).await??;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scitt/check_draft_receipt.py");
    let output = tokio::process::Command::new(bin.join("python"))
        .arg(script)
        .args([
            file("receipt.cbor"),
            file("event.json"),
            file("log-key.pem"),
            file("other-key.pem"),
        ])
        .output()
        .await?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let verdicts: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(
        verdicts,
        json!([true, false, false]),
        "as received / altered path / other key"
    );
    app.stop().await
}

async fn scrapi_answers_problems_in_cbor(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let good = statement(&key, Some(key.verifying_key()), Some(b"{}"), iana::Algorithm::ES256)?;
    let detached = statement(&key, Some(key.verifying_key()), None, iana::Algorithm::ES256)?;
    let unnamed = statement(&key, None, Some(b"{}"), iana::Algorithm::ES256)?;
    let eddsa = statement(&key, Some(key.verifying_key()), Some(b"{}"), iana::Algorithm::EdDSA)?;
    for (token, media, body, status, title) in [
        (
            Some(&tenant.token),
            "application/cose",
            b"a text file".to_vec(),
            400,
            "Malformed request",
        ),
        (
            Some(&tenant.token),
            "application/cose",
            detached,
            400,
            "Payload Missing",
        ),
        (
            Some(&tenant.token),
            "application/cose",
            unnamed,
            400,
            "Confirmation Missing",
        ),
        (
            Some(&tenant.token),
            "application/cose",
            eddsa,
            400,
            "Bad Signature Algorithm",
        ),
        (
            Some(&tenant.token),
            "application/json",
            good.clone(),
            415,
            "Unsupported Media Type",
        ),
        (None, "application/cose", good, 401, "Unauthorized"),
    ] {
        let mut request = app
            .http
            .post(app.url("/entries"))
            .header("content-type", media)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        assert_eq!(response.status().as_u16(), status, "{title}");
        assert_eq!(
            response.headers()["content-type"],
            "application/concise-problem-details+cbor"
        );
        let (said, detail) = problem(&response.bytes().await?)?;
        assert_eq!(said, title, "{detail}");
        assert!(!detail.is_empty());
    }
    let unknown = format!(
        "/entries/assets_{}_events_{}",
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4()
    );
    let response = app.http.get(app.url(&unknown)).send().await?;
    assert_eq!(response.status(), 404);
    assert_eq!(problem(&response.bytes().await?)?.0, "Not Found");
    let response = app.http.get(app.url("/.well-known/scitt-keys/nokey")).send().await?;
    assert_eq!(
        (response.status().as_u16(), problem(&response.bytes().await?)?.0),
        (404, "No such key".into())
    );
    app.stop().await
}
