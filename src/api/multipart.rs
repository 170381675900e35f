//! multipart/form-data framing read straight from the request body, with hard limits.
//!
//! Every read from the body waits at most the idle timeout (408 after it), the preamble
//! and each part's headers are capped (400 past the cap), and the boundary search is
//! linear: only the last `delimiter - 1` bytes are kept between reads, so memory stays at
//! one body frame whatever a client sends.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use memchr::memmem::Finder;

use crate::error::{ApiError, ApiResult};

/// Bytes a client may send before the first boundary.
pub const MAX_PREAMBLE: usize = 8 << 10;
/// Bytes of one part's header block.
pub const MAX_PART_HEADERS: usize = 8 << 10;
/// Longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// One part's headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartHeaders {
    pub name: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Just past a delimiter: `--` ends the form, CRLF starts a part.
    AfterDelimiter,
    Headers,
    /// Inside a part's content.
    Content,
    End,
}

/// Reads the parts of a multipart/form-data body in order.
pub struct MultipartReader {
    body: BodyDataStream,
    buf: BytesMut,
    /// `CRLF--boundary`: every delimiter, the first one included (see `new`).
    delimiter: Finder<'static>,
    state: State,
    skipped_preamble: usize,
    idle: Duration,
    body_ended: bool,
}

impl MultipartReader {
    /// A reader for `body`, or 400 if the request is not multipart/form-data with a boundary.
    pub fn new(headers: &HeaderMap, body: Body, idle: Duration) -> ApiResult<Self> {
        let boundary = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(form_boundary)
            .ok_or_else(|| {
                ApiError::bad_request("expected multipart/form-data with a boundary in the Content-Type header")
            })?;
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        let mut buf = BytesMut::with_capacity(64 << 10);
        // A body may open with its first delimiter, which has no CRLF before it.
        buf.extend_from_slice(b"\r\n");
        Ok(Self {
            body: body.into_data_stream(),
            buf,
            delimiter: Finder::new(&delimiter).into_owned(),
            state: State::Preamble,
            skipped_preamble: 0,
            idle,
            body_ended: false,
        })
    }

    fn delimiter_len(&self) -> usize {
        self.delimiter.needle().len()
    }

    /// Appends the next frame of the body; `false` once the body has ended.
    async fn fill(&mut self) -> ApiResult<bool> {
        if self.body_ended {
            return Ok(false);
        }
        loop {
            match tokio::time::timeout(self.idle, self.body.next()).await {
                Err(_) => {
                    return Err(ApiError::RequestTimeout(format!(
                        "upload abandoned: no data for {} s",
                        self.idle.as_secs()
                    )))
                }
                Ok(None) => {
                    self.body_ended = true;
                    return Ok(false);
                }
                Ok(Some(Err(err))) => return Err(ApiError::bad_request(format!("upload body was cut off: {err}"))),
                Ok(Some(Ok(frame))) if frame.is_empty() => continue,
                Ok(Some(Ok(frame))) => {
                    self.buf.extend_from_slice(&frame);
                    return Ok(true);
                }
            }
        }
    }

