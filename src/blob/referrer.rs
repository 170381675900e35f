//! Blobs as the assets and events that reference them see them: which attachment attributes
//! name a blob, the check that every reference names a blob of the tenant with that hash, and
//! the download: the referencing event proven to be in the tenant's signed log, then the
//! content verified against every referencing hash.

use serde_json::Value;

use super::{find_references, verified_download, BlobReference, DownloadCheck, ScanGate};
use super::{BlobError, BlobResult};
use crate::ids::{AssetId, BlobId, TenantId};
use crate::log::prove::{check_event, ProofError};
use crate::log::state::LogState;
use crate::repo::{Asset, Blob, DynRepo, Event, EventScope, ListQuery, Repo};

/// Every attachment attribute under `roots` must name a blob of `tenant` whose stored hash
/// equals the attribute's `arc_blob_hash_value`; otherwise 400 naming the attribute.
pub async fn check_references(repo: &dyn Repo, tenant: TenantId, roots: &[(&str, &Value)]) -> BlobResult<()> {
    for (root, tree) in roots {
        for reference in find_references(root, tree).map_err(BlobError::BadRequest)? {
            let Some(blob) = repo.blob(tenant, reference.blob).await? else {
                return Err(BlobError::bad_request(format!(
                    "attachment attribute {}: {} does not exist",
                    reference.attribute, reference.blob
                )));
            };
            if !blob.hash_sha256.eq_ignore_ascii_case(&reference.hash) {
                return Err(BlobError::bad_request(format!(
                    "attachment attribute {}: arc_blob_hash_value does not match the SHA-256 of {}",
                    reference.attribute, reference.blob
                )));
            }
        }
    }
    Ok(())
}

/// The tenant owning the referencing resource and the attachment attributes it holds.
pub struct Referrer {
    tenant: TenantId,
    references: Vec<BlobReference>,
    /// The route, for the log line of an integrity failure.
    route: &'static str,
    /// What the log must prove before any byte is sent.
    source: Source,
}

enum Source {
    /// The event's own attributes reference the blob.
    Event(Box<Event>),
    /// The asset's attributes do; the event that last set each must be in the log.
    Asset(Box<Asset>),
}

/// What a reader sees of an attribute object's JSON text.
pub type Seen<'a> = &'a dyn Fn(&str) -> String;

/// The owner sees all.
fn all(text: &str) -> String {
    text.to_string()
}

impl Referrer {
    pub fn of_asset(asset: &Asset, route: &'static str) -> Self {
        Self::of_asset_seen(asset, route, &all)
    }

    /// As `of_asset`, for a reader who sees of its attributes only what `seen` leaves: only
    /// those can name a blob to it, while the proof is of the asset as it is.
    pub fn of_asset_seen(asset: &Asset, route: &'static str, seen: Seen) -> Self {
        let source = Source::Asset(Box::new(asset.clone()));
        Self::from_trees(
            TenantId(asset.tenant_id),
            &[("attributes", &asset.attributes)],
            seen,
            route,
            source,
        )
    }

    pub fn of_event(event: &Event, route: &'static str) -> Self {
        Self::of_event_seen(event, route, &all)
    }

    /// As `of_asset_seen`, for an event.
    pub fn of_event_seen(event: &Event, route: &'static str, seen: Seen) -> Self {
        let trees: &[(&str, &str)] = if event.asset_id.is_some() {
            &[
                ("event_attributes", &event.event_attributes),
                ("asset_attributes", &event.asset_attributes),
            ]
        } else {
            &[("attributes", &event.event_attributes)]
        };
        let source = Source::Event(Box::new(event.clone()));
        Self::from_trees(TenantId(event.tenant_id), trees, seen, route, source)
    }

    fn from_trees(tenant: TenantId, trees: &[(&str, &str)], seen: Seen, route: &'static str, source: Source) -> Self {
        let mut references = Vec::new();
        for (root, text) in trees {
            // Stored attributes were checked on create; a malformed one now counts as no reference.
            let tree = serde_json::from_str(&seen(text)).unwrap_or(Value::Null);
            references.extend(find_references(root, &tree).unwrap_or_default());
        }
        Self {
            tenant,
            references,
            route,
            source,
        }
    }

    /// The referenced blob and the references naming it, or 404.
    pub async fn blob(&self, repo: &dyn Repo, uuid: &str) -> BlobResult<(Blob, Vec<&BlobReference>)> {
        let id = BlobId::parse_bare(uuid)?;
        let naming: Vec<&BlobReference> = self.references.iter().filter(|r| r.blob == id).collect();
        if naming.is_empty() {
            return Err(BlobError::not_found("attachment"));
        }
        let blob = repo
            .blob(self.tenant, id)
            .await?
            .ok_or_else(|| BlobError::not_found("attachment"))?;
        Ok((blob, naming))
    }

