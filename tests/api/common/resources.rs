//! One of each resource in a tenant: a blob attached to an asset, to one of the asset's
//! events and to an asset-free event, and a plain app registration.

use serde_json::json;

use super::{attachment, bare_id, TestApp};

/// The bare ids of what `create` made.
pub struct Resources {
    pub blob: String,
    pub asset: String,
    pub event: String,
    pub free_event: String,
    pub app: String,
}

impl Resources {
    pub async fn create(app: &TestApp, token: &str, content: Vec<u8>, public: bool) -> anyhow::Result<Self> {
        let blob = app.upload(token, "evidence.bin", content).await?;
        let doc = json!({"doc": attachment(&blob, "evidence.bin")});
        let asset = app.create_asset(token, doc.clone(), public).await?;
        let asset_id = bare_id(&asset["identity"]);
        let body = json!({"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": doc});
        let (_, event) = app
            .post_json(token, &format!("/archivist/v2/assets/{asset_id}/events"), &body)
            .await?;
        let (_, free) = app
            .post_json(token, "/archivist/v1/events", &json!({"attributes": doc}))
            .await?;
        let (_, registration) = app
            .post_json(
                token,
                "/archivist/iam/v1/applications",
                &json!({"display_name": "plain"}),
            )
            .await?;
        Ok(Self {
            blob: bare_id(&blob["identity"]),
            asset: asset_id,
            event: bare_id(&event["identity"]),
            free_event: bare_id(&free["identity"]),
            app: bare_id(&registration["identity"]),
        })
    }

    pub fn ids(&self) -> [&str; 5] {
        [&self.blob, &self.asset, &self.event, &self.free_event, &self.app]
    }
}
