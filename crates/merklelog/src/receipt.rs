//! SCITT receipts for MMRIVER logs (draft-bryce-cose-merkle-mountain-range-proofs): each peak
//! of a sealed log is signed when the log is sealed, as a COSE Sign1 whose payload is the
//! peak, detached. A receipt for a leaf is that signed peak with the leaf's inclusion path in
//! its unprotected header: no signing at read time, and a verifier recomputes the peak from
//! the leaf and the path, puts it back as the payload and checks the signature.
//!
//! Two forms, from the same seal:
//! - [`Form::DataTrails`]: verifiable data structure `395: 2` and the proof as a CBOR map
//!   `{1: index, 2: [path…]}`, as DataTrails' SCITT client (datatrails-scitt-samples 0.1)
//!   reads them;
//! - [`Form::Draft`]: `395: 3` and the proof as `bstr .cbor [index, [path…]]`, as the draft
//!   has it since -02.

use coset::cbor::Value;
use coset::{iana, CoseSign1, CoseSign1Builder, HeaderBuilder, Label, TaggedCborSerializable};
use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{Signature, VerifyingKey};

use crate::mmr::{included_root, Hash};
use crate::signing::{key_id, SealKey};

/// The protected header label of the verifiable data structure.
pub const VDS: i64 = 395;
/// The unprotected header label of the verifiable data proofs.
pub const VDP: i64 = 396;
/// The CWT claims header label (RFC 9597).
const CWT_CLAIMS: i64 = 15;
/// The label DataTrails' seals carry CWT claims under; read as a fallback.
const DATATRAILS_CWT_CLAIMS: i64 = 13;

/// Which encoding a receipt uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `395: 2`, proofs as maps: DataTrails' SCITT client.
    DataTrails,
    /// `395: 3`, proofs as `bstr .cbor [index, path]`: the current draft.
    Draft,
}

impl Form {
    /// The value of header `395`.
    pub fn vds(self) -> i64 {
        match self {
            Self::DataTrails => 2,
            Self::Draft => 3,
        }
    }

    /// The seal's unprotected header label holding this form's signed peaks, highest peak
    /// first. DataTrails' seals use -65931 (-65535 - 396); the draft form is attachd's.
    pub fn seal_label(self) -> i64 {
        match self {
            Self::DataTrails => -65931,
            Self::Draft => -65932,
        }
    }

    fn from_vds(vds: i128) -> Option<Self> {
        match vds {
            2 => Some(Self::DataTrails),
            3 => Some(Self::Draft),
            _ => None,
        }
    }
}

/// The signed, detached peak `peak`, in `form`, naming the key and `issuer`/`subject`.
pub fn sign_peak(key: &SealKey, peak: &Hash, form: Form, issuer: &str, subject: &str) -> crate::Result<Vec<u8>> {
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES384)
        .key_id(key.kid().as_bytes().to_vec())
        .value(VDS, Value::from(form.vds()))
        .value(CWT_CLAIMS, claims(key.verifying(), issuer, subject))
        .build();
    let mut signed = CoseSign1Builder::new()
        .protected(protected)
        .payload(peak.to_vec())
        .create_signature(b"", |data| {
            let signature: Signature = key.signing().sign(data);
            signature.to_bytes().to_vec()
        })
        .build();
    signed.payload = None;
    signed
        .to_tagged_vec()
        .map_err(|e| crate::fail!("encoding a signed peak: {e}"))
}

/// Adds to `seal`'s unprotected header every peak signed in both forms.
pub fn attach_peaks(
    seal: &mut CoseSign1,
    key: &SealKey,
    peaks: &[Hash],
    issuer: &str,
    subject: &str,
) -> crate::Result<()> {
    for form in [Form::DataTrails, Form::Draft] {
        let signed = peaks
            .iter()
            .map(|peak| sign_peak(key, peak, form, issuer, subject).map(Value::Bytes))
            .collect::<crate::Result<Vec<_>>>()?;
        seal.unprotected
            .rest
            .push((Label::Int(form.seal_label()), Value::Array(signed)));
    }
    Ok(())
}

/// Whether `seal` carries signed peaks in both forms.
pub fn has_signed_peaks(seal: &[u8]) -> bool {
    CoseSign1::from_tagged_slice(seal).is_ok_and(|seal| {
        [Form::DataTrails, Form::Draft]
            .iter()
            .all(|form| header(&seal.unprotected.rest, form.seal_label()).is_some())
    })
}

