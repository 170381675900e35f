//! SCITT: DataTrails' own SCITT client (datatrails-scitt-samples, in a venv the test makes)
//! registers a signed statement and verifies its receipt; receipts are checked again by an
//! independent implementation against a pinned key; statements that fail are refused.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use coset::cbor::Value;
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use p256::ecdsa::signature::Signer;
use serde_json::json;

use crate::both;
use crate::common::{bare_id, tools, Backend, TestApp, TestDb};

both!(
    datatrails_scitt_client_registers_and_verifies,
    statements_that_fail_their_checks_are_refused
);

const ENTRIES: &str = "/archivist/v1/publicscitt/entries";

/// The client release the flows were written against, with the cbor2 it works with: cbor2
/// 6 decodes arrays as tuples, which the client's receipt decoding cannot change.
pub fn scitt_venv() -> anyhow::Result<PathBuf> {
    static VENV: tools::Installed = tools::Installed::new();
    tools::installed_once(&VENV, || {
        tools::venv("scitt-venv", &["datatrails-scitt-samples==0.1.0a0", "cbor2<6"])
    })
}

/// Runs a client command from the venv; it must exit 0.
async fn client(bin: &Path, command: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(bin.join(command))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    anyhow::ensure!(output.status.success(), "{command} failed:\n{text}");
    Ok(text)
}

fn file_path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).display().to_string()
}

async fn post_statement(app: &TestApp, token: &str, statement: Vec<u8>) -> anyhow::Result<(u16, serde_json::Value)> {
    let response = app
        .http
        .post(app.url(ENTRIES))
        .bearer_auth(token)
        .body(statement)
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await?))
}

