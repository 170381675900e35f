//! The offline verifier behind `attachd verify`: trusts nothing but a pinned public key.
//! It reads massifs and seals from a base URL or a directory, recomputes the event's leaf
//! from its JSON, checks the seal's signature over the peaks the massif holds and the
//! event's path to one of them; or that a later seal's log extends an earlier one's.

use std::collections::HashMap;
use std::path::PathBuf;

use p384::ecdsa::VerifyingKey;
use serde_json::Value;

use super::idtimestamp;
use super::leaf::{eventsv1_leaf, leaf_hash};
use super::massif::{self, ParsedMassif};
use super::mmr::{self, Hash};
use super::seal::SealContents;
use super::signing::key_id;

/// Where massifs and seals are read from.
pub enum LogSource {
    /// An attachd (or DataTrails) base URL: `…/verifiabledata/merklelogs/v1/mmrs/…`.
    Url(String),
    /// A directory of downloaded blobs: `tenant/<uuid>/0/massifs/…` as veracity replicates
    /// them, or the `.log` and `.sth` files side by side.
    Dir(PathBuf),
}

impl LogSource {
    async fn fetch(
        &self,
        tenant: uuid::Uuid,
        kind: &str,
        index: u64,
        extension: &str,
    ) -> anyhow::Result<Option<Vec<u8>>> {
        let relative = format!("tenant/{tenant}/0/{kind}/{index:016}.{extension}");
        match self {
            LogSource::Url(base) => {
                let url = format!(
                    "{}/verifiabledata/merklelogs/v1/mmrs/{relative}",
                    base.trim_end_matches('/')
                );
                let response = reqwest::get(&url).await?;
                if response.status() == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                let response = response.error_for_status()?;
                Ok(Some(response.bytes().await?.to_vec()))
            }
            LogSource::Dir(dir) => {
                for path in [dir.join(&relative), dir.join(format!("{index:016}.{extension}"))] {
                    match tokio::fs::read(&path).await {
                        Ok(bytes) => return Ok(Some(bytes)),
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(err) => return Err(anyhow::anyhow!("reading {}: {err}", path.display())),
                    }
                }
                Ok(None)
            }
        }
    }

    async fn massif(&self, tenant: uuid::Uuid, index: u64) -> anyhow::Result<ParsedMassif> {
        let blob = self
            .fetch(tenant, "massifs", index, "log")
            .await?
            .ok_or_else(|| anyhow::anyhow!("massif {index} of tenant/{tenant} is not there"))?;
        ParsedMassif::parse(blob)
    }

    async fn seal(&self, tenant: uuid::Uuid, index: u64) -> anyhow::Result<Option<Vec<u8>>> {
        self.fetch(tenant, "massifseals", index, "sth").await
    }
}

/// What an inclusion check established.
pub struct Included {
    pub identity: String,
    pub tenant: uuid::Uuid,
    pub index: u64,
    pub size: u64,
    pub massif: u64,
    pub kid: String,
}

/// Checks that `event` (its JSON as the API returned it) is in its tenant's log under the
/// seal of its massif, signed by one of `keys`.
pub async fn verify_inclusion(source: &LogSource, keys: &[VerifyingKey], event: &Value) -> anyhow::Result<Included> {
    let text = |value: &Value| value.as_str().map(str::to_string);
    let identity = text(&event["identity"]).ok_or_else(|| anyhow::anyhow!("the event has no identity"))?;
    let (commit, tenant) = match identity.starts_with("events/") {
        true => (&event["merklelog_commit"], text(&event["origin_tenant"])),
        false => (&event["merklelog_entry"]["commit"], text(&event["tenant_identity"])),
    };
    let tenant: uuid::Uuid = tenant
        .as_deref()
        .and_then(|t| t.strip_prefix("tenant/"))
        .ok_or_else(|| anyhow::anyhow!("the event names no tenant"))?
        .parse()?;
    let index: u64 = text(&commit["index"])
        .ok_or_else(|| anyhow::anyhow!("the event has no merklelog commit index"))?
        .parse()?;
    let id = text(&commit["idtimestamp"])
        .as_deref()
        .and_then(idtimestamp::from_hex)
        .ok_or_else(|| anyhow::anyhow!("the event has no valid idtimestamp"))?;
    let leaf = match identity.starts_with("events/") {
        true => eventsv1_leaf(id, tenant, &event["attributes"], &event["trails"]),
        false => leaf_hash(id, event)?,
    };
    let first = source.massif(tenant, 0).await?;
    let k = massif::massif_of(first.height, index);
    let height = first.height;
    let massif = match k {
        0 => first,
        _ => source.massif(tenant, k).await?,
    };
    let seal = source
        .seal(tenant, k)
        .await?
        .ok_or_else(|| anyhow::anyhow!("massif {k} has no seal yet"))?;
    let (size, kid) = check_seal(&seal, &massif, keys)?;
    anyhow::ensure!(
        index < size,
        "the seal of massif {k} covers {size} nodes, not node {index} yet"
    );
    let entry = massif
        .entry(mmr::leaf_index(index) - (k << (height - 1)))
        .ok_or_else(|| anyhow::anyhow!("massif {k} has no index entry for node {index}"))?;
    anyhow::ensure!(
        entry.idtimestamp == id,
        "the massif's idtimestamp for node {index} differs from the event's"
    );
    anyhow::ensure!(
        mmr::NodeSource::node(&massif, index)? == leaf,
        "the massif's leaf at node {index} is not the event's (the event or the log differs)"
    );
    let peaks = mmr::peak_hashes(size, &massif)?;
    let proof = mmr::inclusion_proof(size, index, &massif)?;
    anyhow::ensure!(
        mmr::verify_inclusion(size, &peaks, index, &leaf, &proof),
        "the event's leaf is not at node {index} of the sealed log (the event or the log differs)"
    );
    Ok(Included {
        identity,
        tenant,
        index,
        size,
        massif: k,
        kid,
    })
}