/// The receipt, in `form`, of the leaf at MMR index `index` whose inclusion `path` leads to
/// peak `peak_index` (highest first) of the log `seal` signs.
pub fn receipt(seal: &[u8], form: Form, peak_index: usize, index: u64, path: &[Hash]) -> crate::Result<Vec<u8>> {
    let seal = CoseSign1::from_tagged_slice(seal).map_err(|e| crate::fail!("not a COSE Sign1 seal: {e}"))?;
    let signed = header(&seal.unprotected.rest, form.seal_label())
        .and_then(|peaks| peaks.as_array()?.get(peak_index)?.as_bytes().cloned())
        .ok_or_else(|| crate::fail!("the seal carries no signed peak {peak_index}"))?;
    let mut receipt =
        CoseSign1::from_tagged_slice(&signed).map_err(|e| crate::fail!("the seal's signed peak is not COSE: {e}"))?;
    let path = Value::Array(path.iter().map(|h| Value::Bytes(h.to_vec())).collect());
    let proof = match form {
        Form::DataTrails => Value::Map(vec![(Value::from(1), Value::from(index)), (Value::from(2), path)]),
        Form::Draft => {
            let mut bytes = Vec::new();
            coset::cbor::into_writer(&Value::Array(vec![Value::from(index), path]), &mut bytes)?;
            Value::Bytes(bytes)
        }
    };
    let proofs = Value::Map(vec![(Value::from(-1), Value::Array(vec![proof]))]);
    receipt.unprotected.rest = vec![(Label::Int(VDP), proofs)];
    receipt
        .to_tagged_vec()
        .map_err(|e| crate::fail!("encoding a receipt: {e}"))
}

/// What a verified receipt proves: the leaf is at `index` under the peak it signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The receipt's encoding.
    pub form: Form,
    /// The leaf's MMR index.
    pub index: u64,
    /// The signed peak its path leads to.
    pub peak: Hash,
}

/// Checks that `receipt` proves `leaf` included in a log whose peak `trusted` signed.
pub fn verify(receipt: &[u8], leaf: &Hash, trusted: &VerifyingKey) -> crate::Result<Verified> {
    let mut sign1 = CoseSign1::from_tagged_slice(receipt).map_err(|e| crate::fail!("not a COSE Sign1 receipt: {e}"))?;
    crate::ensure!(
        sign1.protected.header.alg == Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)),
        "the receipt is not signed with ES384"
    );
    let form = header(&sign1.protected.header.rest, VDS)
        .and_then(|v| v.as_integer())
        .and_then(|v| Form::from_vds(v.into()))
        .ok_or_else(|| crate::fail!("the receipt is not for an MMRIVER log (395 is not 2 or 3)"))?;
    let (index, path) = proof(&sign1, form)?;
    let named = header(&sign1.protected.header.rest, CWT_CLAIMS)
        .or_else(|| header(&sign1.protected.header.rest, DATATRAILS_CWT_CLAIMS))
        .and_then(crate::seal::claims_key);
    crate::ensure!(
        named.is_none_or(|key| &key == trusted),
        "the receipt names another key than the trusted {}",
        key_id(trusted)
    );
    let peak = included_root(index, leaf, &path);
    sign1.payload = Some(peak.to_vec());
    sign1
        .verify_signature(b"", |signature, data| {
            let signature = Signature::from_slice(signature)?;
            trusted.verify(data, &signature)
        })
        .map_err(|_| crate::fail!("the receipt's signature does not verify over the peak its path leads to"))?;
    Ok(Verified { form, index, peak })
}

/// The first inclusion proof in the receipt's unprotected header.
fn proof(sign1: &CoseSign1, form: Form) -> crate::Result<(u64, Vec<Hash>)> {
    let first = header(&sign1.unprotected.rest, VDP)
        .and_then(|proofs| entry(proofs, -1))
        .and_then(|inclusions| inclusions.as_array()?.first().cloned())
        .ok_or_else(|| crate::fail!("the receipt holds no inclusion proof"))?;
    let (index, path) = match form {
        Form::DataTrails => (entry(&first, 1), entry(&first, 2)),
        Form::Draft => {
            let bytes = first
                .as_bytes()
                .ok_or_else(|| crate::fail!("the inclusion proof is not a bstr"))?;
            let decoded: Value = coset::cbor::from_reader(bytes.as_slice())?;
            let mut items = decoded.as_array().cloned().unwrap_or_default().into_iter();
            (items.next(), items.next())
        }
    };
    let index = index
        .and_then(|v| v.as_integer())
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| crate::fail!("the inclusion proof has no index"))?;
    let path = path
        .and_then(|v| v.as_array().cloned())
        .ok_or_else(|| crate::fail!("the inclusion proof has no path"))?
        .iter()
        .map(|v| v.as_bytes().and_then(|b| Hash::try_from(b.as_slice()).ok()))
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| crate::fail!("a node of the inclusion path is not 32 bytes"))?;
    crate::ensure!(path.len() <= 64, "the inclusion path is longer than any log");
    Ok((index, path))
}

/// CWT claims naming `key` by value (`cnf`), with integer COSE_Key labels and 48-byte
/// coordinates.
fn claims(key: &VerifyingKey, issuer: &str, subject: &str) -> Value {
    let point = key.to_encoded_point(false);
    let coordinate = |bytes: Option<&p384::FieldBytes>| Value::Bytes(bytes.map(|b| b.to_vec()).unwrap_or_default());
    let cose_key = Value::Map(vec![
        (Value::from(1), Value::from(2)),
        (Value::from(-1), Value::from(2)),
        (Value::from(-2), coordinate(point.x())),
        (Value::from(-3), coordinate(point.y())),
    ]);
    Value::Map(vec![
        (Value::from(1), Value::Text(issuer.into())),
        (Value::from(2), Value::Text(subject.into())),
        (Value::from(8), Value::Map(vec![(Value::from(1), cose_key)])),
    ])
}

