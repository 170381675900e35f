//! The scan gate of every download: `strict` serves only `SCANNED_OK` content, and
//! `SCANNED_BAD` content is refused unless the client allows it.

use super::{BlobError, BlobResult};
use crate::repo::Blob;

#[derive(Clone, Copy, Debug, Default)]
pub struct ScanGate {
    /// Serve only content scanned clean.
    pub strict: bool,
    /// Serve content scanned as bad too.
    pub allow_insecure: bool,
}

impl ScanGate {
    pub fn check(&self, blob: &Blob) -> BlobResult<()> {
        let status = blob.scanned_status.as_str();
        if status == "SCANNED_BAD" && !self.allow_insecure {
            return Err(BlobError::Forbidden(format!(
                "the content was scanned as SCANNED_BAD ({}); add allow_insecure=true to download it anyway",
                blob.scanned_bad_reason
            )));
        }
        if self.strict && status != "SCANNED_OK" {
            return Err(BlobError::bad_request(format!(
                "strict=true serves only SCANNED_OK content; this content is {status}"
            )));
        }
        Ok(())
    }
}
