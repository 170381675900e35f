//! The verifiable log over HTTP, without a token: massifs and seals at DataTrails' blob
//! paths (what `veracity --data-url` reads), the public keys that sign seals, and each
//! event's inclusion proof for clients that cannot read massifs.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::api::docs::PublicErrors;
use crate::api::routes::Routes;
use crate::api::PathParams;
use crate::error::{ApiError, ApiResult};
use crate::ids::TenantId;
use crate::log::prove::{Inclusion, ProofError};
use crate::repo::leaves as entry;
use crate::repo::Event;
use crate::state::AppState;
use ::merklelog::massif::{self, Massif};
use ::merklelog::signing::{key_id, public_jwk, public_pem};
use ::merklelog::{idtimestamp, mmr};

pub fn routes() -> Routes {
    Routes::new()
        .get("/archivist/v1/merklelog/public-key", public_key)
        .get(
            "/verifiabledata/merklelogs/v1/mmrs/tenant/{uuid}/0/massifs/{file}",
            massif_blob,
        )
        .get(
            "/verifiabledata/merklelogs/v1/mmrs/tenant/{uuid}/0/massifseals/{file}",
            seal_blob,
        )
        .without_token()
}

#[derive(OpenApi)]
#[openapi(paths(public_key, massif_blob, seal_blob))]
pub struct Doc;

/// A public key that signs (or signed) seals.
#[derive(Serialize, ToSchema)]
struct PublicKey {
    /// The key id seals name in their CWT `cnf` claim.
    kid: String,
    /// SubjectPublicKeyInfo PEM.
    pem: String,
    /// The key as a JWK (`EC`, `P-384`, `ES384`).
    #[schema(value_type = Object)]
    jwk: Value,
}

#[derive(Serialize, ToSchema)]
struct PublicKeys {
    /// The key new seals are signed with.
    #[serde(flatten)]
    current: PublicKey,
    /// Every key whose seals this server trusts: the current one, then earlier ones.
    trusted: Vec<PublicKey>,
}

/// The keys that sign the log's seals: pin one to verify offline (`attachd verify --key`).
#[utoipa::path(get, path = "/archivist/v1/merklelog/public-key", operation_id = "MerkleLog_PublicKey", tag = "merklelog", security(()),
    responses((status = 200, description = "The seal signing keys.", body = PublicKeys), PublicErrors))]
async fn public_key(State(state): State<AppState>) -> ApiResult<Json<PublicKeys>> {
    let describe = |key: &p384::ecdsa::VerifyingKey| -> ApiResult<PublicKey> {
        Ok(PublicKey {
            kid: key_id(key),
            pem: public_pem(key).map_err(ApiError::internal)?,
            jwk: public_jwk(key),
        })
    };
    Ok(Json(PublicKeys {
        current: describe(state.log.key.verifying())?,
        trusted: state
            .log
            .trusted_keys()
            .iter()
            .map(describe)
            .collect::<ApiResult<_>>()?,
    }))
}

/// `0000000000000003.log` → 3 (decimal, 16 digits, as DataTrails names massif blobs; the
/// index is a u32 in the massif header, so nothing larger names one).
fn blob_index(file: &str, extension: &str) -> ApiResult<u64> {
    file.strip_suffix(extension)
        .filter(|digits| digits.len() == 16 && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u32>().ok())
        .map(u64::from)
        .ok_or_else(|| ApiError::not_found("log blob"))
}

fn binary(bytes: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = bytes.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Massif `{file}` of a tenant's log, in DataTrails' massif format (as far as it is
/// filled). It holds hashes and idtimestamps only, never attribute values.
#[utoipa::path(get, path = "/verifiabledata/merklelogs/v1/mmrs/tenant/{uuid}/0/massifs/{file}", operation_id = "MerkleLog_Massif", tag = "merklelog", security(()),
    params(("uuid" = uuid::Uuid, Path, description = "The tenant's id."),
        ("file" = String, Path, description = "The massif index, 16 decimal digits, then `.log`.")),
    responses((status = 200, description = "The massif blob.", content_type = "application/octet-stream", body = Vec<u8>), PublicErrors))]
