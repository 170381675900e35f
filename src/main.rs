use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use attachd::config::{ApiKeyCommand, Cli, Command, LogCommand, LogFormat, ServeArgs, StoreCommand, TenantCommand};
use attachd::ids::TenantId;
use attachd::repo::{self, QuotaOverrides, SqliteRepo};
use attachd::tenants::{create_tenant, ensure_dev_token, DevFiles};
use attachd::AppState;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let url = cli.database.database_url.clone();
    match cli.command {
        None => serve(&url, cli.serve).await,
        Some(Command::Serve(args)) => serve(&url, *args).await,
        Some(Command::Scan(args)) => {
            let repo = repo::connect(&url).await?;
            let state = AppState::new(repo.clone(), &args).await?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let scanner = attachd::spawn_scanner(repo, state.content.store.clone(), &args, stopped)
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
            let (key, stored) = attachd::auth::apikeys::create(repo.as_ref(), id, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::json!({"identity": attachd::ids::ApiKeyId(stored.id).identity(), "tenant": tenant,
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
            let target = attachd::store::open(&to, repo.clone(), &settings.store.s3()).await?;
            let done = attachd::store::migrate::migrate(repo, state.content.store.clone(), target).await?;
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
            let passed = attachd::log::audit::run(repo, &serve, tenant.as_deref(), reanchor).await?;
            if !passed {
                std::process::exit(1);
            }
            Ok(())
        }
        Some(Command::Verify(args)) => match attachd::log::verify::run(&args).await {
            Ok(verdict) => {
                println!("OK {verdict}");
                Ok(())
            }
            Err(err) => {
                println!("FAIL {err:#}");
                std::process::exit(1);
            }
        },
        Some(Command::Openapi { output: None }) => {
            print!("{}", attachd::api::spec_json());
            Ok(())
        }
        Some(Command::Openapi { output: Some(path) }) => {
            std::fs::write(&path, attachd::api::spec_json()).with_context(|| format!("writing {}", path.display()))
        }
        Some(Command::Tenant(TenantCommand::Create { name })) => {
            let repo = repo::connect(&url).await?;
            let credentials = create_tenant(repo.as_ref(), &name).await?;
            println!("{}", serde_json::to_string(&credentials)?);
            Ok(())
        }
    }
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
        .with_context(|| format!("opening {}", attachd::config::redact_url(url)))?;
    let state = AppState::new(repo.clone(), &args).await?;
    if let Some(db_path) = SqliteRepo::path(url).filter(|_| repo.backend() == "sqlite") {
        let files = DevFiles::beside(&db_path, args.dev_token_file.clone());
        if let Some(token_file) = ensure_dev_token(repo.as_ref(), &state.keys, &files).await? {
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
    let scanner = attachd::spawn_scanner(repo, state.content.store.clone(), &args, stopped);
    attachd::serve(state, listener, args.header_read_timeout.0, shutdown_signal()).await?;
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