fn header(rest: &[(Label, Value)], label: i64) -> Option<&Value> {
    rest.iter().find(|(l, _)| *l == Label::Int(label)).map(|(_, v)| v)
}

fn entry(map: &Value, key: i64) -> Option<Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_integer() == Some(key.into()))
        .map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmr::{inclusion_proof, peak_hashes, peak_index, NodeSource};

    struct Nodes(Vec<Hash>);

    impl NodeSource for Nodes {
        fn node(&self, i: u64) -> crate::Result<Hash> {
            self.0
                .get(usize::try_from(i)?)
                .copied()
                .ok_or_else(|| crate::fail!("no node {i}"))
        }
    }

    /// A log of `leaves` leaves, its seal with signed peaks, and the key.
    fn sealed(leaves: u64) -> anyhow::Result<(Nodes, Vec<u8>, SealKey)> {
        let key = SealKey::new(p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng));
        let mut nodes = Nodes(Vec::new());
        for n in 0..leaves {
            let leaf: Hash = <sha2::Sha256 as sha2::Digest>::digest(n.to_be_bytes()).into();
            let added = crate::mmr::append(nodes.0.len() as u64, leaf, &nodes)?;
            nodes.0.extend(added);
        }
        let size = nodes.0.len() as u64;
        let state = crate::seal::MmrState {
            size,
            timestamp: 1_700_000_000_000,
            idtimestamp: 1,
            commitment_epoch: 1,
            version: crate::seal::STATE_VERSION,
            peaks: peak_hashes(size, &nodes)?,
        };
        let seal = crate::seal::sign_with_receipts(
            &key,
            &state,
            "attachd",
            "v1/mmrs/tenant/x/0/massifs/0000000000000000.log",
        )?;
        Ok((nodes, seal, key))
    }

    #[test]
    fn every_leaf_has_a_receipt_in_both_forms() -> anyhow::Result<()> {
        let (nodes, seal, key) = sealed(11)?;
        assert!(has_signed_peaks(&seal));
        let size = nodes.0.len() as u64;
        for leaf in 0..11u64 {
            let index = crate::mmr::leaf_mmr_index(leaf);
            let path = inclusion_proof(size, index, &nodes)?;
            let at = peak_index(size, 0, path.len());
            for form in [Form::DataTrails, Form::Draft] {
                let made = receipt(&seal, form, at, index, &path)?;
                let verified = verify(&made, &nodes.0[index as usize], key.verifying())?;
                assert_eq!((verified.form, verified.index), (form, index));
            }
        }
        Ok(())
    }

    #[test]
    fn altered_leaf_path_or_key_fail() -> anyhow::Result<()> {
        let (nodes, seal, key) = sealed(7)?;
        let size = nodes.0.len() as u64;
        let index = crate::mmr::leaf_mmr_index(2);
        let path = inclusion_proof(size, index, &nodes)?;
        let at = peak_index(size, 0, path.len());
        let leaf = nodes.0[index as usize];
        for form in [Form::DataTrails, Form::Draft] {
            let made = receipt(&seal, form, at, index, &path)?;
            let mut other_leaf = leaf;
            other_leaf[0] ^= 1;
            assert!(verify(&made, &other_leaf, key.verifying()).is_err(), "altered leaf");
            let mut altered = path.clone();
            altered[0][5] ^= 1;
            let bad_path = receipt(&seal, form, at, index, &altered)?;
            assert!(verify(&bad_path, &leaf, key.verifying()).is_err(), "altered path");
            let other = SealKey::new(p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng));
            assert!(verify(&made, &leaf, other.verifying()).is_err(), "another key");
        }
        Ok(())
    }

    /// Mutated receipts (bytes flipped, cut short, inserted) are refused or, when the change
    /// misses everything checked, still verify; none panics.
    #[test]
    fn mutated_receipts_never_panic() -> anyhow::Result<()> {
        let (nodes, seal, key) = sealed(9)?;
        let size = nodes.0.len() as u64;
        let index = crate::mmr::leaf_mmr_index(3);
        let path = inclusion_proof(size, index, &nodes)?;
        let at = peak_index(size, 0, path.len());
        let leaf = nodes.0[index as usize];
        let mut seed = 11u64;
        for form in [Form::DataTrails, Form::Draft] {
            let made = receipt(&seal, form, at, index, &path)?;
            for round in 0..2000 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let mut mutated = made.clone();
                let pos = (seed >> 33) as usize % mutated.len();
                match round % 3 {
                    0 => mutated[pos] ^= (seed >> 8) as u8 | 1,
                    1 => mutated.truncate(pos),
                    _ => mutated.insert(pos, (seed >> 16) as u8),
                }
                let _ = verify(&mutated, &leaf, key.verifying());
            }
        }
        Ok(())
    }
}
