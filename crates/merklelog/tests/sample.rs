//! The examples' sample, a small log attachd wrote: it verifies, and a changed byte of the
//! event, the massif or a seal, or another key, is refused.

use std::path::Path;

use merklelog::massif::ParsedMassif;
use merklelog::signing::public_from_pem;
use merklelog::verify::{verify_consistency, verify_inclusion, EventEntry};
use p384::ecdsa::VerifyingKey;
use serde_json::Value;

struct Sample {
    event: Value,
    massif: Vec<u8>,
    seal: Vec<u8>,
    older_seal: Vec<u8>,
    key: VerifyingKey,
}

fn sample() -> anyhow::Result<Sample> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data");
    let read = |name: &str| std::fs::read(dir.join(name));
    Ok(Sample {
        event: serde_json::from_slice(&read("event.json")?)?,
        massif: read("massif.log")?,
        seal: read("seal.sth")?,
        older_seal: read("older-seal.sth")?,
        key: public_from_pem(&String::from_utf8(read("key.pem")?)?)?,
    })
}

fn included(event: &Value, massif: &[u8], seal: &[u8], key: &VerifyingKey) -> merklelog::Result<u64> {
    let entry = EventEntry::from_json(event)?;
    let massif = ParsedMassif::parse(massif.to_vec())?;
    Ok(verify_inclusion(&entry, &massif, seal, &[*key])?.size)
}

#[test]
fn the_sample_event_is_in_its_sealed_log() -> anyhow::Result<()> {
    let s = sample()?;
    let size = included(&s.event, &s.massif, &s.seal, &s.key)?;
    let index: u64 = s.event["merklelog_entry"]["commit"]["index"]
        .as_str()
        .unwrap_or_default()
        .parse()?;
    assert!(index < size);
    Ok(())
}

#[test]
fn a_changed_event_massif_seal_or_key_is_refused() -> anyhow::Result<()> {
    let s = sample()?;
    let mut event = s.event.clone();
    event["event_attributes"]["seal_number"] = "SN-2042".into();
    assert!(
        included(&event, &s.massif, &s.seal, &s.key).is_err(),
        "a changed attribute"
    );
    let mut event = s.event.clone();
    event["merklelog_entry"]["commit"]["index"] = "0".into();
    assert!(
        included(&event, &s.massif, &s.seal, &s.key).is_err(),
        "another place in the log"
    );
    for at in [s.massif.len() - 1, s.massif.len() - 40, s.massif.len() - 70] {
        let mut massif = s.massif.clone();
        massif[at] ^= 1;
        assert!(
            included(&s.event, &massif, &s.seal, &s.key).is_err(),
            "massif byte {at}"
        );
    }
    let mut seal = s.seal.clone();
    let last = seal.len() - 1;
    seal[last] ^= 1;
    assert!(
        included(&s.event, &s.massif, &seal, &s.key).is_err(),
        "a changed signature"
    );
    let other = *p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng).verifying_key();
    assert!(included(&s.event, &s.massif, &s.seal, &other).is_err(), "another key");
    Ok(())
}

#[test]
fn the_log_only_grew_between_the_sample_seals() -> anyhow::Result<()> {
    let s = sample()?;
    let massifs = [ParsedMassif::parse(s.massif.clone())?];
    let checked = verify_consistency(&s.older_seal, &s.seal, &massifs, &[s.key])?;
    assert!(checked.old_size < checked.new_size);
    // The other way round, the newer log would have shrunk.
    assert!(verify_consistency(&s.seal, &s.older_seal, &massifs, &[s.key]).is_err());
    Ok(())
}
