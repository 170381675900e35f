//! DataTrails' Merkle Mountain Range (go-datatrails-merklelog `mmr/`), ported: node indices
//! are 0-based positions in post-order, interior nodes commit to their 1-based position,
//! and the accumulator is the list of peaks, highest first, never bagged.

use sha2::{Digest, Sha256};

/// A node's value: a SHA-256 digest.
pub type Hash = [u8; 32];

fn bit_length(x: u64) -> u32 {
    64 - x.leading_zeros()
}

fn all_ones(x: u64) -> bool {
    x & x.wrapping_add(1) == 0
}

/// The height (leaf = 0) of the node at 1-based position `pos`.
fn pos_height(mut pos: u64) -> u32 {
    // The left-most node of each height is all ones; jump left a perfect tree at a time.
    while !all_ones(pos) {
        pos -= (1 << (bit_length(pos) - 1)) - 1;
    }
    bit_length(pos) - 1
}

/// The height of the node at index `i`.
pub fn index_height(i: u64) -> u32 {
    pos_height(i + 1)
}

/// The index of leaf number `leaf`.
pub fn leaf_mmr_index(leaf: u64) -> u64 {
    2 * leaf - u64::from(leaf.count_ones())
}

/// The MMR size after `leaves` leaves.
pub fn size_for_leaves(leaves: u64) -> u64 {
    leaf_mmr_index(leaves)
}

/// Whether `size` nodes make a complete MMR (no merge pending).
pub fn is_valid_size(size: u64) -> bool {
    size > 0 && pos_height(size + 1) <= pos_height(size)
}

/// Leaves in an MMR of `size` nodes; bit g is set when a peak of height g exists.
pub fn leaf_count(size: u64) -> u64 {
    if size == 0 {
        return 0;
    }
    let (mut rest, mut peak_size, mut bitmap) = (size, (1u64 << bit_length(size)) - 1, 0u64);
    while peak_size > 0 {
        bitmap <<= 1;
        if rest >= peak_size {
            rest -= peak_size;
            bitmap |= 1;
        }
        peak_size >>= 1;
    }
    bitmap
}

/// The leaf number of leaf index `i` (for an interior node, of the last leaf before it).
pub fn leaf_index(i: u64) -> u64 {
    leaf_count(first_size_containing(i)) - 1
}

/// The smallest complete size that holds index `i`.
fn first_size_containing(mut i: u64) -> u64 {
    let mut h0 = index_height(i);
    let mut h1 = index_height(i + 1);
    while h0 < h1 {
        i += 1;
        h0 = h1;
        h1 = index_height(i + 1);
    }
    i + 1
}

/// Indices of the peaks of an MMR of `size` nodes, highest first; empty when `size` is
/// not complete.
pub fn peaks(size: u64) -> Vec<u64> {
    if !is_valid_size(size) {
        return Vec::new();
    }
    let (mut rest, mut next, mut out) = (size, 0u64, Vec::new());
    while rest != 0 {
        // The largest perfect tree (2^k - 1 nodes) that fits.
        let tree = (1u64 << (bit_length(rest + 1) - 1)) - 1;
        next += tree;
        out.push(next - 1);
        rest -= tree;
    }
    out
}

/// The place in the accumulator of `size` of the peak that a proof from a node of height
/// `height` with `proof_len` steps reaches.
pub fn peak_index(size: u64, height: u32, proof_len: usize) -> usize {
    let leaves = leaf_count(size);
    let d = height as u64 + proof_len as u64;
    let mask = if d >= 63 { u64::MAX } else { (1u64 << (d + 1)) - 1 };
    (leaves.count_ones() - (leaves & mask).count_ones()) as usize
}

/// SHA-256(u64be(pos) ‖ left ‖ right): an interior node at 1-based position `pos`.
pub fn hash_pair(pos: u64, left: &[u8], right: &[u8]) -> Hash {
    let mut hash = Sha256::new();
    hash.update(pos.to_be_bytes());
    hash.update(left);
    hash.update(right);
    hash.finalize().into()
}

/// Reads nodes by index.
pub trait NodeSource {
    /// Node `i`, or why it cannot be had.
    fn node(&self, i: u64) -> crate::Result<Hash>;
}

impl NodeSource for [Hash] {
    fn node(&self, i: u64) -> crate::Result<Hash> {
        self.get(i as usize)
            .copied()
            .ok_or_else(|| crate::fail!("node {i} is not in the log"))
    }
}

impl NodeSource for std::collections::HashMap<u64, Hash> {
    fn node(&self, i: u64) -> crate::Result<Hash> {
        self.get(&i)
            .copied()
            .ok_or_else(|| crate::fail!("node {i} is not in the log"))
    }
}

