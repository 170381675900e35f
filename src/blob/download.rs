//! Verified download: every byte sent is hashed, and the last piece is held back until
//! the whole blob's SHA-256 matches every recorded hash. A mismatch therefore never
//! looks like success: small blobs fail before the first byte, larger ones have their
//! connection cut before the final piece.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::range::{ByteRange, RangeRequest};
use crate::error::ApiError;
use crate::ids::{BlobId, TenantId};
use crate::repo::{Blob, DynRepo, RepoResult};
use tokio::sync::mpsc;

/// What a download must prove besides the blob's own stored hash.
#[derive(Clone, Debug, Default)]
pub struct DownloadCheck {
    /// The route, for the log line of an integrity failure.
    pub route: &'static str,
    /// Hashes recorded by referencing attributes (hex SHA-256).
    pub expected: Vec<String>,
    /// The name the client should save the content as, where one is known.
    pub file_name: Option<String>,
}

/// Streams `blob` (or one range of it) after or while verifying its content.
pub async fn verified_download(
    repo: DynRepo,
    blob: Blob,
    check: DownloadCheck,
    range_header: Option<&str>,
) -> Result<Response, ApiError> {
    let size = u64::try_from(blob.size).map_err(ApiError::internal)?;
    let range = match ByteRange::parse(range_header, size) {
        RangeRequest::Full => None,
        RangeRequest::Partial(range) => Some(range),
        RangeRequest::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable(size)),
    };
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, header_value(&blob.mime_type)?)
        .header(header::ETAG, header_value(&format!("\"{}\"", blob.hash_sha256))?)
        .header(header::ACCEPT_RANGES, "bytes");
    builder = match range {
        Some(r) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_LENGTH, r.byte_count())
            .header(header::CONTENT_RANGE, format!("bytes {}-{}/{}", r.start, r.end, size)),
        None => builder.status(StatusCode::OK).header(header::CONTENT_LENGTH, size),
    };

    if let Some(headers) = builder.headers_mut() {
        super::headers::content_headers(headers, check.file_name.as_deref());
    }
    let mut verifier = Verifier::new(repo, &blob, check, range)?;
    let body = if blob.chunk_count() <= 1 {
        // Fits in one chunk: verify before the response starts.
        let mut pieces = Vec::new();
        while let Some(piece) = verifier.next_piece().await? {
            pieces.push(piece);
        }
        Body::from(pieces.concat())
    } else {
        Body::from_stream(futures::stream::unfold(verifier, |mut verifier| async move {
            match verifier.next_piece().await {
                Ok(Some(piece)) => Some((Ok(piece), verifier)),
                Ok(None) => None,
                Err(err) => Some((Err(std::io::Error::other(err.to_string())), verifier)),
            }
        }))
    };
    builder.body(body).map_err(ApiError::internal)
}

fn header_value(value: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(value).map_err(ApiError::internal)
}

/// Chunks read ahead of the one being hashed and sent.
const READ_AHEAD: usize = 2;

/// Reads chunks `0..count` in order into `tx`; stops at the first gap or error, or when
/// the download is dropped.
async fn read_chunks(
    repo: DynRepo,
    tenant: TenantId,
    blob: BlobId,
    count: i64,
    tx: mpsc::Sender<RepoResult<Option<Vec<u8>>>>,
) {
    for seq in 0..count {
        let chunk = repo.blob_chunk(tenant, blob, seq).await;
        let last = !matches!(chunk, Ok(Some(_)));
        if tx.send(chunk).await.is_err() || last {
            return;
        }
    }
}

struct Verifier {
    repo: DynRepo,
    tenant: TenantId,
    blob: BlobId,
    size: u64,
    chunk_count: i64,
    stored_hash: String,
    check: DownloadCheck,
    range: Option<ByteRange>,
    next_seq: i64,
    offset: u64,
    hasher: Sha256,
    /// The last piece to send, held until the next one exists or the hash is verified.
    held: Option<Bytes>,
    /// Chunks in order, read by their own task ahead of hashing and sending.
    chunks: Option<mpsc::Receiver<RepoResult<Option<Vec<u8>>>>>,
    verified: bool,
    failed: bool,
}

