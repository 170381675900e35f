#!/usr/bin/env bash
# The unfiltered first page of events (50 sealed events, about 80 KB) and of assets, as one
# client sees them over a keep-alive connection: curl requests the page CALLS times in one
# process and p50/p90 of its times are printed, with the server's own mean from /metrics.
#
#   bash bench/first_page.sh                     # CALLS=300, both databases
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

CALLS=${CALLS:-300}
BACKENDS=${BACKENDS:-"sqlite postgres"}

cargo build --release --quiet

# keep_alive PATH: "p50 p90" in ms of CALLS requests on one connection.
keep_alive() {
  local args=()
  for _ in $(seq "$CALLS"); do args+=(-o /dev/null "http://127.0.0.1:$PORT$1"); done
  curl -s -H "@$work/token" -w '%{time_total}\n' "${args[@]}" | sort -g |
    awk '{ t[NR] = $1 * 1000 } END { printf "%.2f %.2f", t[int(NR * 0.5 + 0.5)], t[int(NR * 0.9 + 0.5)] }'
}

# server_ms ROUTE: the server's mean time for ROUTE so far.
server_ms() {
  curl -s "http://127.0.0.1:$PORT/metrics" |
    awk -v route="$1" 'index($0, "method=\"GET\",route=\"" route "\"}") {
      if ($1 ~ /_sum/) s = $2; if ($1 ~ /_count/) c = $2 } END { printf "%.2f", s / c * 1000 }'
}

printf '%-9s %-34s %8s %8s %10s\n' backend page "p50 ms" "p90 ms" "server ms"
for backend in $BACKENDS; do
  rm -rf "$work/sqlite" "$work/pg"
  start_server "$(database_url "$backend")"
  asset=$(api POST /archivist/v2/assets -H 'content-type: application/json' -d '{"attributes":{"kind":"bench"}}' |
    sed -E 's/.*"identity":"assets\/([^"]+)".*/\1/')
  python3 bench/http_load.py events "$PORT" "$work/token" "$asset" 120 1 >/dev/null
  # Until the seal covers them, so that every event carries its `confirm`.
  for _ in $(seq 50); do
    api GET "/archivist/v2/assets/$asset/events?page_size=1" | grep -q '"confirm"' && break
    sleep 0.1
  done
  read -r p50 p90 <<<"$(keep_alive /archivist/v2/assets/-/events)"
  printf '%-9s %-34s %8s %8s %10s\n' "$backend" "events (50 with seals)" "$p50" "$p90" \
    "$(server_ms '/archivist/v2/assets/{uuid}/events')"
  read -r p50 p90 <<<"$(keep_alive /archivist/v2/assets)"
  printf '%-9s %-34s %8s %8s %10s\n' "$backend" "assets" "$p50" "$p90" "$(server_ms /archivist/v2/assets)"
  stop_server
  if [ "$backend" = postgres ]; then as_pg pg_ctl -D "$work/pg/data" -m fast stop >/dev/null; fi
done
