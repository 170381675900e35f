//! `attachd log audit`: checks a whole deployment's logs offline against the anchor. Each
//! tenant's log is rebuilt from its rows (every event's and blob's leaf, every interior
//! node), compared node by node with the stored log, every seal's signature is checked over
//! the rebuilt peaks, and the anchored state must be the rebuilt log at its size. With
//! `--reanchor` and a tenant, a log that passes every check but the anchor's is anchored
//! anew at its audited state: the only way to sign again after a lost anchor.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::anchor::AnchorRecord;
use super::state::verify_record;
use super::state::{massif_path, LogState, ISSUER};
use crate::ids::TenantId;
use crate::repo::leaves::{blob_leaf, event_leaf};
use crate::repo::log::LogHead;
use crate::repo::Repo;
use merklelog::massif;
use merklelog::mmr::{self, Hash};
use merklelog::seal::{sign_with_receipts, MmrState, SealContents, STATE_VERSION};

/// Rows read per query.
const BATCH: u64 = 4096;

/// What the audit of one tenant found.
#[derive(Debug, Default, Serialize)]
pub struct TenantAudit {
    pub tenant: String,
    pub nodes: u64,
    pub leaves: u64,
    pub seals: u64,
    /// The size the anchor holds, if it holds one.
    pub anchored_size: Option<u64>,
    /// Failures of the log itself: rows, nodes, seals.
    pub problems: Vec<String>,
    /// Failures of the anchor alone (missing, or not this log): `--reanchor` mends these.
    pub anchor_problems: Vec<String>,
}

impl TenantAudit {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.anchor_problems.is_empty()
    }
}

/// Progress on a long audit: a line every five seconds.
struct Progress {
    last: Instant,
}

impl Progress {
    fn tick(&mut self, tenant: TenantId, done: u64, total: u64) {
        if self.last.elapsed() >= Duration::from_secs(5) {
            eprintln!("auditing {tenant}: {done} of {total} nodes");
            self.last = Instant::now();
        }
    }
}

