//! Massif blobs, in go-datatrails-merklelog's `massifs/` layout: a 32-byte start header,
//! seven reserved 32-byte slots, a 32-byte index header, the index (2^h entries of 64
//! bytes: trie key, 24 extra bytes, idtimestamp), the ancestor peak stack, then the nodes.
//! A massif of height h holds 2^(h-1) leaves; every integer is big-endian.

use sha2::{Digest, Sha256};

use crate::mmr::{self, Hash};

const START_HEADER: usize = 32;
const RESERVED: usize = 7 * 32;
const INDEX_HEADER: usize = 32;
const TRIE_ENTRY: usize = 64;
/// Where the index starts.
pub const INDEX_START: usize = START_HEADER + RESERVED + INDEX_HEADER;

/// The index of the first node of massif `k` of height `h`.
pub fn first_index(height: u8, k: u64) -> u64 {
    (k << height) - u64::from(k.count_ones())
}

/// The massif holding node `i`.
pub fn massif_of(height: u8, i: u64) -> u64 {
    mmr::leaf_index(i) >> (height - 1)
}

/// The node indices massif `k` holds when full: `first..end`.
pub fn node_range(height: u8, k: u64) -> std::ops::Range<u64> {
    first_index(height, k)..first_index(height, k + 1)
}

/// Where the nodes of massif `k` start in its blob.
pub fn log_start(height: u8, k: u64) -> usize {
    INDEX_START + (TRIE_ENTRY << height) + 32 * k.count_ones() as usize
}

/// The index key of a leaf: SHA-256(0x00 ‖ log id ‖ app id), where the log is
/// `tenant/<uuid>` and the app id the event's identity.
pub fn trie_key(tenant_identity: &str, event_identity: &str) -> Hash {
    let mut hash = Sha256::new();
    hash.update([0u8]);
    hash.update(tenant_identity.as_bytes());
    hash.update(event_identity.as_bytes());
    hash.finalize().into()
}

/// One leaf's index entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrieEntry {
    /// SHA-256 of the tenant's and the event's identities (`trie_key`).
    pub key: Hash,
    /// Zero for DataTrails' asset events (log version 0), as attachd writes them.
    pub extra: [u8; 24],
    /// The leaf's idtimestamp.
    pub idtimestamp: u64,
}

/// What a massif blob holds.
pub struct Massif<'a> {
    /// The massif height: each massif holds 2^(height-1) leaves.
    pub height: u8,
    /// Which massif this is, from 0.
    pub index: u64,
    /// The idtimestamp epoch its leaves were committed in.
    pub commitment_epoch: u32,
    /// The idtimestamp of the last leaf in this massif (or before it).
    pub last_id: u64,
    /// Index entries of this massif's leaves, in order.
    pub entries: &'a [TrieEntry],
    /// The peaks of the massifs before this one, highest first.
    pub peak_stack: &'a [Hash],
    /// This massif's nodes, from `first_index`.
    pub nodes: &'a [Hash],
}

impl Massif<'_> {
    /// The massif blob, as DataTrails stores and serves it.
    pub fn encode(&self) -> Vec<u8> {
        let start = log_start(self.height, self.index);
        let mut blob = vec![0u8; start];
        blob[8..16].copy_from_slice(&self.last_id.to_be_bytes());
        blob[23..27].copy_from_slice(&self.commitment_epoch.to_be_bytes());
        blob[27] = self.height;
        blob[28..32].copy_from_slice(&(self.index as u32).to_be_bytes());
        for (n, entry) in self.entries.iter().enumerate().take(1 << self.height) {
            let at = INDEX_START + n * TRIE_ENTRY;
            blob[at..at + 32].copy_from_slice(&entry.key);
            blob[at + 32..at + 56].copy_from_slice(&entry.extra);
            blob[at + 56..at + 64].copy_from_slice(&entry.idtimestamp.to_be_bytes());
        }
        let stack = INDEX_START + (TRIE_ENTRY << self.height);
        for (n, peak) in self.peak_stack.iter().enumerate() {
            blob[stack + 32 * n..stack + 32 * n + 32].copy_from_slice(peak);
        }
        blob.reserve(32 * self.nodes.len());
        self.nodes.iter().for_each(|node| blob.extend_from_slice(node));
        blob
    }
}

/// A massif blob read back, for verifying offline.
pub struct ParsedMassif {
    /// The massif height: each massif holds 2^(height-1) leaves.
    pub height: u8,
    /// Which massif this is, from 0.
    pub index: u64,
    /// The idtimestamp epoch its leaves were committed in.
    pub commitment_epoch: u32,
    /// The idtimestamp of its last leaf.
    pub last_id: u64,
    /// The peaks of the log before this massif that its nodes need, oldest first.
    pub peak_stack: Vec<Hash>,
    /// Its nodes, from `first_index` on.
    pub nodes: Vec<Hash>,
    blob: Vec<u8>,
}

