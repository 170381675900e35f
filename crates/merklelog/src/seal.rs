//! Seals: COSE Sign1 (ES384) over the CBOR `MMRState` of a tenant's log, as DataTrails
//! publishes them (`massifs/rootsigner.go`). The signature covers the state with its peaks
//! (key 8); the published payload leaves them out, so a verifier must recompute them from
//! the log and put them back before the signature checks.

use coset::cbor::Value;
use coset::{iana, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{Signature, VerifyingKey};

use crate::mmr::Hash;
use crate::signing::{key_id, SealKey};

/// The protected header label DataTrails puts its CWT claims under.
const CWT_CLAIMS: i64 = 13;
/// MMRState versions: 2 is DataTrails' current (peaks, no bagged root).
pub const STATE_VERSION: i64 = 2;

/// The state of a log a seal signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmrState {
    /// Nodes in the log.
    pub size: u64,
    /// Unix milliseconds when sealed.
    pub timestamp: i64,
    /// The idtimestamp of the last leaf.
    pub idtimestamp: u64,
    /// The idtimestamp epoch.
    pub commitment_epoch: u32,
    /// The state format (`STATE_VERSION` for attachd's seals; 0 for DataTrails' oldest).
    pub version: i64,
    /// The accumulator, highest peak first (not in the published payload).
    pub peaks: Vec<Hash>,
}

impl MmrState {
    /// Deterministic CBOR, integer keys in order; the peaks only when `with_peaks`.
    fn encode(&self, with_peaks: bool) -> crate::Result<Vec<u8>> {
        let mut map = vec![
            (Value::from(1), Value::from(self.size)),
            (Value::from(3), Value::from(self.timestamp)),
            (Value::from(4), Value::from(self.idtimestamp)),
            (Value::from(6), Value::from(self.commitment_epoch)),
        ];
        if self.version != 0 {
            map.push((Value::from(7), Value::from(self.version)));
        }
        if with_peaks {
            let peaks = self.peaks.iter().map(|p| Value::Bytes(p.to_vec())).collect();
            map.push((Value::from(8), Value::Array(peaks)));
        }
        let mut out = Vec::new();
        coset::cbor::into_writer(&Value::Map(map), &mut out)?;
        Ok(out)
    }

    fn decode(payload: &[u8]) -> crate::Result<Self> {
        let value: Value = coset::cbor::from_reader(payload)?;
        let Value::Map(entries) = value else {
            crate::bail!("the sealed state is not a CBOR map");
        };
        let field = |key: i128| {
            entries
                .iter()
                .find(|(k, _)| k.as_integer().map(i128::from) == Some(key))
        };
        let int = |key: i128| -> crate::Result<i128> {
            field(key)
                .and_then(|(_, v)| v.as_integer())
                .map(i128::from)
                .ok_or_else(|| crate::fail!("the sealed state has no integer {key}"))
        };
        let peaks = match field(8) {
            Some((_, Value::Array(peaks))) => peaks
                .iter()
                .map(|p| p.as_bytes().and_then(|b| b.as_slice().try_into().ok()))
                .collect::<Option<Vec<Hash>>>()
                .ok_or_else(|| crate::fail!("a sealed peak is not 32 bytes"))?,
            _ => Vec::new(),
        };
        Ok(Self {
            size: u64::try_from(int(1)?)?,
            timestamp: i64::try_from(int(3)?)?,
            idtimestamp: u64::try_from(int(4)?)?,
            commitment_epoch: u32::try_from(int(6)?)?,
            version: field(7).map_or(Ok(0), |_| int(7).and_then(|v| Ok(i64::try_from(v)?)))?,
            peaks,
        })
    }
}

/// Signs `state` for the massif at path `subject`: a tagged COSE Sign1 whose payload
/// leaves the peaks out, as DataTrails publishes seals.
pub fn sign(key: &SealKey, state: &MmrState, issuer: &str, subject: &str) -> crate::Result<Vec<u8>> {
    sign_seal(key, state, issuer, subject, false)
}

