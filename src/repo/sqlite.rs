//! SQLite backend: the embedded default, created on first start.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Sqlite;
use tokio::sync::Mutex;

use super::backend::EventTerms;
use super::backend::FilterDialect;
use super::backend::{Backend, SqlRepo};
use super::log::Appended;
use super::RepoResult;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Page size of new databases: 64 KiB pages hold chunk content with fewer overflow
/// pages than the 4 KiB default (see bench/blobs.sh for the measurement).
const PAGE_SIZE: u32 = 65536;

/// The embedded metadata repository.
pub type SqliteRepo = SqlRepo<Sqlite>;

impl SqliteRepo {
    pub async fn connect(url: &str, acquire_timeout: std::time::Duration) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit survives power loss; NORMAL may roll back the last ones.
            .synchronous(SqliteSynchronous::Full)
            .page_size(PAGE_SIZE)
            // Checkpoint every 16 MiB of log (SQLite counts pages; its default of 1000 is
            // 64 MiB at this page size) and shrink a log that grew past 64 MiB: on a small or
            // nearly full disk the log must not be what fills it.
            .pragma("wal_autocheckpoint", "1000")
            .pragma("journal_size_limit", (64u64 << 20).to_string())
            // Read the file through a memory map: a 64 KiB page read through the page
            // cache is a 64 KiB copy, and a lookup that misses the small per-connection
            // cache (as most index probes into a large table do) pays it every time.
            .pragma("mmap_size", (2u64 << 30).to_string())
            // Statement journals in memory: a multi-row insert (a log append of two or more
            // nodes) otherwise creates and deletes a temporary file each time.
            .pragma("temp_store", "MEMORY")
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let data_dir = Path::new(options.get_filename()).parent().map(|dir| {
            if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }
            .to_path_buf()
        });
        if let Some(dir) = Path::new(options.get_filename()).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let repo = Self::new(pool, Some(Arc::new(Mutex::new(()))), data_dir);
        repo.backfill_terms().await?;
        Ok(repo)
    }

    /// The database file, for placing files beside it.
    pub fn path(url: &str) -> Option<std::path::PathBuf> {
        let options = SqliteConnectOptions::from_str(url).ok()?;
        Some(options.get_filename().to_path_buf())
    }
}

impl Backend for Sqlite {
    const NAME: &'static str = "sqlite";

    /// SQLite has one writer at a time: a row needs no lock of its own.
    const ROW_LOCK: &'static str = "";

    /// SQLite plans a statement for its values when it is prepared; keeping it is cheaper.
    const LIST_STATEMENTS_CACHED: bool = true;

    /// One writer at a time: events are stored in batches, one transaction (and one flush)
    /// for all that queued while the last was written (`appender`).
    const GROUP_COMMIT: bool = true;

    const FILTERS: FilterDialect = FilterDialect {
        array_holds: |column, param| format!("EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ${param})"),
    };

    /// SQLite compares text by its bytes already.
    const BYTE_ORDER: &'static str = "";

    /// Copies the log (WAL) into the database and truncates it to nothing, so the space
    /// the last burst of writes took in it goes back to the filesystem.
    const RECLAIM_SPACE: Option<&'static str> = Some("PRAGMA wal_checkpoint(TRUNCATE)");

    /// SQLite has one writer, holding the log head already: terms are written with the row.
    async fn store_event_terms_early<'a>(
        _tx: &mut sqlx::SqliteConnection,
        _tenant: uuid::Uuid,
        terms: &'a [Vec<u8>],
        names: (i32, i32),
    ) -> RepoResult<EventTerms<'a>> {
        Ok(EventTerms::WithRow { terms, names })
    }

    /// Inserts `event` (see `SqlRepo::store_event`) with its terms and what its append adds.
    /// Answers its seq.
    async fn store_logged_event(
        tx: &mut sqlx::SqliteConnection,
        event: &super::Event,
        terms: EventTerms<'_>,
        appended: Appended<'_>,
    ) -> RepoResult<i64> {
        let insert = format!("{} RETURNING seq", super::sql::INSERT_EVENT);
        let seq: i64 = super::sql::bind_event_row!(sqlx::query_scalar(&insert), event)
            .fetch_one(&mut *tx)
            .await?;
        if let EventTerms::WithRow {
            terms,
            names: (operation_id, behaviour_id),
        } = terms
        {
            let into = "event_terms (tenant_id, term, event_seq, operation_id, behaviour_id)";
            let names = Some((operation_id, behaviour_id));
            super::term_rows::insert_terms::<Sqlite>(tx, into, event.tenant_id, seq, terms, names).await?;
        }
        Self::store_append(tx, event.tenant_id, appended).await?;
        Ok(seq)
    }

    /// Writes a published blob's row with its log entry.
    async fn store_blob(tx: &mut sqlx::SqliteConnection, blob: &super::Blob, appended: Appended<'_>) -> RepoResult<()> {
        sqlx::query(
            "INSERT INTO blobs (id, tenant_id, hash_sha256, size, chunk_bytes, mime_type, issuer, subject, \
             timestamp_accepted, chunk_mac_key, log_index, idtimestamp) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(blob.id)
        .bind(blob.tenant_id)
        .bind(&blob.hash_sha256)
        .bind(blob.size)
        .bind(blob.chunk_bytes)
        .bind(&blob.mime_type)
        .bind(&blob.issuer)
        .bind(&blob.subject)
        .bind(blob.timestamp_accepted)
        .bind(&blob.chunk_mac_key)
        .bind(blob.log_index)
        .bind(blob.idtimestamp)
        .execute(&mut *tx)
        .await?;
        Self::store_append(tx, blob.tenant_id, appended).await
    }

    /// Records an append (`append_leaf`): the new nodes and the new head.
    async fn store_append(
        tx: &mut sqlx::SqliteConnection,
        tenant: uuid::Uuid,
        appended: Appended<'_>,
    ) -> RepoResult<()> {
        let Appended { from, added, head } = appended;
        let mut insert = sqlx::QueryBuilder::<Sqlite>::new("INSERT INTO log_nodes (tenant_id, mmr_index, hash) ");
        insert.push_values(added.iter().enumerate(), |mut row, (n, hash)| {
            row.push_bind(tenant)
                .push_bind((from + n as u64) as i64)
                .push_bind(hash.to_vec());
        });
        insert.build().execute(&mut *tx).await?;
        sqlx::query("UPDATE log_heads SET size = $2, last_idtimestamp = $3 WHERE tenant_id = $1")
            .bind(tenant)
            .bind(head.size as i64)
            .bind(super::log::signed(head.last_id))
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}
