//! A log's head as an appender holds it: enough to append leaves without reading any
//! other node.

use std::collections::HashMap;

use crate::mmr::{self, Hash};

/// A tenant's log head as an appender holds it: its size, last idtimestamp and the peaks
/// at that size (in `mmr::peaks` order).
#[derive(Clone, Debug)]
pub struct LogHead {
    /// Nodes in the log.
    pub size: u64,
    /// The idtimestamp of the last leaf.
    pub last_id: u64,
    /// The peaks at `size`, in [`mmr::peaks`] order.
    pub peaks: Vec<Hash>,
}

impl LogHead {
    /// Adds `leaf`, committed at idtimestamp `id`: answers the nodes added (from index
    /// `size` on) and moves the head past them.
    pub fn append(&mut self, leaf: Hash, id: u64) -> crate::Result<Vec<Hash>> {
        let known: HashMap<u64, Hash> = mmr::peaks(self.size)
            .into_iter()
            .zip(self.peaks.iter().copied())
            .collect();
        let added = mmr::append(self.size, leaf, &known)?;
        let grown = self.size + added.len() as u64;
        // Each peak of the grown log is an old peak or a node just added.
        let peaks = mmr::peaks(grown)
            .into_iter()
            .map(|i| match i.checked_sub(self.size) {
                Some(new) => added.get(new as usize).copied(),
                None => known.get(&i).copied(),
            })
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| crate::fail!("a peak of the log at size {grown} is unknown"))?;
        *self = Self {
            size: grown,
            last_id: id,
            peaks,
        };
        Ok(added)
    }
}
