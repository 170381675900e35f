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

build_with_baseline log

ROUNDS=${ROUNDS:-15}

# events NAME: events per second created through that server.
events() {
  python3 bench/http_load.py events "$(port_of "$1")" "$work/$1.token" "$(cat "$work/$1.asset")" "$EVENTS" "$WRITERS"
}

# downloads NAME COUNT: mean milliseconds per verified download through that server.
downloads() {
  python3 bench/http_load.py get "$(port_of "$1")" "$work/$1.token" "$(cat "$work/$1.download")" "$2"
}

port_of() { if [ "$1" = log ]; then echo "$PORT_LOG"; else echo "$PORT_BASE"; fi; }

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
