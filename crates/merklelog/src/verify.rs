//! Offline checks that trust nothing but pinned public keys: that an event is in its
//! tenant's log under the seal of its massif, and that a later seal's log extends an
//! earlier one's. The caller reads the massifs and seals (from files, or over HTTP).

use std::collections::HashMap;

use p384::ecdsa::VerifyingKey;
use serde_json::Value;

use crate::idtimestamp;
use crate::leaf::{eventsv1_leaf, leaf_hash};
use crate::massif::ParsedMassif;
use crate::mmr::{self, Hash};
use crate::seal::SealContents;
use crate::signing::key_id;
use crate::Result;

/// An event's claimed place in its tenant's log, and its leaf recomputed from its JSON.
#[derive(Clone, Debug)]
pub struct EventEntry {
    /// `assets/…/events/…` or `publicassets/…` or `events/…`.
    pub identity: String,
    /// The tenant whose log holds it.
    pub tenant: uuid::Uuid,
    /// Its node index in the log.
    pub index: u64,
    /// Its idtimestamp.
    pub idtimestamp: u64,
    /// Its leaf, recomputed from the event.
    pub leaf: Hash,
}

impl EventEntry {
    /// The entry of `event`, its JSON as the DataTrails API returns it: an asset event
    /// (v3 leaf, `merklelog_entry.commit`) or an event of the `events/` kind (`eventsv1`
    /// leaf, `merklelog_commit`).
    pub fn from_json(event: &Value) -> Result<Self> {
        let text = |value: &Value| value.as_str().map(str::to_string);
        let identity = text(&event["identity"]).ok_or_else(|| fail!("the event has no identity"))?;
        let (commit, tenant) = match identity.starts_with("events/") {
            true => (&event["merklelog_commit"], text(&event["origin_tenant"])),
            false => (&event["merklelog_entry"]["commit"], text(&event["tenant_identity"])),
        };
        let tenant: uuid::Uuid = tenant
            .as_deref()
            .and_then(|t| t.strip_prefix("tenant/"))
            .ok_or_else(|| fail!("the event names no tenant"))?
            .parse()
            .map_err(|e| fail!("the event's tenant: {e}"))?;
        let index: u64 = text(&commit["index"])
            .ok_or_else(|| fail!("the event has no merklelog commit index"))?
            .parse()
            .map_err(|e| fail!("the event's merklelog commit index: {e}"))?;
        let id = text(&commit["idtimestamp"])
            .as_deref()
            .and_then(idtimestamp::from_hex)
            .ok_or_else(|| fail!("the event has no valid idtimestamp"))?;
        let leaf = match identity.starts_with("events/") {
            true => eventsv1_leaf(id, tenant, &event["attributes"], &event["trails"]),
            false => leaf_hash(id, event).map_err(|e| fail!("the event's leaf: {e}"))?,
        };
        Ok(Self {
            identity,
            tenant,
            index,
            idtimestamp: id,
            leaf,
        })
    }
}

/// What an inclusion check established.
#[derive(Clone, Debug)]
pub struct Included {
    /// The log's size under the seal.
    pub size: u64,
    /// The massif whose seal it was.
    pub massif: u64,
    /// The id of the key that signed the seal.
    pub kid: String,
}