/// Checks `seal` against the peaks `massif` holds at the sealed size, with the one of
/// `keys` it names; answers that size and the key's id.
fn check_seal(seal: &[u8], massif: &ParsedMassif, keys: &[VerifyingKey]) -> anyhow::Result<(u64, String)> {
    let contents = SealContents::parse(seal)?;
    let key = keys.iter().find(|key| **key == contents.key).ok_or_else(|| {
        anyhow::anyhow!(
            "the seal is signed by {}, which is not a pinned key",
            key_id(&contents.key)
        )
    })?;
    let size = contents.state.size;
    anyhow::ensure!(
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
pub struct Consistent {
    pub old_size: u64,
    pub new_size: u64,
}

/// Checks that the log `new` seals extends the log `old` seals; both are checked against
/// the massifs holding their states and `keys`. Without `new`, the latest seal is used.
pub async fn verify_consistency(
    source: &LogSource,
    keys: &[VerifyingKey],
    tenant: uuid::Uuid,
    old: &[u8],
    new: Option<&[u8]>,
) -> anyhow::Result<Consistent> {
    let height = source.massif(tenant, 0).await?.height;
    let old_size = SealContents::parse(old)?.state.size;
    let old_massif = massif::massif_of(height, old_size.saturating_sub(1));
    let (new, new_massif) = match new {
        Some(new) => {
            let size = SealContents::parse(new)?.state.size;
            (new.to_vec(), massif::massif_of(height, size.saturating_sub(1)))
        }
        None => latest_seal(source, tenant, old_massif).await?,
    };
    let new_size = SealContents::parse(&new)?.state.size;
    anyhow::ensure!(
        old_size <= new_size,
        "the new seal covers {new_size} nodes, fewer than the old one's {old_size}"
    );
    // Every node of the massifs between the two states, with the older peaks.
    let mut nodes: HashMap<u64, Hash> = HashMap::new();
    let mut massifs = Vec::new();
    for k in old_massif..=new_massif {
        let massif = source.massif(tenant, k).await?;
        let first = massif.first_index();
        nodes.extend(massif.nodes.iter().enumerate().map(|(n, h)| (first + n as u64, *h)));
        nodes.extend(mmr::peaks(first).into_iter().zip(massif.peak_stack.iter().copied()));
        massifs.push(massif);
    }
    let (Some(first), Some(last)) = (massifs.first(), massifs.last()) else {
        anyhow::bail!("no massifs to check");
    };
    check_seal(old, first, keys)?;
    check_seal(&new, last, keys)?;
    let old_peaks = mmr::peak_hashes(old_size, &nodes)?;
    let new_peaks = mmr::peak_hashes(new_size, &nodes)?;
    let proof = mmr::consistency_proof(old_size, new_size, &nodes)?;
    anyhow::ensure!(
        mmr::verify_consistency(old_size, &old_peaks, new_size, &new_peaks, &proof),
        "the log of {new_size} nodes does not extend the sealed log of {old_size}: history was rewritten"
    );
    Ok(Consistent { old_size, new_size })
}

/// The seal of the highest massif from `from` on.
async fn latest_seal(source: &LogSource, tenant: uuid::Uuid, from: u64) -> anyhow::Result<(Vec<u8>, u64)> {
    let mut found = None;
    let mut k = from;
    while let Some(seal) = source.seal(tenant, k).await? {
        found = Some((seal, k));
        k += 1;
    }
    found.ok_or_else(|| anyhow::anyhow!("tenant/{tenant} has no seal from massif {from} on"))
}

/// `attachd verify`: the verdict, or why not.
pub async fn run(args: &crate::config::VerifyArgs) -> anyhow::Result<String> {
    let mut keys = Vec::new();
    for path in &args.key {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the public key {}: {e}", path.display()))?;
        keys.push(super::signing::public_from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?);
    }
    let source = match (&args.url, &args.dir) {
        (Some(url), _) => LogSource::Url(url.clone()),
        (None, Some(dir)) => LogSource::Dir(dir.clone()),
        (None, None) => anyhow::bail!("give --url or --dir"),
    };
    if let [old, new @ ..] = args.consistency.as_slice() {
        let tenant = args.tenant.as_deref().unwrap_or_default();
        let tenant: uuid::Uuid = tenant.strip_prefix("tenant/").unwrap_or(tenant).parse()?;
        let read = |path: &PathBuf| std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()));
        let old = read(old)?;
        let new = new.first().map(read).transpose()?;
        let checked = verify_consistency(&source, &keys, tenant, &old, new.as_deref()).await?;
        return Ok(format!(
            "tenant/{tenant}: the log of {} nodes extends the sealed log of {} nodes",
            checked.new_size, checked.old_size
        ));
    }
    let path = args
        .event
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("give an event's JSON or --consistency"))?;
    let text = match path.to_str() {
        Some("-") => std::io::read_to_string(std::io::stdin())?,
        _ => std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
    };
    let event: Value = serde_json::from_str(&text)?;
    let included = verify_inclusion(&source, &keys, &event).await?;
    Ok(format!(
        "{} is node {} of tenant/{}'s log, sealed at {} nodes (massif {}) by {}",
        included.identity, included.index, included.tenant, included.size, included.massif, included.kid
    ))
}
