//! The `s3://BUCKET[/PREFIX]` store, through `object_store`: `PREFIX/<tenant>/<blob>`.
//! Uploads go as multipart uploads of `PART_BYTES` parts (a blob smaller than one part is
//! one PUT), a few parts in flight at once, each sent with its SHA-256 checksum so the
//! transfer is checked; the object exists only once the upload completes. Its id is recorded
//! in the upload ledger, so a crash's leftovers can be aborted. Reads are ranged GETs.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, Checksum};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::task::JoinHandle;

use super::{object_name, ChunkSpan, ChunkStream, ContentId, ContentStore, StagedContent, StoreError, StoreResult};
use crate::repo::DynRepo;

/// Bytes per multipart part: S3 needs at least 5 MiB in every part but the last.
const PART_BYTES: usize = 8 << 20;
/// Parts uploaded at once by one upload (memory: this many parts plus one filling).
const PARTS_IN_FLIGHT: usize = 2;

/// How to reach the S3 service (the bucket and prefix come from the store URL).
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible service; AWS itself when unset.
    pub endpoint: Option<String>,
    pub region: String,
    /// Allow a plain-HTTP endpoint.
    pub allow_http: bool,
    /// How long a request may wait on the service (see `--s3-timeout`).
    pub timeout: Duration,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

pub struct S3Store {
    /// Every request but streamed reads, each bounded as a whole by the timeout.
    s3: Arc<AmazonS3>,
    /// Streamed reads: unbounded as a whole, since a download goes at its client's pace;
    /// `read` bounds the wait for the answer and for each next piece instead.
    reads: Arc<AmazonS3>,
    timeout: Duration,
    prefix: String,
    repo: DynRepo,
}

impl S3Store {
    pub async fn open(bucket: &str, prefix: &str, settings: &S3Settings, repo: DynRepo) -> anyhow::Result<Self> {
        let client = |options: ClientOptions| {
            client(bucket, settings, options.with_connect_timeout(Duration::from_secs(2)))
                .map_err(|e| anyhow::anyhow!("configuring the S3 store s3://{bucket}: {e}"))
        };
        let store = Self {
            s3: Arc::new(client(ClientOptions::new().with_timeout(settings.timeout))?),
            reads: Arc::new(client(ClientOptions::new().with_timeout_disabled())?),
            timeout: settings.timeout,
            prefix: prefix.to_string(),
            repo,
        };
        store
            .probe()
            .await
            .map_err(|err| anyhow::anyhow!("cannot use the S3 store s3://{bucket}: {err}"))?;
        Ok(store)
    }

    /// Fails at start, not on the first upload, on a wrong endpoint, key or bucket, an
    /// invalid bucket name, or a key that may read but not write or delete: it writes,
    /// reads back and deletes a small object.
    async fn probe(&self) -> object_store::Result<()> {
        let path = self.path_of(&format!(".attachd-probe/{}", uuid::Uuid::new_v4()));
        let written = Bytes::from_static(b"attachd start-up probe");
        self.s3.put(&path, written.clone().into()).await?;
        let read = self.s3.get(&path).await?.bytes().await?;
        self.s3.delete(&path).await?;
        if read == written {
            Ok(())
        } else {
            Err(object_store::Error::Generic {
                store: "S3",
                source: "the probe object read back differs from what was written".into(),
            })
        }
    }

    fn path_of(&self, name: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(name)
        } else {
            Path::from(format!("{}/{name}", self.prefix))
        }
    }

    fn path(&self, id: ContentId) -> Path {
        self.path_of(&object_name(id))
    }
}

/// A client for the log anchor's objects in `bucket` (conditional puts, If-Match on the
/// ETag read, are object_store's default for S3).
pub fn anchor_client(bucket: &str, settings: &S3Settings) -> anyhow::Result<Arc<dyn object_store::ObjectStore>> {
    let options = ClientOptions::new()
        .with_timeout(settings.timeout)
        .with_connect_timeout(Duration::from_secs(2));
    let client = client(bucket, settings, options)
        .map_err(|e| anyhow::anyhow!("configuring the log anchor in s3://{bucket}: {e}"))?;
    Ok(Arc::new(client))
}

