#!/usr/bin/env bash
# Makes the fixtures console/verify.test.mjs checks, from a running attachd: uploads a file,
# records an event attaching it (and a second one, so the first has an inclusion path),
# waits for the receipts and writes into DIR:
#   event.json          the event, as GET …/events/{event} answers it
#   receipt.cbor        its receipt, DataTrails' form (GET /archivist/v1/publicscitt/entries/…/receipt)
#   receipt-draft.cbor  its receipt, the draft form (SCRAPI GET /entries/…)
#   log.pem             the log's public key (GET /archivist/v1/merklelog/public-key, .pem)
#   file.bin            the attached file
#   event-values.json   a second event: numbers, booleans, null and non-BMP keys in its attributes
#   event-free.json     an asset-free event (eventsv1 leaf)
#   manifest.json       what attachd's :proof routes say (each event's leaf, index, path length)
#
# Usage: BASE=http://127.0.0.1:8080 TOKEN_FILE=attachd-data/bearer-token.txt \
#          console/make-verify-fixtures.sh DIR
# TRIES (default 60) bounds the one-second polls for the seal; CURL_OPTS adds curl options.
set -euo pipefail

: "${BASE:?set BASE to the attachd URL, e.g. http://127.0.0.1:8080}"
: "${TOKEN_FILE:?set TOKEN_FILE to a curl header file holding \"Authorization: Bearer …\"}"
DIR=${1:?usage: make-verify-fixtures.sh DIR}
TRIES=${TRIES:-60}
BASE=${BASE%/}
[[ -r $TOKEN_FILE ]] || { echo "cannot read TOKEN_FILE $TOKEN_FILE" >&2; exit 2; }
for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 2; }
done
mkdir -p "$DIR"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# call OUT METHOD PATH [curl args…]: the body into OUT, the HTTP status on stdout.
call() {
  local out=$1 method=$2 path=$3
  shift 3
  # shellcheck disable=SC2086
  curl -sS ${CURL_OPTS:-} --max-time 30 -o "$out" -w '%{http_code}' -X "$method" -H "@$TOKEN_FILE" "$@" "$BASE$path"
}

# must OUT METHOD PATH [curl args…]: like call, but a status other than 200 is fatal.
must() {
  local status
  status=$(call "$@") || { echo "$2 $3: curl failed" >&2; exit 1; }
  if [[ $status != 200 ]]; then
    echo "$2 $3 answered $status: $(head -c 500 "$1")" >&2
    exit 1
  fi
}

json() { must "$1" POST "$2" -H 'Content-Type: application/json' --data-binary "@$3"; }

# The file: a unique line, so every run makes a new blob, and every byte value.
{
  printf 'attachd verify.js fixture %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$-$RANDOM"
  for byte in $(seq 0 255); do printf "\\$(printf '%03o' "$byte")"; done
} >"$DIR/file.bin"

must "$WORK/blob.json" POST /archivist/v1/blobs -F "file=@$DIR/file.bin;filename=fixture.bin"
jq -e '.identity and .hash.value' "$WORK/blob.json" >/dev/null

jq -n '{behaviours: ["RecordEvidence"], attributes: {arc_display_name: "verify.js fixture"}}' >"$WORK/asset-body.json"
json "$WORK/asset.json" /archivist/v2/assets "$WORK/asset-body.json"
ASSET=$(jq -er .identity "$WORK/asset.json")

# The attachment attribute as tests/api/common/mod.rs attachment() makes it, in a list.
jq -n --slurpfile blob "$WORK/blob.json" '{
  operation: "Record", behaviour: "RecordEvidence",
  event_attributes: {
    arc_description: "the file verify.js checks",
    arc_attachments: [{
      arc_attribute_type: "arc_attachment", arc_blob_identity: $blob[0].identity,
      arc_blob_hash_alg: "SHA256", arc_blob_hash_value: $blob[0].hash.value,
      arc_file_name: "fixture.bin", arc_display_name: "fixture.bin"}]}}' >"$WORK/event-body.json"
