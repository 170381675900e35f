//! Headers of every content response: saved as a file, never rendered or sniffed by a
//! browser, whatever the uploader declared.

use axum::http::{header, HeaderMap, HeaderValue};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

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
