//! Content responses, from the core's verified downloads: every dialect's download routes
//! answer through here. Content is saved as a file, never rendered or sniffed by a browser,
//! whatever the uploader declared.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::blob::{BlobError, Content, Download, DownloadBody, DownloadCheck};
use crate::error::{ApiError, ApiResult};
use crate::repo::{Blob, DynRepo};

/// `blob` (or the range `range_header` asks for), verified as `blob::verified_download`
/// does, as a response.
pub async fn verified_download(
    repo: DynRepo,
    content: &Content,
    blob: Blob,
    check: DownloadCheck,
    range_header: Option<&str>,
) -> ApiResult<Response> {
    response(crate::blob::verified_download(repo, content, blob, check, range_header).await?)
}

/// The response that sends `download`: 200 with the whole blob or 206 with its range.
pub fn response(download: Download) -> ApiResult<Response> {
    let etag = HeaderValue::from_str(&format!("\"{}\"", download.hash)).map_err(ApiError::internal)?;
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, content_type(&download.mime_type))
        .header(header::ETAG, etag)
        .header(header::ACCEPT_RANGES, "bytes");
    builder = match download.range {
        Some(r) => builder
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_LENGTH, r.byte_count())
            .header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", r.start, r.end, download.size),
            ),
        None => builder
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, download.size),
    };
    if let Some(headers) = builder.headers_mut() {
        content_headers(headers, download.file_name.as_deref());
    }
    let body = match download.body {
        DownloadBody::Whole(bytes) => Body::from(bytes),
        // A failed check cuts the connection before the last piece.
        DownloadBody::Streamed(pieces) => Body::from_stream(futures::StreamExt::map(pieces, |piece| {
            piece.map_err(|err: BlobError| std::io::Error::other(err.to_string()))
        })),
    };
    builder.body(body).map_err(ApiError::internal)
}

/// The recorded MIME type, or `application/octet-stream` for one that cannot be a header (a
/// row edited by hand): the content is still the verified content.
fn content_type(mime_type: &str) -> HeaderValue {
    HeaderValue::from_str(mime_type).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// Sets `Content-Disposition: attachment` (named where `file_name` is known), `nosniff` and
/// a sandboxing CSP, so a blob declared `text/html` cannot run in the server's origin.
pub fn content_headers(headers: &mut HeaderMap, file_name: Option<&str>) {
    let disposition = file_name.map_or(HeaderValue::from_static("attachment"), content_disposition);
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
}

/// RFC 5987 `attr-char`s are sent as they are; everything else is percent-encoded.
const ATTR_CHAR_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII fallback with no
/// quotes, controls or path separators, and the exact name percent-encoded (clients take
/// the file name only from it, never a path).
pub fn content_disposition(name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c == ' ' || (c.is_ascii_graphic() && !matches!(c, '"' | '%' | '/' | '\\')) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, ATTR_CHAR_ESCAPES);
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_cannot_inject_headers() {
        let value = content_disposition("a\"b\r\nSet-Cookie: x=1/../é.pdf");
        let text = value.to_str().unwrap_or_default();
        assert!(!text.contains('\r') && !text.contains('\n'));
        assert!(
            text.starts_with("attachment; filename=\"a_b__Set-Cookie: x=1_.._"),
            "{text}"
        );
        assert!(
            text.contains("filename*=UTF-8''a%22b%0D%0ASet-Cookie%3A%20x%3D1%2F..%2F%C3%A9.pdf"),
            "{text}"
        );
    }
}