/// Checks that `entry` is in its log under `seal`, the seal of `massif`, which must be the
/// massif holding the entry; the seal must be signed by one of `keys`.
pub fn verify_inclusion(
    entry: &EventEntry,
    massif: &ParsedMassif,
    seal: &[u8],
    keys: &[VerifyingKey],
) -> Result<Included> {
    let index = entry.index;
    let k = massif.index;
    ensure!(
        (massif.first_index()..massif.size()).contains(&index),
        "node {index} is not in massif {k}"
    );
    let (size, kid) = check_seal(seal, massif, keys)?;
    ensure!(
        index < size,
        "the seal of massif {k} covers {size} nodes, not node {index} yet"
    );
    let entry_at = massif
        .entry(mmr::leaf_index(index) - (k << (massif.height - 1)))
        .ok_or_else(|| fail!("massif {k} has no index entry for node {index}"))?;
    ensure!(
        entry_at.idtimestamp == entry.idtimestamp,
        "the massif's idtimestamp for node {index} differs from the event's"
    );
    ensure!(
        mmr::NodeSource::node(massif, index)? == entry.leaf,
        "the massif's leaf at node {index} is not the event's (the event or the log differs)"
    );
    let peaks = mmr::peak_hashes(size, massif)?;
    let proof = mmr::inclusion_proof(size, index, massif)?;
    ensure!(
        mmr::verify_inclusion(size, &peaks, index, &entry.leaf, &proof),
        "the event's leaf is not at node {index} of the sealed log (the event or the log differs)"
    );
    Ok(Included { size, massif: k, kid })
}

/// Checks `seal` against the peaks `massif` holds at the sealed size, with the one of
/// `keys` it names; answers that size and the key's id.
pub fn check_seal(seal: &[u8], massif: &ParsedMassif, keys: &[VerifyingKey]) -> Result<(u64, String)> {
    let contents = SealContents::parse(seal)?;
    let key = keys.iter().find(|key| **key == contents.key).ok_or_else(|| {
        fail!(
            "the seal is signed by {}, which is not a pinned key",
            key_id(&contents.key)
        )
    })?;
    let size = contents.state.size;
    ensure!(
        size <= massif.size() && size > massif.first_index(),
        "the seal covers {size} nodes; massif {} holds {}..{}",
        massif.index,
        massif.first_index(),
        massif.size()
    );
    let peaks = mmr::peak_hashes(size, massif)?;
    contents.verify(&peaks, key)?;
    Ok((size, key_id(key)))
}

/// What a consistency check established.
#[derive(Clone, Debug)]
pub struct Consistent {
    /// The size the earlier seal covers.
    pub old_size: u64,
    /// The size the later seal covers.
    pub new_size: u64,
}

/// Checks that the log `new` seals extends the log `old` seals. `massifs` are the
/// tenant's massifs in order, from the one holding `old`'s state to the one holding
/// `new`'s; each seal is checked against its massif and `keys`.
pub fn verify_consistency(
    old: &[u8],
    new: &[u8],
    massifs: &[ParsedMassif],
    keys: &[VerifyingKey],
) -> Result<Consistent> {
    let old_size = SealContents::parse(old)?.state.size;
    let new_size = SealContents::parse(new)?.state.size;
    ensure!(
        old_size <= new_size,
        "the new seal covers {new_size} nodes, fewer than the old one's {old_size}"
    );
    let (Some(first), Some(last)) = (massifs.first(), massifs.last()) else {
        return Err(fail!("no massifs to check"));
    };
    // Every node of the massifs between the two states, with the older peaks.
    let mut nodes: HashMap<u64, Hash> = HashMap::new();
    for massif in massifs {
        let first = massif.first_index();
        nodes.extend(massif.nodes.iter().enumerate().map(|(n, h)| (first + n as u64, *h)));
        nodes.extend(mmr::peaks(first).into_iter().zip(massif.peak_stack.iter().copied()));
    }
    check_seal(old, first, keys)?;
    check_seal(new, last, keys)?;
    let old_peaks = mmr::peak_hashes(old_size, &nodes)?;
    let new_peaks = mmr::peak_hashes(new_size, &nodes)?;
    let proof = mmr::consistency_proof(old_size, new_size, &nodes)?;
    ensure!(
        mmr::verify_consistency(old_size, &old_peaks, new_size, &new_peaks, &proof),
        "the log of {new_size} nodes does not extend the sealed log of {old_size}: history was rewritten"
    );
    Ok(Consistent { old_size, new_size })
}