    /// The blob's content, checked against its own hash and every referencing one.
    pub async fn download(
        &self,
        repo: DynRepo,
        content: &super::Content,
        log: &LogState,
        uuid: &str,
        gate: ScanGate,
        range: Option<&str>,
    ) -> BlobResult<super::Download> {
        let (blob, naming) = self.blob(repo.as_ref(), uuid).await?;
        gate.check(&blob)?;
        let file_name = naming.iter().find_map(|r| r.file_name.clone());
        let check = DownloadCheck {
            route: self.route,
            expected: naming.iter().map(|r| r.hash.clone()).collect(),
            file_name: Some(file_name.unwrap_or_else(|| uuid.to_string())),
        };
        if blob.tampered_at.is_some() {
            // Proven first, so that a whole download hashing right may clear the mark.
            self.prove(repo.as_ref(), log, &blob, &naming).await?;
            return verified_download(repo.clone(), content, blob.clone(), check, range).await;
        }
        // The content is read while the log is checked; nothing is sent until the events
        // are proven, and a failed proof is what the client is told.
        let (proven, response) = tokio::join!(
            self.prove(repo.as_ref(), log, &blob, &naming),
            verified_download(repo.clone(), content, blob.clone(), check, range)
        );
        proven?;
        response
    }
}

impl Referrer {
    /// Proves the referencing events are in the signed log; a failure is a tamper.
    async fn prove(&self, repo: &dyn Repo, log: &LogState, blob: &Blob, naming: &[&BlobReference]) -> BlobResult<()> {
        let events = match &self.source {
            Source::Event(event) => vec![(**event).clone()],
            Source::Asset(asset) => {
                let mut events = Vec::new();
                for reference in naming {
                    match setting_event(repo, asset, &reference.attribute).await? {
                        Ok(event) => events.push(event),
                        Err(why) => return Err(self.tampered(repo, log, blob, why).await),
                    }
                }
                events
            }
        };
        for event in &events {
            match check_event(repo, log, event).await {
                Ok(_) => {}
                Err(ProofError::Failed(why)) => return Err(self.tampered(repo, log, blob, why).await),
                Err(ProofError::Refused(why)) => return Err(super::download::refused(BlobId(blob.id), &why)),
                Err(ProofError::Unavailable(why)) => return Err(BlobError::Unavailable(why)),
                Err(ProofError::Repo(err)) => return Err(err.into()),
                Err(ProofError::Other(err)) => return Err(BlobError::internal(err)),
            }
        }
        Ok(())
    }

    /// Reports a log that fails its checks as content tampering is reported.
    async fn tampered(&self, repo: &dyn Repo, log: &LogState, blob: &Blob, why: String) -> BlobError {
        tracing::error!(tenant = %self.tenant, blob = %blob.id, route = self.route, why = %why,
            "integrity failure: the referencing event is not in the signed log");
        metrics::counter!(crate::metrics::INTEGRITY_FAILURES, "route" => self.route).increment(1);
        log.trust.failed(self.tenant, &why);
        if let Err(err) = repo.mark_tampered(self.tenant, BlobId(blob.id)).await {
            tracing::error!(error = %err, blob = %blob.id, "could not mark blob as tampered");
        }
        BlobError::DataLoss(format!(
            "{} cannot be proven to be what its event recorded ({why}); it will not be delivered",
            blob.id
        ))
    }
}

/// The newest event of `asset` that set the top-level attribute holding `path` (e.g.
/// `attributes.doc` or `attributes.docs[1]`), which must have set it to the value the
/// asset has; `Err` says why not.
async fn setting_event(repo: &dyn Repo, asset: &Asset, path: &str) -> BlobResult<Result<Event, String>> {
    let current = crate::repo::leaves::json_text(&asset.attributes);
    let rest = path.strip_prefix("attributes.").unwrap_or(path);
    let mut query = ListQuery {
        limit: 100,
        ..Default::default()
    };
    let scope = EventScope::Asset(AssetId(asset.id));
    loop {
        let events = repo.list_events(TenantId(asset.tenant_id), scope, &query).await?;
        for event in &events {
            let set = crate::repo::leaves::json_text(&event.asset_attributes);
            let Some(object) = set.as_object() else { continue };
            let key = object.keys().find(|key| {
                rest.strip_prefix(key.as_str())
                    .is_some_and(|after| after.is_empty() || after.starts_with('[') || after.starts_with('.'))
            });
            if let Some(key) = key {
                return Ok(match current.get(key) == object.get(key) {
                    true => Ok(event.clone()),
                    false => Err(format!("the asset's {key} is not what its last event set")),
                });
            }
        }
        match events.last() {
            Some(last) if events.len() as i64 == query.limit => query.before = Some(last.seq),
            _ => return Ok(Err(format!("no event of the asset set {path}"))),
        }
    }
}