impl Verifier {
    fn new(repo: DynRepo, blob: &Blob, check: DownloadCheck, range: Option<ByteRange>) -> Result<Self, ApiError> {
        Ok(Self {
            repo,
            tenant: TenantId(blob.tenant_id),
            blob: BlobId(blob.id),
            size: u64::try_from(blob.size).map_err(ApiError::internal)?,
            chunk_count: blob.chunk_count(),
            stored_hash: blob.hash_sha256.clone(),
            check,
            range,
            next_seq: 0,
            offset: 0,
            hasher: Sha256::new(),
            held: None,
            chunks: None,
            verified: false,
            failed: false,
        })
    }

    /// The next piece to send; `Err` once the content proves altered or unreadable.
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ApiError> {
        if self.failed {
            return Ok(None);
        }
        let result = self.advance().await;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    async fn advance(&mut self) -> Result<Option<Bytes>, ApiError> {
        loop {
            if self.verified {
                let last = self.held.take();
                if let Some(last) = &last {
                    metrics::counter!(crate::metrics::DOWNLOADED_BYTES).increment(last.len() as u64);
                }
                return Ok(last);
            }
            if self.next_seq == self.chunk_count {
                self.verify().await?;
                self.verified = true;
                continue;
            }
            let chunks = self.chunks.get_or_insert_with(|| {
                let (tx, rx) = mpsc::channel(READ_AHEAD);
                tokio::spawn(read_chunks(
                    self.repo.clone(),
                    self.tenant,
                    self.blob,
                    self.chunk_count,
                    tx,
                ));
                rx
            });
            let chunk = chunks.recv().await.transpose()?.flatten();
            let Some(chunk) = chunk.map(Bytes::from) else {
                return Err(self.integrity_failure("a content chunk is missing").await);
            };
            self.next_seq += 1;
            self.hasher.update(&chunk);
            let chunk_start = self.offset;
            self.offset += chunk.len() as u64;
            if let Some(piece) = self.slice_for_range(chunk, chunk_start) {
                if let Some(previous) = self.held.replace(piece) {
                    metrics::counter!(crate::metrics::DOWNLOADED_BYTES).increment(previous.len() as u64);
                    return Ok(Some(previous));
                }
            }
        }
    }

    /// The part of a chunk starting at `chunk_start` that the requested range covers.
    fn slice_for_range(&self, chunk: Bytes, chunk_start: u64) -> Option<Bytes> {
        let Some(range) = self.range else {
            return (!chunk.is_empty()).then_some(chunk);
        };
        let chunk_end = chunk_start + chunk.len() as u64; // exclusive
        let from = range.start.max(chunk_start);
        let to = (range.end + 1).min(chunk_end);
        if from >= to {
            return None;
        }
        let from = usize::try_from(from - chunk_start).ok()?;
        let to = usize::try_from(to - chunk_start).ok()?;
        Some(chunk.slice(from..to))
    }

    async fn verify(&mut self) -> Result<(), ApiError> {
        let computed = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if self.offset != self.size {
            return Err(self.integrity_failure("the stored content has the wrong length").await);
        }
        let matches_all = computed == self.stored_hash
            && self
                .check
                .expected
                .iter()
                .all(|expected| expected.eq_ignore_ascii_case(&computed));
        if !matches_all {
            tracing::error!(
                tenant = %self.tenant,
                blob = %self.blob,
                route = self.check.route,
                stored = %self.stored_hash,
                expected = ?self.check.expected,
                computed = %computed,
                "integrity failure: content does not match its recorded hash"
            );
            return Err(self.integrity_failure("the content hash differs").await);
        }
        Ok(())
    }

    async fn integrity_failure(&self, why: &str) -> ApiError {
        tracing::error!(tenant = %self.tenant, blob = %self.blob, route = self.check.route, why, "refusing to deliver blob");
        metrics::counter!(crate::metrics::INTEGRITY_FAILURES, "route" => self.check.route).increment(1);
        if let Err(err) = self.repo.mark_tampered(self.tenant, self.blob).await {
            tracing::error!(error = %err, blob = %self.blob, "could not mark blob as tampered");
        }
        ApiError::DataLoss(format!(
            "the stored content of {} no longer matches its recorded hash ({why}); it will not be delivered",
            self.blob
        ))
    }
}
