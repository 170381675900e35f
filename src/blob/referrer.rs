//! Blobs as the assets and events that reference them see them: which attachment attributes
//! name a blob, the check that every reference names a blob of the tenant with that hash, and
//! the download verified against every referencing hash.

use axum::response::Response;
use serde_json::Value;

use super::{find_references, verified_download, BlobReference, DownloadCheck, ScanGate};
use crate::error::{ApiError, ApiResult};
use crate::ids::{BlobId, TenantId};
use crate::repo::{Asset, Blob, DynRepo, Event, Repo};

/// Every attachment attribute under `roots` must name a blob of `tenant` whose stored hash
/// equals the attribute's `arc_blob_hash_value`; otherwise 400 naming the attribute.
pub async fn check_references(repo: &dyn Repo, tenant: TenantId, roots: &[(&str, &Value)]) -> ApiResult<()> {
    for (root, tree) in roots {
        for reference in find_references(root, tree).map_err(ApiError::BadRequest)? {
            let Some(blob) = repo.blob(tenant, reference.blob).await? else {
                return Err(ApiError::bad_request(format!(
                    "attachment attribute {}: {} does not exist",
                    reference.attribute, reference.blob
                )));
            };
            if !blob.hash_sha256.eq_ignore_ascii_case(&reference.hash) {
                return Err(ApiError::bad_request(format!(
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
}

impl Referrer {
    pub fn of_asset(asset: &Asset, route: &'static str) -> Self {
        Self::from_trees(TenantId(asset.tenant_id), &[("attributes", &asset.attributes)], route)
    }

    pub fn of_event(event: &Event, route: &'static str) -> Self {
        let trees: &[(&str, &str)] = if event.asset_id.is_some() {
            &[
                ("event_attributes", &event.event_attributes),
                ("asset_attributes", &event.asset_attributes),
            ]
        } else {
            &[("attributes", &event.event_attributes)]
        };
        Self::from_trees(TenantId(event.tenant_id), trees, route)
    }

    fn from_trees(tenant: TenantId, trees: &[(&str, &str)], route: &'static str) -> Self {
        let mut references = Vec::new();
        for (root, text) in trees {
            // Stored attributes were checked on create; a malformed one now counts as no reference.
            let tree = serde_json::from_str(text).unwrap_or(Value::Null);
            references.extend(find_references(root, &tree).unwrap_or_default());
        }
        Self {
            tenant,
            references,
            route,
        }
    }

    /// The referenced blob and the references naming it, or 404.
    pub async fn blob(&self, repo: &dyn Repo, uuid: &str) -> ApiResult<(Blob, Vec<&BlobReference>)> {
        let id = BlobId::parse_bare(uuid)?;
        let naming: Vec<&BlobReference> = self.references.iter().filter(|r| r.blob == id).collect();
        if naming.is_empty() {
            return Err(ApiError::not_found("attachment"));
        }
        let blob = repo
            .blob(self.tenant, id)
            .await?
            .ok_or_else(|| ApiError::not_found("attachment"))?;
        Ok((blob, naming))
    }

    /// The blob's content, checked against its own hash and every referencing one.
    pub async fn download(
        &self,
        repo: DynRepo,
        uuid: &str,
        gate: ScanGate,
        range: Option<&str>,
    ) -> ApiResult<Response> {
        let (blob, naming) = self.blob(repo.as_ref(), uuid).await?;
        gate.check(&blob)?;
        let file_name = naming.iter().find_map(|r| r.file_name.clone());
        let check = DownloadCheck {
            route: self.route,
            expected: naming.iter().map(|r| r.hash.clone()).collect(),
            file_name: Some(file_name.unwrap_or_else(|| uuid.to_string())),
        };
        verified_download(repo.clone(), blob, check, range).await
    }
}