    async fn fill_or_cut_off(&mut self, what: &str) -> ApiResult<()> {
        if self.fill().await? {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "malformed multipart body: it ends {what}"
            )))
        }
    }

    /// The headers of the next part, or `None` after the closing delimiter. Content of the
    /// current part that was not read is skipped.
    pub async fn next_part(&mut self) -> ApiResult<Option<PartHeaders>> {
        loop {
            match self.state {
                State::End => return Ok(None),
                State::Preamble => self.skip_preamble().await?,
                State::Content => while self.next_chunk().await?.is_some() {},
                State::AfterDelimiter => self.after_delimiter().await?,
                State::Headers => return self.read_headers().await.map(Some),
            }
        }
    }

    async fn skip_preamble(&mut self) -> ApiResult<()> {
        loop {
            if let Some(at) = self.delimiter.find(&self.buf) {
                self.skipped_preamble += at;
                let _ = self.buf.split_to(at + self.delimiter_len());
                self.state = State::AfterDelimiter;
                return Ok(());
            }
            let keep = self.delimiter_len() - 1;
            if self.buf.len() > keep {
                let drop = self.buf.len() - keep;
                self.skipped_preamble += drop;
                let _ = self.buf.split_to(drop);
            }
            if self.skipped_preamble > MAX_PREAMBLE {
                return Err(ApiError::bad_request(format!(
                    "malformed multipart body: no boundary in its first {MAX_PREAMBLE} bytes"
                )));
            }
            self.fill_or_cut_off("before its first boundary").await?;
        }
    }

    async fn after_delimiter(&mut self) -> ApiResult<()> {
        loop {
            // Transport padding (spaces, tabs) may follow a delimiter.
            let padding = self.buf.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
            if padding > MAX_BOUNDARY {
                return Err(ApiError::bad_request("malformed multipart body: bad boundary line"));
            }
            let rest = &self.buf[padding..];
            if rest.len() >= 2 {
                match &rest[..2] {
                    b"--" => {
                        self.state = State::End;
                        return Ok(());
                    }
                    b"\r\n" => {
                        let _ = self.buf.split_to(padding + 2);
                        self.state = State::Headers;
                        return Ok(());
                    }
                    _ => return Err(ApiError::bad_request("malformed multipart body: bad boundary line")),
                }
            }
            self.fill_or_cut_off("after a boundary").await?;
        }
    }

    async fn read_headers(&mut self) -> ApiResult<PartHeaders> {
        let mut scanned = 0;
        loop {
            // A part with no headers at all starts with its blank line.
            let end = if self.buf.starts_with(b"\r\n") {
                Some((0, 2))
            } else {
                memchr::memmem::find(&self.buf[scanned..], b"\r\n\r\n").map(|at| (scanned + at, scanned + at + 4))
            };
            if let Some((block_end, content_start)) = end {
                let block = self.buf.split_to(content_start);
                self.state = State::Content;
                return parse_part_headers(&block[..block_end]);
            }
            if self.buf.len() > MAX_PART_HEADERS {
                return Err(ApiError::bad_request(format!(
                    "malformed multipart body: a part's headers are longer than {MAX_PART_HEADERS} bytes"
                )));
            }
            scanned = self.buf.len().saturating_sub(3);
            self.fill_or_cut_off("inside a part's headers").await?;
        }
    }

    /// The next piece of the current part's content; `None` at its end.
    pub async fn next_chunk(&mut self) -> ApiResult<Option<Bytes>> {
        if self.state != State::Content {
            return Ok(None);
        }
        loop {
            if let Some(at) = self.delimiter.find(&self.buf) {
                let piece = self.buf.split_to(at).freeze();
                let _ = self.buf.split_to(self.delimiter_len());
                self.state = State::AfterDelimiter;
                return Ok((!piece.is_empty()).then_some(piece));
            }
            // All but a possible start of the delimiter is content.
            let keep = self.delimiter_len() - 1;
            if self.buf.len() > keep {
                let piece = self.buf.split_to(self.buf.len() - keep).freeze();
                return Ok(Some(piece));
            }
            self.fill_or_cut_off("inside a part").await?;
        }
    }

    /// Reads and discards the rest of the body, raw, within `limit` bytes and `time`, so a
    /// client still sending a refused upload can read the answer rather than a reset.
    /// After the closing delimiter: reads the body to its real end, so that a request whose
    /// framing is broken (a body shorter than its `Content-Length`, chunking without its
    /// CRLF) is refused, never stored. Up to `limit` bytes of epilogue are read and ignored.
    pub async fn finish(&mut self, limit: u64) -> ApiResult<()> {
        let broken =
            || ApiError::bad_request("the request body ended early or its framing is broken: nothing was stored");
        let mut left = limit.saturating_sub(self.buf.len() as u64);
        self.buf.clear();
        loop {
            match tokio::time::timeout(self.idle, self.body.next()).await {
                Err(_) => {
                    return Err(ApiError::RequestTimeout(format!(
                        "the request body did not end within {} s of its closing boundary",
                        self.idle.as_secs()
                    )))
                }
                Ok(None) => return Ok(()),
                Ok(Some(Err(_))) => return Err(broken()),
                Ok(Some(Ok(frame))) => {
                    left = left
                        .checked_sub(frame.len() as u64)
                        .ok_or_else(|| ApiError::bad_request("more than the form after its closing boundary"))?;
                }
            }
        }
    }

    pub async fn drain(mut self, limit: u64, time: Duration) {
        let deadline = tokio::time::Instant::now() + time;
        let mut left = limit;
        self.buf.clear();
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, self.body.next()).await {
            match left.checked_sub(frame.len() as u64) {
                Some(rest) => left = rest,
                None => return,
            }
        }
    }
}

/// The boundary of a `multipart/form-data` Content-Type.
fn form_boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = parameters(params)
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))?
        .1;
    (!boundary.is_empty() && boundary.len() <= MAX_BOUNDARY).then_some(boundary)
}

fn parse_part_headers(block: &[u8]) -> ApiResult<PartHeaders> {
    let text = std::str::from_utf8(block)
        .map_err(|_| ApiError::bad_request("malformed multipart body: a part's headers are not UTF-8"))?;
    let mut part = PartHeaders::default();
    let mut disposition = None;
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ApiError::bad_request("malformed multipart body: a part header has no colon"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-disposition") {
            disposition = Some(value);
        } else if name.eq_ignore_ascii_case("content-type") {
            part.content_type = Some(value.to_string());
        }
    }
    let disposition = disposition
        .ok_or_else(|| ApiError::bad_request("malformed multipart body: a part has no Content-Disposition"))?;
    let (kind, params) = disposition.split_once(';').unwrap_or((disposition, ""));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err(ApiError::bad_request(
            "malformed multipart body: a part's Content-Disposition is not form-data",
        ));
    }
    let mut extended_file_name = None;
    for (name, value) in parameters(params) {
        match name.to_ascii_lowercase().as_str() {
            "name" => part.name = Some(value),
            "filename" => part.file_name = Some(value),
            "filename*" => extended_file_name = decode_extended(&value),
            _ => {}
        }
    }
    // RFC 7578 §4.2: filename* wins where a client sends both.
    if extended_file_name.is_some() {
        part.file_name = extended_file_name;
    }
    Ok(part)
}

