//! SCITT signed statements (RFC 9943): a COSE Sign1 by an issuer about a subject, checked
//! against the key its CWT claims name (`cnf`) before attachd records it. Nothing here
//! knows HTTP: a refusal says why, and the API answers it as 400.

mod cbor;

use base64::Engine;
use coset::cbor::Value;
use coset::{iana, CoseSign1, Label, TaggedCborSerializable};
use sha2::{Digest, Sha256};

/// The largest statement registered: statements hold claims and hashes, not files.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;
/// The largest protected header: claims and a key, not content.
pub const MAX_PROTECTED_BYTES: usize = 16 << 10;
/// The longest issuer or subject (the subject names an asset), in bytes.
pub const MAX_CLAIM_BYTES: usize = 1024;
/// The longest content type, in bytes.
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;

/// Header labels attachd understands, the only ones a statement may mark critical: alg,
/// crit, content type, kid, CWT claims (both labels) and the SCITT subject.
const UNDERSTOOD: [i64; 7] = [1, 2, 3, 4, 13, 15, 392];
/// COSE_Key labels: kty, alg, key_ops, and the private scalar d.
const KTY: i64 = 1;
const KEY_ALG: i64 = 3;
const KEY_OPS: i64 = 4;
const PRIVATE_D: i64 = -4;
/// kty EC2, and the key operation "verify".
const EC2: i64 = 2;
const VERIFY: i64 = 2;

/// CWT claims labels: RFC 9597's, and the draft label DataTrails' older clients use.
const CWT_CLAIMS: [i64; 2] = [15, 13];
/// The SCITT subject header, beside the CWT `sub` claim.
const SUBJECT_HEADER: i64 = 392;

/// A statement whose signature checked, with what attachd records of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub issuer: String,
    pub subject: String,
    /// The payload's media type (header 3), or empty.
    pub content_type: String,
    /// `ES256` or `ES384`.
    pub algorithm: &'static str,
    /// Lower-case hex SHA-256 of the payload as signed.
    pub payload_sha256: String,
    /// The statement as sent, base64.
    pub base64: String,
}

/// Why a statement was refused.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("not a signed statement: {0}")]
    Malformed(String),
    #[error("unsupported statement: {0}")]
    Unsupported(String),
    #[error("unsupported statement: algorithm {0}; ES256 and ES384 are")]
    BadAlgorithm(String),
    #[error("not a signed statement: its payload is detached; register it with the payload attached")]
    PayloadMissing,
    #[error("not a signed statement: its CWT claims name no key to check it with (cnf, 8)")]
    ConfirmationMissing,
    #[error("the statement's signature does not verify against the key it names")]
    BadSignature,
}

impl StatementError {
    /// The title SCRAPI gives this refusal.
    pub fn title(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "Malformed request",
            Self::Unsupported(_) => "Rejected",
            Self::BadAlgorithm(_) => "Bad Signature Algorithm",
            Self::PayloadMissing => "Payload Missing",
            Self::ConfirmationMissing => "Confirmation Missing",
            Self::BadSignature => "Rejected",
        }
    }
}