/// Audits one tenant's log.
pub async fn audit_tenant(repo: &dyn Repo, log: &LogState, tenant: TenantId) -> anyhow::Result<TenantAudit> {
    let mut audit = TenantAudit {
        tenant: tenant.identity(),
        ..Default::default()
    };
    let (size, _) = repo.log_head(tenant).await?;
    let mut progress = Progress { last: Instant::now() };
    let mut rebuilt = LogHead {
        size: 0,
        last_id: 0,
        peaks: Vec::new(),
    };
    // Peaks of the rebuilt log at every size a seal or the anchor names, kept as we pass.
    let mut sealed_sizes: Vec<(u64, Vec<u8>)> = Vec::new();
    let last_massif = size
        .checked_sub(1)
        .map(|last| massif::massif_of(log.massif_height, last));
    for k in 0..=last_massif.unwrap_or(0) {
        if let Some(seal) = repo.massif_seal(tenant, k).await? {
            sealed_sizes.push((seal.mmr_size as u64, seal.seal));
        }
    }
    let anchored = log.trust.anchor.read(tenant).await?;
    let mut peaks_at: HashMap<u64, Vec<Hash>> = HashMap::new();
    let wanted: Vec<u64> = sealed_sizes
        .iter()
        .map(|(s, _)| *s)
        .chain(anchored.iter().map(|a| a.size))
        .collect();
    if wanted.contains(&0) {
        peaks_at.insert(0, Vec::new());
    }
    'rebuild: while rebuilt.size < size && audit.problems.len() < 20 {
        let from = rebuilt.size;
        let to = (from + BATCH).min(size);
        // Parents a leaf completes reach past `to` by at most its height.
        let stored = repo.log_node_range(tenant, from..(to + 64).min(size)).await?;
        let mut leaves: HashMap<u64, (Hash, u64)> = HashMap::new();
        for event in repo.log_events(tenant, from..to).await? {
            let (Some(index), Some(id)) = (event.log_index, event.idtimestamp) else {
                continue;
            };
            match event_leaf(&event, id as u64) {
                Ok(leaf) => place(&mut leaves, &mut audit, index as u64, leaf, id as u64, "event"),
                Err(err) => audit.problems.push(format!("event {}: {err}", event.id)),
            }
        }
        for blob in repo.log_blobs(tenant, from..to).await? {
            let (Some(index), Some(id)) = (blob.log_index, blob.idtimestamp) else {
                continue;
            };
            place(
                &mut leaves,
                &mut audit,
                index as u64,
                blob_leaf(&blob, id as u64),
                id as u64,
                "blob",
            );
        }
        while rebuilt.size < to {
            let at = rebuilt.size;
            let Some((leaf, id)) = leaves.remove(&at) else {
                audit
                    .problems
                    .push(format!("node {at} should be a leaf, but no event or blob is there"));
                break 'rebuild;
            };
            let added = rebuilt.append(leaf, id)?;
            audit.leaves += 1;
            for (n, node) in added.iter().enumerate() {
                let i = at + n as u64;
                if stored.get((i - from) as usize) != Some(node) {
                    audit
                        .problems
                        .push(format!("node {i} is missing or not what the rows make it"));
                }
            }
            if wanted.contains(&rebuilt.size) {
                peaks_at.insert(rebuilt.size, rebuilt.peaks.clone());
            }
        }
        if let Some(index) = leaves.keys().min() {
            audit
                .problems
                .push(format!("a row claims node {index}, which is no leaf"));
        }
        audit.nodes = rebuilt.size.min(size);
        progress.tick(tenant, audit.nodes, size);
    }
    if rebuilt.size != size && audit.problems.is_empty() {
        audit.problems.push(format!(
            "the log's head says {size} nodes; its rows make {}",
            rebuilt.size
        ));
    }
    let unlogged = repo.unlogged().await?;
    if let Some((_, events, blobs)) = unlogged.iter().find(|(t, _, _)| *t == tenant) {
        audit
            .problems
            .push(format!("{events} events and {blobs} blobs have no place in the log"));
    }
    for (sealed, seal) in &sealed_sizes {
        audit.seals += 1;
        if let Err(why) = check_seal(log, seal, *sealed, peaks_at.get(sealed)) {
            audit.problems.push(format!("the seal at size {sealed}: {why}"));
        }
    }
    let in_database = repo.tenant_exists(tenant).await?;
    if !in_database {
        audit.problems.push(match &anchored {
            Some(record) => format!(
                "the log anchor holds a record of this tenant (a log of {} nodes), but the database has no such tenant",
                record.size
            ),
            None => "the database has no such tenant, but holds a log of it".into(),
        });
    }
    match anchored {
        None if !sealed_sizes.is_empty() => audit
            .anchor_problems
            .push("the anchor has no record of this log, which has seals".into()),
        None if in_database && log.trust.anchor.every_tenant_anchored().await? => audit.anchor_problems.push(
            "the log anchor has no record of this tenant: the database holds a tenant the anchor never saw".into(),
        ),
        None => {}
        Some(record) => {
            audit.anchored_size = Some(record.size);
            let expected = peaks_at.get(&record.size);
            match verify_record(log, record.clone()) {
                Err(err) => audit.anchor_problems.push(err.to_string()),
                Ok(_) if record.size > size => audit.anchor_problems.push(format!(
                    "the log holds {size} nodes, fewer than the {} anchored",
                    record.size
                )),
                Ok(_) if expected != Some(&record.peaks) => audit
                    .anchor_problems
                    .push(format!("the log is not the anchored log at size {}", record.size)),
                Ok(_) => {}
            }
        }
    }
    Ok(audit)
}

fn place(leaves: &mut HashMap<u64, (Hash, u64)>, audit: &mut TenantAudit, index: u64, leaf: Hash, id: u64, what: &str) {
    if leaves.insert(index, (leaf, id)).is_some() {
        audit
            .problems
            .push(format!("two rows claim node {index} (one a {what})"));
    }
}

