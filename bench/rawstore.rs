//! The storage limit attachd is measured against: the same file written as chunks in one
//! transaction and read back in order, straight through sqlx, with attachd's own settings;
//! or for a content store URL, written to a directory (write, fsync, rename) or to S3
//! through `object_store` (a multipart put) and read back whole, and its last MiB alone.
//!
//! `cargo bench --bench rawstore -- URL FILE CHUNK_BYTES REPEAT` prints the best of REPEAT
//! runs as `write_mbps=… verified_write_mbps=… read_mbps=… verified_read_mbps=… range_secs=…`,
//! where the verified write and read hash the bytes with SHA-256 as they pass. For `s3://BUCKET`, the endpoint and keys
//! come from `ATTACHD_S3_ENDPOINT`, `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.

use std::str::FromStr;
use std::time::Instant;

use sha2::{Digest, Sha256};

mod rawobjects;

/// Seconds for one run of a reference.
pub struct Timings {
    write: f64,
    /// The write, hashing the bytes with SHA-256 as they go.
    write_verified: f64,
    read: f64,
    /// The read, hashing the bytes with SHA-256 as they arrive.
    read_verified: f64,
    /// The last MiB alone (NaN where the reference has no ranged read).
    range: f64,
}

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

const SQLITE_PAGE_SIZE: u32 = 65536;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [url, file, chunk, repeat] = args.as_slice() else {
        anyhow::bail!("usage: rawstore DATABASE_URL FILE CHUNK_BYTES REPEAT");
    };
    let content = std::fs::read(file)?;
    let chunk_bytes: usize = chunk.parse()?;
    let mb = content.len() as f64 / 1e6;
    let mut best = Timings {
        write: f64::MAX,
        write_verified: f64::MAX,
        read: f64::MAX,
        read_verified: f64::MAX,
        range: f64::MAX,
    };
    for _ in 0..repeat.parse::<u32>()? {
        let run = if url.starts_with("postgres") {
            postgres(url, &content, chunk_bytes).await?
        } else if url.starts_with("sqlite") {
            sqlite(url, &content, chunk_bytes).await?
        } else if let Some(dir) = url.strip_prefix("file://") {
            rawobjects::file(dir, &content, chunk_bytes)?
        } else if let Some(bucket) = url.strip_prefix("s3://") {
            rawobjects::s3(bucket, &content).await?
        } else {
            anyhow::bail!("{url}: not a database or content store URL");
        };
        best.write = best.write.min(run.write);
        best.write_verified = best.write_verified.min(run.write_verified);
        best.read = best.read.min(run.read);
        best.read_verified = best.read_verified.min(run.read_verified);
        best.range = best.range.min(run.range);
    }
    let range_secs = best.range;
    let range = if range_secs.is_finite() && range_secs < f64::MAX {
        format!("{range_secs:.4}")
    } else {
        "n/a".to_string()
    };
    println!(
        "write_mbps={:.1} verified_write_mbps={:.1} read_mbps={:.1} verified_read_mbps={:.1} range_secs={range}",
        mb / best.write,
        mb / best.write_verified,
        mb / best.read,
        mb / best.read_verified
    );
    Ok(())
}

macro_rules! measure {
    ($pool:expr, $content:expr, $chunk_bytes:expr) => {{
        let write_verified = write_chunks!($pool, $content, $chunk_bytes, Some(Sha256::new())).1;
        let (id, write) = write_chunks!($pool, $content, $chunk_bytes, None);
        let read = read_chunks!($pool, id, $content, $chunk_bytes, None);
        let read_verified = read_chunks!($pool, id, $content, $chunk_bytes, Some(Sha256::new()));
        Timings {
            write,
            write_verified,
            read,
            read_verified,
            range: f64::NAN,
        }
    }};
}

/// Inserts the chunks in one transaction: the new blob id and the seconds it took.
macro_rules! write_chunks {
    ($pool:expr, $content:expr, $chunk_bytes:expr, $hasher:expr) => {{
        let id = uuid::Uuid::new_v4();
        let (started, mut hasher): (Instant, Option<Sha256>) = (Instant::now(), $hasher);
        let mut tx = $pool.begin().await?;
        for (seq, chunk) in $content.chunks($chunk_bytes).enumerate() {
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(chunk);
            }
            sqlx::query("INSERT INTO raw_chunks (blob_id, seq, data) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(seq as i64)
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        (id, started.elapsed().as_secs_f64())
    }};
}

macro_rules! read_chunks {
    ($pool:expr, $id:expr, $content:expr, $chunk_bytes:expr, $hasher:expr) => {{
        let started = Instant::now();
        let (mut total, mut hasher): (usize, Option<Sha256>) = (0, $hasher);
        for seq in 0..$content.len().div_ceil($chunk_bytes) {
            let data: Vec<u8> = sqlx::query_scalar("SELECT data FROM raw_chunks WHERE blob_id = $1 AND seq = $2")
                .bind($id)
                .bind(seq as i64)
                .fetch_one(&$pool)
                .await?;
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(&data);
            }
            total += data.len();
        }
        anyhow::ensure!(total == $content.len(), "read back {total} bytes");
        started.elapsed().as_secs_f64()
    }};
}

async fn postgres(url: &str, content: &[u8], chunk_bytes: usize) -> anyhow::Result<Timings> {
    let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
    sqlx::query("DROP TABLE IF EXISTS raw_chunks").execute(&pool).await?;
    sqlx::query("CREATE TABLE raw_chunks (blob_id uuid NOT NULL, seq bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (blob_id, seq))")
        .execute(&pool)
        .await?;
    sqlx::query("ALTER TABLE raw_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
        .execute(&pool)
        .await?;
    let result = measure!(pool, content, chunk_bytes);
    sqlx::query("DROP TABLE raw_chunks").execute(&pool).await?;
    Ok(result)
}

async fn sqlite(url: &str, content: &[u8], chunk_bytes: usize) -> anyhow::Result<Timings> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .page_size(SQLITE_PAGE_SIZE);
    let pool = SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?;
    sqlx::query("DROP TABLE IF EXISTS raw_chunks").execute(&pool).await?;
    sqlx::query("CREATE TABLE raw_chunks (blob_id BLOB NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (blob_id, seq))")
        .execute(&pool)
        .await?;
    let result = measure!(pool, content, chunk_bytes);
    sqlx::query("DROP TABLE raw_chunks").execute(&pool).await?;
    Ok(result)
}
