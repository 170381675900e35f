//! attachd's seal log: the seals a deployment anchors, as one append-only RFC 6962 log.
//! Each tenant's merklelog stays as DataTrails has it; each seal the sealer anchors is an
//! entry here ([`SealEntry`]). The log is published as C2SP tlog-tiles ([`TilePath`]) with
//! C2SP tlog-checkpoint notes ([`checkpoint`]), which is what transparency witnesses check
//! and cosign (C2SP tlog-witness): a host that rewrote history would need every witness to
//! cosign a checkpoint that does not extend the one it saw.
//!
//! Hashing, stored-hash indexes and proofs are Go's `sumdb/tlog` as the `tlog_tiles` crate
//! ports it; a test runs Go's own implementation against what this crate makes.

#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod cosignature;
mod entry;
mod tiles;

pub use entry::{EntryError, SealEntry};
pub use tiles::{entry_bundle, hash_tile, TilePath, MAX_ENTRY_BYTES, TILE_HEIGHT, TILE_WIDTH};
pub use tlog_tiles::sub_tree_index;
pub use tlog_tiles::Error as TreeError;
pub use tlog_tiles::{record_hash, stored_hash_index, stored_hashes, tree_hash, Hash, HashReader};