async fn massif_blob(
    State(state): State<AppState>,
    PathParams((uuid, file)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let tenant = TenantId::parse_bare(&uuid)?;
    let index = blob_index(&file, ".log")?;
    let height = state.log.massif_height;
    let (size, _) = state.repo.log_head(tenant).await?;
    let range = massif::node_range(height, index);
    if size <= range.start {
        return Err(ApiError::not_found("massif"));
    }
    // Everything read stops at the size read first, so the blob is one state of the log.
    let end = range.end.min(size);
    let nodes = state.repo.log_node_range(tenant, range.start..end).await?;
    let events = state.repo.log_events(tenant, range.start..end).await?;
    let blobs = state.repo.log_blobs(tenant, range.start..end).await?;
    // Events' and blobs' leaves, in log order.
    let mut placed: Vec<(i64, massif::TrieEntry)> = events
        .iter()
        .filter_map(|event| Some((event.log_index?, entry::trie_entry(event, event.idtimestamp? as u64))))
        .chain(
            blobs
                .iter()
                .filter_map(|blob| Some((blob.log_index?, entry::blob_trie_entry(blob, blob.idtimestamp? as u64)))),
        )
        .collect();
    placed.sort_by_key(|(index, _)| *index);
    let entries: Vec<massif::TrieEntry> = placed.into_iter().map(|(_, entry)| entry).collect();
    let stack_indices = mmr::peaks(range.start);
    let stack_nodes = state.repo.log_nodes_at(tenant, &stack_indices).await?;
    let peak_stack: Vec<mmr::Hash> = stack_indices
        .iter()
        .filter_map(|i| stack_nodes.get(i).copied())
        .collect();
    let blob = Massif {
        height,
        index,
        commitment_epoch: u32::from(idtimestamp::EPOCH),
        last_id: entries.last().map_or(0, |e| e.idtimestamp),
        entries: &entries,
        peak_stack: &peak_stack,
        nodes: &nodes,
    }
    .encode();
    Ok(binary(blob, "application/octet-stream"))
}

/// The latest seal of massif `{file}`: a COSE Sign1 (ES384) over the log state, its peaks
/// left out as DataTrails publishes them.
#[utoipa::path(get, path = "/verifiabledata/merklelogs/v1/mmrs/tenant/{uuid}/0/massifseals/{file}", operation_id = "MerkleLog_Seal", tag = "merklelog", security(()),
    params(("uuid" = uuid::Uuid, Path, description = "The tenant's id."),
        ("file" = String, Path, description = "The massif index, 16 decimal digits, then `.sth`.")),
    responses((status = 200, description = "The seal.", content_type = "application/cose", body = Vec<u8>), PublicErrors))]
async fn seal_blob(
    State(state): State<AppState>,
    PathParams((uuid, file)): PathParams<(String, String)>,
) -> ApiResult<Response> {
    let tenant = TenantId::parse_bare(&uuid)?;
    let index = blob_index(&file, ".sth")?;
    let stored = state.repo.massif_seal(tenant, index).await?;
    // The anchored seal is written before the database's copy, and is what proofs trust:
    // it is served unless the database already holds a later one.
    let fresh = std::time::Duration::from_millis(250);
    let anchored = crate::log::state::trusted_head(&state.log, tenant, fresh)
        .await
        .ok()
        .flatten()
        .filter(|a| !a.is_empty() && a.massif_index == index);
    let seal = match (stored, anchored) {
        (Some(stored), Some(anchored)) if stored.mmr_size as u64 > anchored.size => stored.seal,
        (_, Some(anchored)) => anchored.seal.clone(),
        (Some(stored), None) => stored.seal,
        (None, None) => return Err(ApiError::not_found("seal")),
    };
    Ok(binary(seal, "application/cose"))
}

