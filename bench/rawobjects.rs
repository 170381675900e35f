//! The raw references for content stores: a plain file write + fsync + rename and read, and
//! an `object_store` multipart put and GET straight to the same S3 service.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Instant;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};

const MIB: usize = 1 << 20;

/// Writes `content` to a file in `dir` in `chunk_bytes` writes, fsyncs and renames it into
/// place; reads it back the same way, then its last MiB alone. Seconds for each.
pub fn file(dir: &str, content: &[u8], chunk_bytes: usize) -> anyhow::Result<(f64, f64, f64)> {
    std::fs::create_dir_all(dir)?;
    let (part, path) = (format!("{dir}/raw.part"), format!("{dir}/raw"));
    let started = Instant::now();
    let mut file = std::fs::File::create(&part)?;
    for chunk in content.chunks(chunk_bytes) {
        file.write_all(chunk)?;
    }
    file.sync_all()?;
    drop(file);
    std::fs::rename(&part, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    let write = started.elapsed().as_secs_f64();
    let read = timed(|| {
        let mut file = std::fs::File::open(&path)?;
        let mut buffer = vec![0u8; chunk_bytes];
        let mut total = 0;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            total += n;
        }
        anyhow::ensure!(total == content.len(), "read back {total} bytes");
        Ok(())
    })?;
    let range = timed(|| {
        let mut file = std::fs::File::open(&path)?;
        file.seek(SeekFrom::Start((content.len() - MIB) as u64))?;
        let mut buffer = vec![0u8; MIB];
        file.read_exact(&mut buffer)?;
        Ok(())
    })?;
    std::fs::remove_file(&path)?;
    Ok((write, read, range))
}

fn timed(work: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let started = Instant::now();
    work()?;
    Ok(started.elapsed().as_secs_f64())
}

/// Puts `content` to `bucket` as a multipart upload of 8 MiB parts (two in flight), gets it
/// back whole, then its last MiB alone. Seconds for each.
pub async fn s3(bucket: &str, content: &[u8]) -> anyhow::Result<(f64, f64, f64)> {
    let env = |name: &str| std::env::var(name).map_err(|_| anyhow::anyhow!("{name} is not set"));
    let s3 = AmazonS3Builder::new()
        .with_endpoint(env("ATTACHD_S3_ENDPOINT")?)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_access_key_id(env("AWS_ACCESS_KEY_ID")?)
        .with_secret_access_key(env("AWS_SECRET_ACCESS_KEY")?)
        .build()?;
    let path = object_store::path::Path::from(format!("raw/{}", uuid::Uuid::new_v4()));
    let started = Instant::now();
    let mut upload = WriteMultipart::new_with_chunk_size(s3.put_multipart(&path).await?, 8 * MIB);
    for chunk in content.chunks(MIB) {
        upload.wait_for_capacity(2).await?;
        upload.write(chunk);
    }
    upload.finish().await?;
    let write = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut stream = s3.get(&path).await?.into_stream();
    let mut total = 0;
    while let Some(piece) = stream.next().await {
        total += piece?.len();
    }
    anyhow::ensure!(total == content.len(), "read back {total} bytes");
    let read = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let range = GetRange::Bounded((content.len() - MIB) as u64..content.len() as u64);
    let got = s3
        .get_opts(
            &path,
            GetOptions {
                range: Some(range),
                ..GetOptions::default()
            },
        )
        .await?;
    anyhow::ensure!(got.bytes().await?.len() == MIB, "short range");
    let range_secs = started.elapsed().as_secs_f64();
    s3.delete(&path).await?;
    Ok((write, read, range_secs))
}
