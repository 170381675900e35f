//! Keyed MACs of content chunks, so a byte range is verified from its own chunks.
//!
//! Each chunk's MAC is HMAC-SHA-256 over the blob id, the whole blob's SHA-256 and size, the
//! chunk's number and the chunk's own digest (BLAKE3: the whole blob is already being hashed
//! with SHA-256, and a second SHA-256 pass over every byte cost uploads 12%): a chunk cannot be
//! moved to another place or blob, and the blob row's recorded hash cannot be edited without
//! every MAC failing. The key is kept outside the database and the content store, so neither
//! alone can forge one.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// Bytes per MAC.
pub const MAC_BYTES: usize = 32;

const DOMAIN: &[u8] = b"attachd chunk mac v1";

/// The key chunk MACs are made with.
#[derive(Clone)]
pub struct ChunkMacKey {
    key: Hmac<Sha256>,
    id: String,
}

impl std::fmt::Debug for ChunkMacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChunkMacKey(***)")
    }
}

/// What a MAC binds a chunk to.
#[derive(Clone, Copy, Debug)]
pub struct ChunkContext<'a> {
    pub blob: Uuid,
    /// The whole blob's SHA-256, hex.
    pub hash: &'a str,
    pub size: u64,
}

impl ChunkMacKey {
    /// A key derived from secret key material (at least 32 bytes of it).
    pub fn derive(secret: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(secret.len() >= 32, "the chunk MAC key needs at least 32 bytes");
        let mut derive = Hmac::<Sha256>::new_from_slice(DOMAIN).map_err(|e| anyhow::anyhow!("{e}"))?;
        derive.update(secret);
        let key = derive.finalize().into_bytes();
        let key = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut naming = key.clone();
        naming.update(b"key id");
        let id = hex::encode(&naming.finalize().into_bytes()[..8]);
        Ok(Self { key, id })
    }

    /// Names the key (a MAC of a constant) without revealing it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The MAC of chunk `seq` whose own digest is `digest`.
    pub fn mac(&self, context: ChunkContext<'_>, seq: u64, digest: &[u8; 32]) -> [u8; MAC_BYTES] {
        self.keyed(context, seq, digest).finalize().into_bytes().into()
    }

    fn keyed(&self, context: ChunkContext<'_>, seq: u64, digest: &[u8; 32]) -> Hmac<Sha256> {
        let mut mac = self.key.clone();
        mac.update(context.blob.as_bytes());
        mac.update(context.hash.to_ascii_lowercase().as_bytes());
        mac.update(&context.size.to_be_bytes());
        mac.update(&seq.to_be_bytes());
        mac.update(digest);
        mac
    }

    /// The MACs of every chunk, from their digests in order, concatenated.
    pub fn macs(&self, context: ChunkContext<'_>, digests: &[[u8; 32]]) -> Vec<u8> {
        let mut macs = Vec::with_capacity(digests.len() * MAC_BYTES);
        for (seq, digest) in (0u64..).zip(digests) {
            macs.extend_from_slice(&self.mac(context, seq, digest));
        }
        macs
    }

    /// Whether `chunk` is chunk `seq` of the blob, as `expected` (its MAC) says.
    pub fn verify(&self, context: ChunkContext<'_>, seq: u64, chunk: &[u8], expected: &[u8]) -> bool {
        self.keyed(context, seq, &chunk_digest(chunk))
            .verify_slice(expected)
            .is_ok()
    }
}

/// A chunk's own digest.
pub fn chunk_digest(chunk: &[u8]) -> [u8; 32] {
    blake3::hash(chunk).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_verifies_only_in_its_own_place() -> anyhow::Result<()> {
        let key = ChunkMacKey::derive(&[7u8; 32])?;
        let blob = Uuid::new_v4();
        let context = ChunkContext {
            blob,
            hash: "ab",
            size: 10,
        };
        let mac = key.mac(context, 1, &chunk_digest(b"chunk"));
        assert!(key.verify(context, 1, b"chunk", &mac));
        assert!(!key.verify(context, 1, b"chunK", &mac));
        assert!(!key.verify(context, 2, b"chunk", &mac));
        assert!(!key.verify(ChunkContext { size: 11, ..context }, 1, b"chunk", &mac));
        assert!(!key.verify(ChunkContext { hash: "ac", ..context }, 1, b"chunk", &mac));
        let other = ChunkMacKey::derive(&[8u8; 32])?;
        assert!(!other.verify(context, 1, b"chunk", &mac));
        Ok(())
    }
}
