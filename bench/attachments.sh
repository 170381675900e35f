#!/usr/bin/env bash
# The cost of attachment verification and the speed of metadata reads, on each database:
# - a 256 MiB attachment downloaded through the asset-event attachment route (SHA-256
#   checked against the event's recorded hash) next to the plain blob download and
#   `openssl dgst -sha256` of the same file, same run;
# - GET …/info requests per second with wrk at 32 connections, next to `pgbench -S`
#   (select-only) at 32 clients on the same PostgreSQL, same run.
#
#   bash bench/attachments.sh
#   SIZE_MIB=64 BACKENDS=postgres SECONDS_EACH=5 bash bench/attachments.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SIZE_MIB=${SIZE_MIB:-256}
BACKENDS=${BACKENDS:-"sqlite postgres"}
SECONDS_EACH=${SECONDS_EACH:-10}
command -v wrk >/dev/null || { echo "needs wrk (Debian: apt-get install wrk)"; exit 1; }

cargo build --release --quiet
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
