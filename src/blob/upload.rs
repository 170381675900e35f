//! Streamed upload: body stream → size limit → SHA-256 and byte count → chunk writer,
//! all inside one transaction, so a failed upload leaves nothing behind.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::mime::{choose_mime, SNIFF_BYTES};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::ids::BlobId;
use crate::repo::{Blob, BlobWriter, NewBlob, Repo};

/// Limits applied to every upload.
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    pub max_blob_bytes: u64,
    /// How long the client may send nothing before the upload is abandoned.
    pub body_idle: Duration,
    pub chunk_bytes: usize,
}

/// What the client said about the file.
#[derive(Clone, Debug, Default)]
pub struct UploadSource {
    pub content_type: Option<String>,
    pub file_name: Option<String>,
}

/// Stores `body` as a new blob of the principal's tenant and returns it once durable.
pub async fn store_upload<S, E>(
    repo: &dyn Repo,
    principal: &Principal,
    source: UploadSource,
    body: S,
    limits: UploadLimits,
) -> Result<Blob, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut writer = repo.begin_blob(principal.tenant, BlobId::new()).await?;
    match write_chunks(writer.as_mut(), body, limits).await {
        Ok(written) => {
            let mime_type = choose_mime(
                source.content_type.as_deref(),
                source.file_name.as_deref(),
                &written.head,
            );
            let blob = NewBlob {
                hash_sha256: written.hash,
                size: written.size,
                chunk_bytes: i64::try_from(limits.chunk_bytes).map_err(ApiError::internal)?,
                mime_type,
                issuer: principal.issuer.clone(),
                subject: principal.subject.clone(),
                timestamp_accepted: chrono::Utc::now(),
            };
            Ok(writer.commit(blob).await?)
        }
        Err(err) => {
            writer.abort().await;
            Err(err)
        }
    }
}

struct Written {
    hash: String,
    size: i64,
    head: Vec<u8>,
}

/// Reads, counts and hashes the body while the previous chunk is being stored: the two
/// run concurrently, joined by a one-slot channel (memory: about three chunks).
async fn write_chunks<S, E>(
    writer: &mut dyn BlobWriter,
    body: S,
    limits: UploadLimits,
) -> Result<Written, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (chunks, mut to_store) = mpsc::channel::<Bytes>(1);
    let store = async move {
        let mut seq: i64 = 0;
        while let Some(chunk) = to_store.recv().await {
            writer.write_chunk(seq, &chunk).await?;
            seq += 1;
        }
        Ok::<_, ApiError>(())
    };
    let (read, stored) = tokio::join!(read_body(body, limits, chunks), store);
    // A storage error explains why reading stopped, so it comes first.
    stored?;
    read
}

async fn read_body<S, E>(
    mut body: S,
    limits: UploadLimits,
    chunks: mpsc::Sender<Bytes>,
) -> Result<Written, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let storage_stopped = || ApiError::internal(anyhow::anyhow!("chunk storage stopped"));
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head = Vec::new();
    let mut pending = BytesMut::with_capacity(limits.chunk_bytes);
    loop {
        let piece = match tokio::time::timeout(limits.body_idle, body.next()).await {
            Err(_) => {
                return Err(ApiError::RequestTimeout(format!(
                    "upload abandoned: no data for {} s",
                    limits.body_idle.as_secs()
                )))
            }
            Ok(None) => break,
            Ok(Some(Err(err))) => {
                return Err(ApiError::bad_request(format!(
                    "upload body was cut off or malformed: {err}"
                )))
            }
            Ok(Some(Ok(piece))) => piece,
        };
        size += piece.len() as u64;
        if size > limits.max_blob_bytes {
            return Err(ApiError::PayloadTooLarge(format!(
                "blob exceeds the maximum size of {} bytes",
                limits.max_blob_bytes
            )));
        }
        hasher.update(&piece);
        if head.len() < SNIFF_BYTES {
            let take = (SNIFF_BYTES - head.len()).min(piece.len());
            head.extend_from_slice(&piece[..take]);
        }
        pending.extend_from_slice(&piece);
        while pending.len() >= limits.chunk_bytes {
            let chunk = pending.split_to(limits.chunk_bytes).freeze();
            chunks.send(chunk).await.map_err(|_| storage_stopped())?;
        }
    }
    if !pending.is_empty() {
        chunks
            .send(pending.freeze())
            .await
            .map_err(|_| storage_stopped())?;
    }
    Ok(Written {
        hash: hex::encode(hasher.finalize()),
        size: i64::try_from(size).map_err(ApiError::internal)?,
        head,
    })
}
