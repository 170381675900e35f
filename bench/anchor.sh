#!/usr/bin/env bash
# What anchoring the log outside the database costs (issue: integrity): this build next to a
# release attachd built in the same run from $BASELINE (the commit before the anchor and
# blob leaves), side by side on databases of their own, in alternating rounds:
# events created per second, verified 1 MiB attachment downloads per second, small (4 KiB)
# blob uploads per second (each now appends its record to the log) and blob /info requests
# per second (each now proves the record under the anchored seal), and the milliseconds of
# `attachd tenant create` (the new build writes the tenant's anchor record first).
#
#   bash bench/anchor.sh            # BASELINE=875d51a EVENTS=2000 WRITERS=4 ROUNDS=9
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

BASELINE=${BASELINE:-875d51a}
EVENTS=${EVENTS:-2000}
WRITERS=${WRITERS:-4}
DOWNLOADS=${DOWNLOADS:-900}
UPLOADS=${UPLOADS:-1000}
INFOS=${INFOS:-3000}
ROUNDS=${ROUNDS:-9}
BACKENDS=${BACKENDS:-"sqlite postgres"}

build_with_baseline new

# ready NAME BINARY URL PORT: `prepare`, and the blob's /info path in $work/NAME.info.
ready() {
  prepare "$@"
  echo "/archivist/v1/blobs/$(cat "$work/$1.blob")/info" > "$work/$1.info"
}

port_of() { if [ "$1" = new ]; then echo "$PORT_NEW"; else echo "$PORT_BASE"; fi; }
load() { python3 bench/http_load.py "$1" "$(port_of "$2")" "$work/$2.token" "${@:3}"; }
per_second() { awk -v m="$1" 'BEGIN { printf "%.1f", 1000 / m }'; }
row() { printf '%-9s %-40s %10s %10s %7s\n' "$@"; }

PORT_NEW=$PORT
PORT_BASE=$((PORT + 1))
head -c $((1 << 20)) /dev/urandom > "$work/evidence.bin"
row backend measure "anchored" "before" ratio
for backend in $BACKENDS; do
  rm -rf "$work/sqlite" "$work/pg" "$work/log-anchor"
  url=$(database_url "$backend")
  case "$backend" in
    sqlite) base_url="sqlite://$work/sqlite/baseline.db" ;;
    postgres)
      as_pg psql -q -h "$work/pg" -p "$PG_PORT" -U postgres -c "CREATE DATABASE baseline"
      base_url="${url/\/postgres\?//baseline?}" ;;
  esac
  ready new "$work/attachd-new" "$url" "$PORT_NEW"
  ready base "$work/attachd-baseline" "$base_url" "$PORT_BASE"
  declare -A samples=()
  for round in $(seq "$ROUNDS"); do
    # Each side goes first in every other round, so neither gains from its place.
    order="new base"
    if [ $((round % 2)) = 0 ]; then order="base new"; fi
    for name in $order; do
      samples[$name.download]+="$(load get "$name" "$(cat "$work/$name.download")" $((DOWNLOADS / ROUNDS))) "
      samples[$name.info]+="$(load get "$name" "$(cat "$work/$name.info")" $((INFOS / ROUNDS))) "
      samples[$name.upload]+="$(load uploads "$name" 4096 $((UPLOADS / ROUNDS)) "$WRITERS") "
    done
  done
  for order in "new base" "base new"; do
    for name in $order; do samples[$name.events]+="$(load events "$name" "$(cat "$work/$name.asset")" "$EVENTS" "$WRITERS") "; done
  done
  # Tenant creation as an operator runs it: the new build writes the tenant's anchor record,
  # durably, before it commits the tenant.
  for round in $(seq "$ROUNDS"); do
    for name in new base; do
      if [ "$name" = new ]; then u=$url b="$work/attachd-new"; else u=$base_url b="$work/attachd-baseline"; fi
      t0=$(date +%s%N)
      ATTACHD_DATABASE_URL="$u" "$b" tenant create --name "bench-$round" >/dev/null
      t1=$(date +%s%N)
      samples[$name.create]+="$(((t1 - t0) / 1000000)) "
    done
  done
  for name in new base; do kill "$(cat "$work/$name.pid")"; wait "$(cat "$work/$name.pid")" 2>/dev/null || true; done
  if [ "$backend" = postgres ]; then as_pg pg_ctl -D "$work/pg/data" -m fast stop >/dev/null; fi
  best() { tr ' ' '\n' | grep . | sort -g | tail -n 1; }
  mid() { tr ' ' '\n' | grep . | median; }
  n=$(best <<<"${samples[new.events]}") b=$(best <<<"${samples[base.events]}")
  row "$backend" "events per second ($WRITERS writers, best of 2)" "$n" "$b" "$(ratio "$n" "$b")"
  n=$(mid <<<"${samples[new.upload]}") b=$(mid <<<"${samples[base.upload]}")
  row "$backend" "4 KiB uploads per second (median of $ROUNDS)" "$n" "$b" "$(ratio "$n" "$b")"
  n=$(per_second "$(mid <<<"${samples[new.download]}")") b=$(per_second "$(mid <<<"${samples[base.download]}")")
  row "$backend" "verified 1 MiB downloads per second" "$n" "$b" "$(ratio "$n" "$b")"
  n=$(per_second "$(mid <<<"${samples[new.info]}")") b=$(per_second "$(mid <<<"${samples[base.info]}")")
  row "$backend" "blob /info per second (one connection)" "$n" "$b" "$(ratio "$n" "$b")"
  n=$(mid <<<"${samples[new.create]}") b=$(mid <<<"${samples[base.create]}")
  row "$backend" "ms per \`tenant create\` (process, median)" "$n" "$b" "$(ratio "$b" "$n")"
  unset samples
done
echo "(baseline: $BASELINE; EVENTS=$EVENTS UPLOADS=$UPLOADS DOWNLOADS=$DOWNLOADS INFOS=$INFOS ROUNDS=$ROUNDS)"
