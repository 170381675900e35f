//! Verified download: every byte sent is checked before it goes out.
//!
//! A whole blob is hashed as it streams, and the last piece is held back until its SHA-256
//! matches every recorded hash: a mismatch never looks like success (small blobs fail before
//! the first byte, larger ones have their connection cut before the final piece). A byte
//! range reads only the chunks it touches and checks each chunk's keyed MAC before sending
//! any of its bytes; blobs without MACs (stored before them, or under another key) fall back
//! to hashing the whole blob.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::chunk_mac::{ChunkContext, MAC_BYTES};
use super::range::{ByteRange, RangeRequest};
use super::BlobError;
use super::Content;
use crate::ids::{BlobId, TenantId};
use crate::repo::{Blob, DynRepo};
use crate::store::{ChunkSpan, ContentId, StoreError, StoreResult};

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

/// A verified download, ready to send: what it is and the checked bytes.
pub struct Download {
    /// The blob's size in bytes.
    pub size: u64,
    /// The one range asked for, or None for the whole blob.
    pub range: Option<ByteRange>,
    /// The recorded MIME type (checked only when sent as a header).
    pub mime_type: String,
    /// The blob's SHA-256 (hex), its entity tag.
    pub hash: String,
    /// The name the client should save the content as, where one is known.
    pub file_name: Option<String>,
    pub body: DownloadBody,
}

