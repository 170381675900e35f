//! SCITT statements read as strictly as COSE asks, on both registration routes
//! (DataTrails' `publicscitt/entries`, answering JSON, and SCRAPI's `/entries`, answering
//! concise problem details): one size limit, no map with a key twice, `crit` enforced,
//! the `cnf` key's own parameters checked, one plain `alg`, bounded claims without control
//! characters, case-insensitive media types; 1,000 structure-aware mutations that never
//! get a 5xx nor register a statement whose signature does not verify; and flat memory
//! under 32 concurrent 1 MiB statements.

use std::process::Stdio;
use std::time::Duration;

use coset::cbor::Value;
use p256::ecdsa::signature::{Signer, Verifier};

use crate::both;
use crate::common::{until_ready, Backend, TestApp, TestDb};

both!(
    each_leniency_is_refused_on_both_routes,
    mutated_statements_never_fail_the_server
);

/// The parts of a statement, each a CBOR map as a list of entries (so a key may repeat).
#[derive(Clone)]
struct Parts {
    protected: Vec<(Value, Value)>,
    claims: Vec<(Value, Value)>,
    key: Vec<(Value, Value)>,
    unprotected: Vec<(Value, Value)>,
    payload: Vec<u8>,
}

fn int(n: i64) -> Value {
    Value::from(n)
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

impl Parts {
    fn new(signer: &p256::ecdsa::SigningKey) -> Self {
        let point = signer.verifying_key().to_encoded_point(false);
        let coordinate = |c: Option<&p256::FieldBytes>| Value::Bytes(c.map(|b| b.to_vec()).unwrap_or_default());
        Self {
            protected: vec![(int(1), int(-7)), (int(3), text("application/json"))],
            claims: vec![(int(1), text("issuer")), (int(2), text("subject"))],
            key: vec![
                (int(1), int(2)),
                (int(-1), int(1)),
                (int(-2), coordinate(point.x())),
                (int(-3), coordinate(point.y())),
            ],
            unprotected: Vec::new(),
            payload: br#"{"lot": 7}"#.to_vec(),
        }
    }

    fn protected_bytes(&self) -> Vec<u8> {
        let mut protected = self.protected.clone();
        let cnf = Value::Map(vec![(int(1), Value::Map(self.key.clone()))]);
        let mut claims = self.claims.clone();
        claims.push((int(8), cnf));
        protected.push((int(15), Value::Map(claims)));
        encode(&Value::Map(protected))
    }

    /// The statement signed by `signer` over these parts.
    fn signed(&self, signer: &p256::ecdsa::SigningKey) -> Vec<u8> {
        let protected = self.protected_bytes();
        let signature: p256::ecdsa::Signature = signer.sign(&encode(&Value::Array(vec![
            text("Signature1"),
            Value::Bytes(protected.clone()),
            Value::Bytes(Vec::new()),
            Value::Bytes(self.payload.clone()),
        ])));
        self.assembled(protected, signature.to_bytes().to_vec())
    }

    fn assembled(&self, protected: Vec<u8>, signature: Vec<u8>) -> Vec<u8> {
        encode(&Value::Tag(
            18,
            Box::new(Value::Array(vec![
                Value::Bytes(protected),
                Value::Map(self.unprotected.clone()),
                Value::Bytes(self.payload.clone()),
                Value::Bytes(signature),
            ])),
        ))
    }
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = coset::cbor::ser::into_writer(value, &mut out);
    out
}

/// What a route answered: its status and the reason it gave.
async fn register(
    app: &TestApp,
    token: &str,
    scrapi: bool,
    media: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, String)> {
    let path = if scrapi {
        "/entries"
    } else {
        "/archivist/v1/publicscitt/entries"
    };
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", media)
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.bytes().await?;
    let reason = if status < 300 {
        String::new()
    } else if scrapi {
        anyhow::ensure!(kind == "application/concise-problem-details+cbor", "{status}: {kind}");
        let value: Value = coset::cbor::de::from_reader(bytes.as_ref())?;
        let detail = value
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| *k == int(-2)).map(|(_, v)| v.clone()));
        detail.and_then(|d| d.as_text().map(str::to_string)).unwrap_or_default()
    } else {
        anyhow::ensure!(kind.starts_with("application/json"), "{status}: {kind}");
        let value: serde_json::Value = serde_json::from_slice(&bytes)?;
        anyhow::ensure!(value["code"].is_number(), "{status}: {value}");
        value["message"].as_str().unwrap_or_default().to_string()
    };
    Ok((status, reason))
}