fn check_seal(log: &LogState, seal: &[u8], size: u64, peaks: Option<&Vec<Hash>>) -> Result<(), String> {
    let contents = SealContents::parse(seal).map_err(|e| e.to_string())?;
    if contents.state.size != size {
        return Err(format!("it signs size {}", contents.state.size));
    }
    let key = log.trusted(&contents.key).ok_or_else(|| {
        format!(
            "signed by an untrusted key ({})",
            merklelog::signing::key_id(&contents.key)
        )
    })?;
    let peaks = peaks.ok_or("the log does not reach its size")?;
    contents.verify(peaks, key).map_err(|e| e.to_string())
}

/// Anchors the tenant's audited log anew: a fresh seal over its state, kept in the anchor
/// (replacing any record) and the database. Only for a log whose own checks all passed.
pub async fn reanchor(repo: &dyn Repo, log: &LogState, tenant: TenantId, audit: &TenantAudit) -> anyhow::Result<u64> {
    anyhow::ensure!(
        audit.problems.is_empty(),
        "{tenant}'s log fails its own checks; it cannot be anchored"
    );
    let (size, last_id) = repo.log_head(tenant).await?;
    if size == 0 {
        log.trust.anchor.remove(tenant).await?;
        log.trust.anchor.write(&AnchorRecord::empty(tenant)).await?;
        tracing::warn!(%tenant, previous = ?audit.anchored_size,
            "RE-ANCHORED: the tenant is anchored anew with an empty log");
        return Ok(0);
    }
    let indices = mmr::peaks(size);
    let nodes = repo.log_nodes_at(tenant, &indices).await?;
    let peaks = indices
        .iter()
        .map(|i| nodes.get(i).copied())
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| anyhow::anyhow!("a peak of {tenant}'s log is missing"))?;
    let massif_index = massif::massif_of(log.massif_height, size - 1);
    let state = MmrState {
        size,
        timestamp: chrono::Utc::now().timestamp_millis(),
        idtimestamp: last_id,
        commitment_epoch: u32::from(merklelog::idtimestamp::EPOCH),
        version: STATE_VERSION,
        peaks: peaks.clone(),
    };
    let seal = sign_with_receipts(&log.key, &state, ISSUER, &massif_path(tenant.0, massif_index))?;
    let record = AnchorRecord {
        tenant,
        size,
        massif_index,
        peaks,
        seal,
    };
    log.trust.anchor.remove(tenant).await?;
    log.trust.anchor.write(&record).await?;
    // Published over whatever seal the database holds for this massif, as the sealer would.
    repo.replace_seal(tenant, massif_index, size, &record.seal).await?;
    tracing::warn!(%tenant, size, previous = ?audit.anchored_size,
        "RE-ANCHORED: the tenant's log is anchored anew at its audited state");
    Ok(size)
}

/// The whole audit as `attachd log audit` runs it: prints the JSON summary and answers
/// whether everything passed (after re-anchoring, when asked).
pub async fn run(
    repo: crate::repo::DynRepo,
    log: LogState,
    tenant: Option<&str>,
    reanchor_it: bool,
) -> anyhow::Result<bool> {
    let tenants = match tenant {
        Some(named) => vec![TenantId::parse_identity(named)
            .or_else(|| TenantId::parse_bare(named).ok())
            .ok_or_else(|| anyhow::anyhow!("not a tenant: {named}"))?],
        None => crate::log::sealer::every_tenant(repo.as_ref(), &log).await?,
    };
    let mut audits = Vec::new();
    let mut reanchored = None;
    for tenant in tenants {
        let mut audit = audit_tenant(repo.as_ref(), &log, tenant).await?;
        if reanchor_it {
            reanchored = Some(reanchor(repo.as_ref(), &log, tenant, &audit).await?);
            audit.anchor_problems.clear();
            audit.anchored_size = reanchored;
        }
        audits.push(audit);
    }
    let failed: Vec<&TenantAudit> = audits.iter().filter(|a| !a.ok()).collect();
    let summary = serde_json::json!({
        "anchor": log.trust.anchor.to_string(),
        "tenants": audits.len(),
        "nodes": audits.iter().map(|a| a.nodes).sum::<u64>(),
        "leaves": audits.iter().map(|a| a.leaves).sum::<u64>(),
        "seals": audits.iter().map(|a| a.seals).sum::<u64>(),
        "reanchored_at": reanchored,
        "failed": failed,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(failed.is_empty())
}
