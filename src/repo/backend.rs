//! What really differs between the two databases, in one trait, and the repository that is
//! written once over it: `SqlRepo<Sqlite>` and `SqlRepo<Postgres>`. Everything else in
//! `repo/` is plain generic code over `Backend`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use sqlx::{Database, Pool};
use tokio::sync::Mutex;

use super::heads::Appended;
use super::tx::{Sync, WriteTx};
use super::{Blob, Event, RepoResult};

/// A database attachd stores its metadata in: the constants and the few statements that
/// differ between PostgreSQL and SQLite.
pub trait Backend: Database<QueryResult: RowsAffected> + sqlx::database::HasStatementCache + Sized {
    /// `postgres` or `sqlite`, for logs.
    const NAME: &'static str;
    /// Locks a selected row for the rest of its transaction (empty where there is one
    /// writer at a time).
    const ROW_LOCK: &'static str;
    /// Whether filtered list and count statements are prepared once per connection.
    const LIST_STATEMENTS_CACHED: bool;
    /// Whether events are stored in batches, one transaction for all that queued while the
    /// last batch was written (`appender`), rather than each in its own.
    const GROUP_COMMIT: bool;
    /// The filters whose SQL differs.
    const FILTERS: FilterDialect;
    /// Appended to a text column to sort it by its bytes.
    const BYTE_ORDER: &'static str;
    /// What gives space back to the filesystem after a full disk, if the database needs
    /// telling.
    const RECLAIM_SPACE: Option<&'static str>;

    /// Writes what of an event can be written before its tenant's log head is locked,
    /// answering what remains for `store_logged_event`.
    fn store_event_terms_early<'a>(
        tx: &mut Self::Connection,
        tenant: uuid::Uuid,
        terms: &'a [Vec<u8>],
        names: (i32, i32),
    ) -> impl Future<Output = RepoResult<EventTerms<'a>>> + Send;

    /// Inserts `event` with its remaining terms and what its append adds; answers its seq.
    fn store_logged_event(
        tx: &mut Self::Connection,
        event: &Event,
        terms: EventTerms<'_>,
        appended: Appended<'_>,
    ) -> impl Future<Output = RepoResult<i64>> + Send;

    /// Writes a published blob's row with its log entry.
    fn store_blob(
        tx: &mut Self::Connection,
        blob: &Blob,
        appended: Appended<'_>,
    ) -> impl Future<Output = RepoResult<()>> + Send;

    /// Records an append: the new nodes and the new head.
    fn store_append(
        tx: &mut Self::Connection,
        tenant: uuid::Uuid,
        appended: Appended<'_>,
    ) -> impl Future<Output = RepoResult<()>> + Send;
}

/// SQL a backend writes for the filters that differ between them.
pub struct FilterDialect {
    /// Whether JSON array text column `column` holds `$n`.
    pub array_holds: fn(&str, usize) -> String,
}

/// An event's terms: written before its row (PostgreSQL, which took its `seq` for them), or
/// to be written with it.
pub enum EventTerms<'a> {
    Written { seq: i64 },
    WithRow { terms: &'a [Vec<u8>], names: (i32, i32) },
}

/// The metadata repository over backend `DB`.
pub struct SqlRepo<DB: Backend> {
    pub(super) pool: Pool<DB>,
    pub(super) cache: super::cache::MetadataCache,
    pub(super) appenders: super::appender::Appenders<super::NewEvent, Event>,
    pub(super) publishers: Arc<super::models::Publishers>,
    pub(super) names: super::cache::EventNameIds,
    pub(super) heads: Arc<super::heads::KnownHeads>,
    /// Where the database has one writer at a time (SQLite), writers queue here rather
    /// than fail with SQLITE_BUSY.
    pub(super) write_gate: Option<Arc<Mutex<()>>>,
    /// The directory of an embedded database's file.
    pub(super) dir: Option<PathBuf>,
}

impl<DB: Backend> SqlRepo<DB>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    pub(super) fn new(pool: Pool<DB>, write_gate: Option<Arc<Mutex<()>>>, dir: Option<PathBuf>) -> Self {
        Self {
            pool,
            cache: Default::default(),
            appenders: Default::default(),
            publishers: Default::default(),
            names: Default::default(),
            heads: Default::default(),
            write_gate,
            dir,
        }
    }

    /// Gives space back to the filesystem where the database needs telling (see
    /// `Backend::RECLAIM_SPACE`), as its one writer.
    pub(super) async fn give_space_back(&self) -> RepoResult<()>
    where
        for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    {
        let Some(statement) = DB::RECLAIM_SPACE else {
            return Ok(());
        };
        let _writer = match &self.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        sqlx::query(statement).execute(&self.pool).await?;
        Ok(())
    }

    /// Begins a write transaction, behind the write gate where there is one.
    pub(super) async fn begin_write(&self) -> RepoResult<WriteTx<DB>> {
        super::tx::begin_write_with(&self.pool, self.write_gate.as_ref(), Sync::Durable).await
    }
}

/// A value bound to a statement and read back from a row. Rust does not carry a trait's
/// where-clauses to its users, so the shared code states what it needs of sqlx on each
/// generic impl, in the same words each time.
pub trait Column<DB: Database>:
    for<'q> sqlx::Encode<'q, DB> + for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB> + Send
{
}

impl<DB: Database, T> Column<DB> for T where
    T: for<'q> sqlx::Encode<'q, DB> + for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB> + Send
{
}

/// How many rows a statement changed (each driver has this, under no common trait).
pub trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}
