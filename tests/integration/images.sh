#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The image recipe and the orchestrator examples, proven without a Docker
# engine: make install DESTDIR=<tmp> provides every path the Dockerfile
# copies, the installed binary runs from there, the runtime stage installs
# the package of every library the binary links, and the example manifests
# parse and name the real ports, paths and probe endpoints.
source "$(dirname "$0")/../lib.sh"

DF=$TI_TOP/images/openclaw/Dockerfile
K8S=$TI_TOP/images/examples/kubernetes.yaml
FLY=$TI_TOP/images/examples/fly.toml
PY=/usr/bin/python3
DEST=$TI_TMP/out

# Under the ASan run TI_BIN is the sanitizer build; the recipe installs the
# release build, which is what is checked here either way.
make -s -C "$TI_TOP" install DESTDIR="$DEST" PREFIX=/usr/local SYSCONFDIR=/etc \
	>"$TI_TMP/install.log" 2>&1
ok $? "make install DESTDIR=… succeeds"

# Every COPY --from=build /out/PATH in the Dockerfile exists in DESTDIR.
mapfile -t copies < <(awk '$1 == "COPY" && $2 == "--from=build" { print $3 }' "$DF")
ok "$([ ${#copies[@]} -ge 3 ] && echo 0 || echo 1)" "the Dockerfile copies ${#copies[@]} installed paths"
for src in "${copies[@]}"; do
	rel=${src#/out}
	ok_cmd "installed: $rel" test -f "$DEST$rel"
done

bin=$DEST/usr/local/sbin/tenant-init
out=$("$bin" --version)
ok_cmd "the installed binary runs: $out" grep -q '^tenant-init [0-9]' <<<"$out"
env -i PATH=/usr/bin:/bin TENANT_POLICY="$DEST/etc/tenant-init/policy.ini" \
	"$bin" check-config >"$TI_TMP/cc.out" 2>"$TI_TMP/cc.err"
ok $? "the installed binary accepts the installed policy (check-config)"
if man -l "$DEST/usr/local/share/man/man8/tenant-init.8" >/dev/null 2>&1; then
	ok 0 "tenant-init(8) renders"
else
	ok 1 "tenant-init(8) renders"
fi
man -l "$DEST/usr/local/share/man/man5/tenant-init-policy.5" >/dev/null 2>&1
ok $? "tenant-init-policy(5) renders"

# The Dockerfile's contract with the orchestrator.
ok_cmd "ENTRYPOINT is the installed tenant-init" \
	grep -qx 'ENTRYPOINT \["/usr/local/sbin/tenant-init"\]' "$DF"
ok_cmd "HEALTHCHECK runs tenant-init health" grep -q 'CMD \["tenant-init", "health"\]' "$DF"
ok_cmd "EXPOSE the gateway and health ports" grep -qx 'EXPOSE 18789 18790' "$DF"
ok_cmd "VOLUME /data" grep -qx 'VOLUME /data' "$DF"
ok_cmd "the runtime base is Node 24 on bookworm" grep -q 'node:24-bookworm-slim' "$DF"
ok_cmd "OpenClaw is pinned" grep -q 'ARG OPENCLAW_VERSION=2026\.9\.6' "$DF"
ok_cmd "an unprivileged gateway user" grep -q 'TENANT_GATEWAY_USER=openclaw' "$DF"
# COPY . . must not bring a host build/ (stale, other libraries) or the
# demo's secrets into the build context.
ok_cmd ".dockerignore keeps build/ and demo-data/ out of the context" \
	sh -c "grep -qx 'build/' '$TI_TOP/.dockerignore' &&
		grep -qx 'demo-data/' '$TI_TOP/.dockerignore'"

# The runtime stage installs the package of every shared library the
# binary links directly (DT_NEEDED; their own dependencies come with the
# packages), as the dynamic loader resolves them here, on bookworm.
runtime=$(awk '/^FROM \$\{NODE_IMAGE\}/ {r=1} r' "$DF")
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
missing=()
while read -r lib path; do
	grep -qx -- "$lib" <<<"$needed" || continue
	case "$lib" in libc.so* | libm.so*) continue ;; esac
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
	[ -n "$pkg" ] || pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)
	[ -n "$pkg" ] || { missing+=("$lib(no package)"); continue; }
	grep -qw -- "$pkg" <<<"$runtime" || missing+=("$lib($pkg)")
