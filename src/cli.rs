//! The command line: `attachd serve` (the default) and the operator's subcommands.

use anyhow::Context;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::{ApiKeyCommand, Cli, Command, LogCommand, LogFormat, ServeArgs, StoreCommand, TenantCommand};
use crate::ids::TenantId;
use crate::repo::{self, QuotaOverrides, SqliteRepo};
use crate::state::AppState;
use crate::tenants::{create_tenant, ensure_dev_token, DevFiles};

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    init_tracing(cli.log_format);
    let url = cli.database.database_url.clone();
    match cli.command {
        None => serve(&url, cli.serve).await,
        Some(Command::Serve(args)) => serve(&url, *args).await,
        Some(Command::Scan(args)) => {
            let repo = repo::connect(&url).await?;
            let state = AppState::new(repo.clone(), &args).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let scanner = crate::state::spawn_scanner(repo, state.content.store.clone(), &args, stopped)
                .context("attachd scan needs --clamd")?;
            shutdown_signal().await;
            let _ = stop.send(true);
            scanner.await?;
            Ok(())
        }
        Some(Command::Migrate) => {
            let repo = repo::connect(&url).await?;
            tracing::info!(backend = repo.backend(), "migrations applied");
            Ok(())
        }
        Some(Command::Apikey(ApiKeyCommand::Create { tenant, name })) => {
            let id = TenantId::parse_identity(&tenant).context("--tenant must be tenant/<uuid>")?;
            let repo = repo::connect(&url).await?;
            anyhow::ensure!(repo.tenant_exists(id).await?, "no tenant {tenant}");
            let (key, stored) = crate::auth::apikeys::create(repo.as_ref(), id, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::json!({"identity": crate::ids::ApiKeyId(stored.id).identity(), "tenant": tenant,
                    "name": stored.name, "key": key})
            );
            Ok(())
        }
        Some(Command::Tenant(TenantCommand::SetDomain { tenant, domain })) => {
            let id = TenantId::parse_identity(&tenant).context("--tenant must be tenant/<uuid>")?;
            let repo = repo::connect(&url).await?;
            anyhow::ensure!(repo.set_verified_domain(id, domain.trim()).await?, "no tenant {tenant}");
            println!(
                "{}",
                serde_json::json!({"identity": tenant, "verified_domain": domain.trim()})
            );
            Ok(())
        }
        Some(Command::Tenant(TenantCommand::SetQuota {
            tenant,
            max_blobs,
            max_bytes,
            max_blob_bytes,
        })) => {
            let id = TenantId::parse_identity(&tenant).context("--tenant must be tenant/<uuid>")?;
            let figure = |n: Option<u64>| n.map(i64::try_from).transpose();
            let quota = QuotaOverrides {
                max_blobs: figure(max_blobs)?,
                max_bytes: figure(max_bytes)?,
                max_blob_bytes: figure(max_blob_bytes)?,
            };
            let repo = repo::connect(&url).await?;
            anyhow::ensure!(repo.set_quota(id, &quota).await?, "no tenant {tenant}");
            let usage = repo.tenant_usage(id).await?.unwrap_or_default();
            println!(
                "{}",
                serde_json::json!({"tenant": tenant, "max_blobs": usage.max_blobs, "max_bytes": usage.max_bytes,
                    "max_blob_bytes": usage.max_blob_bytes, "blob_count": usage.blob_count, "bytes_used": usage.bytes_used})
            );
            Ok(())
        }
        Some(Command::Store(StoreCommand::Migrate { to, from, serve })) => {
            let repo = repo::connect(&url).await?;
            let mut settings = *serve;
            if let Some(from) = from {
                settings.store.content_store = from;
            }
            settings.store.content_store_previous = None;
            let state = AppState::new(repo.clone(), &settings).await?;
            let target = crate::store::open(&to, repo.clone(), &settings.store.s3()).await?;
            let done = crate::store::migrate::migrate(repo, state.content.store.clone(), target).await?;
            println!(
                "{}",
                serde_json::json!({"from": settings.store.content_store.to_string(), "to": to.to_string(),
                    "copied": done.copied, "already_there": done.already_there, "bytes_copied": done.bytes_copied,
                    "failed": done.failed.iter().map(|(blob, why)| serde_json::json!({"blob": blob.0, "why": why})).collect::<Vec<_>>()})
            );
            anyhow::ensure!(
                done.failed.is_empty(),
                "{} blobs could not be copied",
                done.failed.len()
            );
            Ok(())
        }
        Some(Command::Log(LogCommand::Audit {
            tenant,
            reanchor,
            serve,
        })) => {
            let repo = repo::connect(&url).await?;
            let log = crate::state::log_state(repo.as_ref(), &serve).await?;
            let passed = crate::log::audit::run(repo, log, tenant.as_deref(), reanchor).await?;
            if !passed {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(Command::Verify(args)) => match verify(&args).await {
            Ok(verdict) => {
                println!("OK {verdict}");
                Ok(())
            }
            Err(err) => {
                println!("FAIL {err:#}");
                std::process::exit(1);
            }
        },
        Some(Command::Healthcheck { listen }) => healthcheck(listen).await,
        Some(Command::Openapi { output: None }) => {
            print!("{}", crate::api::spec_json());
            Ok(())
        }
        Some(Command::Openapi { output: Some(path) }) => {
            std::fs::write(&path, crate::api::spec_json()).with_context(|| format!("writing {}", path.display()))
        }
        Some(Command::Tenant(TenantCommand::Create { name, serve })) => {
            let repo = repo::connect(&url).await?;
            let anchor = crate::state::log_anchor(repo.as_ref(), &serve)?;
            let credentials = create_tenant(repo.as_ref(), &anchor, &name).await?;
            println!("{}", serde_json::to_string(&credentials)?);
            Ok(())
        }
    }
}

/// GET /healthz on the listen address (loopback when it is unspecified), within 5 s.
async fn healthcheck(mut listen: std::net::SocketAddr) -> anyhow::Result<()> {
    if listen.ip().is_unspecified() {
        listen.set_ip(match listen {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{listen}/healthz");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    let status = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .status();
    anyhow::ensure!(status == reqwest::StatusCode::OK, "GET {url}: {status}");
    Ok(())
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(url: &str, args: ServeArgs) -> anyhow::Result<()> {
    let repo = repo::connect_with(url, args.database_acquire_timeout.0)
        .await
        .with_context(|| format!("opening {}", crate::repo::redact_url(url)))?;
    let state = AppState::new(repo.clone(), &args).await?;
    if let Some(db_path) = SqliteRepo::path(url).filter(|_| repo.backend() == "sqlite") {
        let files = DevFiles::beside(&db_path, args.dev_token_file.clone());
        if let Some(token_file) = ensure_dev_token(repo.as_ref(), &state.log.trust.anchor, &state.keys, &files).await? {
            tracing::info!(
                token_file = %token_file.display(),
                "dev tenant ready: curl -H \"@{}\" http://{}/archivist/v1/blobs/…",
                token_file.display(),
                args.listen
            );
        }
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, backend = repo.backend(), "attachd listening");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let scanner = crate::state::spawn_scanner(repo, state.content.store.clone(), &args, stopped);
    crate::server::serve(state, listener, args.header_read_timeout.0, shutdown_signal()).await?;
    let _ = stop.send(true);
    if let Some(scanner) = scanner {
        scanner.await?;
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// `attachd verify`: the verdict, or why not.
async fn verify(args: &crate::config::VerifyArgs) -> anyhow::Result<String> {
    use crate::log::verify::{verify_consistency, verify_inclusion, LogSource};
    use std::path::PathBuf;
    let mut keys = Vec::new();
    for path in &args.key {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the public key {}: {e}", path.display()))?;
        keys.push(merklelog::signing::public_from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?);
    }
    if let Some(receipt) = &args.receipt {
        return verify_receipt(args, receipt, &keys);
    }
    let source = match (&args.url, &args.dir) {
        (Some(url), _) => LogSource::Url(url.clone()),
        (None, Some(dir)) => LogSource::Dir(dir.clone()),
        (None, None) => anyhow::bail!("give --url or --dir"),
    };
    if let [old, new @ ..] = args.consistency.as_slice() {
        let tenant = args.tenant.as_deref().unwrap_or_default();
        let tenant: uuid::Uuid = tenant.strip_prefix("tenant/").unwrap_or(tenant).parse()?;
        let read = |path: &PathBuf| std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()));
        let old = read(old)?;
        let new = new.first().map(read).transpose()?;
        let checked = verify_consistency(&source, &keys, tenant, &old, new.as_deref()).await?;
        return Ok(format!(
            "tenant/{tenant}: the log of {} nodes extends the sealed log of {} nodes",
            checked.new_size, checked.old_size
        ));
    }
    let path = args
        .event
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("give an event's JSON or --consistency"))?;
    let event = read_event(path)?;
    let (entry, included) = verify_inclusion(&source, &keys, &event).await?;
    Ok(format!(
        "{} is node {} of tenant/{}'s log, sealed at {} nodes (massif {}) by {}",
        entry.identity, entry.index, entry.tenant, included.size, included.massif, included.kid
    ))
}

/// An event's JSON, from a file or `-` (standard input).
fn read_event(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = match path.to_str() {
        Some("-") => std::io::read_to_string(std::io::stdin())?,
        _ => std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
    };
    Ok(serde_json::from_str(&text)?)
}

/// `attachd verify --receipt`: the event's leaf, the receipt's path to a peak signed by a
/// pinned key, and with `--file` the file's SHA-256 among those the event records.
fn verify_receipt(
    args: &crate::config::VerifyArgs,
    receipt: &std::path::Path,
    keys: &[p384::ecdsa::VerifyingKey],
) -> anyhow::Result<String> {
    use sha2::Digest;
    let path = args
        .event
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("give the event's JSON"))?;
    let event = read_event(path)?;
    let entry = merklelog::verify::EventEntry::from_json(&event)?;
    let receipt = std::fs::read(receipt).map_err(|e| anyhow::anyhow!("reading {}: {e}", receipt.display()))?;
    let mut refusals = Vec::new();
    let (verified, kid) = keys
        .iter()
        .find_map(|key| match merklelog::receipt::verify(&receipt, &entry.leaf, key) {
            Ok(verified) => Some((verified, merklelog::signing::key_id(key))),
            Err(why) => {
                refusals.push(why.to_string());
                None
            }
        })
        .ok_or_else(|| anyhow::anyhow!("the receipt does not prove this event: {}", refusals.join("; ")))?;
    anyhow::ensure!(
        verified.index == entry.index,
        "the receipt proves node {}, but the event says it is node {}",
        verified.index,
        entry.index
    );
    let mut verdict = format!(
        "{} is node {} of tenant/{}'s log: the receipt's path leads to a peak signed by {kid}",
        entry.identity, entry.index, entry.tenant
    );
    if let Some(file) = &args.file {
        let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
        let sha = hex::encode(sha2::Sha256::digest(&bytes));
        let recorded = recorded_hashes(&event);
        let named = recorded
            .iter()
            .find(|(_, hash)| *hash == sha)
            .ok_or_else(|| anyhow::anyhow!("{} (sha256 {sha}) is not a file this event records", file.display()))?;
        verdict.push_str(&format!(
            "; {} is {} it records (sha256 {sha})",
            file.display(),
            named.0
        ));
    }
    Ok(verdict)
}

/// The SHA-256s an event records, with where: its attachments' and a signed statement's
/// payload.
fn recorded_hashes(event: &serde_json::Value) -> Vec<(String, String)> {
    let mut hashes = Vec::new();
    for root in ["event_attributes", "asset_attributes", "attributes"] {
        for reference in crate::blob::find_references(root, &event[root]).unwrap_or_default() {
            hashes.push((format!("the attachment {}", reference.attribute), reference.hash));
        }
    }
    if let Some(sha) = event["event_attributes"]["scitt_payload_sha256"].as_str() {
        hashes.push(("the signed statement's payload".into(), sha.to_string()));
    }
    hashes
}