impl NodeSource for Vec<Hash> {
    fn node(&self, i: u64) -> crate::Result<Hash> {
        self.as_slice().node(i)
    }
}

/// The nodes appending `leaf` to an MMR of `size` nodes adds: the leaf, then each parent
/// it completes. `nodes` reads the existing ones (at most one per new parent).
pub fn append(size: u64, leaf: Hash, nodes: &dyn NodeSource) -> crate::Result<Vec<Hash>> {
    let mut added = vec![leaf];
    let mut height = 0;
    let mut next = size + 1;
    while index_height(next) > height {
        let left_index = next - (2 << height);
        let left = if left_index >= size {
            added[(left_index - size) as usize]
        } else {
            nodes.node(left_index)?
        };
        let right = added[added.len() - 1];
        let parent = hash_pair(next + 1, &left, &right);
        added.push(parent);
        next += 1;
        height += 1;
    }
    Ok(added)
}

/// The indices whose values prove node `i` in an MMR of `size` nodes, bottom up; the
/// path ends at the peak holding `i`.
pub fn inclusion_path(size: u64, mut i: u64) -> Vec<u64> {
    let mut path = Vec::new();
    if i >= size {
        return path;
    }
    let mut g = index_height(i);
    loop {
        let offset = 2u64 << g;
        let sibling = if index_height(i + 1) > g {
            i += 1;
            i - offset
        } else {
            let sibling = i + offset - 1;
            i += offset;
            sibling
        };
        if sibling >= size {
            return path;
        }
        path.push(sibling);
        g += 1;
    }
}

/// The values of `inclusion_path`.
pub fn inclusion_proof(size: u64, i: u64, nodes: &dyn NodeSource) -> crate::Result<Vec<Hash>> {
    inclusion_path(size, i).into_iter().map(|j| nodes.node(j)).collect()
}

/// The peak that node `i` of value `value` and `proof` lead to.
pub fn included_root(mut i: u64, value: &Hash, proof: &[Hash]) -> Hash {
    let mut root = *value;
    for (g, sibling) in (index_height(i)..).zip(proof) {
        if index_height(i + 1) > g {
            i += 1;
            root = hash_pair(i + 1, sibling, &root);
        } else {
            i += 2 << g;
            root = hash_pair(i + 1, &root, sibling);
        }
    }
    root
}

/// Whether node `i` of value `value` is in the MMR of `size` whose accumulator is `peaks`.
pub fn verify_inclusion(size: u64, peaks: &[Hash], i: u64, value: &Hash, proof: &[Hash]) -> bool {
    if i >= size || peaks.len() != self::peaks(size).len() {
        return false;
    }
    let at = peak_index(size, index_height(i), proof.len());
    peaks.get(at) == Some(&included_root(i, value, proof))
}

/// The accumulator (peak values, highest first) of an MMR of `size` nodes.
pub fn peak_hashes(size: u64, nodes: &dyn NodeSource) -> crate::Result<Vec<Hash>> {
    peaks(size).into_iter().map(|i| nodes.node(i)).collect()
}

/// A proof that the MMR of `size_b` nodes extends the one of `size_a`: an inclusion proof
/// in B of each peak of A, in A's peak order.
pub fn consistency_proof(size_a: u64, size_b: u64, nodes: &dyn NodeSource) -> crate::Result<Vec<Vec<Hash>>> {
    crate::ensure!(
        is_valid_size(size_a) && is_valid_size(size_b) && size_a <= size_b,
        "no consistency proof from {size_a} to {size_b}"
    );
    peaks(size_a)
        .into_iter()
        .map(|peak| inclusion_proof(size_b, peak, nodes))
        .collect()
}

/// Whether `peaks_b` (size B) extends `peaks_a` (size A) by `proof`. Stricter than the Go
/// code's scan: the peaks A's proofs lead to must be exactly the first peaks of B.
pub fn verify_consistency(size_a: u64, peaks_a: &[Hash], size_b: u64, peaks_b: &[Hash], proof: &[Vec<Hash>]) -> bool {
    let indices = peaks(size_a);
    if size_a > size_b
        || !is_valid_size(size_b)
        || indices.len() != peaks_a.len()
        || indices.len() != proof.len()
        || peaks_b.len() != peaks(size_b).len()
    {
        return false;
    }
    let mut proven: Vec<Hash> = Vec::new();
    for ((i, value), path) in indices.iter().zip(peaks_a).zip(proof) {
        let root = included_root(*i, value, path);
        if proven.last() != Some(&root) {
            proven.push(root);
        }
    }
    proven.len() <= peaks_b.len() && proven[..] == peaks_b[..proven.len()]
}
