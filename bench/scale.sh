#!/usr/bin/env bash
# Filtered lists and counts as the data grows: assets and events are added through SQL in
# the shapes attachd writes (bench/populate.rs), one tenant holding them all and another as
# large beside it, then each query is sent REPEAT times through the API of a release attachd
# and its p50/p99 printed, next to the unfiltered first page measured in the same run.
#
#   bash bench/scale.sh                          # 10^3 and 10^5 events, both databases
#   SIZES="1000 100000 1000000" bash bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-30} # before lib.sh, whose default is 3
source bench/lib.sh

SIZES=${SIZES:-"1000 100000"}
BACKENDS=${BACKENDS:-"sqlite postgres"}

cargo build --release --quiet
cargo bench --quiet --bench populate --no-run 2>/dev/null

base="http://127.0.0.1:$PORT"
# times TOKEN_FILE QUERY [curl args]: p50 and p99 in ms of REPEAT calls.
times() {
  for _ in $(seq "$REPEAT"); do
    curl -sf -o /dev/null -w '%{time_total}\n' -H "@$1" "${@:3}" "$base$2"
  done | sort -g | awk '{ t[NR] = $1 * 1000 } END { printf "%.1f %.1f", t[int(NR * 0.5 + 0.5)], t[int(NR * 0.99 + 0.5)] }'
}
tenant_of_token() { # the tenant uuid a bearer token file names
  python3 -c 'import base64, json, sys
claims = open(sys.argv[1]).read().split(".")[1]
print(json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["tenant"].split("/")[1])' "$1"
}

printf '%-9s %8s  %-58s %8s %8s %9s\n' backend events query "p50 ms" "p99 ms" "x first"
for backend in $BACKENDS; do
  url=$(database_url "$backend")
  start_server "$url"
  tenant=$(tenant_of_token "$work/token")
  # Another tenant as large, and a small one with its own token.
  other=$("$bin" tenant create --name other | sed -E 's/.*"tenant":"tenant\/([^"]+)".*/\1/')
  small=$("$bin" tenant create --name small)
  small_id=$(sed -E 's/.*"tenant":"tenant\/([^"]+)".*/\1/' <<<"$small")
  small_token=$work/small-token
  echo "Authorization: Bearer $(curl -sf "$base/archivist/iam/v1/appidp/token" -d grant_type=client_credentials \
    -d "client_id=$(sed -E 's/.*"client_id":"([^"]+)".*/\1/' <<<"$small")" \
    -d "client_secret=$(sed -E 's/.*"client_secret":"([^"]+)".*/\1/' <<<"$small")" |
    sed -E 's/.*"access_token":"([^"]+)".*/\1/')" > "$small_token"
  cargo bench --quiet --bench populate -- "$url" "$small_id" 10 0
  have=0
  for size in $SIZES; do
    add=$((size - have))
    cargo bench --quiet --bench populate -- "$url" "$tenant" $((add / 10)) "$add"
    cargo bench --quiet --bench populate -- "$url" "$other" $((add / 10)) "$add"
    have=$size
    read -r first _ <<<"$(times "$work/token" /archivist/v2/assets/-/events)"
    one=$((size / 2))
    for query in \
      "/archivist/v2/assets/-/events|all events, counted (no filter)" \
      "/archivist/v2/assets/-/events?event_attributes.n=$one|events, filter matching one" \
      "/archivist/v2/assets/-/events?event_attributes.pct=7|events, filter matching 1%, counted" \
      "/archivist/v2/assets/-/events?event_attributes.pct=0&event_attributes.kind=door|events, two filters matching 1%, counted" \
      "/archivist/v2/assets/-/events?event_attributes.pct=7&operation=Record|events, attribute and column filter, 1%, counted" \
      "/archivist/v2/assets?attributes.kind=door|assets, filter matching 10%, counted" \
      "/archivist/v2/assets/-/events?event_attributes.flagged=*|events, presence (=*) matching 1%, counted" \
      "/archivist/v2/assets?attributes.flagged=*|assets, presence (=*) matching 1%, counted" \
      "/archivist/v2/assets?attributes.flagged!=*|assets, absence (!=*) matching 99%, counted" \
      "/archivist/v1/blobs:lookup?hash=$(printf 'ab%.0s' $(seq 32))|blobs:lookup, a hash no event records" \
      "/archivist/v2/assets?attributes.kind=door|small tenant (10 assets), filter, counted"; do
      path=${query%%|*}; what=${query#*|}
      token_file=$work/token
      if [[ "$what" == small* ]]; then token_file=$small_token; fi
      read -r p50 p99 <<<"$(times "$token_file" "$path" -H "X-Request-Total-Count: true")"
      printf '%-9s %8s  %-58s %8s %8s %9s\n' "$backend" "$size" "$what" "$p50" "$p99" "$(ratio "$p50" "$first")"
    done
  done
  stop_server
done
echo "(one client, REPEAT=$REPEAT calls per query; 'x first' = p50 / p50 of the unfiltered first page of events)"
