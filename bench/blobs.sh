#!/usr/bin/env bash
# Upload and download one random file through a release attachd on each database, next to
# references measured in the same run on the same file: `openssl dgst -sha256` (the
# hashing limit) and a raw chunked insert / ordered select through sqlx (the storage limit).
#
#   bash bench/blobs.sh            # 256 MiB, both databases
#   SIZE_MIB=64 BACKENDS=sqlite CHUNK_BYTES=524288 REPEAT=1 bash bench/blobs.sh
# Every figure is the best of REPEAT runs (default 3): single runs on a 2-core machine are noisy.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-256}
BACKENDS=${BACKENDS:-"sqlite postgres"}
CHUNK_BYTES=${CHUNK_BYTES:-1048576}
PORT=${PORT:-18080}
REPEAT=${REPEAT:-3}

work=$(mktemp -d /tmp/attachd-bench.XXXXXX)
chmod 755 "$work" # the PostgreSQL tools run as nobody when we are root
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -f "$work/pg/data/postmaster.pid" ] && as_pg pg_ctl -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet
cargo bench --quiet --bench rawstore --no-run 2>/dev/null
bin=target/release/attachd
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

file="$work/blob.bin"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$file"
bytes=$(stat -c %s "$file")
best() { sort -g | head -n 1; } # the shortest of several times
openssl_secs=$(for _ in $(seq "$REPEAT"); do
  start=$(date +%s.%N); openssl dgst -sha256 "$file" >/dev/null; end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
done | best)
openssl_mbps=$(mbps "$bytes" "$openssl_secs")
echo "file: $SIZE_MIB MiB random, chunk $CHUNK_BYTES bytes; openssl dgst -sha256: $openssl_mbps MB/s"

pg_bin=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | tail -n 1)")
as_pg() { # runs a PostgreSQL tool, as nobody when we are root (postgres refuses root)
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$pg_bin/$1" "${@:2}"; else "$pg_bin/$1" "${@:2}"; fi
}

database_url() {
  case "$1" in
    sqlite) mkdir -p "$work/sqlite"; echo "sqlite://$work/sqlite/attachd.db" ;;
    postgres)
      mkdir -p "$work/pg"; [ "$(id -u)" = 0 ] && chown nobody "$work/pg"
      as_pg initdb -D "$work/pg/data" -U postgres --auth=trust >/dev/null
      as_pg pg_ctl -D "$work/pg/data" -l "$work/pg/log" -w \
        -o "-k $work/pg -p 15432 -c listen_addresses=''" start >/dev/null
      echo "postgres://postgres@localhost/postgres?host=$work/pg&port=15432" ;;
  esac
}

printf '\n%-9s %-9s %10s %10s %8s %8s\n' backend direction attachd raw "x raw" "x sha"
for backend in $BACKENDS; do
  url=$(database_url "$backend")
  export ATTACHD_DATABASE_URL="$url" ATTACHD_CHUNK_BYTES="$CHUNK_BYTES"
  raw=$(cargo bench --quiet --bench rawstore -- "$url" "$file" "$CHUNK_BYTES" "$REPEAT")
  raw_write=$(sed -E 's/.*write_mbps=([0-9.]+).*/\1/' <<<"$raw")
  raw_read=$(sed -E 's/.*read_mbps=([0-9.]+).*/\1/' <<<"$raw")

  creds=$("$bin" tenant create --name bench)
  "$bin" serve --listen "127.0.0.1:$PORT" 2>"$work/server-$backend.log" &
  server_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  client_id=$(sed -E 's/.*"client_id":"([^"]+)".*/\1/' <<<"$creds")
  client_secret=$(sed -E 's/.*"client_secret":"([^"]+)".*/\1/' <<<"$creds")
  token=$(curl -sf "http://127.0.0.1:$PORT/archivist/iam/v1/appidp/token" \
    -d grant_type=client_credentials -d "client_id=$client_id" -d "client_secret=$client_secret" |
    sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  echo "Authorization: Bearer $token" > "$work/token"

  up=$(for _ in $(seq "$REPEAT"); do
    curl -sf -H "@$work/token" -F "file=@$file" -o "$work/up.json" -w '%{time_total}\n' \
      "http://127.0.0.1:$PORT/archivist/v1/blobs"
  done | best)
  id=$(sed -E 's/.*"identity":"blobs\/([^"]+)".*/\1/' "$work/up.json")
  down=$(for _ in $(seq "$REPEAT"); do
    curl -sf -H "@$work/token" -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/archivist/v1/blobs/$id"
  done | best)
  rss_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$server_pid/status")
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""

  up_mbps=$(mbps "$bytes" "$up"); down_mbps=$(mbps "$bytes" "$down")
  printf '%-9s %-9s %10s %10s %8s %8s\n' "$backend" upload "$up_mbps" "$raw_write" \
    "$(ratio "$up_mbps" "$raw_write")" "$(ratio "$up_mbps" "$openssl_mbps")"
  printf '%-9s %-9s %10s %10s %8s %8s\n' "$backend" download "$down_mbps" "$raw_read" \
    "$(ratio "$down_mbps" "$raw_read")" "$(ratio "$down_mbps" "$openssl_mbps")"
  printf '%-9s peak RSS of the server: %d MiB\n' "$backend" $((rss_kib / 1024))
done
echo "(MB/s, best of $REPEAT; 'x raw' = attachd / raw sqlx storage of the same bytes, 'x sha' = attachd / openssl dgst -sha256)"
