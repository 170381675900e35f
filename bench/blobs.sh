#!/usr/bin/env bash
# Upload and download one random file through a release attachd on each database and
# content store, next to references measured in the same run on the same file:
# `openssl dgst -sha256` (the hashing limit) and the raw storage limit of that store: a
# chunked insert / ordered select through sqlx, a plain file write + fsync and read, or an
# `object_store` multipart put and GET straight to the same SeaweedFS. The range row is the
# last MiB alone, against the raw ranged read of the same store. 'raw+sha' is the raw write
# or read hashing the bytes with SHA-256 as they pass: the least any verified upload or
# download must do.
#
#   bash bench/blobs.sh            # 256 MiB, every backend, best of 3
#   SIZE_MIB=1024 BACKENDS="postgres+s3 sqlite+file" bash bench/blobs.sh
#   SIZE_MIB=64 BACKENDS=sqlite CHUNK_BYTES=524288 REPEAT=1 bash bench/blobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SIZE_MIB=${SIZE_MIB:-256}
BACKENDS=${BACKENDS:-"sqlite postgres sqlite+file postgres+s3"}
CHUNK_BYTES=${CHUNK_BYTES:-1048576}
export ATTACHD_CHUNK_BYTES=$CHUNK_BYTES

cargo build --release --quiet
cargo bench --quiet --bench rawstore --no-run 2>/dev/null

file="$work/blob.bin"
head -c $((SIZE_MIB << 20)) /dev/urandom > "$file"
bytes=$(stat -c %s "$file")
sha=$(openssl_mbps "$file")
echo "file: $SIZE_MIB MiB random, chunk $CHUNK_BYTES bytes; openssl dgst -sha256: $sha MB/s"

printf '\n%-12s %-9s %10s %10s %8s %8s %10s\n' backend direction attachd raw "x raw" "x sha" "x raw+sha"
row() { printf '%-12s %-9s %10s %10s %8s %8s %10s\n' "$@"; }
for backend in $BACKENDS; do
  database=${backend%%+*}
  url=$(database_url "$database")
  case "$backend" in
    *+file) store="file://$work/content"; reference="file://$work/raw" ;;
    *+s3) [ -z "${seaweed_pid:-}" ] && start_seaweed
          store="s3://bench/run-$RANDOM"; reference="s3://bench" ;;
    *) store=database; reference="$url" ;;
  esac
  export ATTACHD_CONTENT_STORE=$store
  start_server "$url"
  # Rounds alternate the raw reference with attachd, so that a change in the machine's load
  # shows in both; each keeps its best.
  raws=""; ups=""; downs=""
  for _ in $(seq "$REPEAT"); do
    raws+=$(cargo bench --quiet --bench rawstore -- "$reference" "$file" "$CHUNK_BYTES" 1)$'\n'
    ups+=$(api POST /archivist/v1/blobs -F "file=@$file" -o "$work/up.json" -w '%{time_total}')$'\n'
    id=$(sed -E 's/.*"identity":"blobs\/([^"]+)".*/\1/' "$work/up.json")
    downs+=$(curl -sf -H "@$work/token" -o /dev/null -w '%{time_total}' \
      "http://127.0.0.1:$PORT/archivist/v1/blobs/$id")$'\n'
  done
  up=$(grep . <<<"$ups" | best); down=$(grep . <<<"$downs" | best)
  # The best of each raw figure: the highest rate, the shortest range read.
  raw_best() { sed -nE "s/.*(^| )$1=([0-9.]+).*/\2/p" <<<"$raws" | sort -g | "$2" -n 1; }
  raw_write=$(raw_best write_mbps tail); raw_verified_write=$(raw_best verified_write_mbps tail)
  raw_read=$(raw_best read_mbps tail); raw_verified=$(raw_best verified_read_mbps tail)
  raw_range=$(raw_best range_secs head); raw_range=${raw_range:-n/a}
  range=$(for _ in $(seq "$REPEAT"); do
    curl -sf -H "@$work/token" -r "$((bytes - (1 << 20)))-" -o /dev/null -w '%{time_total}\n' \
      "http://127.0.0.1:$PORT/archivist/v1/blobs/$id"
  done | best)
  rss=$(peak_rss_mib)
  stop_server

  up_mbps=$(mbps "$bytes" "$up"); down_mbps=$(mbps "$bytes" "$down")
  row "$backend" upload "$up_mbps" "$raw_write" "$(ratio "$up_mbps" "$raw_write")" "$(ratio "$up_mbps" "$sha")" \
    "$(ratio "$up_mbps" "$raw_verified_write")"
  row "$backend" download "$down_mbps" "$raw_read" "$(ratio "$down_mbps" "$raw_read")" "$(ratio "$down_mbps" "$sha")" \
    "$(ratio "$down_mbps" "$raw_verified")"
  printf '%-12s last MiB: %s s (%s of the whole download); raw ranged read %s s\n' "$backend" "$range" \
    "$(ratio "$range" "$down")" "$raw_range"
  printf '%-12s peak RSS of the server: %s MiB\n' "$backend" "$rss"
done
echo "(MB/s, best of $REPEAT; 'x raw' = attachd / raw storage of the same bytes in the same store, 'x sha' = attachd / openssl dgst -sha256,"
echo " 'x raw+sha' = attachd / the raw write or read hashing the bytes with SHA-256)"
