#!/usr/bin/env bash
# Scan rate of attachd's scanner against a real clamd, next to `clamdscan --stream` of the
# same files through the same clamd in the same run: 200 blobs of 1 MiB, then one of 256 MiB.
# clamd runs with only a test signature (no network here for real ones), so both sides
# measure the streaming path more than signature matching.
#
#   bash bench/scan.sh          # needs clamav-daemon and clamdscan (Debian packages)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

for tool in clamd clamdscan; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "needs $tool (apt-get install clamav-daemon clamdscan)"; exit 1; }
done
clamd_bin=$(command -v clamd || echo /usr/sbin/clamd)
cargo build --release --quiet

mkdir -p "$work/clamd/db"
printf 'Attachd.Test.EICAR:0:*:%s\n' "$(printf '%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' | xxd -p | tr -d '\n')" \
  > "$work/clamd/db/attachd-test.ndb"
cat > "$work/clamd/clamd.conf" <<CONF
Foreground yes
LocalSocket $work/clamd/clamd.sock
DatabaseDirectory $work/clamd/db
LogFile $work/clamd/clamd.log
StreamMaxLength 300M
MaxFileSize 300M
MaxScanSize 300M
# clamd remembers verdicts by content hash: both sides scan the same files, so neither may
# be served from the other's cache.
DisableCache yes
CONF
"$clamd_bin" -c "$work/clamd/clamd.conf" >/dev/null 2>&1 &
clamd_pid=$!
trap 'kill $clamd_pid 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do [ -S "$work/clamd/clamd.sock" ] && break; sleep 0.1; done

# run_case NAME COUNT MIB: time attachd's scanner and clamdscan over the same files.
run_case() {
  local name=$1 count=$2 mib=$3 files=() url last start end
  mkdir -p "$work/$name"
  for i in $(seq "$count"); do
    head -c $((mib << 20)) /dev/urandom > "$work/$name/$i.bin"
    files+=("$work/$name/$i.bin")
  done
  rm -rf "$work/sqlite"
  url=$(database_url sqlite)
  unset ATTACHD_CLAMD
  start_server "$url"
  for f in "${files[@]}"; do last=$(api POST /archivist/v1/blobs -F "file=@$f"); done
  stop_server
  cp "$work/token" "$work/uploader-token"
  last=$(sed -E 's/.*"identity":"blobs\/([^"]+)".*/\1/' <<<"$last")

  export ATTACHD_CLAMD="unix:$work/clamd/clamd.sock" ATTACHD_CLAMD_MAX_BYTES=$((300 << 20)) ATTACHD_SCAN_INTERVAL=1
  start=$(date +%s.%N)
  start_server "$url"
  cp "$work/uploader-token" "$work/token" # the blobs are the first tenant's
  until api GET "/archivist/v1/blobs/$last/info" | grep -q SCANNED_OK; do sleep 0.05; done
  end=$(date +%s.%N)
  stop_server
  unset ATTACHD_CLAMD
  local ours theirs bytes=$((count * (mib << 20)))
  ours=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
  start=$(date +%s.%N)
  clamdscan --stream --no-summary -c "$work/clamd/clamd.conf" "${files[@]}" >/dev/null
  end=$(date +%s.%N)
  theirs=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
  printf '%-12s attachd %8s MB/s %8.1f blobs/s | clamdscan --stream %8s MB/s %8.1f files/s | x %s\n' \
    "$name" "$(mbps "$bytes" "$ours")" "$(awk -v n="$count" -v s="$ours" 'BEGIN { print n / s }')" \
    "$(mbps "$bytes" "$theirs")" "$(awk -v n="$count" -v s="$theirs" 'BEGIN { print n / s }')" \
    "$(ratio "$(mbps "$bytes" "$ours")" "$(mbps "$bytes" "$theirs")")"
}

run_case 200x1MiB 200 1
run_case 1x256MiB 1 256
echo "(attachd's time includes its start and the polling of /info; 'x' = attachd / clamdscan)"
