//! The one-time migration's appends: events stored before the log existed, and blobs
//! stored before their records were leaves, each given its place in its tenant's log.

/// Implements `backfill_events` and `backfill_blobs` for a backend of `impl_repo!` over
/// database `$db`; `LogRepo::backfill_log` runs them.
macro_rules! impl_backfill {
    ($repo:ty, $db:ty) => {
        impl $repo {
            async fn backfill_blobs(&self) -> $crate::repo::RepoResult<()> {
                loop {
                    let pending: Vec<$crate::repo::Blob> = sqlx::query_as(&format!(
                        "{} WHERE log_index IS NULL ORDER BY timestamp_accepted, id LIMIT 500",
                        $crate::repo::sql::SELECT_BLOBS
                    ))
                    .fetch_all(&self.pool)
                    .await?;
                    if pending.is_empty() {
                        return Ok(());
                    }
                    for blob in pending {
                        let tenant = blob.tenant_id;
                        let mut write = self.begin_write().await?;
                        let mut head =
                            $crate::repo::log::lock_log_head!($db, write.tx, tenant, Self::ROW_LOCK, &self.heads);
                        let id = ::merklelog::idtimestamp::next(chrono::Utc::now(), head.last_id);
                        let updated = sqlx::query($crate::repo::sql::LOG_BLOB)
                            .bind(blob.id)
                            .bind(head.size as i64)
                            .bind($crate::repo::log::signed(id))
                            .execute(&mut *write.tx)
                            .await?;
                        if updated.rows_affected() == 1 {
                            let leaf = $crate::repo::leaves::blob_leaf(&blob, id);
                            $crate::repo::log::append_leaf!($repo, write.tx, tenant, &mut head, leaf, id);
                        }
                        self.heads
                            .commit(write.tx, std::collections::HashMap::from([(tenant, head)]))
                            .await?;
                    }
                }
            }

            async fn backfill_events(&self) -> $crate::repo::RepoResult<()> {
                loop {
                    let pending: Vec<$crate::repo::Event> = sqlx::query_as(&format!(
                        "{} WHERE log_index IS NULL ORDER BY seq LIMIT 500",
                        $crate::repo::sql::EVENT_COLUMNS
                    ))
                    .fetch_all(&self.pool)
                    .await?;
                    if pending.is_empty() {
                        return Ok(());
                    }
                    for event in pending {
                        let tenant = event.tenant_id;
                        let mut write = self.begin_write().await?;
                        let mut head = $crate::repo::log::lock_log_head!(
                            $db,
                            write.tx,
                            event.tenant_id,
                            Self::ROW_LOCK,
                            &self.heads
                        );
                        let id = ::merklelog::idtimestamp::next(chrono::Utc::now(), head.last_id);
                        let updated = sqlx::query(
                            "UPDATE events SET log_index = $2, idtimestamp = $3 WHERE seq = $1 AND log_index IS NULL",
                        )
                        .bind(event.seq)
                        .bind(head.size as i64)
                        .bind($crate::repo::log::signed(id))
                        .execute(&mut *write.tx)
                        .await?;
                        if updated.rows_affected() == 1 {
                            let logged = $crate::repo::Event {
                                log_index: Some(head.size as i64),
                                idtimestamp: Some($crate::repo::log::signed(id)),
                                ..event
                            };
                            let leaf = $crate::repo::leaves::event_leaf(&logged, id)
                                .map_err(|e| $crate::repo::RepoError::Other(e.into()))?;
                            $crate::repo::log::append_leaf!($repo, write.tx, logged.tenant_id, &mut head, leaf, id);
                        }
                        self.heads
                            .commit(write.tx, std::collections::HashMap::from([(tenant, head)]))
                            .await?;
                    }
                }
            }
        }
    };
}

pub(crate) use impl_backfill;
