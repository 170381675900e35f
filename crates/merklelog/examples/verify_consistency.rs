//! Checks that a log only grew: a later seal's log extends an earlier seal's, offline.
//!
//! ```text
//! cargo run -p merklelog --example verify_consistency -- KEY.pem OLD.sth NEW.sth MASSIF.log…
//! ```
//!
//! The massifs are the tenant's, in order, from the one holding the old seal's state to
//! the one holding the new one's. With no arguments it checks the sample in
//! `examples/data/`: the seal taken before the sample event against the one after it.

use std::path::{Path, PathBuf};

use merklelog::massif::ParsedMassif;
use merklelog::signing::public_from_pem;
use merklelog::verify::verify_consistency;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if args.len() < 4 {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
        args = ["key.pem", "older-seal.sth", "seal.sth", "massif.log"]
            .map(|name| sample.join(name))
            .to_vec();
    }
    let key = public_from_pem(&std::fs::read_to_string(&args[0])?)?;
    let old = std::fs::read(&args[1])?;
    let new = std::fs::read(&args[2])?;
    let massifs = args[3..]
        .iter()
        .map(|path| Ok(ParsedMassif::parse(std::fs::read(path)?)?))
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    let checked = verify_consistency(&old, &new, &massifs, &[key])?;
    println!(
        "the log of {} nodes extends the sealed log of {} nodes",
        checked.new_size, checked.old_size
    );
    Ok(())
}
