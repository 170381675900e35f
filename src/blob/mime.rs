//! Chooses a blob's mime type: the client's when specific, else sniffed.

use mime_guess::mime::Mime;

const OCTET_STREAM: &str = "application/octet-stream";

/// Bytes of the start of a blob kept for sniffing; enough for a zip's first entries.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// The part's Content-Type when it is specific; otherwise sniffed from the content, with
/// the file name deciding what a generic container (a zip: docx, xlsx, …) really is.
pub fn choose_mime(declared: Option<&str>, filename: Option<&str>, head: &[u8]) -> String {
    if let Some(declared) = declared.and_then(|d| d.parse::<Mime>().ok()) {
        if declared.essence_str() != OCTET_STREAM {
            return declared.to_string();
        }
    }
    let by_name = filename
        .and_then(|name| mime_guess::from_path(name).first())
        .map(|m| m.essence_str().to_string());
    match (infer::get(head).map(|kind| kind.mime_type()), by_name) {
        (Some(sniffed), Some(named)) if is_container(sniffed) => named,
        (Some(sniffed), _) => sniffed.to_string(),
        (None, Some(named)) => named,
        (None, None) if looks_like_text(head) => "text/plain".to_string(),
        (None, None) => OCTET_STREAM.to_string(),
    }
}

fn is_container(mime: &str) -> bool {
    matches!(mime, "application/zip" | "application/x-ole-storage")
}

fn looks_like_text(head: &[u8]) -> bool {
    !head.is_empty() && !head.contains(&0) && std::str::from_utf8(head).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_specific_type_wins() {
        assert_eq!(choose_mime(Some("image/png"), Some("x.bin"), b"hello"), "image/png");
    }

    #[test]
    fn generic_declared_type_is_sniffed() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(choose_mime(Some("application/octet-stream"), None, png), "image/png");
        assert_eq!(choose_mime(None, None, b"plain words"), "text/plain");
        assert_eq!(choose_mime(None, None, b"\0\x01\x02"), OCTET_STREAM);
        assert_eq!(choose_mime(Some("garbage"), Some("a.pdf"), b"\0"), "application/pdf");
    }

    #[test]
    fn zip_named_docx_is_word() {
        let zip = b"PK\x03\x04\x14\0\0\0\0\0";
        assert_eq!(
            choose_mime(None, Some("report.docx"), zip),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
    }
}
