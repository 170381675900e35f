//! The core: the streamed upload pipeline, attachment references, the scan gate and the
//! verified download stream, which every dialect's routes call.

mod chunk_mac;
mod download;
mod error;
mod gate;
pub mod lookup;
mod mime;
mod range;
mod references;
mod referrer;
mod sweep;
mod upload;

pub use chunk_mac::ChunkMacKey;
pub use download::{prove_record, verified_download, Download, DownloadBody, DownloadCheck};
pub use error::{BlobError, BlobResult};
pub use gate::ScanGate;
pub use mime::choose_mime;
pub use range::{ByteRange, RangeRequest};
pub use references::{find_references, BlobReference};
pub use referrer::{check_references, Referrer};
pub use sweep::sweep_uploads;
pub use upload::{store_upload, too_large, PendingBlob, UploadLimits, UploadSource, Uploader};

/// Default bytes per content chunk (see bench/blobs.sh for how it was chosen).
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 20;

/// Where blob content is kept, the key its chunks' MACs are made with, and the log that
/// anchors each blob's record.
#[derive(Clone)]
pub struct Content {
    pub store: crate::store::DynStore,
    pub macs: std::sync::Arc<ChunkMacKey>,
    pub log: std::sync::Arc<crate::log::state::LogState>,
    /// Free space kept for metadata on the filesystems attachd writes.
    pub reserve: std::sync::Arc<crate::store::reserve::SpaceReserve>,
}
