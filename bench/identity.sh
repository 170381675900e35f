#!/usr/bin/env bash
# The cost of identity, on the embedded database, in one run:
# - token endpoint requests per second (client credentials, argon2id verification of the
#   secret: 19 MiB, 2 passes, 1 lane, deliberately slow);
# - JWT verification overhead: `/info` of the same attachment through a public asset's
#   route (no token) and through the tenant's own route (HS256 token verified and its app
#   registration checked on every request), with wrk at 32 connections.
#
#   bash bench/identity.sh
#   SECONDS_EACH=5 bash bench/identity.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SECONDS_EACH=${SECONDS_EACH:-10}
command -v wrk >/dev/null || { echo "needs wrk (Debian: apt-get install wrk)"; exit 1; }
cargo build --release --quiet

start_server "$(database_url sqlite)"
creds=$("$bin" tenant create --name token-bench)
client_id=$(sed -E 's/.*"client_id":"([^"]+)".*/\1/' <<<"$creds")
client_secret=$(sed -E 's/.*"client_secret":"([^"]+)".*/\1/' <<<"$creds")
cat > "$work/token.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&client_id=$client_id&client_secret=$client_secret"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
token_rps=$(wrk -t2 -c8 -d"${SECONDS_EACH}s" -s "$work/token.lua" \
  "http://127.0.0.1:$PORT/archivist/iam/v1/appidp/token" | awk '/Requests\/sec/ { print $2 }')
echo "token endpoint: $token_rps tokens/s (wrk, 8 connections; argon2id m=19456 KiB, t=2, p=1 per request)"

blob=$(api POST /archivist/v1/blobs -F "file=@Cargo.toml")
blob_id=$(sed -E 's/.*"identity":"(blobs\/[^"]+)".*/\1/' <<<"$blob")
hash=$(sed -E 's/.*"value":"([0-9a-f]+)".*/\1/' <<<"$blob")
asset=$(api POST /archivist/v2/assets -H 'content-type: application/json' -d "{\"public\":true,
  \"attributes\":{\"doc\":{\"arc_attribute_type\":\"arc_attachment\",\"arc_blob_identity\":\"$blob_id\",
  \"arc_blob_hash_alg\":\"SHA256\",\"arc_blob_hash_value\":\"$hash\",\"arc_file_name\":\"Cargo.toml\"}}}")
asset_id=$(sed -E 's/.*"identity":"assets\/([^"]+)".*/\1/' <<<"$asset")
token=$(cut -d' ' -f3 "$work/token")
public_rps=$(wrk -t2 -c32 -d"${SECONDS_EACH}s" \
  "http://127.0.0.1:$PORT/archivist/v2/attachments/publicassets/$asset_id/${blob_id#blobs/}/info" |
  awk '/Requests\/sec/ { print $2 }')
authed_rps=$(wrk -t2 -c32 -d"${SECONDS_EACH}s" -H "Authorization: Bearer $token" \
  "http://127.0.0.1:$PORT/archivist/v2/attachments/assets/$asset_id/${blob_id#blobs/}/info" |
  awk '/Requests\/sec/ { print $2 }')
echo "info without token (public route): $public_rps req/s; with a verified token: $authed_rps req/s:" \
  "x $(ratio "$authed_rps" "$public_rps"), $(awk -v a="$authed_rps" -v p="$public_rps" \
  'BEGIN { printf "%.1f", (1e6 / a - 1e6 / p) }') µs more per request"
