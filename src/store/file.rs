//! The `file:///DIR` store: `DIR/<tenant>/<blob>`. Content is written to
//! `<blob>.part`, fsynced, renamed into place, and the directory fsynced, so a finished
//! blob survives a crash and a half-written one never carries the final name.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{object_name, ChunkSpan, ChunkStream, ContentId, ContentStore, StagedContent, StoreError, StoreResult};
use crate::repo::DynRepo;

const PART_SUFFIX: &str = ".part";

pub struct FileStore {
    root: PathBuf,
    repo: DynRepo,
}

impl FileStore {
    pub async fn open(root: &Path, repo: DynRepo) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(root)
            .await
            .map_err(|e| anyhow::anyhow!("creating the content directory {}: {e}", root.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
            repo,
        })
    }

    fn path(&self, id: ContentId) -> PathBuf {
        self.root.join(object_name(id))
    }
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PART_SUFFIX);
    PathBuf::from(name)
}

/// Flushes a directory's entries (a rename or a new file in it) to disk.
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

/// Removes a file; one that is already gone is fine.
async fn remove(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

#[async_trait]
impl ContentStore for FileStore {
    fn kind(&self) -> &'static str {
        "file"
    }

    async fn stage(&self, id: ContentId) -> StoreResult<Box<dyn StagedContent>> {
        let path = self.path(id);
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        if tokio::fs::metadata(&dir).await.is_err() {
            tokio::fs::create_dir_all(&dir).await?;
            sync_dir(&self.root).await?;
        }
        let part = part_path(&path);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
            .await?;
        Ok(Box::new(StagedFile {
            file: Some(file),
            part,
            path,
            dir,
        }))
    }

    async fn read(&self, id: ContentId, span: ChunkSpan) -> StoreResult<ChunkStream> {
        let path = self.path(id);
        // Anything but a regular file put in its place is not the stored content (and opening
        // a FIFO would wait for a writer forever).
        if !tokio::fs::metadata(&path).await?.is_file() {
            return Err(StoreError::NotFound);
        }
        let mut file = tokio::fs::File::open(&path).await?;
        let bytes = span.bytes();
        file.seek(std::io::SeekFrom::Start(bytes.start)).await?;
        let chunk_bytes = usize::try_from(span.chunk_bytes).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let state = (file, bytes.end - bytes.start);
        Ok(Box::pin(futures::stream::unfold(
            state,
            move |(mut file, left)| async move {
                if left == 0 {
                    return None;
                }
                let want = usize::try_from(left).map_or(chunk_bytes, |left| left.min(chunk_bytes));
                let mut chunk = BytesMut::zeroed(want);
                let mut filled = 0;
                while filled < want {
                    match file.read(&mut chunk[filled..]).await {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(err) => return Some((Err(err.into()), (file, 0))),
                    }
                }
                chunk.truncate(filled);
                // A file cut short ends the stream early: the caller sees content missing.
                let left = if filled < want { 0 } else { left - want as u64 };
                (filled > 0).then(|| (Ok(chunk.freeze()), (file, left)))
            },
        )))
    }

    async fn discard(&self, id: ContentId, _cleanup: Option<&str>) -> StoreResult<()> {
        let path = self.path(id);
        remove(&part_path(&path)).await?;
        remove(&path).await?;
        Ok(())
    }

    async fn sweep_orphans(&self, older_than: DateTime<Utc>) -> StoreResult<u64> {
        let cutoff = std::time::SystemTime::from(older_than);
        let mut candidates = Vec::new();
        let mut tenants = tokio::fs::read_dir(&self.root).await?;
        while let Some(tenant) = tenants.next_entry().await? {
            if !tenant.file_type().await?.is_dir() {
                continue;
            }
            let mut files = tokio::fs::read_dir(tenant.path()).await?;
            while let Some(file) = files.next_entry().await? {
                // Only regular files are content; one removed meanwhile (a discarded upload's)
                // is passed over.
                let Ok(meta) = file.metadata().await else { continue };
                let name = file.file_name().to_string_lossy().into_owned();
                let old = meta.modified().is_ok_and(|modified| modified < cutoff);
                if let Some(blob) = super::blob_of_name(&format!("/{name}")).filter(|_| meta.is_file() && old) {
                    candidates.push((blob, file.path()));
                }
            }
        }
        let ids: Vec<uuid::Uuid> = candidates.iter().map(|(blob, _)| *blob).collect();
        let unowned = self.repo.unowned_content(&ids).await?;
        let mut removed = 0;
        for (_, path) in candidates.into_iter().filter(|(blob, _)| unowned.contains(blob)) {
            // One file that cannot go must not keep the others.
            match remove(&path).await {
                Ok(()) => removed += 1,
                Err(err) => tracing::warn!(error = %err, path = %path.display(), "could not remove orphaned content"),
            }
        }
        Ok(removed)
    }
}

struct StagedFile {
    /// `None` once finished.
    file: Option<tokio::fs::File>,
    part: PathBuf,
    path: PathBuf,
    dir: PathBuf,
}

#[async_trait]
impl StagedContent for StagedFile {
    async fn write(&mut self, chunks: &[Bytes]) -> StoreResult<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("write after finish".into()))?;
        for chunk in chunks {
            file.write_all(chunk).await?;
        }
        Ok(())
    }

    fn cleanup_id(&self) -> Option<String> {
        None
    }

    async fn finish(&mut self) -> StoreResult<()> {
        if let Some(mut file) = self.file.take() {
            file.flush().await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&self.part, &self.path).await?;
            sync_dir(&self.dir).await?;
        }
        Ok(())
    }
}
