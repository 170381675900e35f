//! DataTrails' merklelog, as a library: everything needed to build and to check the
//! verifiable logs DataTrails publishes, offline and byte for byte.
//!
//! - [`mmr`]: Merkle Mountain Range arithmetic (positions, peaks, appends), inclusion
//!   and consistency proofs;
//! - [`idtimestamp`]: DataTrails' snowflake ids;
//! - [`leaf`]: the v3 leaf hash of an asset event and the `eventsv1` leaf of a public event;
//! - [`massif`]: the massif blob format (header, trie index, peak stack, nodes);
//! - [`seal`]: seals, COSE Sign1 over the CBOR state of a log, signed with ES384;
//! - [`receipt`]: SCITT receipts (MMRIVER): peaks signed at seal time, proofs added later;
//! - [`signing`]: keys, in PEM and as JWK;
//! - [`verify`]: an event checked against its massif and the massif's seal, and a later
//!   seal checked to extend an earlier one.
//!
//! Nothing here does I/O: callers read massifs and seals from wherever they keep them.
//! The known-answer tests pin the arithmetic to DataTrails' own test vectors.

/// An [`Error`] from a format string.
macro_rules! fail {
    ($($why:tt)*) => { $crate::Error::new(format!($($why)*)) };
}

/// Returns an [`Error`] unless `$condition` holds.
macro_rules! ensure {
    ($condition:expr, $($why:tt)*) => {
        if !$condition {
            return Err($crate::fail!($($why)*));
        }
    };
}

/// Returns an [`Error`].
macro_rules! bail {
    ($($why:tt)*) => { return Err($crate::fail!($($why)*)) };
}

pub(crate) use {bail, ensure, fail};

pub mod head;
pub mod idtimestamp;
pub mod leaf;
pub mod massif;
pub mod mmr;
pub mod receipt;
pub mod seal;
pub mod signing;
pub mod verify;

#[cfg(test)]
mod kat;

/// Why a log, a seal, a key or a proof was refused, or could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

impl Error {
    /// An error that says `why`.
    pub fn new(why: impl Into<String>) -> Self {
        Self(why.into())
    }
}

impl From<std::array::TryFromSliceError> for Error {
    fn from(err: std::array::TryFromSliceError) -> Self {
        fail!("a field has the wrong length: {err}")
    }
}

impl From<std::num::TryFromIntError> for Error {
    fn from(err: std::num::TryFromIntError) -> Self {
        fail!("a number is out of range: {err}")
    }
}

impl<E: std::fmt::Debug> From<coset::cbor::ser::Error<E>> for Error {
    fn from(err: coset::cbor::ser::Error<E>) -> Self {
        fail!("encoding CBOR: {err:?}")
    }
}

impl<E: std::fmt::Debug> From<coset::cbor::de::Error<E>> for Error {
    fn from(err: coset::cbor::de::Error<E>) -> Self {
        fail!("not valid CBOR: {err:?}")
    }
}

/// The result of this crate's fallible functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;
