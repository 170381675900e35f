//! Checkpoints (C2SP tlog-checkpoint v1.0.0) as signed notes (C2SP signed-note) with an
//! Ed25519 key: `<origin>\n<size>\n<base64 root>\n`, then the log's signature line. The
//! key is kept as Go's `note` package writes it (`PRIVATE+KEY+<name>+<id>+<base64>`) and
//! published as its verifier key (`<name>+<id>+<base64>`).

use base64::Engine;
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::{Checkpoint, Hash};

/// Why a checkpoint could not be made or opened.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The signing or verifier key is not one this format knows.
    #[error("the checkpoint key is malformed: {0}")]
    Key(String),
    /// The note is malformed, or not signed by the log's key.
    #[error("the checkpoint note does not verify: {0}")]
    Note(String),
    /// The note's text is not a checkpoint.
    #[error("the note is not a checkpoint")]
    Malformed,
}

/// A new Ed25519 key pair for `name` (the log's origin): the signer key (secret) and
/// the verifier key to publish.
pub fn generate_key(rng: &mut impl rand_core::CryptoRngCore, name: &str) -> (String, String) {
    signed_note::generate_key(rng, name)
}

/// The verifier key of signer key `skey`.
///
/// ```
/// let (skey, vkey) = seallog::checkpoint::generate_key(&mut rand_core::OsRng, "example.com/log");
/// assert_eq!(seallog::checkpoint::verifier_key(&skey).ok(), Some(vkey));
/// ```
pub fn verifier_key(skey: &str) -> Result<String, CheckpointError> {
    let bad = || CheckpointError::Key("not PRIVATE+KEY+<name>+<id>+<base64 Ed25519 key>".into());
    StandardSigner::new(skey).map_err(|e| CheckpointError::Key(e.to_string()))?;
    let mut fields = skey.splitn(5, '+');
    let name = fields.nth(2).ok_or_else(bad)?;
    let key = fields.nth(1).ok_or_else(bad)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| bad())?;
    let secret: [u8; 32] = key.get(1..).and_then(|k| k.try_into().ok()).ok_or_else(bad)?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
    Ok(signed_note::new_ed25519_verifier_key(name, &signing.verifying_key()))
}

/// Whether `origin` can name a log's key (signed-note: not empty, no spaces, no `+`).
pub fn valid_origin(origin: &str) -> bool {
    signed_note::is_key_name_valid(origin)
}

/// The log's origin, the name in its key.
pub fn key_name(skey: &str) -> Option<&str> {
    skey.split('+').nth(2)
}

/// A checkpoint of a log of `size` entries with root `root`, signed with `skey`; the
/// origin is the key's name.
///
/// ```
/// use seallog::checkpoint::{generate_key, open, sign};
/// let (skey, vkey) = generate_key(&mut rand_core::OsRng, "example.com/log");
/// let note = sign(&skey, 3, tlog_tiles::Hash([7; 32])).expect("signed");
/// let checkpoint = open(&note, &vkey).expect("opens");
/// assert_eq!((checkpoint.origin(), checkpoint.size()), ("example.com/log", 3));
/// ```
pub fn sign(skey: &str, size: u64, root: Hash) -> Result<Vec<u8>, CheckpointError> {
    let signer = StandardSigner::new(skey).map_err(|e| CheckpointError::Key(e.to_string()))?;
    let origin = key_name(skey).ok_or(CheckpointError::Malformed)?;
    let body = Checkpoint::new(origin, size, root, "")
        .map_err(|_| CheckpointError::Malformed)?
        .to_bytes();
    let mut note = Note::new(&body, &[]).map_err(|e| CheckpointError::Note(e.to_string()))?;
    note.add_sigs(&[&signer])
        .map_err(|e| CheckpointError::Note(e.to_string()))?;
    Ok(note.to_bytes())
}

/// The checkpoint in `note`, which must carry a valid signature by the log's key `vkey`
/// and name the key's name as its origin. Other signatures (cosignatures) are ignored here.
pub fn open(note: &[u8], vkey: &str) -> Result<Checkpoint, CheckpointError> {
    let verifier = StandardVerifier::new(vkey).map_err(|e| CheckpointError::Key(e.to_string()))?;
    let origin = vkey.split('+').next().unwrap_or_default().to_string();
    let note = Note::from_bytes(note).map_err(|e| CheckpointError::Note(e.to_string()))?;
    note.verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|e| CheckpointError::Note(e.to_string()))?;
    let checkpoint = Checkpoint::from_bytes(note.text()).map_err(|_| CheckpointError::Malformed)?;
    if checkpoint.origin() != origin {
        return Err(CheckpointError::Malformed);
    }
    Ok(checkpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_key_or_an_altered_note_does_not_open() -> Result<(), CheckpointError> {
        let (skey, vkey) = generate_key(&mut rand_core::OsRng, "attachd.example/seallog");
        let (_, other) = generate_key(&mut rand_core::OsRng, "attachd.example/seallog");
        let note = sign(&skey, 10, Hash([1; 32]))?;
        assert_eq!(open(&note, &vkey)?.size(), 10);
        assert!(open(&note, &other).is_err());
        let text = String::from_utf8_lossy(&note).replacen("\n10\n", "\n11\n", 1);
        assert!(open(text.as_bytes(), &vkey).is_err());
        Ok(())
    }
}