/// `; name=value; name="quoted \" value"` parameters, in order.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c.is_ascii_whitespace());
        let Some(eq) = rest.find('=') else {
            return found;
        };
        let name = rest[..eq].trim().to_string();
        rest = &rest[eq + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => value.push(c),
                }
            }
            rest = &quoted[end..];
            value
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            let value = rest[..end].trim().to_string();
            rest = &rest[end..];
            value
        };
        found.push((name, value));
    }
}

/// An RFC 8187 value, `UTF-8''percent%20encoded`.
fn decode_extended(value: &str) -> Option<String> {
    let mut pieces = value.splitn(3, '\'');
    let charset = pieces.next()?;
    let _language = pieces.next()?;
    let encoded = pieces.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(body: Vec<Vec<u8>>, boundary: &str) -> MultipartReader {
        let mut headers = HeaderMap::new();
        let content_type = format!("multipart/form-data; boundary={boundary}");
        headers.insert(header::CONTENT_TYPE, content_type.parse().expect("header"));
        let frames = futures::stream::iter(body.into_iter().map(|b| Ok::<_, std::io::Error>(Bytes::from(b))));
        MultipartReader::new(&headers, Body::from_stream(frames), Duration::from_secs(5)).expect("reader")
    }

    async fn parts(mut reader: MultipartReader) -> ApiResult<Vec<(PartHeaders, Vec<u8>)>> {
        let mut parts = Vec::new();
        while let Some(headers) = reader.next_part().await? {
            let mut content = Vec::new();
            while let Some(piece) = reader.next_chunk().await? {
                content.extend_from_slice(&piece);
            }
            parts.push((headers, content));
        }
        Ok(parts)
    }

    const FORM: &[u8] =
        b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".txt\"\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n--Xy z\r\n--XyZ  \r\ncontent-disposition: form-data; name=note\r\n\r\n\
\r\n--XyZ--\r\nepilogue";

    #[tokio::test]
    async fn parts_survive_any_framing() {
        // Every split of the body into two frames reads the same.
        for cut in 0..=FORM.len() {
            let body = vec![FORM[..cut].to_vec(), FORM[cut..].to_vec()];
            let found = parts(reader(body, "XyZ")).await.expect("parts");
            assert_eq!(found.len(), 2, "cut at {cut}");
            assert_eq!(found[0].0.name.as_deref(), Some("file"));
            assert_eq!(found[0].0.file_name.as_deref(), Some("a \"b\".txt"));
            assert_eq!(found[0].0.content_type.as_deref(), Some("text/plain"));
            assert_eq!(found[0].1, b"hello\r\n--Xy z");
            assert_eq!(found[1].0.name.as_deref(), Some("note"));
            assert_eq!(found[1].1, b"");
        }
    }

    #[tokio::test]
    async fn preamble_and_headers_are_capped() {
        let endless = vec![vec![b'x'; 1 << 20]];
        let err = parts(reader(endless, "b")).await.expect_err("no boundary");
        assert!(err.to_string().contains("no boundary"), "{err}");
        let mut header = b"--b\r\nContent-Disposition: form-data; name=\"".to_vec();
        header.extend(vec![b'n'; 1 << 20]);
        let err = parts(reader(vec![header], "b")).await.expect_err("endless header");
        assert!(err.to_string().contains("headers are longer"), "{err}");
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_error() {
        for body in [
            &b"--b\r\nContent-Disposition: form-data; name=f\r\n\r\nabc"[..],
            b"--b\r\nContent-Dis",
            b"--b",
        ] {
            assert!(parts(reader(vec![body.to_vec()], "b")).await.is_err(), "{body:?}");
        }
    }

    #[test]
    fn boundaries_and_extended_names() {
        assert_eq!(
            form_boundary("multipart/form-data; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(form_boundary("Multipart/Form-Data;boundary=x").as_deref(), Some("x"));
        assert_eq!(form_boundary("application/json; boundary=x"), None);
        assert_eq!(form_boundary("multipart/form-data"), None);
        let part = parse_part_headers(
            b"Content-Disposition: form-data; name=file; filename=\"x\"; filename*=UTF-8''%C3%A9t%C3%A9.txt",
        )
        .expect("headers");
        assert_eq!(part.file_name.as_deref(), Some("été.txt"));
    }
}
