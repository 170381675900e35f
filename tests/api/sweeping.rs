//! The sweeper, on every store: content no blob and no upload owns goes once older than
//! `ATTACHD_STORE_ORPHAN_AGE`, a crashed upload's leftovers (an S3 multipart upload too) go
//! once its ledger entry is stale, and an upload still in flight is never touched.

use std::time::Duration;

use bytes::Bytes;

use crate::all_stores;
use crate::common::{default_settings, eventually, Backend, Store, TestApp, TestDb};
use attachd::ids::{BlobId, TenantId};
use attachd::store::ContentId;

all_stores!(orphans_and_stale_uploads_are_swept);

async fn orphans_and_stale_uploads_are_swept(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut settings = default_settings();
    db.content.configure(&mut settings)?;
    settings.body_idle_timeout = 1.into();
    settings.store.store_orphan_age = 1.into();
    let repo = attachd::repo::connect(&db.url).await?;
    let store = attachd::store::open(&settings.store.content_store, repo.clone(), &settings.store.s3()).await?;
    let tenant = TenantId(uuid::Uuid::new_v4());
    let content = ContentId {
        tenant,
        blob: BlobId::new(),
    };
    let chunk = Bytes::from(vec![7u8; 1000]);

    // Content a crash left with no ledger entry: an orphan.
    let orphan = content;
    let mut staged = store.stage(orphan).await?;
    staged.write(std::slice::from_ref(&chunk)).await?;
    staged.finish().await?;
    drop(staged);

    // An upload in flight: listed, recently touched, its content written.
    let live = ContentId {
        blob: BlobId::new(),
        ..content
    };
    let _ledger = repo.begin_blob(live.tenant, live.blob).await?;
    let mut staged = store.stage(live).await?;
    staged.write(std::slice::from_ref(&chunk)).await?;
    staged.finish().await?;
    drop(staged);
    db.execute(&format!(
        "UPDATE blob_uploads SET touched_at = '2999-01-01T00:00:00+00:00' WHERE blob_id = {}",
        db.uuid(&live.blob.0)
    ))
    .await?;

    // A crashed upload: listed but stale, with an S3 multipart upload under way.
    let crashed = ContentId {
        blob: BlobId::new(),
        ..content
    };
    let multipart = if db.content.store == Store::S3 {
        use object_store::multipart::MultipartStore;
        let attachd::store::StoreUrl::S3 { prefix, .. } = &db.content.url else {
            anyhow::bail!("an S3 place without an S3 URL");
        };
        let path = object_store::path::Path::from(format!("{prefix}/{}/{}", tenant.0, crashed.blob.0));
        let client = crate::common::seaweedfs::seaweed()?.client()?;
        let id = client.create_multipart(&path).await?;
        client
            .put_part(&path, &id, 0, Bytes::from(vec![1u8; 5 << 20]).into())
            .await?;
        Some((path, id))
    } else {
        None
    };
    let mut ledger = repo.begin_blob(crashed.tenant, crashed.blob).await?;
    if let Some((_, id)) = &multipart {
        ledger.record_cleanup(id).await?;
    }
    db.execute(&format!(
        "UPDATE blob_uploads SET touched_at = '2000-01-01T00:00:00+00:00' WHERE blob_id = {}",
        db.uuid(&crashed.blob.0)
    ))
    .await?;

    let _app = TestApp::start_with(&db, settings).await?;
    eventually(
        "the orphan and the crashed upload are swept",
        Duration::from_secs(30),
        || async {
            let left = db.scalar("SELECT COUNT(*) FROM blob_uploads").await?;
            Ok(left == 1 && db.stored_content().await? == 1)
        },
    )
    .await?;
    if let Some((path, id)) = multipart {
        crate::common::store::assert_aborted(&path, &id).await?;
    }
    // What is left is the live upload's.
    let literal = db.uuid(&live.blob.0);
    assert_eq!(
        db.scalar(&format!("SELECT COUNT(*) FROM blob_uploads WHERE blob_id = {literal}"))
            .await?,
        1
    );
    assert_eq!(db.staged_chunks().await?, 1, "the live upload's content stays");
    Ok(())
}
