//! SCITT signed statements (RFC 9943): a COSE Sign1 by an issuer about a subject, checked
//! against the key its CWT claims name (`cnf`) before attachd records it. Nothing here
//! knows HTTP: a refusal says why, and the API answers it as 400.

use base64::Engine;
use coset::cbor::Value;
use coset::{iana, CoseSign1, Label, TaggedCborSerializable};
use sha2::{Digest, Sha256};

/// The largest statement registered: statements hold claims and hashes, not files.
pub const MAX_STATEMENT_BYTES: usize = 1 << 20;

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

/// Checks `bytes` is a COSE Sign1 statement signed by the key its claims name.
pub fn check(bytes: &[u8]) -> Result<Statement, StatementError> {
    let malformed = |why: &str| StatementError::Malformed(why.to_string());
    if bytes.len() > MAX_STATEMENT_BYTES {
        return Err(StatementError::Unsupported(format!(
            "it is over {MAX_STATEMENT_BYTES} bytes"
        )));
    }
    let sign1 = CoseSign1::from_tagged_slice(bytes)
        .or_else(|_| coset::CborSerializable::from_slice(bytes))
        .map_err(|e| StatementError::Malformed(format!("not a COSE Sign1 ({e})")))?;
    let payload = sign1.payload.clone().ok_or(StatementError::PayloadMissing)?;
    let header = &sign1.protected.header;
    let claims = CWT_CLAIMS
        .iter()
        .find_map(|label| find(&header.rest, *label))
        .ok_or_else(|| malformed("it has no CWT claims (protected header 15)"))?;
    let issuer = text(claims, 1).ok_or_else(|| malformed("its CWT claims name no issuer (1)"))?;
    let subject = text(claims, 2)
        .or_else(|| find(&header.rest, SUBJECT_HEADER).and_then(|v| v.as_text().map(str::to_string)))
        .ok_or_else(|| malformed("its CWT claims name no subject (2)"))?;
    let key = entry(claims, 8)
        .and_then(|cnf| entry(cnf, 1))
        .ok_or(StatementError::ConfirmationMissing)?;
    let algorithm = match &header.alg {
        Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256)) => "ES256",
        Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)) => "ES384",
        Some(other) => return Err(StatementError::BadAlgorithm(format!("{other:?}"))),
        None => return Err(malformed("its protected header names no algorithm")),
    };
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
        content_type: content_type(header),
        algorithm,
        payload_sha256: hex::encode(Sha256::digest(&payload)),
        base64: base64::engine::general_purpose::STANDARD.encode(bytes),
    })
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
