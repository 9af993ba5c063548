# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Object storage for the sync tests: s3rver (npm, in the test cache) on a
# loopback port, behind s3proxy.js, which verifies every SigV4 signature
# and payload checksum (s3rver alone does not; ../shared/FIELD-NOTES.md).
# Source after tests/lib.sh.
#
#   s3_require [PROXY-ARGS...] skip unless s3rver, PID namespaces and curl
#                               are there, then s3_start
#   s3_start [PROXY-ARGS...]   start both; sets S3_* below
#   s3_proxy_stop / s3_proxy_start [PROXY-ARGS...]   storage down / up
#   s3_env PREFIX               env assignments for tenant-init (s3://)
#   s3_keys [PREFIX]            keys in the bucket, one a line, sorted
#   s3_obj KEY                  the file s3rver keeps KEY's bytes in
#   s3_meta_mtime KEY           KEY's x-amz-meta-mtime
#   s3_count METHOD [PATTERN]   requests seen by the proxy
#   rclone_s3 ARGS...           rclone with a remote "s3:" on the proxy
#   ti_pid1_start LOG ENV... -- CMD...
#                               tenant-init as PID 1 of a new PID namespace,
#                               in the background (tini mode, CMD the
#                               gateway stand-in); sets TI_PID (its pid
#                               here) and TI_NS_PID (the unshare process)
#   ti_pid1_wait SECONDS        wait for it to exit; its status in TI_RC
#   ti_agent_pid                the sync agent's pid (child of TI_PID)
#
#   S3_BUCKET S3_KEY S3_SECRET S3_ENDPOINT S3_DATA S3_LOG S3_CTL

S3_CACHE=${TENANT_INIT_CACHE:-${HOME:-/root}/.cache/tenant-init}
S3RVER_JS=$S3_CACHE/s3rver/node_modules/s3rver/bin/s3rver.js
S3PROXY_JS=$TI_TOP/tests/helpers/s3proxy.js
S3_BUCKET=tenant-bucket
S3_KEY=S3RVER
S3_SECRET=ti-test-secret-$RANDOM$RANDOM

# s3_require [PROXY-ARGS...]: the common preamble of a sync test. Skips
# (fails under make test) unless s3rver, PID namespaces and curl are
# there, then starts the storage.
s3_require() {
	s3_have || skip_all "s3rver not installed (tests/deps.sh)"
	have_unshare_pid || skip_all "cannot create a PID namespace"
	command -v curl >/dev/null || skip_all "curl not installed"
	s3_start "$@" || skip_all "s3rver did not start"
}

s3_have() {
	command -v node >/dev/null && [ -f "$S3RVER_JS" ]
}

_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

s3_proxy_start() {
	node "$S3PROXY_JS" --port "$S3_PROXY_PORT" \
		--upstream-port "$S3_PORT" --access-key "$S3_KEY" \
		--secret "$S3_SECRET" --log "$S3_LOG" --ctl "$S3_CTL" "$@" \
		>>"$TI_TMP/s3proxy.out" 2>&1 &
	S3_PROXY_PID=$!
	bg_track "$S3_PROXY_PID"
	wait_until 30 _port_open "$S3_PROXY_PORT"
}

s3_proxy_stop() {
	kill "$S3_PROXY_PID" 2>/dev/null
	wait "$S3_PROXY_PID" 2>/dev/null
	S3_PROXY_PID=
}

s3_start() {
	S3_DATA=$TI_TMP/s3data
	S3_LOG=$TI_TMP/s3requests.log
	S3_CTL=$TI_TMP/s3ctl
	mkdir -p "$S3_DATA" "$S3_CTL"
	: >"$S3_LOG"
	S3_PORT=$(free_port)
	S3_PROXY_PORT=$(free_port)
	while [ "$S3_PROXY_PORT" = "$S3_PORT" ]; do
		S3_PROXY_PORT=$(free_port)
	done
	S3_ENDPOINT=http://127.0.0.1:$S3_PROXY_PORT
	# s3rver encrypts ListObjectsV2 continuation tokens with DES, which
	# OpenSSL 3 only has in its legacy provider.
	NODE_OPTIONS=--openssl-legacy-provider \
		node "$S3RVER_JS" -d "$S3_DATA" -a 127.0.0.1 -p "$S3_PORT" -s \
		--configure-bucket "$S3_BUCKET" >"$TI_TMP/s3rver.out" 2>&1 &
	S3RVER_PID=$!
	bg_track "$S3RVER_PID"
	wait_until 30 _port_open "$S3_PORT" || return 1
	s3_proxy_start "$@"
}

# env assignments for tenant-init against the bucket, prefix $1
s3_env() {
	echo "TENANT_SYNC_URL=s3://$S3_BUCKET/$1"
	echo "AWS_ACCESS_KEY_ID=$S3_KEY"
	echo "AWS_SECRET_ACCESS_KEY=$S3_SECRET"
	echo "AWS_ENDPOINT_URL=$S3_ENDPOINT"
	echo "AWS_REGION=us-east-1"
}

# Keys as s3rver stores them: one file "KEY._S3rver_object" per object.
s3_keys() {
	local root=$S3_DATA/$S3_BUCKET
	[ -d "$root" ] || return 0
	# The tenant's objects: not the lease (PREFIX.tenant-init/...).
	(cd "$root" && find . -name '*._S3rver_object' -printf '%P\n') |
		sed 's/\._S3rver_object$//' | grep -E "^${1:-}" |
		grep -v '\.tenant-init/' | LC_ALL=C sort
}

s3_obj() {
	echo "$S3_DATA/$S3_BUCKET/$1._S3rver_object"
}

s3_meta_mtime() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("x-amz-meta-mtime",""))' \
		"$S3_DATA/$S3_BUCKET/$1._S3rver_metadata.json"
}

# s3_count METHOD [EXTENDED-REGEX]: requests the proxy saw
s3_count() {
	grep -cE "^$1 ${2:-}" "$S3_LOG" || true
}

rclone_s3() {
	local conf=$TI_TMP/rclone.conf
	cat >"$conf" <<CONF
[s3]
type = s3
provider = Other
access_key_id = $S3_KEY
secret_access_key = $S3_SECRET
endpoint = $S3_ENDPOINT
force_path_style = true
CONF
	# rclone cannot connect at all with AWS_CA_BUNDLE set (FIELD-NOTES).
	env -u AWS_CA_BUNDLE rclone --config "$conf" "$@"
}

ti_pid1_start() {
	local log=$1
	shift
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		envs+=("$1")
		shift
	done
	shift
	env -i PATH="$PATH" TENANT_HEALTH_LISTEN="127.0.0.1:$(free_port)" \
		"${envs[@]}" unshare --pid --fork --mount-proc --kill-child -- \
		"$TI_BIN" -- "$@" >"$log" 2>&1 &
	TI_NS_PID=$!
	bg_track "$TI_NS_PID"
	TI_PID=
	wait_until 10 _ti_find_child || return 1
}

_ti_find_child() {
	TI_PID=$(pgrep -P "$TI_NS_PID" -x tenant-init | head -1)
	[ -n "$TI_PID" ]
}

ti_pid1_wait() {
	wait_pid_exit "$TI_NS_PID" "$1" || return 1
	wait "$TI_NS_PID"
	TI_RC=$?
}

ti_agent_pid() {
	pgrep -P "$TI_PID" -x tenant-sync | head -1
}
