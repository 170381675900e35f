//! The offline verifier behind `attachd verify`: trusts nothing but a pinned public key.
//! It reads massifs and seals from a base URL or a directory, recomputes the event's leaf
//! from its JSON, checks the seal's signature over the peaks the massif holds and the
//! event's path to one of them; or that a later seal's log extends an earlier one's.

use std::path::PathBuf;

use merklelog::massif::{self, ParsedMassif};
use merklelog::seal::SealContents;
use merklelog::verify::{self, Consistent, EventEntry, Included};
use p384::ecdsa::VerifyingKey;
use serde_json::Value;

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
        Ok(ParsedMassif::parse(blob)?)
    }

    async fn seal(&self, tenant: uuid::Uuid, index: u64) -> anyhow::Result<Option<Vec<u8>>> {
        self.fetch(tenant, "massifseals", index, "sth").await
    }
}

/// Checks that `event` (its JSON as the API returned it) is in its tenant's log under the
/// seal of its massif, signed by one of `keys`.
pub async fn verify_inclusion(
    source: &LogSource,
    keys: &[VerifyingKey],
    event: &Value,
) -> anyhow::Result<(EventEntry, Included)> {
    let entry = EventEntry::from_json(event)?;
    let first = source.massif(entry.tenant, 0).await?;
    let k = massif::massif_of(first.height, entry.index);
    let massif = match k {
        0 => first,
        _ => source.massif(entry.tenant, k).await?,
    };
    let seal = source
        .seal(entry.tenant, k)
        .await?
        .ok_or_else(|| anyhow::anyhow!("massif {k} has no seal yet"))?;
    let included = verify::verify_inclusion(&entry, &massif, &seal, keys)?;
    Ok((entry, included))
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
    let mut massifs = Vec::new();
    for k in old_massif..=new_massif {
        massifs.push(source.massif(tenant, k).await?);
    }
    Ok(verify::verify_consistency(old, &new, &massifs, keys)?)
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