async fn datatrails_scitt_client_registers_and_verifies(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let bin = tokio::task::spawn_blocking(scitt_venv).await??;
    let dir = tempfile::tempdir()?;
    let file = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(file("payload.json"), br#"{"author": "supplier", "sbom": "lot 7"}"#)?;
    client(
        &bin,
        "datatrails-sciit-demo-generate-example-key",
        &["--signing-key-file", &file("key.pem")],
        &[],
    )
    .await?;
    client(
        &bin,
        "create-signed-statement",
        &[
            "--signing-key-file",
            &file("key.pem"),
            "--payload-file",
            &file("payload.json"),
            "--issuer",
            "https://supplier.example/issuer",
            "--subject",
            "urn:example:shipment:7",
            "--output-file",
            &file("statement.cbor"),
        ],
        &[],
    )
    .await?;
    let env = [
        ("DATATRAILS_URL", app.base.as_str()),
        ("DATATRAILS_CLIENT_ID", tenant.credentials.client_id.as_str()),
        ("DATATRAILS_CLIENT_SECRET", tenant.credentials.client_secret.as_str()),
    ];
    // DataTrails' client registers it, waits for the operation, and verifies the receipt.
    client(
        &bin,
        "register-signed-statement",
        &[
            "--signed-statement-file",
            &file("statement.cbor"),
            "--verify",
            "--output-file",
            &file("transparent.cbor"),
            "--output-receipt-file",
            &file("receipt.cbor"),
        ],
        &env,
    )
    .await?;

    // Registered again over HTTP: an event of the subject's public asset, done within 2 s.
    let statement = std::fs::read(file("statement.cbor"))?;
    let started = Instant::now();
    let (status, registered) = post_statement(&app, &tenant.token, statement.clone()).await?;
    assert_eq!(status, 200, "{registered}");
    let entry = registered["operationID"].as_str().unwrap_or_default().to_string();
    let (status, operation) = app
        .get_json(
            Some(&tenant.token),
            &format!("/archivist/v1/publicscitt/operations/{entry}"),
        )
        .await?;
    assert_eq!(
        (status, &operation["status"]),
        (200, &json!("succeeded")),
        "{operation}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "registered in {:?}",
        started.elapsed()
    );
    assert_eq!(operation["entryID"], json!(entry));
    let (asset, event) = entry
        .strip_prefix("assets_")
        .and_then(|rest| rest.split_once("_events_"))
        .ok_or_else(|| anyhow::anyhow!("entry id {entry}"))?;
    let public_event = format!("/archivist/v2/publicassets/{asset}/events/{event}");
    let (status, recorded) = app.get_json(None, &public_event).await?;
    assert_eq!(status, 200, "{recorded}");
    let attributes = &recorded["event_attributes"];
    assert_eq!(
        attributes["signed_statement"],
        json!(base64::engine::general_purpose::STANDARD.encode(&statement))
    );
    assert_eq!(attributes["scitt_issuer"], "https://supplier.example/issuer");
    assert_eq!(attributes["scitt_subject"], "urn:example:shipment:7");
    assert_eq!(attributes["scitt_content_type"], "application/json");

    // More events below it, so that its receipt has a path; then the receipt, without a
    // token, checked independently against the pinned key, and made to fail three ways.
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
    // The last one's receipt waits for the seal that covers them all.
    let (status, _) = app
        .get_bytes(None, &format!("{ENTRIES}/assets_{asset}_events_{last}/receipt"))
        .await?;
    assert_eq!(status, 200);
    let receipt_path = format!("{ENTRIES}/{entry}/receipt");
    let (status, receipt) = app.get_bytes(None, &receipt_path).await?;
    assert_eq!(status, 200);
    std::fs::write(file("receipt2.cbor"), receipt.unwrap_or_default())?;
    std::fs::write(file("event.json"), recorded.to_string())?;
    let (_, keys) = app.get_json(None, "/archivist/v1/merklelog/public-key").await?;
    std::fs::write(file("log-key.pem"), keys["pem"].as_str().unwrap_or_default())?;
    let other = p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let other_pem = p384::pkcs8::EncodePublicKey::to_public_key_pem(other.verifying_key(), Default::default())?;
    std::fs::write(file("other-key.pem"), other_pem)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scitt/check_receipt.py");
    let output = tokio::process::Command::new(bin.join("python"))
        .arg(script)
        .args([
            file("receipt2.cbor"),
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
        json!([true, false, false, false]),
        "as received / altered attribute / altered path / other key"
    );

    // `attachd verify --receipt`, offline, with the statement's payload as the file sent.
    let verify = |receipt: &str, event: &str, key: &str, file: &str| {
        let mut args = vec![
            "verify".to_string(),
            "--receipt".into(),
            file_path(&dir, receipt),
            "--key".into(),
        ];
        args.push(file_path(&dir, key));
        if !file.is_empty() {
            args.extend(["--file".into(), file_path(&dir, file)]);
        }
        args.push(file_path(&dir, event));
        std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
            .args(args)
            .output()
    };
    let genuine = verify("receipt2.cbor", "event.json", "log-key.pem", "payload.json")?;
    assert!(genuine.status.success(), "{}", String::from_utf8_lossy(&genuine.stderr));
    assert!(String::from_utf8_lossy(&genuine.stdout).contains("payload"));
    let mut altered = recorded.clone();
    altered["event_attributes"]["scitt_issuer"] = json!("someone else");
    std::fs::write(file("altered.json"), altered.to_string())?;
    std::fs::write(file("other.txt"), b"not what was registered")?;
    for (receipt, event, key, sent, what) in [
        ("receipt2.cbor", "altered.json", "log-key.pem", "", "an altered event"),
        ("receipt2.cbor", "event.json", "other-key.pem", "", "another key"),
        (
            "receipt2.cbor",
            "event.json",
            "log-key.pem",
            "other.txt",
            "a file it does not record",
        ),
    ] {
        let refused = verify(receipt, event, key, sent)?;
        assert!(!refused.status.success(), "{what} verified");
    }

    // Another tenant has no receipt of a private event, and a token of it is no way in.
    let other_tenant = app.tenant().await?;
    let private = app
        .create_asset(&tenant.token, json!({"arc_display_name": "private"}), false)
        .await?;
    let (_, events) = app
        .get_json(
            Some(&tenant.token),
            &format!("/archivist/v2/assets/{}/events", bare_id(&private["identity"])),
        )
        .await?;
    let private_entry = format!(
        "assets_{}_events_{}",
        bare_id(&private["identity"]),
        events["events"][0]["identity"]
            .as_str()
            .and_then(|i| i.rsplit('/').next())
            .unwrap_or_default()
    );
    let private_receipt = format!("{ENTRIES}/{private_entry}/receipt");
    assert_eq!(app.get_bytes(None, &private_receipt).await?.0, 404);
    assert_eq!(app.get_bytes(Some(&other_tenant.token), &private_receipt).await?.0, 404);
    assert_eq!(app.get_bytes(Some(&tenant.token), &private_receipt).await?.0, 200);
    app.stop().await
}

/// A statement about `payload` (attached unless `None`), signed by `signer`, naming
/// `named` as its key (none when `None`), with algorithm `alg`.
pub fn statement(
    signer: &p256::ecdsa::SigningKey,
    named: Option<&p256::ecdsa::VerifyingKey>,
    payload: Option<&[u8]>,
    alg: iana::Algorithm,
) -> anyhow::Result<Vec<u8>> {
    let mut claims = vec![
        (Value::from(1), Value::Text("issuer".into())),
        (Value::from(2), Value::Text("subject".into())),
    ];
    if let Some(key) = named {
        let point = key.to_encoded_point(false);
        let coordinate = |c: Option<&p256::FieldBytes>| Value::Bytes(c.map(|b| b.to_vec()).unwrap_or_default());
        let cose_key = Value::Map(vec![
            (Value::from(1), Value::from(2)),
            (Value::from(-1), Value::from(1)),
            (Value::from(-2), coordinate(point.x())),
            (Value::from(-3), coordinate(point.y())),
        ]);
        claims.push((Value::from(8), Value::Map(vec![(Value::from(1), cose_key)])));
    }
    let protected = HeaderBuilder::new()
        .algorithm(alg)
        .content_type("application/json".into())
        .value(15, Value::Map(claims))
        .build();
    let mut sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload.unwrap_or(b"{}").to_vec())
        .create_signature(b"", |data| {
            let signature: p256::ecdsa::Signature = signer.sign(data);
            signature.to_bytes().to_vec()
        })
        .build();
    if payload.is_none() {
        sign1.payload = None;
    }
    sign1.to_tagged_vec().map_err(|e| anyhow::anyhow!("{e}"))
}

async fn statements_that_fail_their_checks_are_refused(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let other = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let payload = Some(&b"{\"lot\": 7}"[..]);
    let good = statement(&key, Some(key.verifying_key()), payload, iana::Algorithm::ES256)?;
    assert_eq!(post_statement(&app, &tenant.token, good.clone()).await?.0, 200);
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    for (what, body, says) in [
        ("not CBOR", b"a text file".to_vec(), "not a signed statement"),
        (
            "signed by another key than it names",
            statement(&other, Some(key.verifying_key()), payload, iana::Algorithm::ES256)?,
            "signature",
        ),
        ("a signature altered", flipped, "signature"),
        (
            "a detached payload",
            statement(&key, Some(key.verifying_key()), None, iana::Algorithm::ES256)?,
            "detached",
        ),
        (
            "no key named",
            statement(&key, None, payload, iana::Algorithm::ES256)?,
            "cnf",
        ),
        (
            "an algorithm not supported",
            statement(&key, Some(key.verifying_key()), payload, iana::Algorithm::EdDSA)?,
            "algorithm",
        ),
    ] {
        let (status, refused) = post_statement(&app, &tenant.token, body).await?;
        assert_eq!(status, 400, "{what}: {refused}");
        assert!(
            refused["message"].as_str().unwrap_or_default().contains(says),
            "{what}: {refused}"
        );
    }
    // Mutated statements: every answer is 200 or 400, never a 500 or a hang.
    let mut seed = 7u64;
    for round in 0..200 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut mutated = good.clone();
        let at = (seed >> 33) as usize % mutated.len();
        match round % 3 {
            0 => mutated[at] ^= (seed >> 8) as u8 | 1,
            1 => mutated.truncate(at),
            _ => mutated.insert(at, (seed >> 16) as u8),
        }
        let (status, answer) = post_statement(&app, &tenant.token, mutated).await?;
        assert!(status == 200 || status == 400, "round {round}: {status} {answer}");
    }
    app.stop().await
}
