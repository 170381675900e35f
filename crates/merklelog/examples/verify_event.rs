//! Checks that an event is in its tenant's log, offline, trusting only a pinned key.
//!
//! ```text
//! cargo run -p merklelog --example verify_event -- EVENT.json MASSIF.log SEAL.sth KEY.pem
//! ```
//!
//! `EVENT.json` is the event as the DataTrails API returns it (attachd's or DataTrails'),
//! `MASSIF.log` the massif holding it, `SEAL.sth` that massif's seal, and `KEY.pem` the
//! log's public key, obtained once and pinned. With no arguments it checks the sample in
//! `examples/data/`.

use std::path::{Path, PathBuf};

use merklelog::massif::ParsedMassif;
use merklelog::signing::public_from_pem;
use merklelog::verify::{verify_inclusion, EventEntry};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let [event, massif, seal, key] = match <[PathBuf; 4]>::try_from(args) {
        Ok(paths) => paths,
        Err(_) => ["event.json", "massif.log", "seal.sth", "key.pem"].map(|name| sample.join(name)),
    };
    let event: serde_json::Value = serde_json::from_slice(&std::fs::read(event)?)?;
    let massif = ParsedMassif::parse(std::fs::read(massif)?)?;
    let seal = std::fs::read(seal)?;
    let key = public_from_pem(&std::fs::read_to_string(key)?)?;

    let entry = EventEntry::from_json(&event)?;
    let included = verify_inclusion(&entry, &massif, &seal, &[key])?;
    println!(
        "{} is node {} of tenant/{}'s log, sealed at {} nodes (massif {}) by {}",
        entry.identity, entry.index, entry.tenant, included.size, included.massif, included.kid
    );
    Ok(())
}