/// The bytes of a download: verified already, or verified as they stream (an error ends
/// the stream before its last piece, so a failed check never looks like success).
pub enum DownloadBody {
    Whole(Bytes),
    Streamed(BoxStream<'static, Result<Bytes, BlobError>>),
}

/// Streams `blob` (or one range of it) after or while verifying its content, once its
/// record is proven to be in the tenant's signed log. The content is read while the log is
/// checked; nothing is sent until the record is proven.
pub async fn verified_download(
    repo: DynRepo,
    content: &Content,
    blob: Blob,
    check: DownloadCheck,
    range_header: Option<&str>,
) -> Result<Download, BlobError> {
    let route = check.route;
    if blob.tampered_at.is_some() {
        // Proven before any byte is read, so that a whole download hashing right may clear
        // the mark (`Verifier::verify`).
        prove_record(&repo, content, &blob, route).await?;
        return stream_verified(repo.clone(), content, blob, check, range_header).await;
    }
    let (proven, response) = tokio::join!(
        prove_record(&repo, content, &blob, route),
        stream_verified(repo.clone(), content, blob.clone(), check, range_header)
    );
    proven?;
    response
}

/// Proves the blob's record (its hash, size, chunking and MAC key) is in the tenant's
/// signed log; a record that is not is refused as altered content.
pub async fn prove_record(
    repo: &DynRepo,
    content: &Content,
    blob: &Blob,
    route: &'static str,
) -> Result<(), BlobError> {
    use crate::log::prove::{check_blob, ProofError};
    match check_blob(repo.as_ref(), &content.log, blob).await {
        Ok(()) => Ok(()),
        Err(ProofError::Failed(why)) => {
            let (tenant, id) = (TenantId(blob.tenant_id), BlobId(blob.id));
            Err(integrity_failure(repo, content, tenant, id, route, &why).await)
        }
        Err(ProofError::Refused(why)) => Err(refused(BlobId(blob.id), &why)),
        Err(ProofError::Unavailable(why)) => Err(BlobError::Unavailable(why)),
        Err(ProofError::Repo(err)) => Err(err.into()),
        Err(ProofError::Other(err)) => Err(BlobError::internal(err)),
    }
}

async fn stream_verified(
    repo: DynRepo,
    content: &Content,
    blob: Blob,
    check: DownloadCheck,
    range_header: Option<&str>,
) -> Result<Download, BlobError> {
    let whole = ChunkSpan::recorded(blob.size, blob.chunk_bytes);
    let Some(whole) = whole.filter(|_| super::references::is_sha256_hex(&blob.hash_sha256)) else {
        let (tenant, id) = (TenantId(blob.tenant_id), BlobId(blob.id));
        let why = "its recorded size, chunk size or hash is invalid";
        return Err(integrity_failure(&repo, content, tenant, id, check.route, why).await);
    };
    let size = whole.size;
    let range = match ByteRange::parse(range_header, size) {
        RangeRequest::Full => None,
        RangeRequest::Partial(range) => Some(range),
        RangeRequest::Unsatisfiable => return Err(BlobError::RangeNotSatisfiable(size)),
    };
    let file_name = check.file_name.clone();
    let mut verifier = Verifier::new(repo, content, &blob, whole, check, range).await?;
    let body = if verifier.span.count <= 1 {
        // One chunk to read: verify it before the response starts.
        let mut pieces = Vec::new();
        while let Some(piece) = verifier.next_piece().await? {
            pieces.push(piece);
        }
        DownloadBody::Whole(Bytes::from(pieces.concat()))
    } else {
        DownloadBody::Streamed(
            futures::stream::unfold(Some(verifier), |verifier| async move {
                let mut verifier = verifier?;
                match verifier.next_piece().await {
                    Ok(Some(piece)) => Some((Ok(piece), Some(verifier))),
                    Ok(None) => None,
                    Err(err) => Some((Err(err), None)),
                }
            })
            .boxed(),
        )
    };
    Ok(Download {
        size,
        range,
        mime_type: blob.mime_type,
        hash: blob.hash_sha256,
        file_name,
        body,
    })
}

/// Chunks read ahead of the one being checked and sent.
const READ_AHEAD: usize = 2;

/// How the chunks read are checked.
enum Check {
    /// Hash every chunk; the whole blob's SHA-256 must match before the last piece goes.
    Whole(Sha256),
    /// Each chunk's MAC (`MAC_BYTES` per chunk of the span, in order) must match before
    /// any of its bytes go.
    Macs(Vec<u8>),
}

struct Verifier {
    repo: DynRepo,
    content: Content,
    tenant: TenantId,
    blob: BlobId,
    size: u64,
    span: ChunkSpan,
    stored_hash: String,
    check: DownloadCheck,
    range: Option<ByteRange>,
    mode: Check,
    next_seq: u64,
    offset: u64,
    /// The last piece to send, held until the next one exists or the hash is verified.
    held: Option<Bytes>,
    /// Chunks in order, read by their own task ahead of checking and sending.
    chunks: Option<mpsc::Receiver<StoreResult<Bytes>>>,
    verified: bool,
    failed: bool,
    /// The blob was marked tampered: a whole download that proves it genuine clears that.
    marked_tampered: bool,
}

impl Verifier {
    async fn new(
        repo: DynRepo,
        content: &Content,
        blob: &Blob,
        whole: ChunkSpan,
        check: DownloadCheck,
        range: Option<ByteRange>,
    ) -> Result<Self, BlobError> {
        let (size, chunk_bytes) = (whole.size, whole.chunk_bytes);
        let mut verifier = Self {
            repo,
            content: content.clone(),
            tenant: TenantId(blob.tenant_id),
            blob: BlobId(blob.id),
            size,
            span: whole,
            stored_hash: blob.hash_sha256.clone(),
            check,
            range,
            mode: Check::Whole(Sha256::new()),
            next_seq: 0,
            offset: 0,
            held: None,
            chunks: None,
            verified: false,
            failed: false,
            marked_tampered: blob.tampered_at.is_some(),
        };
        let chunks_of_range = range.and_then(|range| {
            let first = range.start / chunk_bytes.max(1);
            let count = range.end / chunk_bytes.max(1) + 1 - first;
            Some((first, count, i64::try_from(first).ok()?, i64::try_from(count).ok()?))
        });
        if let Some((first, count, from, many)) = chunks_of_range {
            let macs = verifier
                .repo
                .chunk_macs(verifier.blob, content.macs.id(), from, many)
                .await?;
            // The record (anchored in the log) says whether MACs were made under this key.
            if macs.is_none() && !blob.chunk_mac_key.is_empty() && blob.chunk_mac_key == content.macs.id() {
                return Err(verifier.integrity_failure("its chunk MACs are missing").await);
            }
            if let Some(macs) = macs {
                let span = ChunkSpan { first, count, ..whole };
                if !verifier.expected_all_match(&verifier.stored_hash) {
                    return Err(verifier.hash_mismatch(&verifier.stored_hash.clone()).await);
                }
                verifier.span = span;
                verifier.next_seq = first;
                verifier.offset = span.bytes().start;
                verifier.mode = Check::Macs(macs);
            }
        }
        // Opened before the response starts: a store that is down or has lost the content
        // answers with an error status, not a cut transfer.
        verifier.chunks = Some(verifier.start_reading().await?);
        Ok(verifier)
    }

