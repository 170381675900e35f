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

/// Directories put where the file store keeps content, named like blobs, are passed over:
/// they neither stop the sweep (orphaned content beside them still goes) nor get removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_directories_do_not_stop_the_file_sweep() -> anyhow::Result<()> {
    crate::common::store::STORE
        .scope(Store::File, async {
            let db = TestDb::new(Backend::Sqlite).await?;
            let mut settings = default_settings();
            db.content.configure(&mut settings)?;
            settings.store.store_orphan_age = 1.into();
            let attachd::store::StoreUrl::File(root) = &db.content.url else {
                anyhow::bail!("a file place without a directory");
            };
            let repo = attachd::repo::connect(&db.url).await?;
            let store = attachd::store::open(&settings.store.content_store, repo, &settings.store.s3()).await?;
            let orphan = ContentId {
                tenant: TenantId(uuid::Uuid::new_v4()),
                blob: BlobId::new(),
            };
            let mut staged = store.stage(orphan).await?;
            staged.write(&[Bytes::from_static(b"left by a crash")]).await?;
            staged.finish().await?;
            drop(staged);
            // Several, so that the sweep meets one before the orphan whatever the order.
            let tenant_dir = root.join(orphan.tenant.0.to_string());
            let strays: Vec<_> = (0..8)
                .map(|_| tenant_dir.join(uuid::Uuid::new_v4().to_string()))
                .collect();
            for stray in &strays {
                std::fs::create_dir(stray)?;
            }

            let _app = TestApp::start_with(&db, settings).await?;
            let orphan_file = tenant_dir.join(orphan.blob.0.to_string());
            eventually("the orphan is swept", Duration::from_secs(30), || async {
                Ok(!orphan_file.exists())
            })
            .await?;
            assert!(strays.iter().all(|stray| stray.is_dir()));
            Ok(())
        })
        .await
}
