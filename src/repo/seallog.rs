//! The seal log's rows (see `crates/seallog`): entries, stored hashes by Go's sumdb/tlog
//! index, the head every appender locks, and the signed checkpoints.

use std::collections::HashMap;
use std::ops::Range;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};
use uuid::Uuid;

use super::backend::{Backend, Column, SqlRepo};
use super::{RepoError, RepoResult};
use seallog::{Hash, HashReader, TreeError};

#[async_trait]
pub trait SealLogRepo {
    /// Appends `entries` in one transaction, the head locked so that the processes of a
    /// deployment append one after another; answers the log's new size.
    async fn append_seal_entries(&self, entries: &[Vec<u8>]) -> RepoResult<u64>;
    async fn seal_log_size(&self) -> RepoResult<u64>;
    /// The stored hashes at `indexes`, in their order.
    async fn seal_log_hashes(&self, indexes: &[u64]) -> RepoResult<Vec<Hash>>;
    /// The entries at positions `range`, in order.
    async fn seal_log_entries(&self, range: Range<u64>) -> RepoResult<Vec<Vec<u8>>>;
    /// The largest checkpoint stored: its size and note.
    async fn seal_log_checkpoint(&self) -> RepoResult<Option<(u64, Vec<u8>)>>;
    async fn store_seal_log_checkpoint(&self, size: u64, note: &[u8]) -> RepoResult<()>;
}

/// Hashes known so far; asking for others records them, to be read and asked again.
#[derive(Default)]
pub struct KnownHashes {
    pub known: HashMap<u64, Hash>,
    missing: std::sync::Mutex<Vec<u64>>,
}

impl KnownHashes {
    pub fn new(known: HashMap<u64, Hash>) -> Self {
        Self {
            known,
            missing: std::sync::Mutex::default(),
        }
    }

    /// The indexes asked for that were not known (and forgets them).
    pub fn take_missing(&self) -> Vec<u64> {
        self.missing
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

impl HashReader for KnownHashes {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        let missing: Vec<u64> = indexes
            .iter()
            .copied()
            .filter(|i| !self.known.contains_key(i))
            .collect();
        if !missing.is_empty() {
            if let Ok(mut asked) = self.missing.lock() {
                asked.extend(missing);
            }
            return Err(TreeError::IndexesNotInTree);
        }
        Ok(indexes.iter().filter_map(|i| self.known.get(i).copied()).collect())
    }
}

fn to_hash(index: u64, bytes: Vec<u8>) -> RepoResult<Hash> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| RepoError::Other(anyhow::anyhow!("seal log hash {index} is not 32 bytes")))?;
    Ok(Hash(bytes))
}

fn index(n: u64) -> RepoResult<i64> {
    i64::try_from(n).map_err(|e| RepoError::Other(e.into()))
}

