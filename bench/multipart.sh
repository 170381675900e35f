#!/usr/bin/env bash
# Hostile multipart bodies against a release attachd: how much the server's memory grows
# (peak RSS from /proc) and how much CPU it spends, for bodies with no boundary, an endless
# part header, and a declared length over the blob limit. CPU is printed next to
# `openssl dgst -sha256` of the same bytes, measured in the same run: linear work stays a
# small, constant multiple of it whatever the size.
#
#   bash bench/multipart.sh              # 64 and 128 MiB bodies
#   SIZES_MIB="64" bash bench/multipart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SIZES_MIB=${SIZES_MIB:-"64 128"}
LIMIT_MIB=16 # the RSS growth a hostile body may cost
export ATTACHD_MAX_BLOB_BYTES=$((1 << 20))

cargo build --release --quiet
start_server "$(database_url sqlite)"
api GET /archivist/v2/assets -o /dev/null # warm up
ticks=$(getconf CLK_TCK)
cpu_secs() { awk -v t="$ticks" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$server_pid/stat"; }
rss_kib() { awk "/$1/ { print \$2 }" "/proc/$server_pid/status"; }

# send NAME SIZE_MIB: one hostile body of SIZE_MIB, streamed (chunked unless it is a file).
send() {
  local name=$1 mib=$2 status
  case "$name" in
    no-boundary)
      status=$(head -c $((mib << 20)) /dev/zero | tr '\0' 'a' | curl -s -o /dev/null -w '%{http_code}' \
        -X POST -T - -H 'Expect:' -H "@$work/token" -H 'Content-Type: multipart/form-data; boundary=XX' \
        "http://127.0.0.1:$PORT/archivist/v1/blobs" || true) ;;
    endless-header)
      status=$({ printf -- '--XX\r\nContent-Disposition: form-data; name="'; head -c $((mib << 20)) /dev/zero | tr '\0' 'n'; } |
        curl -s -o /dev/null -w '%{http_code}' -X POST -T - -H 'Expect:' -H "@$work/token" \
        -H 'Content-Type: multipart/form-data; boundary=XX' "http://127.0.0.1:$PORT/archivist/v1/blobs" || true) ;;
    over-limit)
      head -c $((mib << 20)) /dev/zero > "$work/big.bin"
      status=$(curl -s -o /dev/null -w '%{http_code}' -H "@$work/token" -F "file=@$work/big.bin" \
        "http://127.0.0.1:$PORT/archivist/v1/blobs" || true) ;;
  esac
  echo "${status:-000}"
}

printf '%-15s %5s %7s %11s %9s %9s %8s\n' body MiB status "RSS +MiB" "cpu s" "sha s" "x sha"
failed=0
for mib in $SIZES_MIB; do
  head -c $((mib << 20)) /dev/zero > "$work/ref.bin"
  start=$(date +%s.%N); openssl dgst -sha256 "$work/ref.bin" >/dev/null; end=$(date +%s.%N)
  sha=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  for name in no-boundary endless-header over-limit; do
    echo 5 > "/proc/$server_pid/clear_refs" # resets the peak (VmHWM) to the current size
    base=$(rss_kib VmRSS); cpu0=$(cpu_secs)
    status=$(send "$name" "$mib")
    cpu=$(awk -v a="$cpu0" -v b="$(cpu_secs)" 'BEGIN { printf "%.3f", b - a }')
    # VmHWM is the peak since start, so the growth is measured against the resident size before.
    grown=$(awk -v a="$base" -v b="$(rss_kib VmHWM)" 'BEGIN { printf "%.1f", (b - a) / 1024 }')
    printf '%-15s %5s %7s %11s %9s %9s %8s\n' "$name" "$mib" "$status" "$grown" "$cpu" "$sha" "$(ratio "$cpu" "$sha")"
    if awk -v g="$grown" -v l="$LIMIT_MIB" 'BEGIN { exit !(g >= l) }'; then failed=1; fi
  done
done
echo "(RSS +MiB: peak resident growth of the server; cpu s: server CPU for the request; x sha: cpu / openssl dgst -sha256 of the same bytes;"
echo " status 000: the server answered 400 at once, read on for at most 64 MiB so a client can see it, then closed; curl, still sending, saw the reset)"
if [ "$failed" = 1 ]; then echo "FAIL: a hostile body grew the server by $LIMIT_MIB MiB or more"; exit 1; fi
echo "ok: every hostile body grew the server by under $LIMIT_MIB MiB"