done < <(ldd "$bin" | awk '$2 == "=>" {print $1, $3}')
is "${missing[*]-}" "" "the runtime stage installs every linked library's package"

# The build stage installs every -dev package the build needs (not
# libmicrohttpd's: only the fake gateway, a test helper, links it).
mapfile -t devpkgs < <(sed -n '/^APT_PACKAGES=(/,/^)/p' "$TI_TOP/tests/deps.sh" |
	grep -oE 'lib[a-z0-9.+-]+-dev' | grep -v -e libclang -e libmicrohttpd)
build=$(awk '/^FROM debian/ {b=1} /^FROM \$\{NODE_IMAGE\}/ {b=0} b' "$DF")
nodev=()
for p in "${devpkgs[@]}"; do
	grep -qw -- "$p" <<<"$build" || nodev+=("$p")
done
is "${nodev[*]-}" "" "the build stage installs all ${#devpkgs[@]} -dev packages"

# Kubernetes: parses, probes, grace period sized from the timeouts.
$PY - "$K8S" >"$TI_TMP/k8s.out" 2>&1 <<'PY'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
sts = next(d for d in docs if d["kind"] == "StatefulSet")
spec = sts["spec"]["template"]["spec"]
c = spec["containers"][0]
env = {e["name"]: e.get("value") for e in c["env"]}
def dur(s):
    assert s.endswith("s"), s
    return int(s[:-1])
assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 18790}, c["livenessProbe"]
assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 18790}, c["readinessProbe"]
ports = {p["containerPort"] for p in c["ports"]}
assert ports == {18789, 18790}, ports
need = dur(env["TENANT_STOP_TIMEOUT"]) + dur(env["TENANT_FLUSH_TIMEOUT"])
assert spec["terminationGracePeriodSeconds"] > need, (spec["terminationGracePeriodSeconds"], need)
assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
assert env["OPENCLAW_STATE_DIR"] == "/data"
assert env["R2_USER_PREFIX"]
print("ok")
PY
ok $? "kubernetes.yaml: probes /healthz and /readyz on 18790, grace > stop+flush, /data"
[ -s "$TI_TMP/k8s.out" ] && grep -v '^ok$' "$TI_TMP/k8s.out" | sed 's/^/# /'

# Fly: parses, checks, kill_timeout sized from the timeouts.
$PY - "$FLY" >"$TI_TMP/fly.out" 2>&1 <<'PY'
import sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))
env = d["env"]
need = int(env["TENANT_STOP_TIMEOUT"][:-1]) + int(env["TENANT_FLUSH_TIMEOUT"][:-1])
assert d["kill_signal"] == "SIGTERM"
assert d["kill_timeout"] > need, (d["kill_timeout"], need)
checks = d["checks"]
paths = {(c["port"], c["path"]) for c in checks.values()}
assert paths == {(18790, "/readyz"), (18790, "/healthz")}, paths
assert d["services"][0]["internal_port"] == 18789
assert d["mounts"][0]["destination"] == "/data" == env["OPENCLAW_STATE_DIR"]
print("ok")
PY
ok $? "fly.toml: checks /healthz and /readyz on 18790, kill_timeout > stop+flush, /data"
[ -s "$TI_TMP/fly.out" ] && grep -v '^ok$' "$TI_TMP/fly.out" | sed 's/^/# /'

# Cloudflare: the documented key path is tenant-init's default.
ok_cmd "cloudflare example stores the key where tenant-init looks by default" \
	grep -q 'openclaw/.tenant/api-key.enc' "$TI_TOP/images/examples/cloudflare/worker.ts"
ok_cmd "README's default for TENANT_API_KEY_FILE matches the example" \
	grep -q '\$OPENCLAW_STATE_DIR/.tenant/api-key.enc' "$TI_TOP/README.md"

done_testing
