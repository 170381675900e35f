#!/usr/bin/env bash
# SCITT receipts and registration on a release attachd, on each database:
# - `GET …/publicscitt/entries/{entry}/receipt` with EVENTS events in the tenant's log: one
#   client's p50 over a keep-alive connection with the server's own mean time for the route
#   from /metrics (the server time, with no other request in flight), then req/s and p99 with
#   wrk at 32 connections, each next to the plain read of the same event in the same run
#   (`x event read`);
# - registration end to end: `POST /entries` (SCRAPI) answers once the receipt is made, so
#   its time is POST to receipt ready; p50 and p99 of REGISTRATIONS, one at a time, next to
#   the seal interval.
#
#   bash bench/scitt.sh                    # EVENTS=100000, both databases
#   EVENTS=20000 BACKENDS=sqlite SECONDS_EACH=5 bash bench/scitt.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

EVENTS=${EVENTS:-100000}
REGISTRATIONS=${REGISTRATIONS:-200}
BACKENDS=${BACKENDS:-"sqlite postgres"}
SECONDS_EACH=${SECONDS_EACH:-10}
command -v wrk >/dev/null || { echo "needs wrk (Debian: apt-get install wrk)"; exit 1; }

cargo build --release --quiet
# A signed statement made by DataTrails' own client (the venv the test suite makes).
venv=target/scitt-venv
if [ ! -x "$venv/bin/create-signed-statement" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "datatrails-scitt-samples==0.1.0a0" "cbor2<6"
fi
"$venv/bin/datatrails-sciit-demo-generate-example-key" --signing-key-file "$work/key.pem" >/dev/null
echo '{"bench": "scitt"}' > "$work/payload.json"
"$venv/bin/create-signed-statement" --signing-key-file "$work/key.pem" --payload-file "$work/payload.json" \
  --subject urn:bench --issuer https://bench.example --output-file "$work/statement.cbor" >/dev/null

# wrk_rps_p99 PATH [header]: requests per second and p99 in ms at 32 connections.
wrk_rps_p99() {
  local args=(-t2 -c32 -d"${SECONDS_EACH}s" --latency)
  if [ -n "${2:-}" ]; then args+=(-H "$2"); fi
  wrk "${args[@]}" "http://127.0.0.1:$PORT$1" | awk '
    /Requests\/sec/ { rps = $2 }
    $1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else { sub(/s/, "", v); v *= 1000 } p99 = v }
    END { printf "%s %.2f", rps, p99 }'
}

# p50_ms PATH: the median of CALLS requests of PATH on one keep-alive connection.
p50_ms() {
  local args=()
  for _ in $(seq "${CALLS:-300}"); do args+=(-o /dev/null "http://127.0.0.1:$PORT$1"); done
  curl -sf -w '%{time_total}\n' "${args[@]}" | sort -g |
    awk '{ t[NR] = $1 * 1000 } END { printf "%.2f", t[int(NR * 0.5 + 0.5)] }'
}

server_ms() {
  curl -s "http://127.0.0.1:$PORT/metrics" |
    awk -v route="$1" 'index($0, "method=\"GET\",route=\"" route "\"}") {
      if ($1 ~ /_sum/) s = $2; if ($1 ~ /_count/) c = $2 } END { printf "%.3f", s / c * 1000 }'
}

for backend in $BACKENDS; do
  echo
  start_server "$(database_url "$backend")"
  asset=$(api POST /archivist/v2/assets -H 'content-type: application/json' -d '{"attributes":{"kind":"bench"},"public":true}' |
    sed -E 's/.*"identity":"assets\/([^"]+)".*/\1/')
  python3 bench/http_load.py events "$PORT" "$work/token" "$asset" "$EVENTS" 4 >/dev/null
  event=$(api GET "/archivist/v2/assets/$asset/events?page_size=1" | sed -E 's/.*"identity":"assets\/[^\/]+\/events\/([^"]+)".*/\1/')
  entry="assets_${asset}_events_${event}"
  # Once sealed, so that both reads prove against the same seal.
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/archivist/v1/publicscitt/entries/$entry/receipt"
  receipt_route=/archivist/v1/publicscitt/entries/{entry}/receipt
  event_one=$(p50_ms "/archivist/v2/publicassets/$asset/events/$event")
  receipt_one=$(p50_ms "/archivist/v1/publicscitt/entries/$entry/receipt")
  echo "$backend ($EVENTS events), one client: receipt p50 $receipt_one ms, server mean $(server_ms "$receipt_route") ms;" \
    "event read p50 $event_one ms: x event read $(ratio "$event_one" "$receipt_one")"
  read -r event_rps event_p99 <<<"$(wrk_rps_p99 "/archivist/v2/publicassets/$asset/events/$event")"
  read -r receipt_rps receipt_p99 <<<"$(wrk_rps_p99 "/archivist/v1/publicscitt/entries/$entry/receipt")"
  echo "$backend ($EVENTS events), wrk 32 connections: receipt $receipt_rps req/s, p99 $receipt_p99 ms;" \
    "event read $event_rps req/s, p99 $event_p99 ms: x event read $(ratio "$receipt_rps" "$event_rps")"

  for _ in $(seq "$REGISTRATIONS"); do
    curl -sf -o /dev/null -w '%{time_total} %{http_code}\n' -H "@$work/token" -H 'content-type: application/cose' \
      --data-binary "@$work/statement.cbor" "http://127.0.0.1:$PORT/entries"
  done > "$work/registrations"
  created=$(awk '$2 == 201' "$work/registrations" | wc -l)
  sort -g "$work/registrations" | awk -v backend="$backend" -v created="$created" '
    { t[NR] = $1 * 1000 } END {
      printf "%s registration, POST to receipt ready: p50 %.1f ms, p99 %.1f ms (%d of %d answered 201 with the receipt); seal interval 1000 ms\n",
        backend, t[int(NR * 0.5 + 0.5)], t[int(NR * 0.99 + 0.5)], created, NR }'
  stop_server
done