/// As [`sign`], with each peak signed too (see `receipt`): for the seal receipts are made
/// from, a log's latest.
pub fn sign_with_receipts(key: &SealKey, state: &MmrState, issuer: &str, subject: &str) -> crate::Result<Vec<u8>> {
    sign_seal(key, state, issuer, subject, true)
}

fn sign_seal(key: &SealKey, state: &MmrState, issuer: &str, subject: &str, receipts: bool) -> crate::Result<Vec<u8>> {
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES384)
        .value(CWT_CLAIMS, cwt_claims(key.verifying(), issuer, subject))
        .build();
    let mut seal = CoseSign1Builder::new()
        .protected(protected)
        .payload(state.encode(true)?)
        .create_signature(b"", |data| {
            let signature: Signature = key.signing().sign(data);
            signature.to_bytes().to_vec()
        })
        .build();
    seal.payload = Some(state.encode(false)?);
    if receipts {
        // Each peak signed too, for SCITT receipts made later without signing.
        crate::receipt::attach_peaks(&mut seal, key, &state.peaks, issuer, subject)?;
    }
    seal.to_tagged_vec().map_err(|e| crate::fail!("encoding a seal: {e}"))
}

/// CWT claims: issuer, subject and the confirmation key (`cnf`), as DataTrails writes them.
fn cwt_claims(key: &VerifyingKey, issuer: &str, subject: &str) -> Value {
    let point = key.to_encoded_point(false);
    // Minimal big-endian, as Go's big.Int writes them.
    let coordinate = |bytes: Option<&p384::FieldBytes>| {
        let bytes = bytes.map(|b| b.as_slice()).unwrap_or_default();
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Value::Bytes(bytes[start..].to_vec())
    };
    let cose_key = Value::Map(vec![
        (Value::from(1), Value::Text("EC".into())),
        (Value::from(2), Value::Text(key_id(key))),
        (Value::from(3), Value::from(-35)),
        (Value::from(-1), Value::Text("P-384".into())),
        (Value::from(-2), coordinate(point.x())),
        (Value::from(-3), coordinate(point.y())),
    ]);
    Value::Map(vec![
        (Value::from(1), Value::Text(issuer.into())),
        (Value::from(2), Value::Text(subject.into())),
        (Value::from(8), Value::Map(vec![(Value::from(1), cose_key)])),
    ])
}

/// A seal read without checking it: its state (no peaks) and the key it names.
pub struct SealContents {
    /// The state it signs, without peaks.
    pub state: MmrState,
    /// The key it names (the `cnf` claim).
    pub key: VerifyingKey,
    sign1: CoseSign1,
}

impl SealContents {
    /// Reads a seal's COSE Sign1 envelope, its state and its key, without checking it.
    pub fn parse(seal: &[u8]) -> crate::Result<Self> {
        let sign1 = CoseSign1::from_tagged_slice(seal).map_err(|e| crate::fail!("not a COSE Sign1 seal: {e}"))?;
        let alg = sign1.protected.header.alg.clone();
        crate::ensure!(
            alg == Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)),
            "the seal is not signed with ES384"
        );
        let claims = sign1
            .protected
            .header
            .rest
            .iter()
            .find(|(label, _)| *label == coset::Label::Int(CWT_CLAIMS))
            .map(|(_, claims)| claims.clone())
            .ok_or_else(|| crate::fail!("the seal names no key"))?;
        let key = cnf_key(&claims)?;
        let payload = sign1
            .payload
            .as_deref()
            .ok_or_else(|| crate::fail!("the seal has no payload"))?;
        let state = MmrState::decode(payload)?;
        Ok(Self { state, key, sign1 })
    }

    /// Checks the signature over the state with `peaks` (what the log holds at
    /// `state.size`) put back, by `trusted`, which must be the key the seal names.
    pub fn verify(&self, peaks: &[Hash], trusted: &VerifyingKey) -> crate::Result<()> {
        crate::ensure!(
            &self.key == trusted,
            "the seal is signed by {}, not the trusted key {}",
            key_id(&self.key),
            key_id(trusted)
        );
        crate::ensure!(
            self.state.peaks.is_empty() || self.state.peaks == peaks,
            "the seal carries other peaks than the log's"
        );
        let state = MmrState {
            peaks: peaks.to_vec(),
            ..self.state.clone()
        };
        let mut sign1 = self.sign1.clone();
        sign1.payload = Some(state.encode(true)?);
        verify_signature(&sign1, trusted)
    }
}

