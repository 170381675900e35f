//! PostgreSQL backend: production storage.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Postgres;

use super::backend::EventTerms;
use super::backend::FilterDialect;
use super::backend::{Backend, SqlRepo};
use super::log::Appended;
use super::RepoResult;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections to PostgreSQL: enough for a few dozen concurrent requests.
const POOL_SIZE: u32 = 32;

/// The production metadata repository.
pub type PgRepo = SqlRepo<Postgres>;

impl PgRepo {
    pub async fn connect(url: &str, acquire_timeout: std::time::Duration) -> anyhow::Result<Self> {
        // No parallel workers: attachd's queries are short index walks, and starting
        // workers took 7 ms of an 8 ms page.
        let options: PgConnectOptions = url
            .parse::<PgConnectOptions>()?
            .options([("max_parallel_workers_per_gather", "0")]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let repo = Self::new(pool, None, None);
        repo.backfill_terms().await?;
        Ok(repo)
    }
}

impl Backend for Postgres {
    const NAME: &'static str = "postgres";

    /// Not here: a generic plan for `tenant_id = $1` and a filter cost a small tenant a walk
    /// over every tenant's rows, so each is planned for its own values. Every other
    /// statement, an unfiltered list too, has one good plan and keeps it (planning every
    /// statement took a third of an event's time).
    const LIST_STATEMENTS_CACHED: bool = false;

    const ROW_LOCK: &'static str = " FOR UPDATE";

    /// Concurrent writers: each event has its own transaction, which holds the tenant's log
    /// head only from its append to its commit. (Batching them serialised their other work.)
    const GROUP_COMMIT: bool = false;

    const FILTERS: FilterDialect = FilterDialect {
        array_holds: |column, param| format!("({column}::jsonb @> jsonb_build_array(${param}::text))"),
    };

    const BYTE_ORDER: &'static str = " COLLATE \"C\"";

    /// PostgreSQL gives space back by itself (VACUUM) and keeps its WAL bounded.
    const RECLAIM_SPACE: Option<&'static str> = None;

    /// Takes the seq of an event about to be stored and writes its `terms` (see
    /// `SqlRepo::store_event`): before the tenant's log head is locked, so appenders wait on less.
    async fn store_event_terms_early<'a>(
        tx: &mut sqlx::PgConnection,
        tenant: uuid::Uuid,
        terms: &'a [Vec<u8>],
        (operation_id, behaviour_id): (i32, i32),
    ) -> RepoResult<EventTerms<'a>> {
        let seq: i64 = sqlx::query_scalar(
            "WITH next AS (SELECT nextval(pg_get_serial_sequence('events', 'seq')) AS seq), \
             terms AS (INSERT INTO event_terms (tenant_id, term, event_seq, operation_id, behaviour_id) \
               SELECT $1, term, next.seq, $2, $3 FROM next, unnest($4::bytea[]) AS term ON CONFLICT DO NOTHING) \
             SELECT seq FROM next",
        )
        .bind(tenant)
        .bind(operation_id)
        .bind(behaviour_id)
        .bind(terms)
        .fetch_one(tx)
        .await?;
        Ok(EventTerms::Written { seq })
    }

    /// Inserts `event` (see `SqlRepo::store_event`) as the seq its terms were written with, and what
    /// its append adds, in one statement:
    /// the tenant's other appenders wait from the head's lock to the commit, so each round
    /// trip counts. Answers its seq.
    async fn store_logged_event(
        tx: &mut sqlx::PgConnection,
        event: &super::Event,
        terms: EventTerms<'_>,
        appended: Appended<'_>,
    ) -> RepoResult<i64> {
        let EventTerms::Written { seq } = terms else {
            return Err(super::RepoError::Other(anyhow::anyhow!(
                "an event's terms are written before its row on PostgreSQL"
            )));
        };
        let Appended { added, head, .. } = appended;
        let statement = sqlx::query(
            "WITH stored AS (INSERT INTO events (seq, id, tenant_id, asset_id, operation, behaviour, \
               event_attributes, asset_attributes, trails, timestamp_declared, principal_declared, issuer, \
               subject, timestamp_accepted, log_index, idtimestamp) OVERRIDING SYSTEM VALUE \
               VALUES ($18, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)), \
             nodes AS (INSERT INTO log_nodes (tenant_id, mmr_index, hash) \
               SELECT $2, $14 + n - 1, hash FROM unnest($16::bytea[]) WITH ORDINALITY AS added(hash, n)) \
             UPDATE log_heads SET size = $17, last_idtimestamp = $15 WHERE tenant_id = $2",
        );
        // The event's log_index and idtimestamp ($14, $15) are `from` and the head's last id.
        super::sql::bind_event_row!(statement, event)
            .bind(added.iter().map(|hash| hash.to_vec()).collect::<Vec<_>>())
            .bind(head.size as i64)
            .bind(seq)
            .execute(tx)
            .await?;
        Ok(seq)
    }

    /// Writes a published blob's row with its log entry: the row, its leaf's nodes and the
    /// new head in one statement, since the tenant's publishes wait on its head meanwhile.
    async fn store_blob(tx: &mut sqlx::PgConnection, blob: &super::Blob, appended: Appended<'_>) -> RepoResult<()> {
        let Appended { from, added, head } = appended;
        sqlx::query(
            "WITH stored AS (INSERT INTO blobs (id, tenant_id, hash_sha256, size, chunk_bytes, mime_type, issuer, \
               subject, timestamp_accepted, chunk_mac_key, log_index, idtimestamp) \
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)), \
             nodes AS (INSERT INTO log_nodes (tenant_id, mmr_index, hash) \
               SELECT $2, $11 + n - 1, hash FROM unnest($13::bytea[]) WITH ORDINALITY AS added(hash, n)) \
             UPDATE log_heads SET size = $14, last_idtimestamp = $12 WHERE tenant_id = $2",
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
        .bind(from as i64)
        .bind(super::log::signed(head.last_id))
        .bind(added.iter().map(|hash| hash.to_vec()).collect::<Vec<_>>())
        .bind(head.size as i64)
        .execute(tx)
        .await?;
        Ok(())
    }

    /// Records an append (`append_leaf`) in one statement: appenders of a tenant wait on
    /// its head from its lock to the commit, so each round trip counts.
    async fn store_append(tx: &mut sqlx::PgConnection, tenant: uuid::Uuid, appended: Appended<'_>) -> RepoResult<()> {
        let Appended { from, added, head } = appended;
        sqlx::query(
            "WITH nodes AS (INSERT INTO log_nodes (tenant_id, mmr_index, hash) \
               SELECT $1, $2 + n - 1, hash FROM unnest($3::bytea[]) WITH ORDINALITY AS added(hash, n)) \
             UPDATE log_heads SET size = $4, last_idtimestamp = $5 WHERE tenant_id = $1",
        )
        .bind(tenant)
        .bind(from as i64)
        .bind(added.iter().map(|hash| hash.to_vec()).collect::<Vec<_>>())
        .bind(head.size as i64)
        .bind(super::log::signed(head.last_id))
        .execute(tx)
        .await?;
        Ok(())
    }
}
