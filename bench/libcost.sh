#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Profile behind the PID-1 RSS and boot figures: what the shared libraries
# cost a process before its main() does anything. An empty program (it
# reads its own VmRSS and exits) is linked like tenant-init (-pie, -z relro
# -z now, every DT_NEEDED kept) against growing subsets of tenant-init's
# libraries; each is run 100 times. tenant-init --version is the same
# measurement of the real binary.
#
# Output: markdown on stdout, "BENCH name value unit" lines on fd 3.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
TI=${TI_BIN:-$top/build/tenant-init}
N=${BENCH_LIBCOST_N:-100}
exec 4>/dev/null
{ true >&3; } 2>/dev/null && exec 4>&3
emit() { echo "BENCH $*" >&4; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ti-bench-lib.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/e.c" <<'EOF'
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	char l[256];
	FILE *f = fopen("/proc/self/status", "r");
	(void)argv;
	while (argc > 1 && f && fgets(l, sizeof(l), f))
		if (!strncmp(l, "VmRSS:", 6) || !strncmp(l, "RssAnon:", 8))
			fputs(l, stdout);
	return 0;
}
EOF
nl=$(pkg-config --libs libnl-3.0 libnl-route-3.0 libnl-idiag-3.0 2>/dev/null)
base="-lcap -lseccomp -linih -ljansson $nl"
core="-lcap -lseccomp -linih -ljansson"
# id|label|libraries
SETS=(
	"libc|libc only|"
	"core|+ libcap libseccomp inih jansson|$core"
	"core-nl|+ libnl (route, idiag)|$base"
	"crypto|+ libcrypto|$base -lcrypto"
	"mhd|+ libmicrohttpd (GnuTLS, nettle, gmp, p11-kit, libtasn1 …)|$base -lcrypto -lmicrohttpd"
	"curl|+ libcurl (Kerberos, LDAP, libssh2, nghttp2, libpsl …)|$base -lcrypto -lmicrohttpd -lcurl"
	"all|+ sqlite3 expat = tenant-init's set|$base -lcrypto -lmicrohttpd -lcurl -lsqlite3 -lexpat"
)

# exec_us BIN ARGS...: mean wall µs per exec over $N runs (fork+exec+exit)
exec_us() {
	python3 - "$N" "$@" <<'PY'
import os, subprocess, sys, time
n, cmd = int(sys.argv[1]), sys.argv[2:]
subprocess.call(cmd, stdout=subprocess.DEVNULL)
best = []
for _ in range(3):
    t = time.monotonic()
    for _ in range(n):
        subprocess.call(cmd, stdout=subprocess.DEVNULL)
    best.append((time.monotonic() - t) / n * 1e6)
print("%.0f" % min(best))
PY
}
# cpu_us BIN ARGS...: user+sys µs per run (children's rusage)
cpu_us() {
	python3 - "$N" "$@" <<'PY'
import resource, subprocess, sys
n, cmd = int(sys.argv[1]), sys.argv[2:]
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
for _ in range(n):
    subprocess.call(cmd, stdout=subprocess.DEVNULL)
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.0f" % (((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) / n * 1e6))
PY
}

echo "### Profile: the cost of the shared libraries at exec"
echo
echo "An empty \`main()\` linked like tenant-init against growing subsets of its"
echo "libraries (\`-pie -z relro -z now\`, no --as-needed), $N runs each: VmRSS at"
echo "\`main()\`, and the wall and CPU time of one fork+exec+exit (the same for the"
echo "last rows: \`tenant-init --version\`)."
echo
echo "| linked against | shared objects | VmRSS at main (KiB) | anonymous (KiB) | exec wall (µs) | exec CPU (µs) |"
echo "|---|---|---|---|---|---|"
i=0
for s in "${SETS[@]}"; do
	i=$((i + 1))
	id=${s%%|*}
	rest=${s#*|}
	name=${rest%%|*}
	libs=${rest#*|}
	# shellcheck disable=SC2086
	if ! gcc -O2 -fPIE -pie -Wl,-z,relro,-z,now -Wl,--no-as-needed \
		-o "$tmp/e$i" "$tmp/e.c" $libs 2>/dev/null; then
		echo "| $name | (cannot link) | | | | |"
		continue
	fi
	n=$(ldd "$tmp/e$i" | wc -l)
	rss=$("$tmp/e$i" x | awk '/VmRSS/ {print $2}')
	anon=$("$tmp/e$i" x | awk '/RssAnon/ {print $2}')
	w=$(exec_us "$tmp/e$i")
	c=$(cpu_us "$tmp/e$i")
	echo "| $name | $n | $rss | $anon | $w | $c |"
	emit "libcost.$id.rss_kib $rss KiB"
	emit "libcost.$id.anon_kib $anon KiB"
	emit "libcost.$id.exec_us $w us"
	emit "libcost.$id.cpu_us $c us"
done
w=$(exec_us "$TI" --version)
c=$(cpu_us "$TI" --version)
n=$(ldd "$TI" | wc -l)
echo "| \`tenant-init --version\` | $n | | | $w | $c |"
emit "libcost.tenant-init-version.exec_us $w us"
emit "libcost.tenant-init-version.cpu_us $c us"
for b in tini catatonit; do
	p=$(command -v "$b") || continue
	w=$(exec_us "$p" --version)
	c=$(cpu_us "$p" --version)
	echo "| \`$b --version\` | $(ldd "$p" 2>/dev/null | wc -l) | | | $w | $c |"
done
echo