/// An event's inclusion in its tenant's signed log, with what a client needs to check it:
/// the leaf's preimage, the path to a peak, the sealed peaks and the seal.
#[derive(Serialize, ToSchema)]
#[schema(as = attachdEventProof)]
pub struct EventProof {
    /// The event.
    identity: String,
    /// The leaf's node index in the log (decimal string).
    mmr_index: String,
    /// The idtimestamp the leaf commits to (epoch byte first, hex).
    idtimestamp: String,
    /// How the leaf is computed: `v3` (asset events: SHA-256(0x00 ‖ u64be(id) ‖
    /// bencode(fields))) or `eventsv1` (asset-free events: SHA-256(0x00 ‖ extra ‖ u64be(id)
    /// ‖ bencoded JSON of `fields`)).
    leaf_scheme: &'static str,
    /// The leaf preimage's event fields, as the leaf scheme hashes them.
    #[schema(value_type = Object)]
    leaf_fields: Value,
    /// eventsv1 only: the 24 extra bytes (hex), also in the massif's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    leaf_extra: Option<String>,
    /// The leaf (hex).
    leaf: String,
    /// Sibling hashes (hex) from the leaf up to its peak; node p at each step is
    /// SHA-256(u64be(p + 1) ‖ left ‖ right).
    inclusion_path: Vec<String>,
    /// The sealed log's size (decimal string).
    mmr_size: String,
    /// The sealed log's peaks, highest first (hex).
    peaks: Vec<String>,
    /// Which peak the path leads to.
    peak_index: usize,
    /// The massif whose seal this is.
    massif_index: String,
    /// The seal (COSE Sign1, base64); it signs the state with `peaks`.
    signed_tree_head: String,
}

impl EventProof {
    pub fn new(event: &Event, inclusion: Inclusion) -> Self {
        let hexes = |hashes: &[mmr::Hash]| hashes.iter().map(hex::encode).collect();
        let (leaf_scheme, leaf_fields, leaf_extra) = match event.asset_id {
            Some(_) => ("v3", entry::EventFields::of(event).v3_json(), None),
            None => (
                "eventsv1",
                serde_json::json!({
                    "attributes": entry::json_text(&event.event_attributes),
                    "trails": entry::json_text(&event.trails),
                }),
                Some(hex::encode(merklelog::leaf::eventsv1_extra(event.tenant_id))),
            ),
        };
        Self {
            identity: entry::event_identity(event),
            mmr_index: inclusion.index.to_string(),
            idtimestamp: idtimestamp::to_hex(inclusion.idtimestamp),
            leaf_scheme,
            leaf_fields,
            leaf_extra,
            leaf: hex::encode(inclusion.leaf),
            inclusion_path: hexes(&inclusion.path),
            mmr_size: inclusion.size.to_string(),
            peaks: hexes(&inclusion.peaks),
            peak_index: inclusion.peak_index,
            massif_index: inclusion.massif_index.to_string(),
            signed_tree_head: base64::engine::general_purpose::STANDARD.encode(&inclusion.seal),
        }
    }
}

/// The proof of `event`, or the failure as a tamper report.
pub async fn event_proof(state: &AppState, event: &Event) -> ApiResult<Json<EventProof>> {
    match crate::log::prove::prove_event(state.repo.as_ref(), &state.log, event).await {
        Ok(inclusion) => Ok(Json(EventProof::new(event, inclusion))),
        Err(err) => Err(proof_failure(err, "proof")),
    }
}

/// A failed proof as an API error: a log that fails its checks is reported as a tamper.
pub fn proof_failure(err: ProofError, route: &'static str) -> ApiError {
    match err {
        ProofError::Failed(why) => {
            tracing::error!(route, why = %why, "integrity failure: an event is not in its signed log");
            metrics::counter!(crate::metrics::INTEGRITY_FAILURES, "route" => route).increment(1);
            ApiError::DataLoss(format!("{why}; it will not be delivered"))
        }
        // The sealer reported the tenant, and checks it again each round.
        ProofError::Refused(why) => ApiError::DataLoss(format!("{why}; it will not be delivered")),
        ProofError::Unavailable(why) => ApiError::Unavailable(why),
        ProofError::Repo(err) => err.into(),
        ProofError::Other(err) => ApiError::internal(err),
    }
}
