#!/usr/bin/env bash
# Upload and download one random file through a release attachd on each database, next to
# references measured in the same run on the same file: `openssl dgst -sha256` (the
# hashing limit) and a raw chunked insert / ordered select through sqlx (the storage limit).
#
#   bash bench/blobs.sh            # 256 MiB, both databases, best of 3
#   SIZE_MIB=64 BACKENDS=sqlite CHUNK_BYTES=524288 REPEAT=1 bash bench/blobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SIZE_MIB=${SIZE_MIB:-256}
BACKENDS=${BACKENDS:-"sqlite postgres"}
CHUNK_BYTES=${CHUNK_BYTES:-1048576}
export ATTACHD_CHUNK_BYTES=$CHUNK_BYTES

cargo build --release --quiet
cargo bench --quiet --bench rawstore --no-run 2>/dev/null

file="$work/blob.bin"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$file"
bytes=$(stat -c %s "$file")
sha=$(openssl_mbps "$file")
echo "file: $SIZE_MIB MiB random, chunk $CHUNK_BYTES bytes; openssl dgst -sha256: $sha MB/s"

printf '\n%-9s %-9s %10s %10s %8s %8s\n' backend direction attachd raw "x raw" "x sha"
for backend in $BACKENDS; do
  url=$(database_url "$backend")
  raw=$(cargo bench --quiet --bench rawstore -- "$url" "$file" "$CHUNK_BYTES" "$REPEAT")
  raw_write=$(sed -E 's/.*write_mbps=([0-9.]+).*/\1/' <<<"$raw")
  raw_read=$(sed -E 's/.*read_mbps=([0-9.]+).*/\1/' <<<"$raw")

  start_server "$url"
  up=$(for _ in $(seq "$REPEAT"); do
    api POST /archivist/v1/blobs -F "file=@$file" -o "$work/up.json" -w '%{time_total}\n'
  done | best)
  id=$(sed -E 's/.*"identity":"blobs\/([^"]+)".*/\1/' "$work/up.json")
  down=$(get_secs "/archivist/v1/blobs/$id")
  rss=$(peak_rss_mib)
  stop_server

  up_mbps=$(mbps "$bytes" "$up"); down_mbps=$(mbps "$bytes" "$down")
  printf '%-9s %-9s %10s %10s %8s %8s\n' "$backend" upload "$up_mbps" "$raw_write" \
    "$(ratio "$up_mbps" "$raw_write")" "$(ratio "$up_mbps" "$sha")"
  printf '%-9s %-9s %10s %10s %8s %8s\n' "$backend" download "$down_mbps" "$raw_read" \
    "$(ratio "$down_mbps" "$raw_read")" "$(ratio "$down_mbps" "$sha")"
  printf '%-9s peak RSS of the server: %s MiB\n' "$backend" "$rss"
done
echo "(MB/s, best of $REPEAT; 'x raw' = attachd / raw sqlx storage of the same bytes, 'x sha' = attachd / openssl dgst -sha256)"