/// Checks `bytes` is a COSE Sign1 statement signed by the key its claims name: strictly
/// (no map with a key twice, no critical header attachd does not understand, one plain
/// `alg` in the protected header only, a public EC2 key whose own parameters agree, and
/// issuer, subject and content type bounded and free of control characters).
pub fn check(bytes: &[u8]) -> Result<Statement, StatementError> {
    let malformed = |why: &str| StatementError::Malformed(why.to_string());
    let unsupported = |why: &str| StatementError::Unsupported(why.to_string());
    if bytes.len() > MAX_STATEMENT_BYTES {
        return Err(StatementError::Unsupported(format!(
            "it is over {MAX_STATEMENT_BYTES} bytes"
        )));
    }
    cbor::check_strict(bytes).map_err(StatementError::Malformed)?;
    // The protected header is CBOR inside a byte string: read as strictly, before coset
    // (which would take the first of two equal keys).
    if let Some(protected) = cbor::sign1_protected(bytes) {
        if protected.len() > MAX_PROTECTED_BYTES {
            return Err(StatementError::Unsupported(format!(
                "its protected header is over {MAX_PROTECTED_BYTES} bytes"
            )));
        }
        check_protected_form(protected)?;
    }
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| coset::CborSerializable::from_slice(bytes))
        .map_err(|e| StatementError::Malformed(format!("not a COSE Sign1 ({e})")))?;
    let payload = sign1.payload.as_deref().ok_or(StatementError::PayloadMissing)?;
    let header = &sign1.protected.header;
    let unprotected = &sign1.unprotected;
    if unprotected.alg.is_some() || !unprotected.crit.is_empty() {
        return Err(malformed("alg and crit belong in the protected header only"));
    }
    let claims = CWT_CLAIMS
        .iter()
        .find_map(|label| find(&header.rest, *label))
        .ok_or_else(|| malformed("it has no CWT claims (protected header 15)"))?;
    let issuer = text(claims, 1).ok_or_else(|| malformed("its CWT claims name no issuer (1)"))?;
    let subject = text(claims, 2)
        .or_else(|| find(&header.rest, SUBJECT_HEADER).and_then(|v| v.as_text().map(str::to_string)))
        .ok_or_else(|| malformed("its CWT claims name no subject (2)"))?;
    let content_type = content_type(header);
    bounded("issuer", &issuer, MAX_CLAIM_BYTES)?;
    bounded("subject", &subject, MAX_CLAIM_BYTES)?;
    bounded("content type", &content_type, MAX_CONTENT_TYPE_BYTES)?;
    let key = entry(claims, 8)
        .and_then(|cnf| entry(cnf, 1))
        .ok_or(StatementError::ConfirmationMissing)?;
    let algorithm = match &header.alg {
        Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256)) => "ES256",
        Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)) => "ES384",
        Some(other) => return Err(StatementError::BadAlgorithm(format!("{other:?}"))),
        None => return Err(malformed("its protected header names no algorithm")),
    };
    check_key(key, algorithm).map_err(|why| unsupported(&why))?;
    let verified = match algorithm {
        "ES256" => verify_p256(&sign1, key)?,
        _ => verify_p384(&sign1, key)?,
    };
    if !verified {
        return Err(StatementError::BadSignature);
    }
    Ok(Statement {
        issuer,
        subject,
        content_type,
        algorithm,
        payload_sha256: hex::encode(Sha256::digest(payload)),
        base64: base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

/// The protected header as sent: a map without duplicates (at any depth, the claims and
/// their key included) whose `alg` is a plain integer (not a bignum, not text), and whose
/// critical headers (`crit`) are all ones attachd understands (RFC 9052 §3.1).
fn check_protected_form(protected: &[u8]) -> Result<(), StatementError> {
    let malformed = |why: String| StatementError::Malformed(format!("its protected header: {why}"));
    let entries = cbor::map_entries(protected).map_err(malformed)?;
    for entry in entries.iter().filter(|e| e.key == cbor::Key::Int(1)) {
        if entry.value_head >> 5 > 1 {
            return Err(StatementError::Malformed(
                "its algorithm (protected header 1) is not a plain integer".into(),
            ));
        }
    }
    if entries.iter().any(|e| e.key == cbor::Key::Int(2)) {
        let header: Value = coset::cbor::de::from_reader(protected).map_err(|e| malformed(e.to_string()))?;
        let crit = entry(&header, 2).and_then(Value::as_array).filter(|c| !c.is_empty());
        let crit = crit.ok_or_else(|| malformed("crit (2) is not a non-empty array of labels".into()))?;
        for label in crit {
            let understood = label
                .as_integer()
                .and_then(|n| i64::try_from(n).ok())
                .is_some_and(|n| UNDERSTOOD.contains(&n));
            if !understood {
                return Err(StatementError::Unsupported(format!(
                    "it marks the header {label:?} critical, which attachd does not understand"
                )));
            }
        }
    }
    Ok(())
}

/// A claim within `max` bytes, without control characters (it is shown, and the subject
/// names an asset).
fn bounded(name: &str, value: &str, max: usize) -> Result<(), StatementError> {
    if value.len() > max {
        return Err(StatementError::Unsupported(format!("its {name} is over {max} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(StatementError::Malformed(format!(
            "its {name} holds a control character"
        )));
    }
    Ok(())
}

/// The `cnf` key is a public EC2 key whose own parameters agree with the statement: kty
/// EC2, no private scalar, its `alg` (if any) the statement's, its `key_ops` (if any)
/// allowing verify. The curve is checked with the coordinates.
fn check_key(key: &Value, algorithm: &str) -> Result<(), String> {
    if key.as_map().is_none() {
        return Err("its key (cnf) is not a COSE_Key".into());
    }
    match entry(key, KTY) {
        Some(Value::Integer(kty)) if i128::from(*kty) == i128::from(EC2) => {}
        Some(_) => return Err("its key (cnf) is not an EC2 key (kty 2)".into()),
        None => return Err("its key (cnf) names no key type (kty)".into()),
    }
    if entry(key, PRIVATE_D).is_some() {
        return Err("its key (cnf) carries its private part (d): a statement names a public key only".into());
    }
    if let Some(alg) = entry(key, KEY_ALG) {
        let expected = match algorithm {
            "ES256" => iana::Algorithm::ES256 as i64,
            _ => iana::Algorithm::ES384 as i64,
        };
        if alg.as_integer().map(i128::from) != Some(i128::from(expected)) {
            return Err(format!("its key (cnf) is for another algorithm than {algorithm}"));
        }
    }
    if let Some(ops) = entry(key, KEY_OPS) {
        let allows_verify = ops.as_array().is_some_and(|ops| {
            ops.iter()
                .any(|op| op.as_integer().map(i128::from) == Some(i128::from(VERIFY)) || op.as_text() == Some("verify"))
        });
        if !allows_verify {
            return Err("its key (cnf) does not allow verify (key_ops)".into());
        }
    }
    Ok(())
}

fn verify_p256(sign1: &CoseSign1, key: &Value) -> Result<bool, StatementError> {
    use p256::ecdsa::signature::Verifier;
    let (x, y) = coordinates::<32>(key, &[1], "P-256")?;
    let point = p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
    let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
        .map_err(|_| StatementError::Malformed("its key is not a P-256 point".into()))?;
    Ok(sign1
        .verify_signature(b"", |signature, data| {
            key.verify(data, &p256::ecdsa::Signature::from_slice(signature)?)
        })
        .is_ok())
}

fn verify_p384(sign1: &CoseSign1, key: &Value) -> Result<bool, StatementError> {
    use p384::ecdsa::signature::Verifier;
    let (x, y) = coordinates::<48>(key, &[2], "P-384")?;
    let point = p384::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
    let key = p384::ecdsa::VerifyingKey::from_encoded_point(&point)
        .map_err(|_| StatementError::Malformed("its key is not a P-384 point".into()))?;
    Ok(sign1
        .verify_signature(b"", |signature, data| {
            key.verify(data, &p384::ecdsa::Signature::from_slice(signature)?)
        })
        .is_ok())
}

/// The x and y of an EC2 COSE_Key on curve `name` (label -1 holds one of `curves` or the
/// name), left-padded to `N` bytes.
fn coordinates<const N: usize>(key: &Value, curves: &[i64], name: &str) -> Result<([u8; N], [u8; N]), StatementError> {
    let curve_ok = match entry(key, -1) {
        Some(Value::Integer(c)) => curves.iter().any(|k| i128::from(*c) == i128::from(*k)),
        Some(Value::Text(c)) => c == name,
        _ => false,
    };
    if !curve_ok {
        return Err(StatementError::Unsupported(format!(
            "its key is not on {name}, which its algorithm needs"
        )));
    }
    let coordinate = |label: i64| -> Result<[u8; N], StatementError> {
        let bytes = entry(key, label)
            .and_then(Value::as_bytes)
            .filter(|b| b.len() <= N)
            .ok_or_else(|| StatementError::Malformed(format!("its key has no coordinate {label}")))?;
        let mut padded = [0u8; N];
        padded[N - bytes.len()..].copy_from_slice(bytes);
        Ok(padded)
    };
    Ok((coordinate(-2)?, coordinate(-3)?))
}

fn content_type(header: &coset::Header) -> String {
    match &header.content_type {
        Some(coset::ContentType::Text(text)) => text.clone(),
        Some(coset::ContentType::Assigned(format)) => format!("{format:?}"),
        None => String::new(),
    }
}

fn find(rest: &[(Label, Value)], label: i64) -> Option<&Value> {
    rest.iter().find(|(l, _)| *l == Label::Int(label)).map(|(_, v)| v)
}

fn entry(map: &Value, key: i64) -> Option<&Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_integer() == Some(key.into()))
        .map(|(_, v)| v)
}

fn text(map: &Value, key: i64) -> Option<String> {
    entry(map, key).and_then(|v| v.as_text()).map(str::to_string)
}
