#!/usr/bin/env bash
# The cost of attachment verification and the speed of metadata reads, on each database:
# - a 256 MiB attachment downloaded through the asset-event attachment route (SHA-256
#   checked against the event's recorded hash) next to the plain blob download and
#   `openssl dgst -sha256` of the same file, same run;
# - GET …/info requests per second with wrk at 32 connections, next to `pgbench -S`
#   (select-only) at 32 clients on the same PostgreSQL, same run;
# - sharing: one 1 MiB attachment and its /info, read by its owner and by a partner tenant
#   an access policy grants (`x owner` = partner / owner), then the partner's asset list with
#   SHARED_ASSETS of the owner's assets shared and 10 times as many not (p50 of CALLS calls
#   on one connection, next to the owner's own first page).
#
#   bash bench/attachments.sh
#   SIZE_MIB=64 BACKENDS=postgres SECONDS_EACH=5 bash bench/attachments.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SIZE_MIB=${SIZE_MIB:-256}
BACKENDS=${BACKENDS:-"sqlite postgres"}
SECONDS_EACH=${SECONDS_EACH:-10}
SHARED_ASSETS=${SHARED_ASSETS:-10000}
CALLS=${CALLS:-200}
command -v wrk >/dev/null || { echo "needs wrk (Debian: apt-get install wrk)"; exit 1; }

cargo build --release --quiet
cargo bench --quiet --bench populate --no-run 2>/dev/null
file="$work/blob.bin"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$file"
bytes=$(stat -c %s "$file")
sha=$(openssl_mbps "$file")
echo "file: $SIZE_MIB MiB random; openssl dgst -sha256: $sha MB/s"