fn client(bucket: &str, settings: &S3Settings, options: ClientOptions) -> object_store::Result<AmazonS3> {
    // Client options first: they replace what `with_allow_http` sets.
    let mut builder = AmazonS3Builder::new()
        .with_client_options(options)
        .with_bucket_name(bucket)
        .with_region(&settings.region)
        .with_allow_http(settings.allow_http)
        .with_checksum_algorithm(Checksum::SHA256)
        // An outage must be a fast 503, not minutes of retries.
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(500),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(5),
        });
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(key) = &settings.access_key_id {
        builder = builder.with_access_key_id(key);
    }
    if let Some(secret) = &settings.secret_access_key {
        builder = builder.with_secret_access_key(secret);
    }
    if let Some(token) = &settings.session_token {
        builder = builder.with_token(token);
    }
    builder.build()
}

/// The pieces of a streamed read, each awaited at most `timeout` (only while the reader
/// waits for it); a stall ends the stream with `Unavailable`.
fn stall_bounded(
    pieces: BoxStream<'static, StoreResult<Bytes>>,
    timeout: Duration,
) -> BoxStream<'static, StoreResult<Bytes>> {
    futures::stream::unfold(Some(pieces), move |pieces| async move {
        let mut pieces = pieces?;
        match tokio::time::timeout(timeout, pieces.next()).await {
            Ok(Some(piece)) => Some((piece, Some(pieces))),
            Ok(None) => None,
            Err(_) => Some((Err(stalled(timeout)), None)),
        }
    })
    .boxed()
}

fn stalled(timeout: Duration) -> StoreError {
    StoreError::Unavailable(format!("the S3 store sent nothing for {}s", timeout.as_secs()))
}

impl From<object_store::Error> for StoreError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => Self::NotFound,
            err => {
                let text = err.to_string();
                if says_full(&text) {
                    Self::Full(text)
                } else {
                    Self::Unavailable(text)
                }
            }
        }
    }
}

/// Whether the service's answer says it is out of space: HTTP 507, MinIO's
/// `XMinioStorageFull`, or a quota error code. `object_store` exposes the status only in the
/// error text, which also holds the request's URI; only what follows the URI is read, so an
/// id in a path cannot look like a status.
fn says_full(error: &str) -> bool {
    let Some(answer) = error.find("Server returned").map(|at| &error[at..]) else {
        return false;
    };
    ["507 Insufficient Storage", "StorageFull", "QuotaExceeded"]
        .iter()
        .any(|sign| answer.contains(sign))
}

#[async_trait]
impl ContentStore for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn stage(&self, id: ContentId) -> StoreResult<Box<dyn StagedContent>> {
        Ok(Box::new(StagedObject {
            s3: self.s3.clone(),
            path: self.path(id),
            filling: Vec::new(),
            filled: 0,
            upload: None,
            in_flight: VecDeque::new(),
            parts: Vec::new(),
            finished: false,
        }))
    }

    async fn read(&self, id: ContentId, span: ChunkSpan) -> StoreResult<ChunkStream> {
        let bytes = span.bytes();
        let path = self.path(id);
        if bytes.is_empty() {
            let meta = self.s3.head(&path).await?;
            return if meta.size == span.size {
                Ok(Box::pin(futures::stream::empty()))
            } else {
                Err(StoreError::NotFound)
            };
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(bytes)),
            ..GetOptions::default()
        };
        let got = tokio::time::timeout(self.timeout, self.reads.get_opts(&path, options))
            .await
            .map_err(|_| stalled(self.timeout))??;
        if got.meta.size != span.size {
            // Replaced by something longer or shorter: not the content that was stored.
            return Err(StoreError::NotFound);
        }
        let chunk_bytes = usize::try_from(span.chunk_bytes).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let pieces = got.into_stream().map_err(StoreError::from).boxed();
        Ok(super::rechunk(stall_bounded(pieces, self.timeout), chunk_bytes))
    }

    async fn discard(&self, id: ContentId, cleanup: Option<&str>) -> StoreResult<()> {
        let path = self.path(id);
        if let Some(upload) = cleanup {
            match self.s3.abort_multipart(&path, &upload.to_string()).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        match self.s3.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    async fn sweep_orphans(&self, older_than: DateTime<Utc>) -> StoreResult<u64> {
        let root = (!self.prefix.is_empty()).then(|| Path::from(self.prefix.as_str()));
        let mut listing = self.s3.list(root.as_ref());
        let mut removed = 0;
        let mut batch = Vec::new();
        loop {
            let next = listing.next().await.transpose()?;
            if let Some(meta) = &next {
                if meta.last_modified < older_than {
                    if let Some(blob) = super::blob_of_name(meta.location.as_ref()) {
                        batch.push((blob, meta.location.clone()));
                    }
                }
            }
            if batch.len() >= 500 || (next.is_none() && !batch.is_empty()) {
                let ids: Vec<uuid::Uuid> = batch.iter().map(|(blob, _)| *blob).collect();
                let unowned = self.repo.unowned_content(&ids).await?;
                for (_, path) in batch.drain(..).filter(|(blob, _)| unowned.contains(blob)) {
                    // One object the service refuses to delete must not keep the others; a
                    // service that cannot be reached ends the sweep.
                    match self.s3.delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => removed += 1,
                        Err(err @ object_store::Error::PermissionDenied { .. }) => {
                            tracing::warn!(error = %err, %path, "could not remove orphaned content");
                        }
                        Err(err) => return Err(err.into()),
                    }
                }
            }
            if next.is_none() {
                return Ok(removed);
            }
        }
    }
}