json "$WORK/posted.json" "/archivist/v2/$ASSET/events" "$WORK/event-body.json"
EVENT=$(jq -er .identity "$WORK/posted.json")

# A second event gives the first a sibling, so its path is not empty. Its attributes hold
# JSON DataTrails never stores (numbers, booleans, null), which attachd hashes its own way,
# and keys whose UTF-8 order differs from their UTF-16 order (U+FF61, U+1F600).
printf '%s' '{"operation": "Record", "behaviour": "RecordEvidence", "event_attributes": {
  "values": [1.5, 42, -7, 0.25, 1e300, 1e-7, 123456.789, true, false, null],
  "\uff61": "halfwidth", "\ud83d\ude00": "astral", "\u00fc<&>": "x"}}' >"$WORK/values-body.json"
json "$WORK/values-posted.json" "/archivist/v2/$ASSET/events" "$WORK/values-body.json"
VALUES=$(jq -er .identity "$WORK/values-posted.json")

# An asset-free event: its leaf is the eventsv1 one (Go's JSON, with its escapes).
printf '%s' '{"attributes": {"b": "<&>\u2028\n\u0001 \u00fc", "a": [1, true, null, 1.5],
  "\uff61": "halfwidth", "\ud83d\ude00": "astral"}, "trails": ["t1", "x<y"]}' >"$WORK/free-body.json"
json "$WORK/free-posted.json" /archivist/v1/events "$WORK/free-body.json"
FREE=$(jq -er .identity "$WORK/free-posted.json")

# assets/A/events/E → assets_A_events_E
ENTRY=${EVENT//\//_}
ready=
for ((try = 1; try <= TRIES; try++)); do
  if [[ $(call "$WORK/proof.json" GET "/archivist/v2/$EVENT:proof") == 200 ]] \
    && [[ $(call "$WORK/values-proof.json" GET "/archivist/v2/$VALUES:proof") == 200 ]] \
    && [[ $(call "$WORK/free-proof.json" GET "/archivist/v1/$FREE:proof") == 200 ]] \
    && jq -e '(.inclusion_path | length) > 0' "$WORK/proof.json" >/dev/null \
    && [[ $(call "$WORK/receipt.cbor" GET "/archivist/v1/publicscitt/entries/$ENTRY/receipt") == 200 ]] \
    && [[ $(call "$WORK/receipt-draft.cbor" GET "/entries/$ENTRY") == 200 ]]; then
    ready=1
    break
  fi
  sleep 1
done
if [[ -z $ready ]]; then
  echo "no receipt with an inclusion path for $EVENT after $TRIES tries (is the sealer running?)" >&2
  exit 1
fi

must "$DIR/event.json" GET "/archivist/v2/$EVENT"
must "$DIR/event-values.json" GET "/archivist/v2/$VALUES"
must "$DIR/event-free.json" GET "/archivist/v1/$FREE"
must "$WORK/keys.json" GET /archivist/v1/merklelog/public-key
jq -er .pem "$WORK/keys.json" >"$DIR/log.pem"
cp "$WORK/receipt.cbor" "$WORK/receipt-draft.cbor" "$DIR/"

jq -n --arg base "$BASE" --arg entry "$ENTRY" --arg sha "$(jq -r .hash.value "$WORK/blob.json")" \
  --slurpfile proof "$WORK/proof.json" --slurpfile values "$WORK/values-proof.json" \
  --slurpfile free "$WORK/free-proof.json" --slurpfile keys "$WORK/keys.json" '{
  base: $base, entry: $entry, event: $proof[0].identity, mmr_index: $proof[0].mmr_index,
  idtimestamp: $proof[0].idtimestamp, leaf: $proof[0].leaf, mmr_size: $proof[0].mmr_size,
  inclusion_path_length: ($proof[0].inclusion_path | length), file_sha256: $sha, kid: $keys[0].kid,
  leaves: {"event.json": $proof[0].leaf, "event-values.json": $values[0].leaf, "event-free.json": $free[0].leaf}
}' >"$DIR/manifest.json"
echo "fixtures for $EVENT in $DIR" >&2
