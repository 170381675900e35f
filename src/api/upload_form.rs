//! Reading a multipart upload: one `file` part streamed into storage, plus the short text
//! parts a route names. Anything else is refused rather than dropped, and the blob stays
//! pending until the body has ended.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};

use super::multipart::{MultipartReader, PartHeaders};
use super::without_nul;
use crate::auth::Principal;
use crate::blob::{store_upload, too_large, PendingBlob, UploadSource, Uploader};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Multipart framing and other form parts a client may send around the file.
const MULTIPART_OVERHEAD: u64 = 1 << 20;

/// The longest text part, in bytes.
pub const MAX_TEXT_PART: usize = 4096;

/// After refusing an upload, at most this much of the rest of its body is read and thrown
/// away, so a client still sending can finish and read the error instead of a broken pipe
/// (hyper has no lingering close). Clients sending `Expect: 100-continue` send nothing.
const DRAIN_BYTES: u64 = 64 << 20;
/// What may follow a form's closing boundary (its epilogue, ignored).
const EPILOGUE_BYTES: u64 = 64 << 10;
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
    body: Body,
    text_parts: &[&str],
) -> ApiResult<Upload> {
    let limits = state.upload_limits;
    let mut form = MultipartReader::new(headers, body, limits.body_idle)?;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared_length.filter(|len| *len > limits.max_blob_bytes.saturating_add(MULTIPART_OVERHEAD)) {
        let expects_continue = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !expects_continue && len <= DRAIN_BYTES {
            form.drain(DRAIN_BYTES, DRAIN_TIME).await;
        }
        return Err(too_large(limits.max_blob_bytes).into());
    }
    let mut text = BTreeMap::new();
    let mut file: Option<(PendingBlob, Option<String>)> = None;
    let outcome = read_parts(
        state,
        principal,
        &mut form,
        declared_length,
        text_parts,
        &mut text,
        &mut file,
    )
    .await;
    // The form ended; the request must end too, cleanly, before anything is published.
    let outcome = match outcome {
        Ok(()) => form.finish(EPILOGUE_BYTES).await,
        Err(err) => Err(err),
    };
    match (outcome, file) {
        (Ok(()), Some((blob, file_name))) => Ok(Upload { blob, file_name, text }),
        (Ok(()), None) => Err(ApiError::bad_request("missing form part \"file\"")),
        (Err(err), pending) => {
            if let Some((blob, _)) = pending {
                blob.abort().await;
            }
            // A refused body is read on (raw, capped) so the client sees the answer; one
            // that timed out or broke has nothing more to give.
            if matches!(
                err,
                ApiError::PayloadTooLarge(_) | ApiError::PaymentRequired(_) | ApiError::BadRequest(_)
            ) {
                form.drain(DRAIN_BYTES, DRAIN_TIME).await;
            }
            Err(err)
        }
    }
}

async fn read_parts(
    state: &AppState,
    principal: &Principal,
    form: &mut MultipartReader,
    declared_length: Option<u64>,
    text_parts: &[&str],
    text: &mut BTreeMap<String, String>,
    file: &mut Option<(PendingBlob, Option<String>)>,
) -> ApiResult<()> {
    while let Some(part) = form.next_part().await? {
        let PartHeaders {
            name,
            file_name,
            content_type,
        } = part;
        let name = name.unwrap_or_default();
        if name == "file" && file.is_none() {
            if let Some(file_name) = &file_name {
                super::plain_name(file_name, "the file name")?;
            }
            let source = UploadSource {
                content_type,
                file_name: file_name.clone(),
                expected_bytes: declared_length,
            };
            let content = futures::stream::unfold(&mut *form, |form| async move {
                form.next_chunk().await.transpose().map(|piece| (piece, form))
            });
            let uploader = Uploader {
                tenant: principal.tenant,
                issuer: &principal.issuer,
                subject: &principal.subject,
            };
            let pending = store_upload(
                &state.repo,
                &state.content,
                uploader,
                source,
                std::pin::pin!(content),
                state.upload_limits,
            )
            .await?;
            *file = Some((pending, file_name));
        } else if text_parts.contains(&name.as_str()) && !text.contains_key(&name) {
            let value = read_text(&name, form).await?;
            text.insert(name, value);
        } else {
            return Err(unexpected_part(&name, file.is_some(), text_parts));
        }
    }
    Ok(())
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

async fn read_text(name: &str, form: &mut MultipartReader) -> ApiResult<String> {
    let mut bytes = Vec::new();
    while let Some(piece) = form.next_chunk().await? {
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