    /// The next piece to send; `Err` once the content proves altered or unreadable.
    async fn next_piece(&mut self) -> Result<Option<Bytes>, BlobError> {
        if self.failed {
            return Ok(None);
        }
        let result = self.advance().await;
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    async fn advance(&mut self) -> Result<Option<Bytes>, BlobError> {
        let end_seq = self.span.first + self.span.count;
        loop {
            if self.verified {
                let last = self.held.take();
                if let Some(last) = &last {
                    metrics::counter!(crate::metrics::DOWNLOADED_BYTES).increment(last.len() as u64);
                }
                return Ok(last);
            }
            if self.next_seq == end_seq {
                self.verify().await?;
                self.verified = true;
                continue;
            }
            let chunk = match self.chunks.as_mut() {
                Some(chunks) => chunks.recv().await,
                None => None,
            };
            let chunk = match chunk {
                Some(Ok(chunk)) => chunk,
                None | Some(Err(StoreError::NotFound)) => {
                    return Err(self
                        .integrity_failure("the stored content is missing or cut short")
                        .await)
                }
                Some(Err(err)) => return Err(err.into()),
            };
            self.check_chunk(&chunk).await?;
            self.next_seq += 1;
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

    /// Starts the task reading the span's chunks ahead of checking.
    async fn start_reading(&mut self) -> Result<mpsc::Receiver<StoreResult<Bytes>>, BlobError> {
        let id = ContentId {
            tenant: self.tenant,
            blob: self.blob,
        };
        let mut stream = match self.content.store.read(id, self.span).await {
            Ok(stream) => stream,
            Err(StoreError::NotFound) => {
                return Err(self
                    .integrity_failure("the stored content is missing or has the wrong length")
                    .await)
            }
            Err(err) => return Err(err.into()),
        };
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        tokio::spawn(async move {
            while let Some(chunk) = stream.next().await {
                let failed = chunk.is_err();
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// Hashes a chunk, or checks its MAC.
    async fn check_chunk(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        match &mut self.mode {
            Check::Whole(hasher) => {
                hasher.update(chunk);
                Ok(())
            }
            Check::Macs(macs) => {
                let at = usize::try_from(self.next_seq - self.span.first).map_err(BlobError::internal)? * MAC_BYTES;
                let expected = macs.get(at..at + MAC_BYTES).unwrap_or_default();
                let context = ChunkContext {
                    blob: self.blob.0,
                    hash: &self.stored_hash,
                    size: self.size,
                };
                if self.content.macs.verify(context, self.next_seq, chunk, expected) {
                    Ok(())
                } else {
                    let why = format!("chunk {} does not match its MAC", self.next_seq);
                    Err(self.integrity_failure(&why).await)
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

    async fn verify(&mut self) -> Result<(), BlobError> {
        if self.offset != self.span.bytes().end {
            return Err(self.integrity_failure("the stored content has the wrong length").await);
        }
        let Check::Whole(hasher) = &mut self.mode else {
            // Every chunk passed its MAC, which binds the recorded hash (checked up front).
            return Ok(());
        };
        let computed = hex::encode(std::mem::take(hasher).finalize());
        if computed != self.stored_hash || !self.expected_all_match(&computed) {
            return Err(self.hash_mismatch(&computed).await);
        }
        if self.marked_tampered && self.range.is_none() {
            // Every byte hashed to the recorded hash, and the record was proven in the log
            // before the response started: the mark came from a verdict since re-checked.
            match self.repo.clear_tampered(self.tenant, self.blob).await {
                Ok(true) => tracing::warn!(tenant = %self.tenant, blob = %self.blob,
                    "the blob proved genuine: its tampered mark is cleared"),
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, blob = %self.blob, "could not clear the tampered mark"),
            }
            self.marked_tampered = false;
        }
        Ok(())
    }

    /// Whether every referencing hash is `hash`.
    fn expected_all_match(&self, hash: &str) -> bool {
        self.check
            .expected
            .iter()
            .all(|expected| expected.eq_ignore_ascii_case(hash))
    }

    async fn hash_mismatch(&self, computed: &str) -> BlobError {
        tracing::error!(
            tenant = %self.tenant,
            blob = %self.blob,
            route = self.check.route,
            stored = %self.stored_hash,
            expected = ?self.check.expected,
            computed = %computed,
            "integrity failure: content does not match its recorded hash"
        );
        self.integrity_failure("the content hash differs").await
    }

    async fn integrity_failure(&self, why: &str) -> BlobError {
        integrity_failure(&self.repo, &self.content, self.tenant, self.blob, self.check.route, why).await
    }
}

/// A blob of a tenant whose log is refused as a whole: not delivered, but not marked
/// either (the sealer reported the tenant, and checks it again each round).
pub fn refused(blob: BlobId, why: &str) -> BlobError {
    BlobError::DataLoss(format!(
        "{blob} cannot be proven to be what was recorded ({why}); it will not be delivered"
    ))
}

/// Logs and counts a blob refused as altered, marks it tampered, names the tenant in
/// `/readyz`, and the error to answer.
async fn integrity_failure(
    repo: &DynRepo,
    content: &Content,
    tenant: TenantId,
    blob: BlobId,
    route: &'static str,
    why: &str,
) -> BlobError {
    tracing::error!(tenant = %tenant, blob = %blob, route, why, "refusing to deliver blob");
    metrics::counter!(crate::metrics::INTEGRITY_FAILURES, "route" => route).increment(1);
    content.log.trust.failed(tenant, &format!("blob {blob}: {why}"));
    if let Err(err) = repo.mark_tampered(tenant, blob).await {
        tracing::error!(error = %err, blob = %blob, "could not mark blob as tampered");
    }
    BlobError::DataLoss(format!(
        "the stored content of {blob} no longer matches its recorded hash ({why}); it will not be delivered"
    ))
}