fn accepted(status: u16) -> bool {
    matches!(status, 200 | 201 | 303)
}

async fn each_leniency_is_refused_on_both_routes(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let good = Parts::new(&key);
    let edit = |change: &dyn Fn(&mut Parts)| {
        let mut parts = good.clone();
        change(&mut parts);
        parts.signed(&key)
    };
    let x = good.key[2].1.clone();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a claim twice",
            edit(&|p| p.claims.push((int(1), text("another")))),
            "twice",
        ),
        (
            "a key coordinate twice",
            edit(&|p| p.key.push((int(-2), x.clone()))),
            "twice",
        ),
        (
            "a header twice",
            edit(&|p| p.protected.push((int(3), text("text/plain")))),
            "twice",
        ),
        (
            "an unknown critical header",
            edit(&|p| p.protected.push((int(2), Value::Array(vec![int(99)])))),
            "critical",
        ),
        ("no kty", edit(&|p| p.key.retain(|(k, _)| *k != int(1))), "kty"),
        ("kty OKP", edit(&|p| p.key[0].1 = int(1)), "EC2"),
        ("kty RSA", edit(&|p| p.key[0].1 = int(3)), "EC2"),
        ("kty as text", edit(&|p| p.key[0].1 = text("EC2")), "EC2"),
        (
            "a key for ES384",
            edit(&|p| p.key.push((int(3), int(-35)))),
            "algorithm",
        ),
        (
            "a key not for verify",
            edit(&|p| p.key.push((int(4), Value::Array(vec![int(1)])))),
            "verify",
        ),
        (
            "a private key",
            edit(&|p| p.key.push((int(-4), Value::Bytes(vec![7; 32])))),
            "private",
        ),
        (
            "alg as a bignum",
            edit(&|p| p.protected[0].1 = Value::Tag(3, Box::new(Value::Bytes(vec![6])))),
            "plain integer",
        ),
        (
            "alg in both headers",
            edit(&|p| p.unprotected.push((int(1), int(-7)))),
            "protected header only",
        ),
        (
            "NUL in the issuer",
            edit(&|p| p.claims[0].1 = text("iss\0uer")),
            "control",
        ),
        (
            "a newline in the subject",
            edit(&|p| p.claims[1].1 = text("sub\nject")),
            "control",
        ),
        (
            "a control character in the content type",
            edit(&|p| p.protected[1].1 = text("text/\u{7}plain")),
            "control",
        ),
        (
            "a 2 KiB issuer",
            edit(&|p| p.claims[0].1 = text(&"i".repeat(2048))),
            "over",
        ),
    ];
    for scrapi in [false, true] {
        let route = if scrapi { "SCRAPI" } else { "DataTrails" };
        for (what, body, says) in &cases {
            let (status, reason) = register(&app, &tenant.token, scrapi, "application/cose", body.clone()).await?;
            assert_eq!(status, 400, "{route}: {what}: {reason}");
            assert!(reason.contains(says), "{route}: {what}: {reason}");
        }
        // What COSE allows still registers: a critical header attachd understands, a key
        // that names its algorithm and verify, and a media type in capitals.
        let allowed = edit(&|p| {
            p.protected.push((int(2), Value::Array(vec![int(3)])));
            p.key.push((int(3), int(-7)));
            p.key.push((int(4), Value::Array(vec![int(2)])));
        });
        let (status, reason) = register(&app, &tenant.token, scrapi, "APPLICATION/COSE", allowed).await?;
        assert!(accepted(status), "{route}: {status} {reason}");
        // One size limit, in the route's own error format, whether the length is declared
        // (answered before the body is read) or the body streams past it. By hand, as a
        // client still sending would see the answer only as a closed connection.
        let path = if scrapi {
            "/entries"
        } else {
            "/archivist/v1/publicscitt/entries"
        };
        let head = |framing: &str| {
            format!(
                "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/cose\r\n{framing}\r\n",
                tenant.token
            )
        };
        let declared = head(&format!("Content-Length: {}\r\n", 3 << 20)).into_bytes();
        let mut streamed = head("Transfer-Encoding: chunked\r\n").into_bytes();
        for _ in 0..17 {
            streamed.extend_from_slice(format!("{:x}\r\n", 64 << 10).as_bytes());
            streamed.extend_from_slice(&[0u8; 64 << 10]);
            streamed.extend_from_slice(b"\r\n");
        }
        for (how, request) in [("declared", declared), ("streamed", streamed)] {
            let (status, kind, body) = raw_answer(&app, &request).await?;
            assert_eq!(status, 413, "{route}: {how}");
            let says = match scrapi {
                true => {
                    assert_eq!(kind, "application/concise-problem-details+cbor", "{route}: {how}");
                    let value: Value = coset::cbor::de::from_reader(body.as_slice())?;
                    format!("{value:?}")
                }
                false => {
                    let value: serde_json::Value = serde_json::from_slice(&body)?;
                    assert!(value["code"].is_number(), "{route}: {how}: {value}");
                    value.to_string()
                }
            };
            assert!(says.contains("at most 1048576 bytes"), "{route}: {how}: {says}");
        }
    }
    app.stop().await
}

