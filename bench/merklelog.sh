#!/usr/bin/env bash
# What the verifiable log costs: event creation throughput and verified 1 MiB attachment
# downloads through a release attachd, next to a release attachd built in the same run from
# the commit before the log ($BASELINE), on each database.
#
#   bash bench/merklelog.sh                 # EVENTS=2000 WRITERS=4 DOWNLOADS=3000 ROUNDS=15
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

BASELINE=${BASELINE:-985fe14}
EVENTS=${EVENTS:-2000}
WRITERS=${WRITERS:-4}
DOWNLOADS=${DOWNLOADS:-3000}
BACKENDS=${BACKENDS:-"sqlite postgres"}

cargo build --release --quiet
cp target/release/attachd "$work/attachd-log"
git worktree add --quiet --detach "$work/baseline" "$BASELINE"
CARGO_TARGET_DIR=target/bench-baseline cargo build --release --quiet --manifest-path "$work/baseline/Cargo.toml"
cp target/bench-baseline/release/attachd "$work/attachd-baseline"
git worktree remove --force "$work/baseline"

ROUNDS=${ROUNDS:-15}

# prepare NAME BINARY URL PORT: that build serving URL on PORT, with a tenant, an asset, a
# 1 MiB blob and an event attaching it. Leaves it running; writes $work/NAME.{pid,token,asset,download}.
prepare() {
  local name=$1 url=$3 asset blob event_id hash
  bin=$2 PORT=$4
  start_server "$url"
  cp "$work/token" "$work/$name.token"
  echo "$server_pid" > "$work/$name.pid"
  asset=$(api POST /archivist/v2/assets -H 'content-type: application/json' -d '{"attributes":{"kind":"bench"}}' |
    sed -E 's/.*"identity":"assets\/([^"]+)".*/\1/')
  blob=$(api POST /archivist/v1/blobs -F "file=@$work/evidence.bin")
  hash=$(sed -E 's/.*"value":"([0-9a-f]+)".*/\1/' <<<"$blob")
  blob=$(sed -E 's/.*"identity":"blobs\/([^"]+)".*/\1/' <<<"$blob")
  event_id=$(api POST "/archivist/v2/assets/$asset/events" -H 'content-type: application/json' -d "{\"operation\":\"Record\",\"behaviour\":\"RecordEvidence\",\"event_attributes\":{\"doc\":{\"arc_attribute_type\":\"arc_attachment\",\"arc_blob_identity\":\"blobs/$blob\",\"arc_blob_hash_alg\":\"SHA256\",\"arc_blob_hash_value\":\"$hash\",\"arc_file_name\":\"evidence.bin\"}}}" |
    sed -E 's/.*"identity":"assets\/[^"]+\/events\/([^"]+)".*/\1/')
  echo "$asset" > "$work/$name.asset"
  echo "/archivist/v2/attachments/assets/$asset/events/$event_id/$blob" > "$work/$name.download"
  server_pid=""
}

# events NAME: events per second created through that server.
events() {
  python3 bench/http_load.py events "$(port_of "$1")" "$work/$1.token" "$(cat "$work/$1.asset")" "$EVENTS" "$WRITERS"
}

# downloads NAME COUNT: mean milliseconds per verified download through that server.
downloads() {
  python3 bench/http_load.py get "$(port_of "$1")" "$work/$1.token" "$(cat "$work/$1.download")" "$2"
}

port_of() { if [ "$1" = log ]; then echo "$PORT_LOG"; else echo "$PORT_BASE"; fi; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

PORT_LOG=$PORT
PORT_BASE=$((PORT + 1))
head -c $((1 << 20)) /dev/urandom > "$work/evidence.bin"
printf '%-9s %-44s %12s %12s %7s\n' backend measure "with log" "without" ratio
for backend in $BACKENDS; do
  rm -rf "$work/sqlite" "$work/pg"
  url=$(database_url "$backend")
  # Both builds run side by side, each on a database of its own, and are measured in
  # alternating rounds, so that a change in the machine's load shows in both.
  case "$backend" in
    sqlite) base_url="sqlite://$work/sqlite/baseline.db" ;;
    postgres)
      as_pg psql -q -h "$work/pg" -p "$PG_PORT" -U postgres -c "CREATE DATABASE baseline"
      base_url="${url/\/postgres\?//baseline?}" ;;
  esac
  prepare log "$work/attachd-log" "$url" "$PORT_LOG"
  prepare base "$work/attachd-baseline" "$base_url" "$PORT_BASE"
  log_rates=() base_rates=() log_ms=() base_ms=()
  for _ in $(seq "$ROUNDS"); do
    log_ms+=("$(downloads log $((DOWNLOADS / ROUNDS)))")
    base_ms+=("$(downloads base $((DOWNLOADS / ROUNDS)))")
  done
  for _ in 1 2; do
    log_rates+=("$(events log)")
    base_rates+=("$(events base)")
  done
  for name in log base; do kill "$(cat "$work/$name.pid")"; wait "$(cat "$work/$name.pid")" 2>/dev/null || true; done
  if [ "$backend" = postgres ]; then as_pg pg_ctl -D "$work/pg/data" -m fast stop >/dev/null; fi
  log_rate=$(printf '%s\n' "${log_rates[@]}" | sort -g | tail -n 1)
  base_rate=$(printf '%s\n' "${base_rates[@]}" | sort -g | tail -n 1)
  log_dl=$(printf '%s\n' "${log_ms[@]}" | median)
  base_dl=$(printf '%s\n' "${base_ms[@]}" | median)
  printf '%-9s %-44s %12s %12s %7s\n' "$backend" "events created per second ($WRITERS writers, best of 2)" \
    "$log_rate" "$base_rate" "$(ratio "$log_rate" "$base_rate")"
  # Downloads per second, so that a ratio above 1 is better for both rows.
  printf '%-9s %-44s %12s %12s %7s\n' "$backend" "1 MiB downloads per second (median of $ROUNDS)" \
    "$(awk -v m="$log_dl" 'BEGIN { printf "%.1f", 1000 / m }')" \
    "$(awk -v m="$base_dl" 'BEGIN { printf "%.1f", 1000 / m }')" "$(ratio "$base_dl" "$log_dl")"
done
echo "(baseline: $BASELINE, the commit before the log; EVENTS=$EVENTS DOWNLOADS=$DOWNLOADS ROUNDS=$ROUNDS)"
