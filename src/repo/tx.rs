//! Write transactions run by hand (`BEGIN`/`COMMIT`/`ROLLBACK`) rather than by sqlx's
//! `Transaction`: when SQLite rolls a transaction back by itself (a full disk), sqlx's own
//! depth count goes wrong and the pooled connection later leaves a transaction open, holding
//! the write lock. Here a transaction that did not commit is rolled back, and a connection
//! whose rollback fails is closed, never pooled again.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, Pool};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::RepoResult;

/// A write transaction; on SQLite it also holds the process-wide write gate, so writers
/// queue in order instead of failing with SQLITE_BUSY. The gate opens only after the
/// transaction has ended.
pub struct WriteTx<DB: Database>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    pub tx: Tx<DB>,
}

/// An open transaction on a pooled connection: derefs to the connection for queries.
pub struct Tx<DB: Database>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    conn: Option<PoolConnection<DB>>,
    gate: Option<OwnedMutexGuard<()>>,
}

/// How a transaction's commit must reach the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    /// Durable when `commit` returns.
    Durable,
    /// A staged chunk: durable with the next durable commit, which flushes the log it was
    /// written to (SQLite's WAL, PostgreSQL's WAL) up to itself. A crash before that loses
    /// only an upload that had not completed.
    Staged,
}

/// Begins a write transaction, behind the write gate where the backend has one.
pub async fn begin_write<DB: Database>(pool: &Pool<DB>, gate: Option<&Arc<Mutex<()>>>) -> RepoResult<WriteTx<DB>>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    begin_write_with(pool, gate, Sync::Durable).await
}

/// `begin_write` with the given commit durability.
pub async fn begin_write_with<DB: Database>(
    pool: &Pool<DB>,
    gate: Option<&Arc<Mutex<()>>>,
    sync: Sync,
) -> RepoResult<WriteTx<DB>>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let gate = match gate {
        Some(gate) => Some(gate.clone().lock_owned().await),
        None => None,
    };
    let mut conn = pool.acquire().await?;
    if DB::NAME == "SQLite" {
        // Set on every transaction, so no connection keeps a staged one's setting.
        let pragma = match sync {
            Sync::Durable => "PRAGMA synchronous = FULL",
            Sync::Staged => "PRAGMA synchronous = NORMAL",
        };
        conn.execute(pragma).await?;
        // Take the write lock now, not on the first write (no upgrade to fail).
        conn.execute("BEGIN IMMEDIATE").await?;
    } else {
        conn.execute(match sync {
            Sync::Durable => "BEGIN",
            Sync::Staged => "BEGIN; SET LOCAL synchronous_commit = off",
        })
        .await?;
    }
    Ok(WriteTx {
        tx: Tx { conn: Some(conn), gate },
    })
}

impl<DB: Database> Tx<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// Commits; on failure the transaction is rolled back when dropped.
    pub async fn commit(mut self) -> RepoResult<()> {
        if let Some(conn) = self.conn.as_mut() {
            conn.execute("COMMIT").await?;
        }
        if let Some(conn) = self.conn.take() {
            drop(conn);
        }
        Ok(())
    }

    /// Begins one piece of work of a batch that shares this transaction (group commit).
    pub async fn begin_piece(&mut self) -> RepoResult<()> {
        self.execute("SAVEPOINT piece").await?;
        Ok(())
    }

    /// Ends the piece `begin_piece` began: kept if it succeeded, undone if it failed, so
    /// one refused piece takes nothing of the others with it.
    pub async fn end_piece(&mut self, succeeded: bool) -> RepoResult<()> {
        if !succeeded {
            self.execute("ROLLBACK TO SAVEPOINT piece").await?;
        }
        self.execute("RELEASE SAVEPOINT piece").await?;
        Ok(())
    }
}

impl<DB: Database> Drop for Tx<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let gate = self.gate.take();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(err) = conn.execute("ROLLBACK").await {
                        tracing::warn!(error = %err, "rollback failed: closing the connection");
                        let _ = conn.close().await;
                    }
                    drop(gate);
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }
}

impl<DB: Database> Deref for Tx<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    type Target = DB::Connection;

    fn deref(&self) -> &Self::Target {
        self.conn
            .as_deref()
            .expect("a transaction holds its connection until it ends")
    }
}

impl<DB: Database> DerefMut for Tx<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn
            .as_deref_mut()
            .expect("a transaction holds its connection until it ends")
    }
}
