//! PostgreSQL backend: production storage.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::apikeys::impl_api_keys;
use super::assets::impl_assets;
use super::blobs::impl_blobs;
use super::events::impl_events;
use super::log::impl_log;
use super::records::impl_records;
use super::scans::impl_scans;
use super::sql::impl_repo;
use super::terms::{impl_event_names, impl_terms_backfill};
use super::tx::WriteTx;
use super::uploads::impl_uploads;
use super::RepoResult;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections to PostgreSQL: enough for a few dozen concurrent requests.
const POOL_SIZE: u32 = 32;

pub struct PgRepo {
    pool: PgPool,
    cache: super::cache::MetadataCache,
    appenders: super::appender::Appenders,
    names: super::terms::EventNameIds,
}

impl PgRepo {
    pub async fn connect(url: &str, acquire_timeout: std::time::Duration) -> anyhow::Result<Self> {
        // Plan every statement for its own values: a generic plan for `tenant_id = $1` costs a
        // small tenant a walk over every tenant's rows. No parallel workers: attachd's
        // queries are short index walks, and starting workers took 7 ms of an 8 ms page.
        let options: PgConnectOptions = url.parse::<PgConnectOptions>()?.options([
            ("plan_cache_mode", "force_custom_plan"),
            ("max_parallel_workers_per_gather", "0"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let repo = Self {
            pool,
            cache: Default::default(),
            appenders: Default::default(),
            names: Default::default(),
        };
        repo.backfill_log().await?;
        repo.backfill_terms().await?;
        Ok(repo)
    }

    fn data_directory(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// Locks a selected row for the rest of the transaction.
    const ROW_LOCK: &'static str = " FOR UPDATE";

    /// Concurrent writers: each event has its own transaction, which holds the tenant's log
    /// head only from its append to its commit. (Batching them serialised their other work.)
    const GROUP_COMMIT: bool = false;

    const FILTERS: super::sql::FilterDialect = super::sql::FilterDialect {
        array_holds: |column, param| format!("({column}::jsonb @> jsonb_build_array(${param}::text))"),
    };

    /// PostgreSQL takes concurrent writers: no gate.
    fn write_gate(&self) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
        None
    }

    async fn begin_write(&self) -> RepoResult<WriteTx<Postgres>> {
        super::tx::begin_write(&self.pool, None).await
    }
}

impl_repo!(PgRepo, sqlx::Postgres, "postgres");
impl_records!(PgRepo, sqlx::Postgres, " COLLATE \"C\"");
impl_uploads!(PgRepo, sqlx::Postgres);
impl_api_keys!(PgRepo, sqlx::Postgres);
impl_assets!(PgRepo, sqlx::Postgres);
impl_events!(PgRepo, sqlx::Postgres);
impl_terms_backfill!(PgRepo, sqlx::Postgres);
impl_event_names!(PgRepo);
impl_log!(PgRepo, sqlx::Postgres);
impl_blobs!(PgRepo, sqlx::Postgres);
impl_scans!(PgRepo, sqlx::Postgres);
