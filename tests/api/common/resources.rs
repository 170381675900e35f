//! One of each resource in a tenant: a blob attached to an asset, to one of the asset's
//! events and to an asset-free event, a plain app registration, a Navarik attachment and a
//! Mediapocket placeholder.

use serde_json::{json, Value};

use super::{attachment, bare_id, TestApp};

/// The bare ids of what `create` made.
pub struct Resources {
    pub blob: String,
    pub asset: String,
    pub event: String,
    pub free_event: String,
    pub app: String,
    /// A Navarik attachment of document `document` in workspace `workspace`.
    pub workspace: String,
    pub document: String,
    pub navarik: String,
    /// A Mediapocket placeholder on the asset.
    pub placeholder: String,
}

impl Resources {
    pub async fn create(app: &TestApp, token: &str, content: Vec<u8>, public: bool) -> anyhow::Result<Self> {
        let blob = app.upload(token, "evidence.bin", content.clone()).await?;
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
        let (workspace, document) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
        let part = reqwest::multipart::Part::bytes(content.clone()).file_name("bol.pdf");
        let navarik: Value = app
            .http
            .post(app.url(&format!("/v2/workspaces/{workspace}/documents/{document}/attachments")))
            .bearer_auth(token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await?
            .json()
            .await?;
        let (_, placeholder) = app
            .post_json(
                token,
                &format!("/api/v2/assets/{asset_id}/attachments"),
                &json!({"title": "to come"}),
            )
            .await?;
        Ok(Self {
            workspace,
            document,
            navarik: navarik["body"]["id"].as_str().unwrap_or_default().to_string(),
            placeholder: placeholder["asset"]["id"].as_str().unwrap_or_default().to_string(),
            blob: bare_id(&blob["identity"]),
            asset: asset_id,
            event: bare_id(&event["identity"]),
            free_event: bare_id(&free["identity"]),
            app: bare_id(&registration["identity"]),
        })
    }

    /// Ids only this tenant may see (workspace and document ids are the caller's own choice).
    pub fn ids(&self) -> [&str; 7] {
        [
            &self.blob,
            &self.asset,
            &self.event,
            &self.free_event,
            &self.app,
            &self.navarik,
            &self.placeholder,
        ]
    }
}