/// Sends `request` by hand and reads the answer: status, content type and body.
async fn raw_answer(app: &TestApp, request: &[u8]) -> anyhow::Result<(u16, String, Vec<u8>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(app.addr).await?;
    socket.write_all(request).await?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    let read = async {
        loop {
            if let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&answer[..at]).to_ascii_lowercase();
                let field = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                };
                let length: usize = field("content-length:").and_then(|v| v.parse().ok()).unwrap_or(0);
                if answer.len() >= at + 4 + length {
                    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                    let body = answer[at + 4..at + 4 + length].to_vec();
                    return Ok((status, field("content-type:").unwrap_or_default(), body));
                }
            }
            let n = socket.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "closed after {:?}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await?
}

/// A small deterministic generator (the tests' seeds are fixed).
struct Seeds(u64);

impl Seeds {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() as usize) % n.max(1)
    }
}

/// A value of a random CBOR type.
fn random_value(seeds: &mut Seeds) -> Value {
    match seeds.below(9) {
        0 => int(seeds.next() as i64 - (1 << 30)),
        1 => text(["", "issuer", "\0", "a\nb", "EC2", "verify"][seeds.below(6)]),
        2 => Value::Bytes(vec![seeds.next() as u8; seeds.below(70)]),
        3 => Value::Array(vec![int(seeds.below(5) as i64)]),
        4 => Value::Map(vec![(int(1), int(2))]),
        5 => Value::Tag(seeds.below(40) as u64, Box::new(Value::Bytes(vec![6]))),
        6 => Value::Bool(seeds.below(2) == 0),
        7 => Value::Null,
        _ => Value::Float(1.5),
    }
}

/// One structure-aware change: a key repeated, dropped, retyped or renumbered, in one of
/// the statement's maps; or the payload changed.
fn mutate(parts: &mut Parts, seeds: &mut Seeds) {
    let map = match seeds.below(4) {
        0 => &mut parts.protected,
        1 => &mut parts.claims,
        2 => &mut parts.key,
        _ => &mut parts.unprotected,
    };
    let at = seeds.below(map.len());
    match seeds.below(6) {
        0 if !map.is_empty() => {
            let repeated = map[at].clone();
            map.push(repeated);
        }
        1 if !map.is_empty() => {
            map.remove(at);
        }
        2 if !map.is_empty() => map[at].1 = random_value(seeds),
        3 if !map.is_empty() => map[at].0 = int(seeds.below(12) as i64 - 6),
        4 => map.push((int(seeds.below(20) as i64 - 10), random_value(seeds))),
        _ => parts.payload = vec![seeds.next() as u8; seeds.below(64)],
    }
}

