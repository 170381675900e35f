//! Who may read another tenant's asset, and what of it. An owner's subjects name other
//! tenants by their keys; its access policies grant subjects the attributes of the assets
//! their filters match. The owner's grant alone decides: the reader need not have imported
//! the owner in return.
//!
//! Each owner's subjects and policies are read once and kept for at most a second, so a
//! change reaches every process within that; the process that made it forgets them at once.

mod lists;
pub mod policy;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rand::RngCore;
use serde_json::{Map, Value};

use crate::ids::TenantId;
use crate::repo::sharing::{SelfKeys, SharingSet};
use crate::repo::{Asset, DynRepo, RepoResult, SharedScope};
use policy::{AssetView, Filters, Grant, OrList, Permission};

/// How long an owner's sharing set is kept: the most a change takes to reach a process.
pub const SET_LIFETIME: Duration = Duration::from_secs(1);

/// The self subject's id, as DataTrails names it.
pub const SELF_SUBJECT: &str = "00000000-0000-0000-0000-000000000000";

/// An owner's policies, parsed, and which tenants its subjects stand for.
struct Compiled {
    /// Each subject's identity with its keys.
    subjects: Vec<(String, Vec<String>)>,
    policies: Vec<(Filters, Vec<Permission>)>,
}

impl Compiled {
    fn new(set: SharingSet) -> Self {
        let keys = |text: &str| serde_json::from_str::<Vec<String>>(text).unwrap_or_default();
        let subjects = set
            .subjects
            .iter()
            .map(|s| {
                let mut all = keys(&s.wallet_pub_key);
                all.extend(keys(&s.tessera_pub_key));
                (format!("subjects/{}", s.id), all)
            })
            .collect();
        // A stored policy was checked when stored; one that no longer parses (edited by
        // hand) grants nothing.
        let policies = set
            .policies
            .iter()
            .filter_map(|p| {
                let lists: Vec<OrList> = serde_json::from_str(&p.filters).ok()?;
                let permissions: Vec<Permission> = serde_json::from_str(&p.access_permissions).ok()?;
                Some((Filters::parse(&lists).ok()?, permissions))
            })
            .collect();
        Self { subjects, policies }
    }
}

impl Compiled {
    /// The identities of the subjects that stand for the tenant with `keys`.
    fn standing(&self, keys: &SelfKeys) -> Vec<&str> {
        self.subjects
            .iter()
            .filter(|(_, held)| {
                held.iter()
                    .any(|k| *k == keys.wallet_pub_key || *k == keys.tessera_pub_key)
            })
            .map(|(identity, _)| identity.as_str())
            .collect()
    }

    /// The policies granting any of `standing`, with their permissions that do.
    fn granting<'a>(&'a self, standing: &'a [&str]) -> impl Iterator<Item = (&'a Filters, Vec<&'a Permission>)> + 'a {
        self.policies.iter().filter_map(move |(filters, permissions)| {
            let granting: Vec<&Permission> = permissions
                .iter()
                .filter(|p| p.subjects.iter().any(|s| standing.contains(&s.as_str())))
                .collect();
            (!granting.is_empty()).then_some((filters, granting))
        })
    }
}

/// The sharing decisions, over the repository.
pub struct Sharing {
    repo: DynRepo,
    sets: moka::future::Cache<uuid::Uuid, Arc<Compiled>>,
    keys: moka::future::Cache<uuid::Uuid, SelfKeys>,
    /// For each reader, the owners with a subject that may stand for it.
    owners: moka::future::Cache<uuid::Uuid, Arc<Vec<TenantId>>>,
}

impl Sharing {
    pub fn new(repo: DynRepo) -> Self {
        Self {
            repo,
            sets: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(SET_LIFETIME)
                .build(),
            // A tenant's keys never change once made.
            keys: moka::future::Cache::new(100_000),
            owners: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(SET_LIFETIME)
                .build(),
        }
    }

    /// The tenant's own keys, made on first use.
    pub async fn self_keys(&self, tenant: TenantId) -> RepoResult<SelfKeys> {
        if let Some(keys) = self.keys.get(&tenant.0).await {
            return Ok(keys);
        }
        let keys = self.repo.self_keys(tenant, new_keys()).await?;
        self.keys.insert(tenant.0, keys.clone()).await;
        Ok(keys)
    }