for backend in $BACKENDS; do
  url=$(database_url "$backend")
  start_server "$url"
  blob=$(api POST /archivist/v1/blobs -F "file=@$file")
  blob_id=$(sed -E 's/.*"identity":"(blobs\/[^"]+)".*/\1/' <<<"$blob")
  hash=$(sed -E 's/.*"value":"([0-9a-f]+)".*/\1/' <<<"$blob")
  asset=$(api POST /archivist/v2/assets -H 'content-type: application/json' -d '{"attributes":{"arc_display_name":"bench"}}')
  asset_id=$(sed -E 's/.*"identity":"(assets\/[^"]+)".*/\1/' <<<"$asset")
  event=$(api POST "/archivist/v2/$asset_id/events" -H 'content-type: application/json' -d "{
    \"operation\":\"Record\",\"behaviour\":\"RecordEvidence\",\"event_attributes\":{\"doc\":{
    \"arc_attribute_type\":\"arc_attachment\",\"arc_blob_identity\":\"$blob_id\",
    \"arc_blob_hash_alg\":\"SHA256\",\"arc_blob_hash_value\":\"$hash\",\"arc_file_name\":\"big.bin\"}}}")
  event_path=$(sed -E 's/.*"identity":"(assets\/[^"]+\/events\/[^"]+)".*/\1/' <<<"$event")
  attachment="/archivist/v2/attachments/$event_path/${blob_id#blobs/}"

  plain=$(mbps "$bytes" "$(get_secs "/archivist/v1/blobs/${blob_id#blobs/}")")
  verified=$(mbps "$bytes" "$(get_secs "$attachment")")
  echo
  echo "$backend: attachment route $verified MB/s, plain blob download $plain MB/s:" \
    "x plain $(ratio "$verified" "$plain"), x sha $(ratio "$verified" "$sha")"

  token=$(cut -d' ' -f3 "$work/token")
  info_rps=$(wrk -t2 -c32 -d"${SECONDS_EACH}s" -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$PORT$attachment/info" | awk '/Requests\/sec/ { print $2 }')
  stop_server
  if [ "$backend" = postgres ]; then
    as_pg pgbench -h "$work/pg" -p "$PG_PORT" -U postgres -i -q -s 1 postgres >"$work/pgbench-init.log" 2>&1 ||
      { cat "$work/pgbench-init.log"; exit 1; }
    pg_tps=$(as_pg pgbench -h "$work/pg" -p "$PG_PORT" -U postgres -S -c 32 -j 2 -T "$SECONDS_EACH" postgres 2>/dev/null |
      awk '/^tps/ { print $3; exit }')
    echo "$backend: info $info_rps req/s (wrk, 32 connections), pgbench -S $pg_tps tps (32 clients): x pgbench $(ratio "$info_rps" "$pg_tps")"
  else
    echo "$backend: info $info_rps req/s (wrk, 32 connections)"
  fi
done

# p50_ms TOKEN_FILE PATH: the median of CALLS requests of PATH on one keep-alive connection.
p50_ms() {
  local args=()
  for _ in $(seq "$CALLS"); do args+=(-o /dev/null "http://127.0.0.1:$PORT$2"); done
  curl -sf -H "@$1" -w '%{time_total}\n' "${args[@]}" | sort -g |
    awk '{ t[NR] = $1 * 1000 } END { printf "%.2f", t[int(NR * 0.5 + 0.5)] }'
}

# info_rps TOKEN_FILE PATH: requests per second with wrk at 32 connections.
info_rps() {
  wrk -t2 -c32 -d"${SECONDS_EACH}s" -H "$(cat "$1")" "http://127.0.0.1:$PORT$2" | awk '/Requests\/sec/ { print $2 }'
}

head -c $((1 << 20)) /dev/urandom > "$work/small.bin"
for backend in $BACKENDS; do
  echo
  start_server "$(database_url "$backend")"
  owner_token=$work/token partner_token=$work/partner-token
  owner=$(python3 -c 'import base64, json, sys
claims = open(sys.argv[1]).read().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["tenant"].split("/")[1])' "$owner_token")
  partner=$("$bin" tenant create --name partner)
  echo "Authorization: Bearer $(curl -sf "http://127.0.0.1:$PORT/archivist/iam/v1/appidp/token" -d grant_type=client_credentials \
    -d "client_id=$(sed -E 's/.*"client_id":"([^"]+)".*/\1/' <<<"$partner")" \
    -d "client_secret=$(sed -E 's/.*"client_secret":"([^"]+)".*/\1/' <<<"$partner")" |
    sed -E 's/.*"access_token":"([^"]+)".*/\1/')" > "$partner_token"
  # The owner records the partner's self subject and shares its doors with it.
  keys=$(curl -sf -H "@$partner_token" "http://127.0.0.1:$PORT/archivist/iam/v1/subjects/00000000-0000-0000-0000-000000000000" |
    python3 -c 'import json, sys; s = json.load(sys.stdin); print(json.dumps({"display_name": "partner",
      "wallet_pub_key": s["wallet_pub_key"], "tessera_pub_key": s["tessera_pub_key"]}))')
  subject=$(api POST /archivist/iam/v1/subjects -H 'content-type: application/json' -d "$keys" |
    sed -E 's/.*"identity":"(subjects\/[^"]+)".*/\1/')
  api POST /archivist/iam/v1/access_policies -H 'content-type: application/json' -d "{
    \"display_name\":\"doors\",\"filters\":[{\"or\":[\"attributes.kind=door\"]}],
    \"access_permissions\":[{\"subjects\":[\"$subject\"],\"include_attributes\":[\"arc_display_name\",\"kind\",\"doc\"]}]}" >/dev/null
  blob=$(api POST /archivist/v1/blobs -F "file=@$work/small.bin")
  blob_id=$(sed -E 's/.*"identity":"(blobs\/[^"]+)".*/\1/' <<<"$blob")
  hash=$(sed -E 's/.*"value":"([0-9a-f]+)".*/\1/' <<<"$blob")
  asset=$(api POST /archivist/v2/assets -H 'content-type: application/json' -d '{"attributes":{"arc_display_name":"bench","kind":"door"}}')
  asset_id=$(sed -E 's/.*"identity":"(assets\/[^"]+)".*/\1/' <<<"$asset")
  event=$(api POST "/archivist/v2/$asset_id/events" -H 'content-type: application/json' -d "{
    \"operation\":\"Record\",\"behaviour\":\"RecordEvidence\",\"event_attributes\":{\"doc\":{
    \"arc_attribute_type\":\"arc_attachment\",\"arc_blob_identity\":\"$blob_id\",
    \"arc_blob_hash_alg\":\"SHA256\",\"arc_blob_hash_value\":\"$hash\",\"arc_file_name\":\"small.bin\"}}}")
  event_path=$(sed -E 's/.*"identity":"(assets\/[^"]+\/events\/[^"]+)".*/\1/' <<<"$event")
  attachment="/archivist/v2/attachments/$event_path/${blob_id#blobs/}"
  # Until the seal covers the event, so that both prove against the same seal.
  for _ in $(seq 100); do api GET "/archivist/v2/$event_path" | grep -q '"confirm"' && break; sleep 0.1; done
  curl -sf -H "@$partner_token" -o /dev/null "http://127.0.0.1:$PORT$attachment" ||
    { echo "the partner cannot download the shared attachment"; exit 1; }

  owned_ms=$(p50_ms "$owner_token" "$attachment")
  shared_ms=$(p50_ms "$partner_token" "$attachment")
  echo "$backend sharing: 1 MiB download p50 owner $owned_ms ms, partner $shared_ms ms: x owner $(ratio "$owned_ms" "$shared_ms")"
  owned_rps=$(info_rps "$owner_token" "$attachment/info")
  shared_rps=$(info_rps "$partner_token" "$attachment/info")
  echo "$backend sharing: info owner $owned_rps req/s, partner $shared_rps req/s (wrk, 32 connections): x owner $(ratio "$shared_rps" "$owned_rps")"

  # Every tenth asset populate writes is a door: SHARED_ASSETS shared among ten times as many.
  cargo bench --quiet --bench populate -- "$ATTACHD_DATABASE_URL" "$owner" $((SHARED_ASSETS * 10)) 0
  own_ms=$(p50_ms "$owner_token" /archivist/v2/assets)
  list_ms=$(p50_ms "$partner_token" /archivist/v2/assets)
  shared_n=$(curl -sf -D - -o /dev/null -H "@$partner_token" -H 'X-Request-Total-Count: true' \
    "http://127.0.0.1:$PORT/archivist/v2/assets?page_size=1" | awk 'tolower($1) == "x-total-count:" { print $2 + 0 }')
  echo "$backend sharing: partner's asset list ($shared_n shared of $((SHARED_ASSETS * 10 + 1))) p50 $list_ms ms;" \
    "owner's own list p50 $own_ms ms: x owner $(ratio "$list_ms" "$own_ms")"
  stop_server
done
