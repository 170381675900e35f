//! Go's own `sumdb/note` and `sumdb/tlog` (Debian's golang-go and golang-golang-x-mod-dev,
//! no module download) judge a seal log this crate wrote as C2SP tiles and checkpoints: a
//! sound log passes, and an altered tile, a checkpoint under another key and a fork fail.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use seallog::checkpoint::{generate_key, sign};
use seallog::{
    entry_bundle, hash_tile, stored_hash_index, stored_hashes, tree_hash, Hash, HashReader, SealEntry, TilePath,
    TreeError,
};

#[derive(Default)]
struct Store(HashMap<u64, Hash>);

impl HashReader for Store {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TreeError> {
        indexes
            .iter()
            .map(|i| self.0.get(i).copied().ok_or(TreeError::IndexesNotInTree))
            .collect()
    }
}

/// A log of `n` entries; `fork` changes entry 5.
fn log(n: u64, fork: bool) -> anyhow::Result<(Vec<Vec<u8>>, Store)> {
    let mut store = Store::default();
    let mut entries = Vec::new();
    for i in 0..n {
        let entry = SealEntry {
            tenant: uuid::Uuid::from_u128(u128::from(i % 7)),
            mmr_size: i * 3 + 1 + u64::from(fork && i == 5),
            peaks_sha256: [i as u8; 32],
            seal_sha256: [(i >> 8) as u8; 32],
        }
        .encode();
        for (k, hash) in stored_hashes(i, &entry, &store)?.into_iter().enumerate() {
            store.0.insert(stored_hash_index(0, i) + k as u64, hash);
        }
        entries.push(entry);
    }
    Ok((entries, store))
}

/// Writes the tiles of the log at its size into `dir`.
fn write_tiles(dir: &Path, entries: &[Vec<u8>], store: &Store) -> anyhow::Result<()> {
    let size = entries.len() as u64;
    for tile in TilePath::all(size) {
        anyhow::ensure!(tile.within(size), "{}", tile.path());
        let bytes = match tile {
            TilePath::Entries { .. } => {
                let range = tile.entry_positions();
                let slice = &entries[range.start as usize..range.end as usize];
                entry_bundle(slice.iter().map(Vec::as_slice)).ok_or_else(|| anyhow::anyhow!("entry too long"))?
            }
            TilePath::Hashes { .. } => hash_tile(&store.read_hashes(&tile.stored_indexes())?),
        };
        let path = dir.join(tile.path());
        std::fs::create_dir_all(path.parent().ok_or_else(|| anyhow::anyhow!("no parent"))?)?;
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// Signed checkpoints of `store` at `sizes`, as files in `dir`.
fn checkpoints(dir: &Path, skey: &str, store: &Store, sizes: &[u64]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for size in sizes {
        let path = dir.join(format!("checkpoint-{size}"));
        std::fs::write(&path, sign(skey, *size, tree_hash(*size, store)?)?)?;
        files.push(path);
    }
    Ok(files)
}

/// Runs the judge: whether it passed, and what it said.
fn judge(dir: &Path, vkey: &str, checkpoints: &[PathBuf]) -> anyhow::Result<(bool, String)> {
    let cache = tempfile::tempdir()?;
    let output = Command::new("go")
        .arg("run")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/judge/judge.go"))
        .arg(dir)
        .arg(vkey)
        .args(checkpoints)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", cache.path())
        .env("GOFLAGS", "")
        .output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok((output.status.success(), said))
}

#[test]
fn go_judges_the_tiles_and_checkpoints() -> anyhow::Result<()> {
    let go_ready = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Path::new("/usr/share/gocode/src/golang.org/x/mod/sumdb/tlog").is_dir();
    if !go_ready {
        eprintln!("not run: Go and golang.org/x/mod (Debian's golang-go, golang-golang-x-mod-dev) are not installed");
        return Ok(());
    }
    let (skey, vkey) = generate_key(&mut rand_core::OsRng, "attachd.test/seallog");
    let dir = tempfile::tempdir()?;
    let (entries, store) = log(700, false)?;
    write_tiles(dir.path(), &entries, &store)?;
    let sizes = [1, 255, 256, 300, 512, 700];
    let files = checkpoints(dir.path(), &skey, &store, &sizes)?;
    let (ok, said) = judge(dir.path(), &vkey, &files)?;
    assert!(ok, "{said}");
    assert!(said.contains("OK 700 entries, 6 checkpoints"), "{said}");

    // A checkpoint signed by another key.
    let (other, _) = generate_key(&mut rand_core::OsRng, "attachd.test/seallog");
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir)?;
    let forged = checkpoints(&other_dir, &other, &store, &[700])?;
    let (ok, said) = judge(dir.path(), &vkey, &[files[3].clone(), forged[0].clone()])?;
    assert!(!ok && said.contains("does not open"), "{said}");

    // A fork: another history signed with the log's key, from entry 5 on.
    let (_, forked) = log(700, true)?;
    let fork_dir = dir.path().join("fork");
    std::fs::create_dir_all(&fork_dir)?;
    let fork = checkpoints(&fork_dir, &skey, &forked, &[700])?;
    let (ok, said) = judge(dir.path(), &vkey, &[files[3].clone(), fork[0].clone()])?;
    assert!(!ok && said.contains("is not the tree of the entries"), "{said}");

    // A hash tile altered.
    let tile = dir.path().join(
        TilePath::Hashes {
            level: 1,
            index: 0,
            width: 2,
        }
        .path(),
    );
    let mut bytes = std::fs::read(&tile)?;
    bytes[3] ^= 1;
    std::fs::write(&tile, bytes)?;
    let (ok, said) = judge(dir.path(), &vkey, &files)?;
    assert!(!ok && said.contains("hash tile"), "{said}");
    Ok(())
}