    /// Forgets what `owner` shares, after it changed it.
    pub async fn changed(&self, owner: TenantId) {
        self.sets.invalidate(&owner.0).await;
        // Any reader may have become, or stopped being, one of its subjects.
        self.owners.invalidate_all();
    }

    /// The owners that share anything with `reader`, each with the SQL narrowing of the
    /// assets it may share.
    pub async fn shared_with(&self, reader: TenantId) -> RepoResult<Vec<(TenantId, SharedScope)>> {
        let owners = match self.owners.get(&reader.0).await {
            Some(owners) => owners,
            None => {
                let keys = self.self_keys(reader).await?;
                let owners = Arc::new(self.repo.owners_sharing_with(&keys).await?);
                self.owners.insert(reader.0, owners.clone()).await;
                owners
            }
        };
        let keys = self.self_keys(reader).await?;
        let mut shared = Vec::new();
        for owner in owners.iter().filter(|owner| **owner != reader) {
            let set = self.compiled(*owner).await?;
            let standing = set.standing(&keys);
            let alternatives: Vec<_> = set
                .granting(&standing)
                .map(|(filters, _)| filters.narrowing())
                .collect();
            if !alternatives.is_empty() {
                shared.push((*owner, SharedScope { alternatives }));
            }
        }
        Ok(shared)
    }

    async fn compiled(&self, owner: TenantId) -> RepoResult<Arc<Compiled>> {
        if let Some(set) = self.sets.get(&owner.0).await {
            return Ok(set);
        }
        let set = Arc::new(Compiled::new(self.repo.sharing_set(owner).await?));
        self.sets.insert(owner.0, set.clone()).await;
        Ok(set)
    }

    /// What `reader` may see of `asset`, another tenant's: `None` when nothing.
    pub async fn grant(&self, reader: TenantId, asset: &Asset) -> RepoResult<Option<Grant>> {
        let owner = TenantId(asset.tenant_id);
        if owner == reader {
            return Ok(None);
        }
        let set = self.compiled(owner).await?;
        if set.policies.is_empty() {
            return Ok(None);
        }
        let keys = self.self_keys(reader).await?;
        let standing = set.standing(&keys);
        if standing.is_empty() {
            return Ok(None);
        }
        let attributes: Map<String, Value> = serde_json::from_str(&asset.attributes).unwrap_or_default();
        let behaviours: Vec<String> = serde_json::from_str(&asset.behaviours).unwrap_or_default();
        let view = AssetView {
            attributes: &attributes,
            behaviours: &behaviours,
            public: asset.public,
        };
        let mut grant: Option<Grant> = None;
        for (filters, permissions) in set.granting(&standing) {
            if filters.matches(&view) {
                let grant = grant.get_or_insert_with(Grant::default);
                permissions.iter().for_each(|p| p.widen(grant));
            }
        }
        Ok(grant)
    }

    /// Whether `filters` (a stored policy's) match `asset`; unreadable filters match nothing.
    pub fn matches(filters: &[OrList], asset: &Asset) -> bool {
        let Ok(filters) = Filters::parse(filters) else {
            return false;
        };
        let attributes: Map<String, Value> = serde_json::from_str(&asset.attributes).unwrap_or_default();
        let behaviours: Vec<String> = serde_json::from_str(&asset.behaviours).unwrap_or_default();
        filters.matches(&AssetView {
            attributes: &attributes,
            behaviours: &behaviours,
            public: asset.public,
        })
    }
}

/// Fresh keys for a tenant, shaped as DataTrails writes them: an uncompressed public key in
/// hex and 32 bytes in base64. They name the tenant; attachd signs nothing with them.
fn new_keys() -> SelfKeys {
    let mut wallet = [0u8; 64];
    let mut tessera = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut wallet);
    rand::thread_rng().fill_bytes(&mut tessera);
    SelfKeys {
        wallet_pub_key: format!("04{}", hex::encode(wallet)),
        tessera_pub_key: base64::engine::general_purpose::STANDARD.encode(tessera),
    }
}
