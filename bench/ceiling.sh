#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The restore ceiling: the same objects fetched by 16 parallel keep-alive
# connections doing nothing else. The prefix is listed (bench/s3list.js,
# SigV4, 1,000 keys a page), then every object is fetched by one
# `curl --parallel --parallel-max N` (libcurl, keep-alive connection reuse,
# SigV4 via --aws-sigv4), bodies to /dev/null: no disk, no checksums, no
# state. Prints "objects list_ms fetch_ms".
#
#   bench/ceiling.sh ENDPOINT BUCKET PREFIX KEY SECRET [N] [REGION]
set -uo pipefail
ep=$1 bucket=$2 prefix=$3 key=$4 secret=$5 n=${6:-16} region=${7:-us-east-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ti-ceiling.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(ms)
node "$(dirname "$0")/s3list.js" --endpoint "$ep" --bucket "$bucket" \
	--prefix "$prefix" --key "$key" --secret "$secret" --region "$region" \
	>"$tmp/keys" || exit 1
t1=$(ms)
python3 - "$ep/$bucket/" "$tmp/keys" >"$tmp/curl.cfg" <<'PY'
import sys, urllib.parse
base = sys.argv[1]
for k in open(sys.argv[2]).read().splitlines():
    print('url = "%s%s"' % (base, urllib.parse.quote(k, safe="/-_.~")))
    print('output = "/dev/null"')
PY
# the empty payload's SHA-256: curl 7.88 does not add the header itself
env -u AWS_CA_BUNDLE curl -sS --no-progress-meter --fail --parallel --parallel-max "$n" \
	--aws-sigv4 "aws:amz:$region:s3" --user "$key:$secret" \
	-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
	-K "$tmp/curl.cfg" || exit 1
t2=$(ms)
echo "$(wc -l <"$tmp/keys") $((t1 - t0)) $((t2 - t1))"
