//! One entry of the seal log: a tenant's merklelog sealed at a size, named by the SHA-256 of
//! its peaks and of the COSE seal. Text, so that an entry bundle reads as what it says:
//!
//! ```text
//! attachd-seal/v1
//! tenant/3f1c0f0e-8d0b-4a57-9d63-2f5f1d5e7c11
//! 1234
//! <64 hex: SHA-256 of the peaks, highest first, concatenated>
//! <64 hex: SHA-256 of the seal as published>
//! ```
//!
//! Every line ends with a newline; nothing else is accepted, so an entry has one encoding.

/// The first line of every entry.
const HEADER: &str = "attachd-seal/v1";

/// A seal the sealer anchored, as the seal log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealEntry {
    /// The tenant whose merklelog was sealed.
    pub tenant: uuid::Uuid,
    /// The merklelog's size (node count) the seal signs.
    pub mmr_size: u64,
    /// SHA-256 of the sealed peaks, highest first, concatenated.
    pub peaks_sha256: [u8; 32],
    /// SHA-256 of the COSE Sign1 seal.
    pub seal_sha256: [u8; 32],
}

/// Why bytes are not an entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a seal-log entry: {0}")]
pub struct EntryError(&'static str);

impl SealEntry {
    /// The entry as the log stores it.
    ///
    /// ```
    /// let entry = seallog::SealEntry {
    ///     tenant: uuid::Uuid::nil(),
    ///     mmr_size: 7,
    ///     peaks_sha256: [1; 32],
    ///     seal_sha256: [2; 32],
    /// };
    /// assert_eq!(seallog::SealEntry::parse(&entry.encode()), Ok(entry));
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{HEADER}\ntenant/{}\n{}\n{}\n{}\n",
            self.tenant.hyphenated(),
            self.mmr_size,
            hex::encode(self.peaks_sha256),
            hex::encode(self.seal_sha256)
        )
        .into_bytes()
    }

    /// Reads an entry, in its one encoding.
    pub fn parse(bytes: &[u8]) -> Result<Self, EntryError> {
        let text = std::str::from_utf8(bytes).map_err(|_| EntryError("not UTF-8"))?;
        let body = text.strip_suffix('\n').ok_or(EntryError("no final newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [header, tenant, size, peaks, seal] = lines.as_slice() else {
            return Err(EntryError("not five lines"));
        };
        if *header != HEADER {
            return Err(EntryError("unknown header"));
        }
        let tenant = tenant
            .strip_prefix("tenant/")
            .and_then(|t| uuid::Uuid::parse_str(t).ok())
            .ok_or(EntryError("no tenant"))?;
        let mmr_size: u64 = size.parse().map_err(|_| EntryError("no size"))?;
        let digest = |line: &str| -> Result<[u8; 32], EntryError> {
            let mut out = [0u8; 32];
            hex::decode_to_slice(line, &mut out).map_err(|_| EntryError("a digest is not 64 hex digits"))?;
            Ok(out)
        };
        let entry = Self {
            tenant,
            mmr_size,
            peaks_sha256: digest(peaks)?,
            seal_sha256: digest(seal)?,
        };
        // One encoding: upper-case hex, a leading zero or a braced uuid are refused.
        if entry.encode() != bytes {
            return Err(EntryError("not in its one encoding"));
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_encodings_are_refused() {
        let entry = SealEntry {
            tenant: uuid::Uuid::from_u128(0x3f1c_0f0e_8d0b_4a57_9d63_2f5f_1d5e_7c11),
            mmr_size: 1234,
            peaks_sha256: [0xab; 32],
            seal_sha256: [0xcd; 32],
        };
        let text = String::from_utf8(entry.encode()).unwrap_or_default();
        assert!(text.starts_with("attachd-seal/v1\ntenant/3f1c0f0e-8d0b-4a57-9d63-2f5f1d5e7c11\n1234\n"));
        for other in [
            text.replace("1234", "01234"),
            text.replace("abab", "ABAB"),
            text.trim_end().to_string(),
            format!("{text}\n"),
            text.replace("attachd-seal/v1", "attachd-seal/v2"),
        ] {
            assert!(SealEntry::parse(other.as_bytes()).is_err(), "{other:?}");
        }
    }
}
