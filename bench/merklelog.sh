#!/usr/bin/env bash
# What the verifiable log costs: event creation throughput and verified 1 MiB attachment
# downloads through a release attachd, next to a release attachd built in the same run from
# the commit before the log ($BASELINE), on each database.
#
#   bash bench/merklelog.sh                 # EVENTS=2000 WRITERS=4 DOWNLOADS=300
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

BASELINE=${BASELINE:-985fe14}
EVENTS=${EVENTS:-2000}
WRITERS=${WRITERS:-4}
DOWNLOADS=${DOWNLOADS:-300}
BACKENDS=${BACKENDS:-"sqlite postgres"}

cargo build --release --quiet
cp target/release/attachd "$work/attachd-log"
git worktree add --quiet --detach "$work/baseline" "$BASELINE"
CARGO_TARGET_DIR=target/bench-baseline cargo build --release --quiet --manifest-path "$work/baseline/Cargo.toml"
cp target/bench-baseline/release/attachd "$work/attachd-baseline"
git worktree remove --force "$work/baseline"

# measure BINARY BACKEND: "events/s ms-per-download" of that build on a fresh database.
measure() {
  bin=$1
  local url asset blob event_id hash
  rm -rf "$work/sqlite" "$work/pg"
  url=$(database_url "$2")
  start_server "$url"
  asset=$(api POST /archivist/v2/assets -H 'content-type: application/json' -d '{"attributes":{"kind":"bench"}}' |
    sed -E 's/.*"identity":"assets\/([^"]+)".*/\1/')
  head -c $((1 << 20)) /dev/urandom > "$work/evidence.bin"
  blob=$(api POST /archivist/v1/blobs -F "file=@$work/evidence.bin")
  hash=$(sed -E 's/.*"value":"([0-9a-f]+)".*/\1/' <<<"$blob")
  blob=$(sed -E 's/.*"identity":"blobs\/([^"]+)".*/\1/' <<<"$blob")
  event_id=$(api POST "/archivist/v2/assets/$asset/events" -H 'content-type: application/json' -d "{\"operation\":\"Record\",\"behaviour\":\"RecordEvidence\",\"event_attributes\":{\"doc\":{\"arc_attribute_type\":\"arc_attachment\",\"arc_blob_identity\":\"blobs/$blob\",\"arc_blob_hash_alg\":\"SHA256\",\"arc_blob_hash_value\":\"$hash\",\"arc_file_name\":\"evidence.bin\"}}}" |
    sed -E 's/.*"identity":"assets\/[^"]+\/events\/([^"]+)".*/\1/')
  local rate ms
  rate=$(python3 bench/http_load.py events "$PORT" "$work/token" "$asset" "$EVENTS" "$WRITERS")
  ms=$(python3 bench/http_load.py get "$PORT" "$work/token" \
    "/archivist/v2/attachments/assets/$asset/events/$event_id/$blob" "$DOWNLOADS")
  stop_server
  if [ "$2" = postgres ]; then as_pg pg_ctl -D "$work/pg/data" -m fast stop >/dev/null; fi
  echo "$rate $ms"
}

printf '%-9s %-44s %12s %12s %7s\n' backend measure "with log" "without" ratio
for backend in $BACKENDS; do
  read -r log_rate log_ms <<<"$(measure "$work/attachd-log" "$backend")"
  read -r base_rate base_ms <<<"$(measure "$work/attachd-baseline" "$backend")"
  printf '%-9s %-44s %12s %12s %7s\n' "$backend" "events created per second ($WRITERS writers)" \
    "$log_rate" "$base_rate" "$(ratio "$log_rate" "$base_rate")"
  # Downloads per second, so that a ratio above 1 is better for both rows.
  printf '%-9s %-44s %12s %12s %7s\n' "$backend" "1 MiB attachment downloads per second" \
    "$(awk -v m="$log_ms" 'BEGIN { printf "%.1f", 1000 / m }')" \
    "$(awk -v m="$base_ms" 'BEGIN { printf "%.1f", 1000 / m }')" "$(ratio "$base_ms" "$log_ms")"
done
echo "(baseline: $BASELINE, the commit before the log; EVENTS=$EVENTS DOWNLOADS=$DOWNLOADS)"
