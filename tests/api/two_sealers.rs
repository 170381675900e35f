//! Two attachd nodes sealing one PostgreSQL database's logs into one S3 anchor
//! (SeaweedFS, whose conditional puts answer 412), under 8 concurrent clients for 60 s: a
//! genuine log is never reported as tampered, every upload survives a node killed with
//! SIGKILL mid-load, both nodes publish the same seal, and the audit passes.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::audit::{audit, deployment_args};
use crate::common::{bare_id, random_bytes, sha256_hex, until_ready, Backend, Store, TestApp, TestDb, STORE};

/// How long the clients run.
const LOAD: Duration = Duration::from_secs(60);
const CLIENTS: u64 = 8;

/// Node B: the binary, as a process of its own that can be killed.
struct Node {
    base: String,
    child: tokio::process::Child,
}

impl Node {
    async fn start(db: &TestDb, port: u16, log: std::path::PathBuf) -> anyhow::Result<Self> {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"));
        command.arg("serve");
        deployment_args(db, &mut command)?;
        command
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(&log)?);
        let child = tokio::process::Command::from(command).kill_on_drop(true).spawn()?;
        let base = format!("http://127.0.0.1:{port}");
        until_ready(&reqwest::Client::new(), &base, Duration::from_secs(60)).await?;
        Ok(Self { base, child })
    }

    async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// A tenant made by `attachd tenant create`, as an operator makes one.
