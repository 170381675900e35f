//! The raw references for content stores: a plain file write + fsync + rename and read, and
//! an `object_store` multipart put and GET straight to the same S3 service. Each write and
//! read is timed twice: as it is, and hashing with SHA-256 as the bytes pass (the least any
//! verified upload or download has to do).

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Instant;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

const MIB: usize = 1 << 20;

/// Writes `content` to a file in `dir` in `chunk_bytes` writes, fsyncs and renames it into
/// place; reads it back the same way, then its last MiB alone. Seconds for each.
pub fn file(dir: &str, content: &[u8], chunk_bytes: usize) -> anyhow::Result<super::Timings> {
    std::fs::create_dir_all(dir)?;
    let (part, path) = (format!("{dir}/raw.part"), format!("{dir}/raw"));
    let write_file = |hasher: Option<Sha256>| {
        timed(|| {
            let mut file = std::fs::File::create(&part)?;
            let mut hasher = hasher;
            for chunk in content.chunks(chunk_bytes) {
                if let Some(hasher) = hasher.as_mut() {
                    hasher.update(chunk);
                }
                file.write_all(chunk)?;
            }
            file.sync_all()?;
            drop(file);
            std::fs::rename(&part, &path)?;
            std::fs::File::open(dir)?.sync_all()?;
            Ok(())
        })
    };
    let write_verified = write_file(Some(Sha256::new()))?;
    let write = write_file(None)?;
    let read_file = |hasher: Option<&mut Sha256>| {
        timed(|| {
            let mut file = std::fs::File::open(&path)?;
            let mut buffer = vec![0u8; chunk_bytes];
            let (mut total, mut hasher) = (0, hasher);
            loop {
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    break;
                }
                if let Some(hasher) = hasher.as_mut() {
                    hasher.update(&buffer[..n]);
                }
                total += n;
            }
            anyhow::ensure!(total == content.len(), "read back {total} bytes");
            Ok(())
        })
    };
    let read = read_file(None)?;
    let read_verified = read_file(Some(&mut Sha256::new()))?;
    let range = timed(|| {
        let mut file = std::fs::File::open(&path)?;
        file.seek(SeekFrom::Start((content.len() - MIB) as u64))?;
        let mut buffer = vec![0u8; MIB];
        file.read_exact(&mut buffer)?;
        Ok(())
    })?;
    std::fs::remove_file(&path)?;
    Ok(super::Timings {
        write,
        write_verified,
        read,
        read_verified,
        range,
    })
}

fn timed(work: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let started = Instant::now();
    work()?;
    Ok(started.elapsed().as_secs_f64())
}

/// Puts `content` to `bucket` as a multipart upload of 8 MiB parts (two in flight), gets it
/// back whole, then its last MiB alone. Seconds for each.
pub async fn s3(bucket: &str, content: &[u8]) -> anyhow::Result<super::Timings> {
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
    let write_verified = put_whole(&s3, &path, content, Some(Sha256::new())).await?;
    let write = put_whole(&s3, &path, content, None).await?;
    let read = get_whole(&s3, &path, content.len(), None).await?;
    let read_verified = get_whole(&s3, &path, content.len(), Some(Sha256::new())).await?;
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
    Ok(super::Timings {
        write,
        write_verified,
        read,
        read_verified,
        range: range_secs,
    })
}

async fn put_whole(
    s3: &impl ObjectStore,
    path: &object_store::path::Path,
    content: &[u8],
    mut hasher: Option<Sha256>,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut upload = WriteMultipart::new_with_chunk_size(s3.put_multipart(path).await?, 8 * MIB);
    for chunk in content.chunks(MIB) {
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(chunk);
        }
        upload.wait_for_capacity(2).await?;
        upload.write(chunk);
    }
    upload.finish().await?;
    Ok(started.elapsed().as_secs_f64())
}

async fn get_whole(
    s3: &impl ObjectStore,
    path: &object_store::path::Path,
    expected: usize,
    mut hasher: Option<Sha256>,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut stream = s3.get(path).await?.into_stream();
    let mut total = 0;
    while let Some(piece) = stream.next().await {
        let piece = piece?;
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&piece);
        }
        total += piece.len();
    }
    anyhow::ensure!(total == expected, "read back {total} bytes");
    Ok(started.elapsed().as_secs_f64())
}
