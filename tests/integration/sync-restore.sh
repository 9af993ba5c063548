#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The restore's rules (DESIGN.md "Data safety rules"):
#  - hostile keys (.., absolute, control characters, through a local
#    symlink or file, onto a local directory) are refused and logged, and
#    nothing is written outside the root;
#  - the legacy clawdbot/ layout is restored when openclaw/ is empty;
#  - restore is additive: local-only files and files changed locally since
#    the last sync are kept (and uploaded later); otherwise the bucket's
#    version wins; unchanged files are not downloaded again.
source "$(dirname "$0")/../lib.sh"
source "$TI_TOP/tests/helpers/s3env.sh"

s3_require

ti() { # ti DIR PREFIX [ENV...] -- ARGS...
	local dir=$1 prefix=$2
	shift 2
	local envs=()
	while [ "$1" != "--" ]; do
		envs+=("$1")
		shift
	done
	shift
	env -i PATH="$PATH" OPENCLAW_STATE_DIR="$dir" $(s3_env "$prefix") \
		"${envs[@]}" "$TI_BIN" "$@"
}

# -- hostile keys --
R=$TI_TMP/root
OUT=$TI_TMP/outside
mkdir -p "$R/localdir" "$OUT"
ln -s "$OUT" "$R/link"
echo "local" >"$R/file-as-dir"
python3 - "$S3_CTL/inject.json" <<'PY'
import json, sys
p = "h1/openclaw/"
keys = ["fine.txt", "sub/fine2.txt", "../../escape.txt", "/etc/ti-evil-abs",
        "ctl\x01name", "nl\nname", "link/evil.txt", "./dot", "a/../../../up",
        "file-as-dir/x", "localdir", "tab\tx", "a//b"]
json.dump([{"key": p + k, "body": "payload of " + k} for k in keys],
          open(sys.argv[1], "w"))
PY
ti "$R" h1/ -- restore 2>"$TI_TMP/hostile.log"
is $? 0 "restore with hostile keys in the listing completes"
is "$(cat "$R/fine.txt")" "payload of fine.txt" "the safe objects are restored"
is "$(cat "$R/sub/fine2.txt")" "payload of sub/fine2.txt" "... nested too"
is "$(grep -c "refusing object" "$TI_TMP/hostile.log")" 11 \
	"all 11 hostile keys refused and logged"
is "$(ls -A "$OUT" | wc -l)" 0 "nothing written through the symlink"
ok $([ ! -e "$TI_TMP/escape.txt" ] && [ ! -e /etc/ti-evil-abs ] &&
	[ ! -e "$TI_TMP/up" ] && [ ! -e "$(dirname "$TI_TMP")/escape.txt" ]
echo $?) "nothing written above the root"
is "$(cat "$R/file-as-dir")" "local" "a local file is not turned into a directory"
ok $([ -d "$R/localdir" ] && [ -z "$(ls -A "$R/localdir")" ]
echo $?) "a local directory is not replaced"
is "$(cd "$R" && find . -path ./.tenant-init -prune -o -type f -print | LC_ALL=C sort | tr '\n' ' ')" \
	"./file-as-dir ./fine.txt ./sub/fine2.txt " "no other file appeared in the root"
grep "refusing object" "$TI_TMP/hostile.log" | grep -q 'ctl\\x01name'
ok $? "control characters are escaped in the log"
rm -f "$S3_CTL/inject.json"

# -- legacy layout --
L=$TI_TMP/legacy-src
mkdir -p "$L/sub"
echo "old script data" >"$L/legacy.txt"
echo "deep" >"$L/sub/x.json"
ti "$L" h2/ TENANT_SYNC_PATHS="$L=clawdbot/" -- sync --once 2>/dev/null
is "$(s3_keys h2/ | tr '\n' ' ')" "h2/clawdbot/legacy.txt h2/clawdbot/sub/x.json " \
	"objects only under the legacy clawdbot/ prefix"
N=$TI_TMP/legacy-dst
ti "$N" h2/ -- restore 2>"$TI_TMP/legacy.log"
is $? 0 "restore"
is "$(cat "$N/legacy.txt")/$(cat "$N/sub/x.json")" "old script data/deep" \
	"the legacy layout was restored"
grep -q "legacy layout" "$TI_TMP/legacy.log"
ok $? "... and the log says so"
ti "$N" h2/ -- sync --once 2>/dev/null
is "$(s3_keys h2/openclaw/ | tr '\n' ' ')" "h2/openclaw/legacy.txt h2/openclaw/sub/x.json " \
	"the next sync writes the new layout"
is "$(s3_keys h2/clawdbot/ | wc -l)" 2 "the legacy objects are left alone"

# -- additive restore --
A=$TI_TMP/additive
mkdir -p "$A"
for f in x y z; do echo "$f v1" >"$A/$f"; done
ti "$A" h3/ -- sync --once 2>/dev/null
is "$(s3_keys h3/ | wc -l)" 3 "x y z synced"
echo "y v2 (elsewhere)" >"$TI_TMP/y2"
rclone_s3 copyto "$TI_TMP/y2" "s3:$S3_BUCKET/h3/openclaw/y" 2>/dev/null
ok $? "y changed in the bucket (by another writer)"
echo "z v2 (local)" >"$A/z"
echo "w local only" >"$A/w"
gets_x=$(s3_count GET 'h3/openclaw/x ')
ti "$A" h3/ -- restore 2>"$TI_TMP/additive.log"
is $? 0 "restore over a used directory"
is "$(cat "$A/y")" "y v2 (elsewhere)" "unchanged locally: the bucket's version wins"
is "$(cat "$A/z")" "z v2 (local)" "changed locally since the last sync: kept"
is "$(cat "$A/w")" "w local only" "local-only file kept"
is "$(s3_count GET 'h3/openclaw/x ')" "$gets_x" "an identical file is not downloaded"
is "$(s3_count POST 'h3/.*delete')$(s3_count DELETE 'h3/')" "00" "nothing deleted"
ti "$A" h3/ -- sync --once 2>/dev/null
is "$(cat "$(s3_obj h3/openclaw/z)")/$(cat "$(s3_obj h3/openclaw/w)")" \
	"z v2 (local)/w local only" "the kept files are uploaded next"
rm "$A/x"
ti "$A" h3/ -- sync --once 2>/dev/null
ok $([ ! -e "$(s3_obj h3/openclaw/x)" ]; echo $?) "sync --once propagates a deletion"
is "$(s3_keys h3/ | tr '\n' ' ')" "h3/openclaw/w h3/openclaw/y h3/openclaw/z " \
	"... of that file only"

for f in "$TI_TMP"/*.log; do
	no_sanitizer_report "$f" || { ok 1 "sanitizer report in $f"; head -60 "$f"; }
done
done_testing