struct StagedObject {
    s3: Arc<AmazonS3>,
    path: Path,
    /// Chunks of the part being filled.
    filling: Vec<Bytes>,
    filled: usize,
    /// The multipart upload, once the content outgrows one part.
    upload: Option<String>,
    in_flight: VecDeque<JoinHandle<object_store::Result<PartId>>>,
    parts: Vec<PartId>,
    finished: bool,
}

impl StagedObject {
    /// Sends the filled part, waiting first for the oldest if too many are in flight.
    async fn send_part(&mut self) -> StoreResult<()> {
        let upload = match &self.upload {
            Some(upload) => upload.clone(),
            None => {
                let upload = self.s3.create_multipart(&self.path).await?;
                self.upload = Some(upload.clone());
                upload
            }
        };
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.await_oldest().await?;
        }
        let payload: object_store::PutPayload = std::mem::take(&mut self.filling).into_iter().collect();
        self.filled = 0;
        let (s3, path, index) = (
            self.s3.clone(),
            self.path.clone(),
            self.parts.len() + self.in_flight.len(),
        );
        self.in_flight.push_back(tokio::spawn(async move {
            s3.put_part(&path, &upload, index, payload).await
        }));
        Ok(())
    }

    async fn await_oldest(&mut self) -> StoreResult<()> {
        if let Some(part) = self.in_flight.pop_front() {
            let part = part.await.map_err(|e| StoreError::Unavailable(e.to_string()))??;
            self.parts.push(part);
        }
        Ok(())
    }
}

impl Drop for StagedObject {
    fn drop(&mut self) {
        // Abandoned: stop sending; `discard` aborts the upload itself.
        for part in &self.in_flight {
            part.abort();
        }
    }
}

#[async_trait]
impl StagedContent for StagedObject {
    async fn write(&mut self, chunks: &[Bytes]) -> StoreResult<()> {
        for chunk in chunks {
            self.filled += chunk.len();
            self.filling.push(chunk.clone());
            if self.filled >= PART_BYTES {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    fn cleanup_id(&self) -> Option<String> {
        self.upload.clone()
    }

    async fn finish(&mut self) -> StoreResult<()> {
        if self.finished {
            return Ok(());
        }
        let Some(upload) = self.upload.clone() else {
            let payload: object_store::PutPayload = std::mem::take(&mut self.filling).into_iter().collect();
            self.s3.put(&self.path, payload).await?;
            self.finished = true;
            return Ok(());
        };
        if self.filled > 0 {
            self.send_part().await?;
        }
        while !self.in_flight.is_empty() {
            self.await_oldest().await?;
        }
        self.s3
            .complete_multipart(&self.path, &upload, std::mem::take(&mut self.parts))
            .await?;
        self.finished = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::says_full;

    const PUT: &str =
        "Generic S3 error: Error performing PUT http://127.0.0.1:8333/b/p/0f3c5071-aa00-4b2e-9507-d1e2f3a4b5c6 in 12ms";

    #[test]
    fn a_full_store_is_told_by_its_answer_not_by_the_uri() {
        let answer = |tail: &str| format!("{PUT} - Server returned non-2xx status code: {tail}");
        assert!(says_full(&answer("507 Insufficient Storage: ")));
        assert!(says_full(&answer(
            "500 Internal Server Error: <Error><Code>XMinioStorageFull</Code></Error>"
        )));
        assert!(!says_full(&answer(
            "500 Internal Server Error: <Error><Code>InternalError</Code><Key>p/0f3c5071-aa00-4b2e-9507</Key></Error>"
        )));
        assert!(!says_full(&format!("{PUT}: error sending request: connection refused")));
    }
}