/// Checks a Sign1's signature as it stands.
fn verify_signature(sign1: &CoseSign1, key: &VerifyingKey) -> crate::Result<()> {
    sign1
        .verify_signature(b"", |signature, data| {
            let signature = Signature::from_slice(signature)?;
            key.verify(data, &signature)
        })
        .map_err(|_| crate::fail!("the seal's signature does not verify"))
}

/// The P-384 key CWT claims name (`cnf`), if they name one.
pub fn claims_key(claims: &Value) -> Option<VerifyingKey> {
    cnf_key(claims).ok()
}

/// The P-384 key in a CWT `cnf` claim.
fn cnf_key(claims: &Value) -> crate::Result<VerifyingKey> {
    let get = |map: &Value, key: i64| -> Option<Value> {
        map.as_map()?
            .iter()
            .find(|(k, _)| k.as_integer() == Some(key.into()))
            .map(|(_, v)| v.clone())
    };
    let cose_key = get(claims, 8)
        .and_then(|cnf| get(&cnf, 1))
        .ok_or_else(|| crate::fail!("the seal has no cnf key"))?;
    let coordinate = |label: i64| -> crate::Result<[u8; 48]> {
        let bytes = get(&cose_key, label)
            .and_then(|v| v.as_bytes().cloned())
            .filter(|b| b.len() <= 48)
            .ok_or_else(|| crate::fail!("the seal's key has no coordinate {label}"))?;
        let mut padded = [0u8; 48];
        padded[48 - bytes.len()..].copy_from_slice(&bytes);
        Ok(padded)
    };
    let point = p384::EncodedPoint::from_affine_coordinates(&coordinate(-2)?.into(), &coordinate(-3)?.into(), false);
    VerifyingKey::from_encoded_point(&point).map_err(|_| crate::fail!("the seal's key is not a P-384 point"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A production seal DataTrails published (go-datatrails-demos), a V0 state with its
    /// bagged root in the payload: our COSE and ES384 checking agree with theirs.
    #[test]
    fn datatrails_production_seal_verifies() -> anyhow::Result<()> {
        let seal = include_bytes!("testdata/datatrails_demo_seal.cbor");
        let key = crate::signing::public_from_pem(include_str!("testdata/datatrails_demo_seal_key.pem"))?;
        let contents = SealContents::parse(seal)?;
        assert_eq!(contents.key, key);
        assert_eq!((contents.state.size, contents.state.version), (860, 0));
        assert_eq!(contents.state.idtimestamp, 0x8fe396e6a307b000);
        verify_signature(&contents.sign1, &key)?;
        let mut changed = seal.to_vec();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(verify_signature(&SealContents::parse(&changed)?.sign1, &key).is_err());
        Ok(())
    }

    #[test]
    fn signed_without_peaks_verified_with_them() -> anyhow::Result<()> {
        let key = SealKey::new(p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng));
        let peaks = vec![[1u8; 32], [2u8; 32]];
        let state = MmrState {
            size: 4,
            timestamp: 1_700_000_000_000,
            idtimestamp: 42,
            commitment_epoch: 1,
            version: STATE_VERSION,
            peaks: peaks.clone(),
        };
        let seal = sign(
            &key,
            &state,
            "attachd",
            "v1/mmrs/tenant/x/0/massifs/0000000000000000.log",
        )?;
        let contents = SealContents::parse(&seal)?;
        assert!(contents.state.peaks.is_empty(), "the published payload has no peaks");
        assert_eq!(contents.state.size, 4);
        contents.verify(&peaks, key.verifying())?;
        assert!(
            contents.verify(&[[1u8; 32], [3u8; 32]], key.verifying()).is_err(),
            "other peaks"
        );
        let other = SealKey::new(p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng));
        assert!(contents.verify(&peaks, other.verifying()).is_err(), "another key");
        Ok(())
    }
}