#[async_trait]
impl<DB: Backend> SealLogRepo for SqlRepo<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    Uuid: Column<DB>,
    String: Column<DB>,
    i64: Column<DB>,
    i32: Column<DB>,
    bool: Column<DB>,
    Vec<u8>: Column<DB>,
    DateTime<Utc>: Column<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    Option<Uuid>: Column<DB>,
    Option<String>: Column<DB>,
    Option<i64>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
{
    async fn append_seal_entries(&self, entries: &[Vec<u8>]) -> RepoResult<u64> {
        let mut write = self.begin_write().await?;
        let select = format!("SELECT size FROM seal_log_head WHERE id = 1{}", DB::ROW_LOCK);
        let size: i64 = sqlx::query_scalar(&select).fetch_one(&mut *write.tx).await?;
        let mut n = u64::try_from(size).map_err(|e| RepoError::Other(e.into()))?;
        let mut hashes = KnownHashes::default();
        for entry in entries {
            // The hashes an append reads are the ones left of it: asked for, read, asked again.
            let mut added = None;
            for _ in 0..3 {
                match seallog::stored_hashes(n, entry, &hashes) {
                    Ok(made) => {
                        added = Some(made);
                        break;
                    }
                    Err(_) => {
                        for wanted in hashes.take_missing() {
                            let stored: Option<Vec<u8>> =
                                sqlx::query_scalar("SELECT hash FROM seal_log_hashes WHERE idx = $1")
                                    .bind(index(wanted)?)
                                    .fetch_optional(&mut *write.tx)
                                    .await?;
                            let stored = stored.ok_or_else(|| {
                                RepoError::Other(anyhow::anyhow!("the seal log lacks its stored hash {wanted}"))
                            })?;
                            hashes.known.insert(wanted, to_hash(wanted, stored)?);
                        }
                    }
                }
            }
            let added =
                added.ok_or_else(|| RepoError::Other(anyhow::anyhow!("the seal log's hashes do not add up")))?;
            let first = seallog::stored_hash_index(0, n);
            for (k, hash) in added.iter().enumerate() {
                let at = first + k as u64;
                sqlx::query("INSERT INTO seal_log_hashes (idx, hash) VALUES ($1, $2)")
                    .bind(index(at)?)
                    .bind(hash.0.as_slice())
                    .execute(&mut *write.tx)
                    .await?;
                hashes.known.insert(at, *hash);
            }
            sqlx::query("INSERT INTO seal_log_entries (idx, entry) VALUES ($1, $2)")
                .bind(index(n)?)
                .bind(entry.as_slice())
                .execute(&mut *write.tx)
                .await?;
            n += 1;
        }
        sqlx::query("UPDATE seal_log_head SET size = $1 WHERE id = 1")
            .bind(index(n)?)
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        Ok(n)
    }

    async fn seal_log_size(&self) -> RepoResult<u64> {
        let size: i64 = sqlx::query_scalar("SELECT size FROM seal_log_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(size).map_err(|e| RepoError::Other(e.into()))
    }

    async fn seal_log_hashes(&self, indexes: &[u64]) -> RepoResult<Vec<Hash>> {
        let mut found = HashMap::new();
        for chunk in indexes.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT idx, hash FROM seal_log_hashes WHERE idx IN ({})",
                marks.join(", ")
            );
            let mut select = sqlx::query_as::<_, (i64, Vec<u8>)>(&sql);
            for i in chunk {
                select = select.bind(index(*i)?);
            }
            for (at, hash) in select.fetch_all(&self.pool).await? {
                let at = u64::try_from(at).map_err(|e| RepoError::Other(e.into()))?;
                found.insert(at, to_hash(at, hash)?);
            }
        }
        indexes
            .iter()
            .map(|i| {
                found
                    .get(i)
                    .copied()
                    .ok_or_else(|| RepoError::Other(anyhow::anyhow!("the seal log lacks its stored hash {i}")))
            })
            .collect()
    }

    async fn seal_log_entries(&self, range: Range<u64>) -> RepoResult<Vec<Vec<u8>>> {
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT idx, entry FROM seal_log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(index(range.start)?)
                .bind(index(range.end)?)
                .fetch_all(&self.pool)
                .await?;
        if rows.len() as u64 != range.end - range.start {
            return Err(RepoError::Other(anyhow::anyhow!(
                "the seal log lacks entries of {range:?}"
            )));
        }
        Ok(rows.into_iter().map(|(_, entry)| entry).collect())
    }

    async fn seal_log_checkpoint(&self) -> RepoResult<Option<(u64, Vec<u8>)>> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT size, note FROM seal_log_checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(size, note)| Ok((u64::try_from(size).map_err(|e| RepoError::Other(e.into()))?, note)))
            .transpose()
    }

    async fn store_seal_log_checkpoint(&self, size: u64, note: &[u8]) -> RepoResult<()> {
        let mut write = self.begin_write().await?;
        sqlx::query("INSERT INTO seal_log_checkpoints (size, note) VALUES ($1, $2) ON CONFLICT (size) DO NOTHING")
            .bind(index(size)?)
            .bind(note)
            .execute(&mut *write.tx)
            .await?;
        write.tx.commit().await?;
        Ok(())
    }
}
