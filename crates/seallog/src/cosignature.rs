//! C2SP tlog-cosignature v1 with Ed25519: a cosigner's (a witness's) statement, at a time,
//! that it checked a checkpoint. The signature line is `— <name> base64(key ID ||
//! timestamp || signature)`; the key ID is `SHA-256(<name> || "\n" || 0x04 || key)[:4]`; the
//! signed message is `cosignature/v1\ntime <timestamp>\n` and the checkpoint's note body.

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature type byte of Ed25519 cosignatures.
const COSIGNATURE_V1: u8 = 0x04;

fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut hash = Sha256::new();
    hash.update(name.as_bytes());
    hash.update(b"\n");
    hash.update([COSIGNATURE_V1]);
    hash.update(key.as_bytes());
    let digest = hash.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn message(body: &[u8], timestamp: u64) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    message.extend_from_slice(body);
    message
}

/// The note body of a signed note: everything before the blank line.
pub fn note_body(note: &[u8]) -> Option<&[u8]> {
    let at = note.windows(2).position(|w| w == b"\n\n")?;
    note.get(..at + 1)
}

/// A cosigner: a name and an Ed25519 key.
pub struct Cosigner {
    name: String,
    key: SigningKey,
}

impl Cosigner {
    /// A cosigner named `name` (a schema-less URL) with `key`.
    pub fn new(name: &str, key: SigningKey) -> Self {
        Self {
            name: name.to_string(),
            key,
        }
    }

    /// Its verifier key: `<name>+<key ID hex>+base64(0x04 || key)`.
    pub fn vkey(&self) -> String {
        let key = self.key.verifying_key();
        let mut material = vec![COSIGNATURE_V1];
        material.extend_from_slice(key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &key)),
            base64::engine::general_purpose::STANDARD.encode(material)
        )
    }

    /// The signature line cosigning the checkpoint whose note body is `body`, at `timestamp`.
    ///
    /// ```
    /// use seallog::cosignature::{Cosigner, CosignatureVerifier};
    /// let cosigner = Cosigner::new("witness.example/w1", ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    /// let body = b"example.com/log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    /// let line = cosigner.cosign(body, 1_700_000_000);
    /// let verifier = CosignatureVerifier::new(&cosigner.vkey()).expect("a vkey");
    /// assert_eq!(verifier.verify(body, &line), Some(1_700_000_000));
    /// ```
    pub fn cosign(&self, body: &[u8], timestamp: u64) -> String {
        let signature = self.key.sign(&message(body, timestamp));
        let mut bytes = key_id(&self.name, &self.key.verifying_key()).to_vec();
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        format!(
            "\u{2014} {} {}\n",
            self.name,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }
}

/// Checks cosignatures of one cosigner, from its verifier key.
pub struct CosignatureVerifier {
    name: String,
    key: VerifyingKey,
    id: [u8; 4],
}

impl CosignatureVerifier {
    /// From a verifier key `<name>+<id>+base64(0x04 || key)`; `None` if it is not one.
    pub fn new(vkey: &str) -> Option<Self> {
        let mut fields = vkey.splitn(3, '+');
        let (name, id, material) = (fields.next()?, fields.next()?, fields.next()?);
        let material = base64::engine::general_purpose::STANDARD.decode(material).ok()?;
        let (&kind, key) = material.split_first()?;
        let key = VerifyingKey::from_bytes(key.try_into().ok()?).ok()?;
        let expected = key_id(name, &key);
        (kind == COSIGNATURE_V1 && id == hex::encode(expected) && !name.is_empty()).then(|| Self {
            name: name.to_string(),
            key,
            id: expected,
        })
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The timestamp of `line` (one signature line) if it is this cosigner's valid
    /// cosignature of the checkpoint whose note body is `body`.
    pub fn verify(&self, body: &[u8], line: &str) -> Option<u64> {
        let rest = line.trim_end_matches('\n').strip_prefix("\u{2014} ")?;
        let (name, signature) = rest.split_once(' ')?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(signature).ok()?;
        if name != self.name || bytes.len() != 4 + 8 + 64 || bytes[..4] != self.id {
            return None;
        }
        let timestamp = u64::from_be_bytes(bytes[4..12].try_into().ok()?);
        let signature = ed25519_dalek::Signature::from_slice(&bytes[12..]).ok()?;
        self.key
            .verify(&message(body, timestamp), &signature)
            .ok()
            .map(|_| timestamp)
    }

    /// The timestamp of this cosigner's valid cosignature in `note`, if it has one.
    pub fn cosigned(&self, note: &[u8]) -> Option<u64> {
        let body = note_body(note)?;
        let signatures = std::str::from_utf8(&note[body.len() + 1..]).ok()?;
        signatures.lines().find_map(|line| self.verify(body, line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_key_body_or_time_is_refused() {
        let cosigner = Cosigner::new("witness.example/w1", SigningKey::from_bytes(&[1; 32]));
        let other = Cosigner::new("witness.example/w1", SigningKey::from_bytes(&[2; 32]));
        let verifier = CosignatureVerifier::new(&cosigner.vkey()).expect("vkey");
        let body = b"log.example/x\n10\nAAAA\n";
        let line = cosigner.cosign(body, 42);
        assert_eq!(verifier.verify(body, &line), Some(42));
        assert_eq!(verifier.verify(b"log.example/x\n11\nAAAA\n", &line), None);
        assert_eq!(verifier.verify(body, &other.cosign(body, 42)), None);
        // The timestamp is signed: another one in the line fails.
        let forged = line.replace(&line[line.len() - 20..], "AAAAAAAAAAAAAAAAAAA\n");
        assert_eq!(verifier.verify(body, &forged), None);
        let note = [
            body.as_slice(),
            b"\n",
            b"\xe2\x80\x94 log.example/x AAAA\n",
            line.as_bytes(),
        ]
        .concat();
        assert_eq!(verifier.cosigned(&note), Some(42));
        assert!(CosignatureVerifier::new("witness.example/w1+00000000+AAAA").is_none());
    }
}