async fn created_by_cli(db: &TestDb) -> anyhow::Result<attachd::tenants::TenantCredentials> {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"));
    command.args(["tenant", "create", "--name", "load"]);
    deployment_args(db, &mut command)?;
    let output = tokio::process::Command::from(command).output().await?;
    anyhow::ensure!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// What a client made and checked: its token, the blob, its hash, and the attachment's route.
struct Made {
    token: String,
    blob: String,
    hash: String,
    route: String,
}

/// The integrity failures `/readyz` at `base` names.
async fn failures(http: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    let ready: Value = http.get(format!("{base}/readyz")).send().await?.json().await?;
    Ok(ready["integrity_failures"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sealers_on_one_s3_anchor_raise_no_false_alarm() -> anyhow::Result<()> {
    STORE.scope(Store::S3, run()).await
}

async fn run() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Postgres).await?;
    let a = TestApp::start(&db).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let logs = tempfile::tempdir()?;
    let b_log = logs.path().join("node-b.log");
    let b = Arc::new(tokio::sync::Mutex::new(Node::start(&db, port, b_log.clone()).await?));
    let b_base = b.lock().await.base.clone();
    // A tenant per client, made at once by node A and by `attachd tenant create` processes:
    // every one gets its record. Each log is then sealed by both nodes as its client waits.
    let by_a = futures::future::try_join_all((0..CLIENTS / 2).map(|_| a.tenant()));
    let by_cli = futures::future::try_join_all((0..CLIENTS / 2).map(|_| created_by_cli(&db)));
    let (mut tenants, by_cli) = tokio::try_join!(by_a, by_cli)?;
    for credentials in by_cli {
        let token = a.token_for(&credentials).await?;
        tenants.push(crate::common::Tenant { credentials, token });
    }
    for tenant in &tenants {
        let id = attachd::ids::TenantId(tenant.credentials.tenant.trim_start_matches("tenant/").parse()?);
        assert!(
            a.state.log.trust.anchor.read(id).await?.is_some(),
            "{} has its record",
            tenant.credentials.tenant
        );
    }

    let b_up = Arc::new(AtomicBool::new(true));
    let done = Arc::new(AtomicBool::new(false));
    let made = Arc::new(Mutex::new(Vec::<Made>::new()));
    let alarms = Arc::new(Mutex::new(Vec::<String>::new()));
    let cut_short = Arc::new(AtomicU64::new(0));
    // Moves when node B is killed and when it is back: a round that saw it move may fail.
    let epoch = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::new();
    let a_base = a.base.clone();

    // Both nodes' /readyz, watched all along.
    let watcher = {
        let (http, done, alarms, b_up) = (http.clone(), done.clone(), alarms.clone(), b_up.clone());
        let (a_base, b_base) = (a_base.clone(), b_base.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Acquire) {
                for (name, base) in [("A", &a_base), ("B", &b_base)] {
                    if name == "B" && !b_up.load(Ordering::Acquire) {
                        continue;
                    }
                    if let Ok(found) = failures(&http, base).await {
                        if found != json!([]) {
                            if let Ok(mut alarms) = alarms.lock() {
                                alarms.push(format!("{name}: {found}"));
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let token = tenants[client as usize].token.clone();
        let (http, token, done, made, b_up, cut_short, epoch) = (
            http.clone(),
            token,
            done.clone(),
            made.clone(),
            b_up.clone(),
            cut_short.clone(),
            epoch.clone(),
        );
        let (a_base, b_base) = (a_base.clone(), b_base.clone());
        clients.push(tokio::spawn(async move {
            let mut round = 0u64;
            while !done.load(Ordering::Acquire) {
                round += 1;
                let began = epoch.load(Ordering::Acquire);
                let on_b = (client + round) % 2 == 0 && b_up.load(Ordering::Acquire);
                let write = if on_b { &b_base } else { &a_base };
                // Read from both nodes at once, so both sealers are asked for the same
                // size together: the race of two sealers, every round.
                let read: Vec<&String> = match b_up.load(Ordering::Acquire) {
                    true => vec![&a_base, &b_base],
                    false => vec![&a_base],
                };
                let content = random_bytes(2048 + (round as usize * 97) % 20000, client * 100_000 + round);
                match one_round(&http, &token, write, &read, content).await {
                    Ok(one) => {
                        if let Ok(mut made) = made.lock() {
                            made.push(one);
                        }
                    }
                    // A request to node B as it was killed: nothing was confirmed to the client.
                    Err(_) if epoch.load(Ordering::Acquire) != began || !b_up.load(Ordering::Acquire) => {
                        cut_short.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => return Err(err),
                }
            }
            anyhow::Ok(())
        }));
    }

    // A third of the way in, node B is killed mid-load and started again.
    tokio::time::sleep(LOAD / 3).await;
    b_up.store(false, Ordering::Release);
    epoch.fetch_add(1, Ordering::AcqRel);
    b.lock().await.kill().await?;
    let restarted = Node::start(&db, port, b_log.clone()).await?;
    *b.lock().await = restarted;
    b_up.store(true, Ordering::Release);
    epoch.fetch_add(1, Ordering::AcqRel);
    tokio::time::sleep(LOAD.saturating_sub(started.elapsed())).await;
    done.store(true, Ordering::Release);
    for client in clients {
        client.await??;
    }
    watcher.await?;

    let made = std::mem::take(&mut *made.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    eprintln!(
        "two sealers: {} uploads and events in {:?}, {} cut short by the kill",
        made.len(),
        started.elapsed(),
        cut_short.load(Ordering::Relaxed)
    );
    assert!(made.len() >= 100, "the load ran: {}", made.len());
    let alarms = std::mem::take(&mut *alarms.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let b_said = std::fs::read_to_string(&b_log)?;
    assert!(alarms.is_empty(), "false alarms: {alarms:?}\nnode B said: {b_said}");
    assert!(
        !b_said.contains("integrity failure") && !b_said.contains("REFUSING"),
        "{b_said}"
    );

    // Nothing lost: every upload the clients were told of downloads verified from each node.
    for one in &made {
        for base in [&a_base, &b_base] {
            let response = http
                .get(format!("{base}{}", one.route))
                .bearer_auth(&one.token)
                .send()
                .await?;
            assert_eq!(response.status(), 200, "{} from {base}", one.route);
            assert_eq!(sha256_hex(&response.bytes().await?), one.hash, "{}", one.blob);
        }
    }
    // One seal per size: both nodes publish the same bytes for each tenant's latest massif.
    for tenant in &tenants {
        let uuid = tenant.credentials.tenant.trim_start_matches("tenant/");
        let seal = format!("/verifiabledata/merklelogs/v1/mmrs/tenant/{uuid}/0/massifseals/0000000000000000.sth");
        let from_a = http.get(format!("{a_base}{seal}")).send().await?.bytes().await?;
        let from_b = http.get(format!("{b_base}{seal}")).send().await?.bytes().await?;
        assert_eq!(from_a, from_b, "one published seal");
    }
    assert_eq!(failures(&http, &a_base).await?, json!([]));
    assert_eq!(failures(&http, &b_base).await?, json!([]));

    b.lock().await.kill().await?;
    a.stop().await?;
    let (ok, summary) = audit(&db, &[])?;
    assert!(ok, "{summary}");
    Ok(())
}

/// Uploads on `write`, records an event attaching it on a new asset there, and downloads
/// the attachment (proven in the sealed log) from every node in `read` at once.
async fn one_round(
    http: &reqwest::Client,
    token: &str,
    write: &str,
    read: &[&String],
    content: Vec<u8>,
) -> anyhow::Result<Made> {
    let hash = sha256_hex(&content);
    let part = reqwest::multipart::Part::bytes(content).file_name("load.bin");
    let response = http
        .post(format!("{write}/archivist/v1/blobs"))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "upload: {}", response.status());
    let blob: Value = response.json().await?;
    let blob_id = bare_id(&blob["identity"]);
    let response = http
        .post(format!("{write}/archivist/v2/assets"))
        .bearer_auth(token)
        .json(&json!({"attributes": {"arc_display_name": "load"}}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "asset: {}", response.status());
    let asset = bare_id(&response.json::<Value>().await?["identity"]);
    let body = json!({"operation": "Record", "behaviour": "RecordEvidence",
        "event_attributes": {"doc": crate::common::attachment(&blob, "load.bin")}});
    let response = http
        .post(format!("{write}/archivist/v2/assets/{asset}/events"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "event: {}", response.status());
    let event: Value = response.json().await?;
    let event_id = bare_id(&event["identity"]);
    let route = format!("/archivist/v2/attachments/assets/{asset}/events/{event_id}/{blob_id}");
    let expected = &hash;
    let downloads = read.iter().map(|base| {
        let request = http.get(format!("{base}{route}")).bearer_auth(token);
        async move {
            let response = request.send().await?;
            anyhow::ensure!(response.status() == 200, "download from {base}: {}", response.status());
            anyhow::ensure!(
                sha256_hex(&response.bytes().await?) == *expected,
                "download from {base}: other bytes"
            );
            anyhow::Ok(())
        }
    });
    for done in futures::future::join_all(downloads).await {
        done?;
    }
    Ok(Made {
        token: token.to_string(),
        blob: blob_id,
        hash,
        route,
    })
}