impl ParsedMassif {
    /// Reads a massif blob; refuses one whose header or length is not a massif's.
    pub fn parse(blob: Vec<u8>) -> crate::Result<Self> {
        crate::ensure!(blob.len() >= START_HEADER, "a massif is at least 32 bytes");
        let height = blob[27];
        crate::ensure!((1..=32).contains(&height), "massif height {height} is out of range");
        let index = u64::from(u32::from_be_bytes(blob[28..32].try_into()?));
        let start = log_start(height, index);
        crate::ensure!(
            blob.len() >= start && (blob.len() - start) % 32 == 0,
            "massif {index} is {} bytes, not its header and whole nodes",
            blob.len()
        );
        let stack = INDEX_START + (TRIE_ENTRY << height);
        let hashes = |range: std::ops::Range<usize>| -> Vec<Hash> {
            blob[range]
                .chunks_exact(32)
                .filter_map(|chunk| chunk.try_into().ok())
                .collect()
        };
        Ok(Self {
            height,
            index,
            commitment_epoch: u32::from_be_bytes(blob[23..27].try_into()?),
            last_id: u64::from_be_bytes(blob[8..16].try_into()?),
            peak_stack: hashes(stack..start),
            nodes: hashes(start..blob.len()),
            blob,
        })
    }

    /// The index of its first node.
    pub fn first_index(&self) -> u64 {
        first_index(self.height, self.index)
    }

    /// The MMR size this massif's data reaches.
    pub fn size(&self) -> u64 {
        self.first_index() + self.nodes.len() as u64
    }

    /// Index entry `n` of this massif (its n-th leaf).
    pub fn entry(&self, n: u64) -> Option<TrieEntry> {
        let at = INDEX_START + n as usize * TRIE_ENTRY;
        let bytes = self.blob.get(at..at + TRIE_ENTRY)?;
        Some(TrieEntry {
            key: bytes[..32].try_into().ok()?,
            extra: bytes[32..56].try_into().ok()?,
            idtimestamp: u64::from_be_bytes(bytes[56..64].try_into().ok()?),
        })
    }
}

/// Nodes of one massif, with the older peaks from its stack: all a proof inside it needs.
impl mmr::NodeSource for ParsedMassif {
    fn node(&self, i: u64) -> crate::Result<Hash> {
        let first = self.first_index();
        if i >= first {
            return self.nodes.node(i - first);
        }
        // The stack holds the peaks of the MMR of the earlier massifs, in peak order.
        let at = mmr::peaks(first).iter().position(|peak| *peak == i);
        at.and_then(|at| self.peak_stack.get(at).copied())
            .ok_or_else(|| crate::fail!("node {i} is neither in massif {} nor its peak stack", self.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(text: &str) -> Hash {
        hex::decode(text).expect("hex").try_into().expect("32 bytes")
    }

    /// veracity's `verifyincluded_test.go` massif: height 3, two leaves (an asset event and
    /// an eventsv1 event), 896 bytes.
    #[test]
    fn veracity_test_massif() -> anyhow::Result<()> {
        let tenant = "tenant/112758ce-a8cb-4924-8df8-fcba1e31f8b0";
        let mut extra = [0u8; 24];
        extra[0] = 1;
        extra[1..17].copy_from_slice(&hex::decode("112758cea8cb49248df8fcba1e31f8b0")?);
        let entries = [
            TrieEntry {
                key: trie_key(
                    tenant,
                    "assets/899e00a2-29bc-4316-bf70-121ce2044472/events/450dce94-065e-4f6a-bf69-7b59f28716b6",
                ),
                extra: [0; 24],
                idtimestamp: 0x946fe35fc6017900,
            },
            TrieEntry {
                key: trie_key(tenant, "events/01947000-3456-780f-bfa9-29881e3bac88"),
                extra,
                idtimestamp: 0x9470003611017900,
            },
        ];
        assert_eq!(
            hex::encode(entries[0].key),
            "c988b449d1b8e593fb57d7ddaec7cb4d5c6a9afbdf4fdd349591ae9a06af1bd3"
        );
        let leaves = [
            hash("61e7012a7f14b5467a8654e7ae75c894abcd3992ae30221e98d74d03cc0eca39"),
            hash("d7bf6bd2860a2838e24788a40976a69f561faf87ca732597ae767371191090fa"),
        ];
        let nodes = [leaves[0], leaves[1], mmr::hash_pair(3, &leaves[0], &leaves[1])];
        let blob = Massif {
            height: 3,
            index: 0,
            commitment_epoch: 0,
            last_id: 0x9470003611017900,
            entries: &entries,
            peak_stack: &[],
            nodes: &nodes,
        }
        .encode();
        assert_eq!(blob.len(), 896);
        assert_eq!(
            hex::encode(Sha256::digest(&blob)),
            "95e77bc5ae90dd5e0885f98dac26059525a10fc46e75717810852e200553acc7"
        );
        let parsed = ParsedMassif::parse(blob)?;
        assert_eq!((parsed.size(), parsed.last_id), (3, 0x9470003611017900));
        assert_eq!(parsed.entry(1), Some(entries[1].clone()));
        Ok(())
    }

    #[test]
    fn massif_arithmetic() {
        let firsts: Vec<u64> = (0..4).map(|k| first_index(3, k)).collect();
        assert_eq!(firsts, [0, 7, 15, 22]);
        let firsts: Vec<u64> = (0..6).map(|k| first_index(14, k)).collect();
        assert_eq!(firsts, [0, 16383, 32767, 49150, 65535, 81918]);
        assert_eq!(log_start(14, 0), 1_048_864);
        // Height 2: massif 1 holds nodes 3..7 (leaves 2 and 3, and their parents).
        assert_eq!(node_range(2, 1), 3..7);
        assert_eq!(massif_of(2, 6), 1);
        assert_eq!(massif_of(2, 7), 2);
    }
}
