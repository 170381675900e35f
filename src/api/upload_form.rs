//! Reading a multipart upload: one `file` part streamed into storage, plus the short text
//! parts a route names. Anything else is refused rather than dropped, and the blob stays
//! pending until the body has ended.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::Multipart;
use axum::http::{header, HeaderMap};

use super::without_nul;
use crate::auth::Principal;
use crate::blob::{store_upload, too_large, PendingBlob, UploadSource};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Multipart framing and other form parts a client may send around the file.
const MULTIPART_OVERHEAD: u64 = 1 << 20;

/// The longest text part, in bytes.
pub const MAX_TEXT_PART: usize = 4096;

/// After refusing an upload, at most this much of the rest of its body is read and thrown
/// away, so a client still sending can finish and read the error instead of a broken pipe
/// (hyper has no lingering close). Clients sending `Expect: 100-continue` send nothing.
const DRAIN_BYTES: u64 = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A stored but uncommitted file and the text parts sent with it.
pub struct Upload {
    pub blob: PendingBlob,
    pub file_name: Option<String>,
    pub text: BTreeMap<String, String>,
}

/// Reads a form of one `file` part and at most one of each part in `text_parts`, in any order.
pub async fn read_upload(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
    text_parts: &[&str],
) -> ApiResult<Upload> {
    let limits = state.upload_limits;
    let mut multipart =
        multipart.map_err(|r| ApiError::bad_request(format!("expected multipart/form-data: {}", r.body_text())))?;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared_length.filter(|len| *len > limits.max_blob_bytes.saturating_add(MULTIPART_OVERHEAD)) {
        let expects_continue = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !expects_continue && len <= DRAIN_BYTES {
            Drain::new().rest(&mut multipart).await;
        }
        return Err(too_large(limits.max_blob_bytes));
    }
    let mut text = BTreeMap::new();
    let mut file: Option<(PendingBlob, Option<String>)> = None;
    let outcome = loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break Ok(()),
            Err(err) => break Err(malformed(err)),
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" && file.is_none() {
            let source = UploadSource {
                content_type: field.content_type().map(str::to_string),
                file_name: field.file_name().map(str::to_string),
            };
            let file_name = source.file_name.clone();
            match store_upload(state.repo.as_ref(), principal, source, &mut field, limits).await {
                Ok(pending) => file = Some((pending, file_name)),
                Err(err @ ApiError::PayloadTooLarge(_)) => {
                    let mut drain = Drain::new();
                    if drain.field(&mut field).await {
                        drop(field);
                        drain.rest(&mut multipart).await;
                    }
                    break Err(err);
                }
                Err(err) => break Err(err),
            }
        } else if text_parts.contains(&name.as_str()) && !text.contains_key(&name) {
            match read_text(&name, &mut field).await {
                Ok(value) => text.insert(name, value),
                Err(err) => break Err(err),
            };
        } else {
            drop(field);
            // Roll back before draining: on SQLite the pending blob holds the write gate.
            if let Some((blob, _)) = file.take() {
                blob.abort().await;
            }
            Drain::new().rest(&mut multipart).await;
            break Err(unexpected_part(&name, file.is_some(), text_parts));
        }
    };
    match (outcome, file) {
        (Ok(()), Some((blob, file_name))) => Ok(Upload { blob, file_name, text }),
        (Ok(()), None) => Err(ApiError::bad_request("missing form part \"file\"")),
        (Err(err), pending) => {
            if let Some((blob, _)) = pending {
                blob.abort().await;
            }
            Err(err)
        }
    }
}

fn malformed(err: MultipartError) -> ApiError {
    ApiError::bad_request(format!("malformed multipart body: {err}"))
}

fn unexpected_part(name: &str, had_file: bool, text_parts: &[&str]) -> ApiError {
    let what = if had_file && name == "file" {
        "a second form part \"file\"".to_string()
    } else {
        format!("unexpected form part {name:?}")
    };
    let expected = if text_parts.is_empty() {
        "send the file as the one part named \"file\"".to_string()
    } else {
        format!("send one part named \"file\" and at most one of each of {text_parts:?}")
    };
    ApiError::bad_request(format!("{what}: {expected}"))
}

async fn read_text(name: &str, field: &mut Field<'_>) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(piece) = field.chunk().await.map_err(malformed)? {
        bytes.extend_from_slice(&piece);
        if bytes.len() > MAX_TEXT_PART {
            return Err(ApiError::bad_request(format!(
                "form part {name:?} is longer than {MAX_TEXT_PART} bytes"
            )));
        }
    }
    let text =
        String::from_utf8(bytes).map_err(|_| ApiError::bad_request(format!("form part {name:?} is not UTF-8")))?;
    without_nul(&text, &format!("form part {name:?}"))?;
    Ok(text)
}

/// Reads and discards what is left of a refused upload, within `DRAIN_BYTES` and `DRAIN_TIME`.
struct Drain {
    left: u64,
    deadline: tokio::time::Instant,
}

impl Drain {
    fn new() -> Self {
        Self {
            left: DRAIN_BYTES,
            deadline: tokio::time::Instant::now() + DRAIN_TIME,
        }
    }

    /// False once the budget is spent.
    async fn field(&mut self, field: &mut Field<'_>) -> bool {
        loop {
            match tokio::time::timeout_at(self.deadline, field.chunk()).await {
                Ok(Ok(Some(piece))) => match self.left.checked_sub(piece.len() as u64) {
                    Some(left) => self.left = left,
                    None => return false,
                },
                Ok(Ok(None)) => return true,
                Ok(Err(_)) | Err(_) => return false,
            }
        }
    }

    async fn rest(&mut self, multipart: &mut Multipart) {
        while let Ok(Ok(Some(mut field))) = tokio::time::timeout_at(self.deadline, multipart.next_field()).await {
            if !self.field(&mut field).await {
                return;
            }
        }
    }
}
