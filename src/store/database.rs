//! The `database` store: content as chunk rows in the metadata database. Each batch of
//! chunks commits in a short transaction of its own (no upload holds a connection or the
//! SQLite write gate while its client is slow); the blob row's durable commit flushes them.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;

use super::{ChunkSpan, ChunkStream, ContentId, ContentStore, StagedContent, StoreError, StoreResult};
use crate::repo::DynRepo;

pub struct DatabaseStore {
    repo: DynRepo,
}

impl DatabaseStore {
    pub fn new(repo: DynRepo) -> Self {
        Self { repo }
    }
}

#[async_trait]
impl ContentStore for DatabaseStore {
    fn kind(&self) -> &'static str {
        "database"
    }

    async fn stage(&self, id: ContentId) -> StoreResult<Box<dyn StagedContent>> {
        Ok(Box::new(StagedChunks {
            repo: self.repo.clone(),
            id,
            next_seq: 0,
        }))
    }

    async fn read(&self, id: ContentId, span: ChunkSpan) -> StoreResult<ChunkStream> {
        let repo = self.repo.clone();
        let mut seqs = span.first..span.first + span.count;
        // The first chunk is read now, so content that is not here is `NotFound` before any
        // stream starts, as in the other stores (a fallback store then reads the previous one).
        let Some(first_seq) = seqs.next() else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let first_seq = i64::try_from(first_seq).map_err(|_| StoreError::NotFound)?;
        let first = repo
            .blob_chunk(id.tenant, id.blob, first_seq)
            .await?
            .ok_or(StoreError::NotFound)?;
        let first = futures::stream::once(async move { Ok(Bytes::from(first)) });
        Ok(Box::pin(first.chain(futures::stream::unfold(
            (repo, seqs, false),
            move |(repo, mut seqs, ended)| async move {
                if ended {
                    return None;
                }
                let seq = i64::try_from(seqs.next()?).ok()?;
                match repo.blob_chunk(id.tenant, id.blob, seq).await {
                    Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), (repo, seqs, false))),
                    Ok(None) => Some((Err(StoreError::NotFound), (repo, seqs, true))),
                    Err(err) => Some((Err(err.into()), (repo, seqs, true))),
                }
            },
        ))))
    }

    async fn discard(&self, id: ContentId, _cleanup: Option<&str>) -> StoreResult<()> {
        Ok(self.repo.delete_chunks(id.blob).await?)
    }

    async fn sweep_orphans(&self, _older_than: DateTime<Utc>) -> StoreResult<u64> {
        // An upload lists itself before it writes a chunk, and its blob row replaces that
        // entry in one transaction: chunks owned by neither are orphans at any age.
        Ok(self.repo.delete_orphan_chunks().await?)
    }
}

struct StagedChunks {
    repo: DynRepo,
    id: ContentId,
    next_seq: i64,
}

#[async_trait]
impl StagedContent for StagedChunks {
    async fn write(&mut self, chunks: &[Bytes]) -> StoreResult<()> {
        self.repo.write_chunks(self.id.blob, self.next_seq, chunks).await?;
        self.next_seq += chunks.len() as i64;
        Ok(())
    }

    fn cleanup_id(&self) -> Option<String> {
        None
    }

    async fn finish(&mut self) -> StoreResult<()> {
        // Durable with the blob row's commit, which flushes the log the chunks went to.
        Ok(())
    }
}