/// Whether `statement` verifies against the P-256 key its claims name, read independently.
fn signature_verifies(statement: &[u8]) -> bool {
    use coset::TaggedCborSerializable;
    let Ok(sign1) = coset::CoseSign1::from_tagged_slice(statement) else {
        return false;
    };
    let key = sign1
        .protected
        .header
        .rest
        .iter()
        .find(|(label, _)| *label == coset::Label::Int(15))
        .and_then(|(_, claims)| lookup(claims, 8))
        .and_then(|cnf| lookup(cnf, 1));
    let coordinate = |label| key.and_then(|k| lookup(k, label)).and_then(Value::as_bytes).cloned();
    let (Some(x), Some(y)) = (coordinate(-2), coordinate(-3)) else {
        return false;
    };
    if x.len() != 32 || y.len() != 32 {
        return false;
    }
    let point = p256::EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
    let Ok(key) = p256::ecdsa::VerifyingKey::from_encoded_point(&point) else {
        return false;
    };
    sign1
        .verify_signature(b"", |signature, data| {
            key.verify(data, &p256::ecdsa::Signature::from_slice(signature)?)
        })
        .is_ok()
}

fn lookup(map: &Value, key: i64) -> Option<&Value> {
    map.as_map()?.iter().find(|(k, _)| *k == int(key)).map(|(_, v)| v)
}

/// 1,000 mutations from fixed seeds, each re-signed or not, sent to the two routes in turn:
/// never a 5xx, and nothing registered whose signature does not verify.
async fn mutated_statements_never_fail_the_server(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let app = TestApp::start(&db).await?;
    let tenant = app.tenant().await?;
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let good = Parts::new(&key);
    let original = good.signed(&key);
    let mut seeds = Seeds(0x5c177);
    let (mut refused, mut registered) = (0, 0);
    for round in 0..1000 {
        let mut parts = good.clone();
        for _ in 0..=seeds.below(3) {
            mutate(&mut parts, &mut seeds);
        }
        let body = match seeds.below(2) {
            0 => parts.signed(&key),
            // The original signature over the changed parts.
            _ => parts.assembled(parts.protected_bytes(), original[original.len() - 64..].to_vec()),
        };
        let scrapi = round % 2 == 1;
        let (status, reason) = register(&app, &tenant.token, scrapi, "application/cose", body.clone()).await?;
        assert!(status < 500, "round {round}: {status} {reason}");
        if accepted(status) {
            assert!(
                signature_verifies(&body),
                "round {round}: registered without a valid signature"
            );
            registered += 1;
        } else {
            refused += 1;
        }
    }
    eprintln!("mutated statements: {registered} registered, {refused} refused");
    assert!(
        refused > 500 && registered > 0,
        "{registered} registered, {refused} refused"
    );
    app.stop().await
}

/// Peak memory of a server process receiving 32 valid 1 MiB statements at once, on each
/// route, stays under 150 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_statements_keep_memory_flat() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .current_dir(dir.path())
        .env_remove("ATTACHD_DATABASE_URL")
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    until_ready(&http, &base, Duration::from_secs(60)).await?;
    let pid = server.id().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    let line = std::fs::read_to_string(dir.path().join("attachd-data/bearer-token.txt"))?;
    let token = line.trim_end().trim_start_matches("Authorization: Bearer ").to_string();
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let mut parts = Parts::new(&key);
    parts.payload = vec![b'x'; (1 << 20) - 600];
    let statement = parts.signed(&key);
    anyhow::ensure!(statement.len() <= 1 << 20, "{}", statement.len());
    let before = peak_rss_kib(pid)?;
    for path in ["/archivist/v1/publicscitt/entries", "/entries"] {
        let sends = (0..32).map(|_| {
            http.post(format!("{base}{path}"))
                .bearer_auth(&token)
                .header("content-type", "application/cose")
                .body(statement.clone())
                .send()
        });
        for response in futures::future::join_all(sends).await {
            let status = response?.status().as_u16();
            assert!(accepted(status), "{path}: {status}");
        }
    }
    let peak = peak_rss_kib(pid)?;
    eprintln!("32 concurrent 1 MiB statements per route: peak RSS {before} KiB before, {peak} KiB after");
    assert!(peak < 150 * 1024, "peak RSS {peak} KiB");
    server.start_kill()?;
    server.wait().await?;
    Ok(())
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmHWM"))
}

#[test]
fn the_parts_make_a_statement_that_verifies() {
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let parts = Parts::new(&key);
    assert!(signature_verifies(&parts.signed(&key)));
}
