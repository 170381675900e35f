//! The storage limit attachd is measured against: the same file written as chunks in one
//! transaction and read back in order, straight through sqlx, with attachd's own settings;
//! or for a content store URL, written to a directory (write, fsync, rename) or to S3
//! through `object_store` (a multipart put) and read back whole, and its last MiB alone.
//!
//! `cargo bench --bench rawstore -- URL FILE CHUNK_BYTES REPEAT` prints the best of REPEAT
//! runs as `write_mbps=… read_mbps=… range_secs=…`. For `s3://BUCKET`, the endpoint and keys
//! come from `ATTACHD_S3_ENDPOINT`, `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.

use std::str::FromStr;
use std::time::Instant;

mod rawobjects;

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
    let (mut write_secs, mut read_secs, mut range_secs) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..repeat.parse::<u32>()? {
        let (write, read, range) = if url.starts_with("postgres") {
            let (write, read) = postgres(url, &content, chunk_bytes).await?;
            (write, read, f64::NAN)
        } else if url.starts_with("sqlite") {
            let (write, read) = sqlite(url, &content, chunk_bytes).await?;
            (write, read, f64::NAN)
        } else if let Some(dir) = url.strip_prefix("file://") {
            rawobjects::file(dir, &content, chunk_bytes)?
        } else if let Some(bucket) = url.strip_prefix("s3://") {
            rawobjects::s3(bucket, &content).await?
        } else {
            anyhow::bail!("{url}: not a database or content store URL");
        };
        write_secs = write_secs.min(write);
        read_secs = read_secs.min(read);
        range_secs = range_secs.min(range);
    }
    let range = if range_secs.is_finite() && range_secs < f64::MAX {
        format!("{range_secs:.4}")
    } else {
        "n/a".to_string()
    };
    println!(
        "write_mbps={:.1} read_mbps={:.1} range_secs={range}",
        mb / write_secs,
        mb / read_secs
    );
    Ok(())
}

macro_rules! measure {
    ($pool:expr, $content:expr, $chunk_bytes:expr) => {{
        let id = uuid::Uuid::new_v4();
        let started = Instant::now();
        let mut tx = $pool.begin().await?;
        for (seq, chunk) in $content.chunks($chunk_bytes).enumerate() {
            sqlx::query("INSERT INTO raw_chunks (blob_id, seq, data) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(seq as i64)
                .bind(chunk)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let write = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut total = 0usize;
        for seq in 0..$content.len().div_ceil($chunk_bytes) {
            let data: Vec<u8> = sqlx::query_scalar("SELECT data FROM raw_chunks WHERE blob_id = $1 AND seq = $2")
                .bind(id)
                .bind(seq as i64)
                .fetch_one(&$pool)
                .await?;
            total += data.len();
        }
        anyhow::ensure!(total == $content.len(), "read back {total} bytes");
        (write, started.elapsed().as_secs_f64())
    }};
}

async fn postgres(url: &str, content: &[u8], chunk_bytes: usize) -> anyhow::Result<(f64, f64)> {
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

async fn sqlite(url: &str, content: &[u8], chunk_bytes: usize) -> anyhow::Result<(f64, f64)> {
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
